//! Modbus/TCP: the input is a reassembled stream; parse it to exhaustion in both directions
//! (as the sensor does), probe it, and touch every accessor and iterator of every message.

#![no_main]

use dissectors::modbus::{self, ModbusFrame, ModbusMessage, Pdu};
use dissectors::{Direction, Parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = modbus::probe(data);
    let _ = modbus::resync_len(data);
    for direction in [Direction::ToServer, Direction::ToClient] {
        let mut offset = 0;
        let mut steps = 0;
        while offset < data.len() {
            steps += 1;
            assert!(steps <= data.len(), "no progress");
            let rest = &data[offset..];
            match modbus::parse(rest, direction) {
                Parse::Message { message, consumed } => {
                    assert!(consumed >= 1 && consumed <= rest.len());
                    let frame =
                        ModbusFrame::new_checked(rest).expect("framed ADU passes check_len");
                    assert_eq!(frame.adu_len(), consumed);
                    assert_eq!(frame.data().len() + 8, consumed);
                    touch(&message);
                    offset += consumed;
                }
                Parse::Skip { len, anomaly } => {
                    assert!(len >= 1 && len <= rest.len());
                    assert!(anomaly.id.starts_with("modbus."));
                    offset += len;
                }
                Parse::Incomplete { needed } => {
                    assert!(needed >= 1);
                    break;
                }
            }
        }
    }
});

fn touch(message: &ModbusMessage<'_>) {
    let info = message.info();
    assert!(!info.name.is_empty());
    let _ = (
        message.function_code().name(),
        message.is_exception(),
        message.exception_code().map(|c| c.name()),
        message.sub_function(),
        message.address(),
        message.quantity(),
        message.anomalies.iter().count(),
    );
    let mut sink = 0usize;
    match message.pdu {
        Pdu::ReadBitsResponse { bits, .. } | Pdu::WriteMultipleCoilsRequest { bits, .. } => {
            sink += bits.iter().filter(|b| *b).count() + bits.len();
            let _ = bits.get(bits.len());
        }
        Pdu::ReadRegistersResponse { registers, .. }
        | Pdu::WriteMultipleRegistersRequest { registers, .. }
        | Pdu::ReadWriteMultipleRequest { registers, .. }
        | Pdu::ReadFifoResponse { registers, .. } => {
            sink += registers.iter().map(usize::from).sum::<usize>() + registers.len();
            let _ = registers.get(registers.len());
            assert_eq!(registers.iter().count(), registers.len());
        }
        Pdu::FileRecordRequest { records, .. } | Pdu::FileRecordResponse { records, .. } => {
            for record in records {
                sink += record.data.len() + usize::from(record.record_length);
            }
            assert!(records.iter().count() <= modbus::MAX_FILE_RECORDS);
        }
        Pdu::ReadDeviceIdResponse { objects, .. } => {
            for (id, value) in objects {
                sink += usize::from(id) + value.len();
                let _ = modbus::function::device_id_object_name(id);
            }
            assert!(objects.iter().count() <= modbus::MAX_DEVICE_ID_OBJECTS);
        }
        Pdu::Umas { code, .. } => {
            let _ = modbus::UmasCode(code).name();
        }
        Pdu::EncapsulatedInterface { mei_type, .. } => {
            let _ = modbus::MeiType(mei_type).name();
        }
        _ => {}
    }
    std::hint::black_box(sink);
    std::hint::black_box(format!("{message:?}"));
}
