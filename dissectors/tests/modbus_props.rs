//! Property tests: the incremental contract holds for any bytes, and ADUs built by a test-only
//! emitter from arbitrary valid field values round-trip through `parse` unchanged and clean.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dissectors::modbus::{self, ExceptionCode, Pdu};
use dissectors::{Direction, Parse};
use proptest::prelude::*;

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::ToServer), Just(Direction::ToClient)]
}

/// Arbitrary bytes, biased towards MBAP-looking fronts so the decoders are reached.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (any::<u16>(), 0u16..300, any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)).prop_map(
            |(tid, len, fc, rest)| {
                let mut out = tid.to_be_bytes().to_vec();
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&len.to_be_bytes());
                out.push(1);
                out.push(fc);
                out.extend_from_slice(&rest);
                out
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_upholds_the_contract(input in stream(), direction in direction()) {
        match modbus::parse(&input, direction) {
            Parse::Message { message, consumed } => {
                prop_assert!((1..=input.len()).contains(&consumed));
                prop_assert_eq!(consumed, 6 + usize::from(message.length));
                // Every accessor and iterator is total.
                let _ = (message.function_code(), message.is_exception(), message.exception_code());
                let _ = (message.sub_function(), message.info(), message.address(), message.quantity());
                touch(&message.pdu);
            }
            Parse::Incomplete { needed } => prop_assert!(needed >= 1),
            Parse::Skip { len, .. } => prop_assert!((1..=input.len()).contains(&len)),
        }
        let _ = modbus::probe(&input);
    }

    #[test]
    fn parsing_to_exhaustion_terminates(input in stream(), direction in direction()) {
        let mut offset = 0;
        let mut steps = 0;
        while offset < input.len() {
            steps += 1;
            prop_assert!(steps <= input.len());
            match modbus::parse(&input[offset..], direction) {
                Parse::Message { consumed, .. } => offset += consumed,
                Parse::Skip { len, .. } => offset += len,
                Parse::Incomplete { .. } => break,
            }
        }
        prop_assert!(offset <= input.len());
    }

    #[test]
    fn emitted_adus_round_trip(spec in spec(), tid in any::<u16>(), unit in any::<u8>()) {
        let (direction, pdu) = emit_pdu(&spec);
        let mut adu = tid.to_be_bytes().to_vec();
        adu.extend_from_slice(&[0, 0]);
        adu.extend_from_slice(&u16::try_from(pdu.len() + 1).unwrap().to_be_bytes());
        adu.push(unit);
        adu.extend_from_slice(&pdu);
        let Parse::Message { message, consumed } = modbus::parse(&adu, direction) else {
            return Err(TestCaseError::fail(format!("not framed: {adu:02X?}")));
        };
        prop_assert_eq!(consumed, adu.len());
        prop_assert_eq!(message.transaction_id, tid);
        prop_assert_eq!(message.unit_id, unit);
        prop_assert_eq!(message.raw_function_code, pdu[0]);
        prop_assert!(message.anomalies.is_empty(), "{:?} in {:02X?}", message.anomalies, adu);
        prop_assert_eq!(decoded(&message), Some(spec));
        prop_assert_eq!(modbus::probe(&adu), dissectors::Probe::Match);
    }
}

/// Walks every iterator of a PDU.
fn touch(pdu: &Pdu<'_>) {
    match *pdu {
        Pdu::ReadBitsResponse { bits, .. } | Pdu::WriteMultipleCoilsRequest { bits, .. } => {
            assert!(bits.iter().count() <= bits.as_bytes().len() * 8);
        }
        Pdu::ReadRegistersResponse { registers, .. }
        | Pdu::WriteMultipleRegistersRequest { registers, .. }
        | Pdu::ReadWriteMultipleRequest { registers, .. }
        | Pdu::ReadFifoResponse { registers, .. } => {
            assert_eq!(registers.iter().count(), registers.len());
        }
        Pdu::FileRecordRequest { records, .. } | Pdu::FileRecordResponse { records, .. } => {
            assert!(records.iter().count() <= modbus::MAX_FILE_RECORDS);
        }
        Pdu::ReadDeviceIdResponse { objects, .. } => {
            assert!(objects.iter().count() <= modbus::MAX_DEVICE_ID_OBJECTS);
        }
        _ => {}
    }
}

/// Field values of the main function codes, owned, as the emitter takes them.
#[derive(Clone, Debug, PartialEq)]
enum Spec {
    ReadRequest { fc: u8, address: u16, quantity: u16 },
    ReadBits { fc: u8, bytes: Vec<u8> },
    ReadRegisters { fc: u8, registers: Vec<u16> },
    WriteSingleCoil { to_server: bool, address: u16, on: bool },
    WriteSingleRegister { to_server: bool, address: u16, value: u16 },
    WriteCoils { address: u16, bits: Vec<bool> },
    WriteRegisters { address: u16, registers: Vec<u16> },
    WriteResponse { fc: u8, address: u16, quantity: u16 },
    MaskWrite { to_server: bool, address: u16, and_mask: u16, or_mask: u16 },
    ReadWrite { read_address: u16, read_quantity: u16, write_address: u16, registers: Vec<u16> },
    FifoRequest { address: u16 },
    FifoResponse { registers: Vec<u16> },
    Diagnostics { to_server: bool, sub_function: u16, data: Vec<u8> },
    DeviceIdRequest { code: u8, object_id: u8 },
    DeviceIdResponse { code: u8, conformity: u8, more: bool, next: u8, objects: Vec<(u8, Vec<u8>)> },
    ReadFileRequest { records: Vec<(u16, u16, u16)> },
    WriteFile { to_server: bool, records: Vec<(u16, u16, Vec<u16>)> },
    Exception { fc: u8, code: u8 },
    Umas { to_server: bool, session: u8, code: u8, data: Vec<u8> },
}

fn regs(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(any::<u16>(), range)
}

fn spec() -> impl Strategy<Value = Spec> {
    let diag_subs = prop::sample::select(vec![0u16, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20]);
    let umas_requests = prop::sample::select(vec![
        0x01u8, 0x02, 0x03, 0x04, 0x06, 0x0A, 0x10, 0x11, 0x12, 0x20, 0x22, 0x23, 0x24, 0x25, 0x26, 0x30, 0x31, 0x32,
        0x33, 0x34, 0x35, 0x39, 0x40, 0x41, 0x50, 0x58, 0x70, 0x71, 0x73,
    ]);
    let public_fcs =
        prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43, 90]);
    let exception_codes = prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
    prop_oneof![
        (1u8..=4, any::<u16>(), any::<u16>()).prop_map(|(fc, address, q)| {
            let max = if fc <= 2 { 2000 } else { 125 };
            Spec::ReadRequest { fc, address, quantity: q % max + 1 }
        }),
        (1u8..=2, prop::collection::vec(any::<u8>(), 1..=250)).prop_map(|(fc, bytes)| Spec::ReadBits { fc, bytes }),
        (prop::sample::select(vec![3u8, 4, 23]), regs(1..=125))
            .prop_map(|(fc, registers)| Spec::ReadRegisters { fc, registers }),
        (any::<bool>(), any::<u16>(), any::<bool>())
            .prop_map(|(to_server, address, on)| { Spec::WriteSingleCoil { to_server, address, on } }),
        (any::<bool>(), any::<u16>(), any::<u16>())
            .prop_map(|(to_server, address, value)| { Spec::WriteSingleRegister { to_server, address, value } }),
        (any::<u16>(), prop::collection::vec(any::<bool>(), 1..=1968))
            .prop_map(|(address, bits)| Spec::WriteCoils { address, bits }),
        (any::<u16>(), regs(1..=123)).prop_map(|(address, registers)| Spec::WriteRegisters { address, registers }),
        (prop::sample::select(vec![15u8, 16]), any::<u16>(), any::<u16>()).prop_map(|(fc, address, q)| {
            let max = if fc == 15 { 1968 } else { 123 };
            Spec::WriteResponse { fc, address, quantity: q % max + 1 }
        }),
        (any::<bool>(), any::<u16>(), any::<u16>(), any::<u16>()).prop_map(
            |(to_server, address, and_mask, or_mask)| Spec::MaskWrite { to_server, address, and_mask, or_mask }
        ),
        (any::<u16>(), 1u16..=125, any::<u16>(), regs(1..=121)).prop_map(
            |(read_address, read_quantity, write_address, registers)| Spec::ReadWrite {
                read_address,
                read_quantity,
                write_address,
                registers
            }
        ),
        any::<u16>().prop_map(|address| Spec::FifoRequest { address }),
        regs(0..=31).prop_map(|registers| Spec::FifoResponse { registers }),
        (any::<bool>(), diag_subs, prop::collection::vec(any::<u8>(), 0..=40)).prop_map(
            |(to_server, sub_function, data)| {
                let data = if sub_function == 0 { data } else { data.into_iter().chain([0, 0]).take(2).collect() };
                Spec::Diagnostics { to_server, sub_function, data }
            }
        ),
        (1u8..=4, any::<u8>()).prop_map(|(code, object_id)| Spec::DeviceIdRequest { code, object_id }),
        (
            1u8..=4,
            any::<u8>(),
            any::<bool>(),
            any::<u8>(),
            prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..=20)), 0..=10)
        )
            .prop_map(|(code, conformity, more, next, objects)| Spec::DeviceIdResponse {
                code,
                conformity,
                more,
                next,
                objects
            }),
        prop::collection::vec((any::<u16>(), any::<u16>(), any::<u16>()), 1..=35)
            .prop_map(|records| Spec::ReadFileRequest { records }),
        (any::<bool>(), prop::collection::vec((any::<u16>(), any::<u16>(), regs(0..=30)), 1..=3))
            .prop_map(|(to_server, records)| Spec::WriteFile { to_server, records }),
        (public_fcs, exception_codes).prop_map(|(fc, code)| Spec::Exception { fc, code }),
        (any::<bool>(), any::<u8>(), umas_requests, any::<bool>(), prop::collection::vec(any::<u8>(), 0..=200))
            .prop_map(|(to_server, session, request_code, ok, data)| Spec::Umas {
                to_server,
                session,
                code: if to_server {
                    request_code
                } else if ok {
                    0xFE
                } else {
                    0xFD
                },
                data
            }),
    ]
}

fn dir(to_server: bool) -> Direction {
    if to_server {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}

fn be(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// The test-only emitter: a PDU (function code first) and the direction it travels.
fn emit_pdu(spec: &Spec) -> (Direction, Vec<u8>) {
    use Direction::{ToClient, ToServer};
    let mut out = Vec::new();
    let direction = match spec {
        Spec::ReadRequest { fc, address, quantity } => {
            out.push(*fc);
            out.extend(be(&[*address, *quantity]));
            ToServer
        }
        Spec::ReadBits { fc, bytes } => {
            out.extend([*fc, bytes.len() as u8]);
            out.extend(bytes);
            ToClient
        }
        Spec::ReadRegisters { fc, registers } => {
            out.extend([*fc, (registers.len() * 2) as u8]);
            out.extend(be(registers));
            ToClient
        }
        Spec::WriteSingleCoil { to_server, address, on } => {
            out.push(5);
            out.extend(be(&[*address, if *on { 0xFF00 } else { 0 }]));
            dir(*to_server)
        }
        Spec::WriteSingleRegister { to_server, address, value } => {
            out.push(6);
            out.extend(be(&[*address, *value]));
            dir(*to_server)
        }
        Spec::WriteCoils { address, bits } => {
            out.push(15);
            out.extend(be(&[*address, bits.len() as u16]));
            let packed: Vec<u8> = bits
                .chunks(8)
                .map(|chunk| chunk.iter().enumerate().fold(0u8, |b, (i, &on)| b | (u8::from(on) << i)))
                .collect();
            out.push(packed.len() as u8);
            out.extend(packed);
            ToServer
        }
        Spec::WriteRegisters { address, registers } => {
            out.push(16);
            out.extend(be(&[*address, registers.len() as u16]));
            out.push((registers.len() * 2) as u8);
            out.extend(be(registers));
            ToServer
        }
        Spec::WriteResponse { fc, address, quantity } => {
            out.push(*fc);
            out.extend(be(&[*address, *quantity]));
            ToClient
        }
        Spec::MaskWrite { to_server, address, and_mask, or_mask } => {
            out.push(22);
            out.extend(be(&[*address, *and_mask, *or_mask]));
            dir(*to_server)
        }
        Spec::ReadWrite { read_address, read_quantity, write_address, registers } => {
            out.push(23);
            out.extend(be(&[*read_address, *read_quantity, *write_address, registers.len() as u16]));
            out.push((registers.len() * 2) as u8);
            out.extend(be(registers));
            ToServer
        }
        Spec::FifoRequest { address } => {
            out.push(24);
            out.extend(be(&[*address]));
            ToServer
        }
        Spec::FifoResponse { registers } => {
            out.push(24);
            out.extend(be(&[(registers.len() * 2 + 2) as u16, registers.len() as u16]));
            out.extend(be(registers));
            ToClient
        }
        Spec::Diagnostics { to_server, sub_function, data } => {
            out.push(8);
            out.extend(be(&[*sub_function]));
            out.extend(data);
            dir(*to_server)
        }
        Spec::DeviceIdRequest { code, object_id } => {
            out.extend([43, 14, *code, *object_id]);
            ToServer
        }
        Spec::DeviceIdResponse { code, conformity, more, next, objects } => {
            out.extend([43, 14, *code, *conformity, if *more { 0xFF } else { 0 }, *next, objects.len() as u8]);
            for (id, value) in objects {
                out.extend([*id, value.len() as u8]);
                out.extend(value);
            }
            ToClient
        }
        Spec::ReadFileRequest { records } => {
            out.extend([20, (records.len() * 7) as u8]);
            for (file, record, length) in records {
                out.push(6);
                out.extend(be(&[*file, *record, *length]));
            }
            ToServer
        }
        Spec::WriteFile { to_server, records } => {
            let body: Vec<u8> = records
                .iter()
                .flat_map(|(file, record, data)| {
                    let mut r = vec![6];
                    r.extend(be(&[*file, *record, data.len() as u16]));
                    r.extend(be(data));
                    r
                })
                .collect();
            out.extend([21, body.len() as u8]);
            out.extend(body);
            dir(*to_server)
        }
        Spec::Exception { fc, code } => {
            out.extend([fc | 0x80, *code]);
            ToClient
        }
        Spec::Umas { to_server, session, code, data } => {
            out.extend([90, *session, *code]);
            out.extend(data);
            dir(*to_server)
        }
    };
    (direction, out)
}

/// Reads a decoded message back into a [`Spec`].
fn decoded(message: &modbus::ModbusMessage<'_>) -> Option<Spec> {
    let fc = message.raw_function_code;
    let to_server = message.direction == Direction::ToServer;
    Some(match message.pdu {
        Pdu::ReadRequest { address, quantity } => Spec::ReadRequest { fc, address, quantity },
        Pdu::ReadBitsResponse { byte_count, bits } => {
            assert_eq!(usize::from(byte_count), bits.as_bytes().len());
            Spec::ReadBits { fc, bytes: bits.as_bytes().to_vec() }
        }
        Pdu::ReadRegistersResponse { byte_count, registers } => {
            assert_eq!(usize::from(byte_count), registers.len() * 2);
            Spec::ReadRegisters { fc, registers: registers.iter().collect() }
        }
        Pdu::WriteSingleCoil { address, value } => Spec::WriteSingleCoil { to_server, address, on: value == 0xFF00 },
        Pdu::WriteSingleRegister { address, value } => Spec::WriteSingleRegister { to_server, address, value },
        Pdu::WriteMultipleCoilsRequest { address, quantity, bits, .. } => {
            assert_eq!(usize::from(quantity), bits.len());
            Spec::WriteCoils { address, bits: bits.iter().collect() }
        }
        Pdu::WriteMultipleRegistersRequest { address, quantity, registers, .. } => {
            assert_eq!(usize::from(quantity), registers.len());
            Spec::WriteRegisters { address, registers: registers.iter().collect() }
        }
        Pdu::WriteMultipleResponse { address, quantity } => Spec::WriteResponse { fc, address, quantity },
        Pdu::MaskWriteRegister { address, and_mask, or_mask } => {
            Spec::MaskWrite { to_server, address, and_mask, or_mask }
        }
        Pdu::ReadWriteMultipleRequest {
            read_address, read_quantity, write_address, write_quantity, registers, ..
        } => {
            assert_eq!(usize::from(write_quantity), registers.len());
            Spec::ReadWrite { read_address, read_quantity, write_address, registers: registers.iter().collect() }
        }
        Pdu::ReadFifoRequest { address } => Spec::FifoRequest { address },
        Pdu::ReadFifoResponse { fifo_count, registers, .. } => {
            assert_eq!(usize::from(fifo_count), registers.len());
            Spec::FifoResponse { registers: registers.iter().collect() }
        }
        Pdu::Diagnostics { sub_function, data } => Spec::Diagnostics { to_server, sub_function, data: data.to_vec() },
        Pdu::ReadDeviceIdRequest { read_device_id_code, object_id } => {
            Spec::DeviceIdRequest { code: read_device_id_code, object_id }
        }
        Pdu::ReadDeviceIdResponse {
            read_device_id_code,
            conformity_level,
            more_follows,
            next_object_id,
            number_of_objects,
            objects,
        } => {
            let objects: Vec<(u8, Vec<u8>)> = objects.iter().map(|(id, value)| (id, value.to_vec())).collect();
            assert_eq!(usize::from(number_of_objects), objects.len());
            Spec::DeviceIdResponse {
                code: read_device_id_code,
                conformity: conformity_level,
                more: more_follows,
                next: next_object_id,
                objects,
            }
        }
        Pdu::FileRecordRequest { records, .. } if fc == 20 => Spec::ReadFileRequest {
            records: records
                .iter()
                .map(|r| {
                    assert_eq!(r.reference_type, 6);
                    (r.file_number, r.record_number, r.record_length)
                })
                .collect(),
        },
        Pdu::FileRecordRequest { records, .. } | Pdu::FileRecordResponse { records, .. } => Spec::WriteFile {
            to_server,
            records: records
                .iter()
                .map(|r| {
                    let data: Vec<u16> = modbus::Registers::new(r.data).iter().collect();
                    assert_eq!(usize::from(r.record_length), data.len());
                    (r.file_number, r.record_number, data)
                })
                .collect(),
        },
        Pdu::Exception { code } => {
            assert_eq!(message.exception_code(), Some(code));
            assert!(code.name().is_some());
            let _: ExceptionCode = code;
            Spec::Exception { fc: fc & 0x7F, code: code.0 }
        }
        Pdu::Umas { session, code, data } => Spec::Umas { to_server, session, code, data: data.to_vec() },
        _ => return None,
    })
}
