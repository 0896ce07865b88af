//! Unit tests over TSDUs taken from the captures in `pcaps/s7comm` (named at each fixture),
//! annotated field by field.

use super::*;
use crate::cotp::{Body, ParameterCode};

/// Parses hex written with spaces and comments stripped by the caller.
fn hex(s: &str) -> &'static [u8] {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    let bytes: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    Box::leak(bytes.into_boxed_slice())
}

fn clean(tsdu: &[u8]) -> S7Message<'_> {
    let m = decode(tsdu).unwrap();
    assert!(m.anomalies.is_empty(), "{:?} in {tsdu:02X?}", m.anomalies);
    m
}

// snap7_s300_readVar.pcapng: read DB1.DBB0, 64 bytes.
static READ_VAR_JOB: [u8; 24] = [
    0x32, 0x01, // S7comm, job
    0x00, 0x00, // redundancy id
    0x00, 0x00, // pdu reference 0
    0x00, 0x0E, // parameter length 14
    0x00, 0x00, // data length 0
    0x04, 0x01, // read var, 1 item
    0x12, 0x0A, 0x10, // variable specification, length 10, S7ANY
    0x02, // transport size BYTE
    0x00, 0x40, // length 64
    0x00, 0x01, // DB 1
    0x84, // area DB
    0x00, 0x00, 0x00, // address 0.0
];

// Its answer: object does not exist.
static READ_VAR_ACK_DATA: [u8; 18] = [
    0x32, 0x03, // S7comm, ack_data
    0x00, 0x00, 0x00, 0x00, // redundancy id, pdu reference 0
    0x00, 0x02, // parameter length 2
    0x00, 0x04, // data length 4
    0x00, 0x00, // no error
    0x04, 0x01, // read var, 1 item
    0x0A, 0x00, 0x00, 0x00, // return code: object does not exist, transport size NULL, length 0
];

#[test]
fn parse_read_var() {
    let m = clean(&READ_VAR_JOB);
    assert_eq!((m.rosctr, m.pdu_reference, m.function()), (Rosctr::JOB, 0, Some(Function::READ_VAR)));
    assert!(m.is_request());
    assert_eq!(m.transaction_key(), Some(TransactionKey::PduReference(0)));
    let items: Vec<_> = m.items().iter().collect();
    assert_eq!(items.len(), 1);
    let any = items[0].any.unwrap();
    assert_eq!(any.transport_size, TransportSize::BYTE);
    assert_eq!(
        (any.length, any.db_number, any.area, any.byte_address, any.bit_address),
        (64, 1, Area::DATA_BLOCK, 0, 0)
    );
    assert_eq!(m.info().name, "read_var");
    let m = clean(&READ_VAR_ACK_DATA);
    assert!(m.is_response());
    assert_eq!((m.error_class, m.error_code, m.error()), (Some(ErrorClass::NO_ERROR), Some(0), None));
    let data: Vec<_> = m.data_items().iter().collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].return_code, ReturnCode::OBJECT_DOES_NOT_EXIST);
    assert!(data[0].value.is_empty());
}

#[test]
fn parse_write_var() {
    // s7comm_varservice_libnodavedemo.pcap: write 4 bytes to MB0, and the answer.
    let job = hex(concat!(
        "32 01 0000 0002 000e 0008",       // job, pdu ref 2, parameter 14, data 8
        "05 01",                           // write var, 1 item
        "12 0a 10 02 0004 0000 83 000000", // S7ANY BYTE x4, M 0.0
        "00 04 0020 a9100001",             // data item: reserved, BYTE/WORD/DWORD, 32 bits, value
    ));
    let m = clean(job);
    assert_eq!(m.info().category, crate::Category::Write);
    let any = m.items().iter().next().unwrap().any.unwrap();
    assert_eq!((any.area, any.length), (Area::FLAGS, 4));
    let Pdu::WriteVarRequest { item_count, data, .. } = m.pdu else { panic!("{:?}", m.pdu) };
    assert_eq!(item_count, 1);
    let item = data.iter().next().unwrap();
    assert_eq!(
        (item.transport_size, item.length, item.value),
        (DataTransportSize::BYTE_WORD_DWORD, 32, &[0xA9, 0x10, 0, 1][..])
    );
    let ack = hex("32 03 0000 0002 0002 0001 0000 | 05 01 | ff");
    let m = clean(ack);
    assert_eq!(m.pdu, Pdu::WriteVarResponse { item_count: 1, return_codes: &[0xFF] });
}

#[test]
fn parse_data_item_padding() {
    // Two items of 1 byte each: the first is padded to 2 bytes.
    let ack = hex("32 03 0000 0007 0002 000b 0000 | 04 02 | ff 04 0008 55 00 | ff 04 0008 aa");
    let m = clean(ack);
    let values: Vec<_> = m.data_items().iter().map(|i| i.value).collect();
    assert_eq!(values, [&[0x55][..], &[0xAA][..]]);
}

#[test]
fn parse_setup_communication() {
    // snap7_s300_setupCommunication.pcapng.
    let job = hex("32 01 0000 0400 0008 0000 | f0 00 0001 0001 01e0");
    let m = clean(job);
    assert_eq!(m.pdu, Pdu::SetupCommunication { max_amq_calling: 1, max_amq_called: 1, pdu_length: 480 });
    assert_eq!(m.pdu_reference, 0x400);
    assert_eq!(m.info().name, "setup_communication");
}

#[test]
fn parse_block_transfer() {
    // snap7_s300_everything.pcapng: start upload of SDB 0, and the PLC's answer.
    let job = hex(concat!(
        "32 01 0000 0008 0012 0000",
        "1d 00 0000 00000000",   // start upload, status 0, reserved, id 0
        "09 5f3042303030303041", // file name "_0B00000A"
    ));
    let m = clean(job);
    let Pdu::BlockTransfer(t) = m.pdu else { panic!("{:?}", m.pdu) };
    assert_eq!(t.filename, Some(&b"_0B00000A"[..]));
    assert_eq!(t.block, Some(BlockId { block_type: BlockType::SDB, number: 0, filesystem: b'A' }));
    assert_eq!(m.info().category, crate::Category::Program);
    let ack = hex("32 03 0000 0008 0010 0000 0000 | 1d 00 0100 00000007 07 30303030323136");
    let Pdu::BlockTransfer(t) = clean(ack).pdu else { panic!() };
    assert_eq!((t.upload_id, t.extra), (Some(7), &b"0000216"[..]));
    // Upload with the id, and end upload.
    let Pdu::BlockTransfer(t) = clean(hex("32 01 0000 0009 0008 0000 | 1e 00 0000 00000007")).pdu else { panic!() };
    assert_eq!((t.function, t.upload_id, t.filename), (Function::UPLOAD, Some(7), None));
    // tia_s300_downloadOb1.pcapng: request download of OB1 with its lengths.
    let job = hex(concat!(
        "32 01 0000 bd0a 0020 0000",
        "1a 00 0100 00000000",
        "09 5f3038303030303150",         // "_0800001P"
        "0d 31303030333332303030323132", // "1000332000212"
    ));
    let m = clean(job);
    let Pdu::BlockTransfer(t) = m.pdu else { panic!() };
    assert_eq!(t.block, Some(BlockId { block_type: BlockType::OB, number: 1, filesystem: b'P' }));
    assert_eq!(t.extra, b"1000332000212");
    assert_eq!(m.info().name, "request_download");
}

#[test]
fn parse_pi_services() {
    // tia_s300_downloadOb1.pcapng: _INSE of OB1.
    let job = hex(concat!(
        "32 01 0000 be0a 001a 0000",
        "28 000000000000fd",           // PLC control, 7 reserved bytes
        "000a 01 00 3038303030303150", // parameter block: 1 block, "0800001P"
        "05 5f494e5345",               // "_INSE"
    ));
    let m = clean(job);
    assert_eq!(m.pi_service(), Some(&b"_INSE"[..]));
    let Pdu::PiService { parameter, .. } = m.pdu else { panic!() };
    let blocks: Vec<_> = PiBlocks::new(parameter).iter().collect();
    assert_eq!(blocks, [BlockId { block_type: BlockType::OB, number: 1, filesystem: b'P' }]);
    assert_eq!(m.info().name, "pi_insert_block");
    // snap7: copy RAM to ROM (_MODU with parameter "EP").
    let m = clean(hex("32 01 0000 000a 0012 0000 | 28 000000000000fd 0002 4550 05 5f4d4f4455"));
    assert_eq!(m.info().name, "pi_copy_ram_to_rom");
    // snap7_s300_stop.pcapng: PLC stop, P_PROGRAM; its ack_data carries only the function.
    let m = clean(hex("32 01 0000 0035 0010 0000 | 29 0000000000 09 505f50524f4752414d"));
    assert_eq!(m.pdu, Pdu::PlcStop { service: b"P_PROGRAM" });
    assert_eq!(m.info().name, "plc_stop");
    let m = clean(hex("32 03 0000 0035 0001 0000 0000 | 29"));
    assert_eq!((m.function(), m.info().name), (Some(Function::PLC_STOP), "plc_stop"));
}

#[test]
fn parse_userdata() {
    // s7comm_reading_plc_status.pcap: read SZL 0x0132 index 4, and the first answer.
    let request = hex(concat!(
        "32 07 0000 0300 0008 0008",
        "000112 04 11 44 01 00", // head, parameter length 4, request method, type 4 / group 4, read SZL, seq 0
        "ff 09 0004 0132 0004",  // success, octet string, 4 bytes: SZL id, index
    ));
    let m = clean(request);
    let u = m.userdata().unwrap();
    assert_eq!(
        (u.kind, u.group, u.subfunction, u.sequence_number),
        (UserdataType::REQUEST, UserdataGroup::CPU_FUNCTIONS, 1, 0)
    );
    assert_eq!(u.szl, Some((0x0132, 4)));
    assert_eq!(u.subfunction_name(), Some("read_szl"));
    assert!(m.is_request());
    assert_eq!(m.transaction_key(), Some(TransactionKey::PduReference(0x300)));
    let response = hex(concat!(
        "32 07 0000 0400 000c 0008",
        "000112 08 12 84 01 01 05 01 0000", // response, seq 1, data unit ref 5, more follows, no error
        "ff 09 0004 00000000",
    ));
    let m = clean(response);
    let u = m.userdata().unwrap();
    assert_eq!((u.data_unit_reference, u.last_data_unit, u.error_code), (Some(5), Some(false), Some(0)));
    assert_eq!(u.szl, None); // not the first data unit
    assert!(m.is_response());
    // step7_s300_AuthPassword.pcapng: PLC password.
    let m = clean(hex("32 07 0000 0006 0008 000c | 000112 04 11 45 01 00 | ff 09 0008 213a1b1d6e681b1d"));
    assert_eq!(m.info().category, crate::Category::Security);
    // s7comm_reading_setting_plc_time.pcap: read clock.
    let m = clean(hex("32 07 0000 0007 0008 0004 | 000112 04 11 47 01 00 | 0a 00 0000"));
    assert_eq!(m.info().name, "read_clock");
    // step7_s300_rwVarTab.pcapng: modify variable is a write.
    let m = clean(hex("32 07 0000 6803 000c 0004 | 000112 08 12 41 08 00 00 00 0000 | 0a 00 0000"));
    assert_eq!(m.info().category, crate::Category::Write);
    // A push (cyclic data) pairs with nothing.
    let m = clean(hex("32 07 0000 0000 000c 0004 | 000112 08 12 02 01 05 00 00 0000 | ff 09 0000"));
    assert_eq!(m.transaction_key(), Some(TransactionKey::Push));
}

#[test]
fn parse_errors() {
    // An ack with an error class and code (object definition / 0x04).
    let m = clean(hex("32 02 0000 0011 0000 0000 8104"));
    assert_eq!(m.pdu, Pdu::Ack);
    assert_eq!(m.error(), Some(0x8104));
    assert_eq!(m.error_class, Some(ErrorClass::APPLICATION_RELATIONSHIP));
    assert!(error_description(0x8104).is_some());
    assert_eq!(m.info().name, "ack");
}

#[test]
fn truncated() {
    for cut in 0..READ_VAR_JOB.len() {
        match decode(&READ_VAR_JOB[..cut]) {
            Err(anomaly) => assert!(cut < 10 && (std::ptr::eq(anomaly, &anomalies::TRUNCATED) || cut == 0)),
            Ok(m) => {
                assert!(m.anomalies.contains(&anomalies::TRUNCATED), "cut {cut}");
                assert!(m.items().iter().count() <= 1);
            }
        }
    }
    assert_eq!(decode(&[]).unwrap_err().id, "s7comm.invalid_protocol_id");
}

#[test]
fn impossible_len() {
    // Lengths past the end, and bytes after them.
    let mut buf = READ_VAR_JOB.to_vec();
    buf[7] = 0xFF;
    assert!(decode(&buf).unwrap().anomalies.contains(&anomalies::TRUNCATED));
    let mut buf = READ_VAR_JOB.to_vec();
    buf.push(0);
    assert!(decode(&buf).unwrap().anomalies.contains(&anomalies::INVALID_LENGTH));
}

#[test]
fn anomalies() {
    let has = |bytes: &[u8], kind: &'static crate::AnomalyKind| {
        let m = decode(bytes).unwrap();
        assert!(m.anomalies.contains(kind), "{:?} lacks {}", m.anomalies, kind.id);
    };
    has(hex("32 09 0000 0000 0000 0000"), &anomalies::UNKNOWN_ROSCTR);
    has(hex("32 01 0000 0000 0001 0000 77"), &anomalies::UNKNOWN_FUNCTION);
    has(hex("32 07 0000 0000 0008 0000 000112 04 11 49 01 00"), &anomalies::UNKNOWN_FUNCTION);
    has(hex("32 07 0000 0000 0008 0000 000112 04 11 44 63 00"), &anomalies::UNKNOWN_FUNCTION);
    // 200 items declared.
    has(hex("32 01 0000 0000 000e 0000 04 c8 12 0a 10 02 0040 0001 84 000000"), &anomalies::TOO_MANY_ITEMS);
    // 2 declared, 1 present.
    has(hex("32 01 0000 0000 000e 0000 04 02 12 0a 10 02 0040 0001 84 000000"), &anomalies::TOO_MANY_ITEMS);
    has(hex("32 01 0000 0000 0003 0000 29 00 00"), &anomalies::TRUNCATED);
    has(hex("32 07 0000 0000 0004 0000 000112 04"), &anomalies::TRUNCATED);
}

/// A DT packet around a TSDU.
fn dt(tsdu: &[u8], eot: bool) -> Vec<u8> {
    let mut out = vec![0x03, 0x00];
    out.extend_from_slice(&u16::try_from(tsdu.len() + 7).unwrap().to_be_bytes());
    out.extend_from_slice(&[0x02, 0xF0, if eot { 0x80 } else { 0x00 }]);
    out.extend_from_slice(tsdu);
    out
}

#[test]
fn stream_events() {
    let mut stream = S7Stream::default();
    // S7-1200-Uploading-OB1-TIAV12.pcap: the connect confirm.
    let cc = hex("0300 0023 1e d0 0011 0007 00 c0010a c1020600 c20f53494d415449432d524f4f542d4553");
    let Parse::Message { message: Event::Cotp(pdu), consumed } = stream.parse(cc) else { panic!() };
    assert_eq!(consumed, cc.len());
    let Body::Connect { src_ref, .. } = pdu.body else { panic!() };
    assert_eq!(src_ref, 7);
    assert_eq!(pdu.parameters().get(ParameterCode::TPDU_SIZE), Some(&[0x0A][..]));
    // A job in two DT fragments.
    let first = dt(&READ_VAR_JOB[..10], false);
    let second = dt(&READ_VAR_JOB[10..], true);
    let Parse::Message { message: Event::Fragment { pending }, .. } = stream.parse(&first) else { panic!() };
    assert_eq!(pending, 10);
    let Parse::Message { message: Event::S7 { message, fragments }, .. } = stream.parse(&second) else { panic!() };
    assert_eq!(fragments, 2);
    assert_eq!(message.items().iter().count(), 1);
    // Not S7: a TSDU of another protocol.
    let Parse::Message { message: Event::Invalid { anomaly, .. }, .. } = stream.parse(&dt(&[0x99, 1, 2], true)) else {
        panic!()
    };
    assert_eq!(anomaly.id, "s7comm.invalid_protocol_id");
    // A COTP PDU whose LI runs past the packet: the packet is skipped.
    let Parse::Skip { len, anomaly } = stream.parse(&[0x03, 0x00, 0x00, 0x07, 0x09, 0xF0, 0x80]) else { panic!() };
    assert_eq!((len, anomaly.id), (7, "s7comm.invalid_cotp"));
}

#[test]
fn probe() {
    assert_eq!(super::probe(&dt(&READ_VAR_JOB, true)), Probe::Match);
    assert_eq!(super::probe(hex("0300 0023 1e e0 0000 0011 00")), Probe::Match);
    assert_eq!(super::probe(&[0x03, 0x00, 0x00]), Probe::NeedMore);
    assert_eq!(super::probe(&[0x03, 0x00, 0x00, 0x07, 0x02]), Probe::NeedMore);
    assert_eq!(super::probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    // TLS record header.
    assert_eq!(super::probe(&[0x16, 0x03, 0x01, 0x00, 0xA5, 0x01]), Probe::NoMatch);
    // LI past the packet, unknown COTP type.
    assert_eq!(super::probe(&[0x03, 0x00, 0x00, 0x07, 0x09, 0xF0]), Probe::NoMatch);
    assert_eq!(super::probe(&[0x03, 0x00, 0x00, 0x07, 0x02, 0x30]), Probe::NoMatch);
}
