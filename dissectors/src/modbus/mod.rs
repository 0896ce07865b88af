//! Modbus/TCP.
//!
//! Framing follows the Modbus Messaging on TCP/IP Implementation Guide V1.0b (section 3.1.3, the
//! MBAP header); PDUs follow the Modbus Application Protocol Specification V1.1b3 (section 6 for
//! each function, section 7 for exceptions). Legacy and vendor codes are named as Wireshark's
//! `packet-mbtcp.c` names them; FC 90 (Schneider UMAS) follows public research.
//!
//! - [`ModbusFrame`]: a zero-copy view of one ADU, with [`frame::field`] byte ranges.
//! - [`parse`]: frames one ADU from the front of a reassembled TCP stream under the crate's
//!   incremental contract ([`Parse`]), and decodes it into a [`ModbusMessage`].
//! - [`probe`]: tells Modbus/TCP from other traffic on the first bytes of a stream.
//!
//! No function in this module panics, whatever the input: every read is bounds-checked, every
//! count taken from the wire is bounded by the bytes present and by a documented limit, and
//! nothing allocates. Once an ADU is framed (protocol id 0, length 2..=254, all bytes present),
//! decoding cannot fail: what is odd inside it is reported in [`ModbusMessage::anomalies`].

pub mod anomalies;
pub mod frame;
pub mod function;
pub mod message;

pub use frame::{LenError, LenSource, ModbusFrame, MBAP_LEN};
pub use function::{DeviceIdObjectId, ExceptionCode, FunctionCode, MeiType, UmasCode};
pub use message::{
    Bits, DeviceIdObjects, FileRecord, FileRecordLayout, FileRecords, ModbusMessage, Pdu, Registers,
    MAX_DEVICE_ID_OBJECTS, MAX_FILE_RECORDS,
};

use crate::anomaly::{AnomalyKind, AnomalyList};
use crate::stream::{Direction, Parse, Probe};
use frame::{HEADER_LEN, LENGTH_OFFSET};

/// The registered Modbus/TCP port.
pub const PORT: u16 = 502;

/// Smallest valid MBAP length: unit id and function code.
pub const MIN_LENGTH: u16 = 2;
/// Largest valid MBAP length: unit id and a 253-byte PDU (Implementation Guide 3.1.3, the
/// serial-line PDU limit).
pub const MAX_LENGTH: u16 = 254;
/// Largest MBAP length framed for FC 90 (Schneider UMAS), one past the Modbus limit: Unity
/// engineering software probes the frame size with a 255-length UMAS `repeat` and PLCs echo it
/// (seen in `pcaps/modbus/modicon_test.pcap`). Such an ADU is framed so the sensor keeps it, and
/// carries [`anomalies::INVALID_LENGTH`].
pub const MAX_UMAS_LENGTH: u16 = 255;

/// Frames one ADU from the front of `input` and decodes it.
///
/// - [`Parse::Message`] with `consumed = 6 + length` when the whole ADU is present.
/// - [`Parse::Incomplete`] when the front is a plausible header but bytes are missing.
/// - [`Parse::Skip`] when the front cannot be framed (protocol id not 0:
///   [`anomalies::INVALID_PROTOCOL_ID`]; length outside 2..=254: [`anomalies::INVALID_LENGTH`],
///   except that FC 90 is framed up to [`MAX_UMAS_LENGTH`], with that anomaly on the message);
///   `len` reaches the next offset that looks like a plausible MBAP header (see
///   [`resync_len`]).
pub fn parse(input: &[u8], direction: Direction) -> Parse<ModbusMessage<'_>> {
    if let Some(anomaly) = framing_violation(input) {
        return Parse::Skip { len: resync_len(input), anomaly };
    }
    let frame = ModbusFrame::new_unchecked(input);
    // Until the length is known (or, for an over-long length, the function code that decides
    // whether it is framed), ask only for the header.
    let required = if input.len() < LENGTH_OFFSET || (input.len() < HEADER_LEN && frame.length() > MAX_LENGTH) {
        HEADER_LEN
    } else {
        frame.adu_len()
    };
    if input.len() < required {
        return Parse::Incomplete { needed: required - input.len() };
    }
    let message = decode(&frame, direction);
    Parse::Message { message, consumed: required }
}

/// Decodes a framed ADU (the caller has checked the framing).
fn decode<'a>(frame: &ModbusFrame<&'a [u8]>, direction: Direction) -> ModbusMessage<'a> {
    let mut found = AnomalyList::new();
    if frame.length() > MAX_LENGTH {
        found.push(&anomalies::INVALID_LENGTH);
    }
    let raw_function_code = frame.function_code();
    let pdu = message::decode_pdu(raw_function_code, frame.data(), direction, &mut found);
    ModbusMessage {
        transaction_id: frame.transaction_id(),
        protocol_id: frame.protocol_id(),
        length: frame.length(),
        unit_id: frame.unit_id(),
        raw_function_code,
        direction,
        pdu,
        anomalies: found,
    }
}

/// The framing rule the front of `input` breaks, judged on the bytes present.
fn framing_violation(input: &[u8]) -> Option<&'static AnomalyKind> {
    let frame = ModbusFrame::new_unchecked(input);
    if input.len() >= frame::field::PROTOCOL_ID.end && frame.protocol_id() != 0 {
        return Some(&anomalies::INVALID_PROTOCOL_ID);
    }
    if input.len() < frame::field::LENGTH.end {
        return None;
    }
    let length = frame.length();
    if !(MIN_LENGTH..=MAX_UMAS_LENGTH).contains(&length) {
        return Some(&anomalies::INVALID_LENGTH);
    }
    // Between the two limits only UMAS is framed; wait for its function code to decide.
    if length > MAX_LENGTH && input.len() > frame::field::FUNCTION_CODE && frame.function_code() != FunctionCode::UMAS.0
    {
        return Some(&anomalies::INVALID_LENGTH);
    }
    None
}

/// True when the bytes at the front of `window` could start an ADU, judged on as many bytes as
/// are present (up to the function code and, for an exception, its code).
fn plausible_header(window: &[u8]) -> bool {
    if window.is_empty() || framing_violation(window).is_some() {
        return false;
    }
    // Partial fields: the protocol id's bytes and the length's high byte must be 0.
    if window
        .get(frame::field::PROTOCOL_ID.start..window.len().min(frame::field::LENGTH.start + 1))
        .is_some_and(|bytes| bytes.iter().any(|&b| b != 0))
    {
        return false;
    }
    let Some(&fc) = window.get(frame::field::FUNCTION_CODE) else {
        return true;
    };
    match fc {
        1..=0x7F => true,
        0x81..=0xFF => {
            // An exception response is exactly unit id, function code and exception code.
            ModbusFrame::new_unchecked(window).length() == 3
                && match window.get(frame::field::DATA_START) {
                    None => true,
                    Some(&code) => ExceptionCode(code).name().is_some(),
                }
        }
        _ => false,
    }
}

/// How many bytes to drop from the front of `input` to reach the next offset that could start an
/// ADU: the first offset after 0 whose bytes look like an MBAP header (protocol id 0, length
/// 2..=254, function code 1..=127, or 0x81..=0xFF with a known exception code). An offset too
/// close to the end to show all of that is judged on the bytes it has, so a header split across
/// reads is kept. Always at least 1 and at most `input.len()` (for non-empty input).
pub fn resync_len(input: &[u8]) -> usize {
    (1..input.len()).find(|&offset| input.get(offset..).is_some_and(plausible_header)).unwrap_or(input.len()).max(1)
}

/// Decides whether the first bytes of a stream (either direction) are Modbus/TCP.
///
/// [`Probe::Match`] when at least the first 8 bytes are present and show protocol id 0, length
/// 2..=254 (255 for UMAS) and a known function code, or an exception of a known function with a
/// known exception code. [`Probe::NoMatch`] on any violation, [`Probe::NeedMore`] below 8 bytes
/// without one. Only the header is judged, not the PDU's fields: real devices send quirky PDUs
/// (an extra byte after an exception code, odd device identification objects) that are still
/// Modbus and are reported as anomalies once parsed. The false-match rate on random bytes is
/// below 1 in 2 million (protocol id, length high byte, function code).
pub fn probe(input: &[u8]) -> Probe {
    if framing_violation(input).is_some() {
        return Probe::NoMatch;
    }
    if input.len() < HEADER_LEN {
        return Probe::NeedMore;
    }
    let frame = ModbusFrame::new_unchecked(input);
    let raw_fc = frame.function_code();
    if !FunctionCode(raw_fc & 0x7F).is_known() {
        return Probe::NoMatch;
    }
    if raw_fc & 0x80 != 0 {
        let known_code = match input.get(frame::field::DATA_START) {
            Some(&code) => ExceptionCode(code).name().is_some(),
            None => frame.length() > 2,
        };
        if !known_code {
            return Probe::NoMatch;
        }
    }
    Probe::Match
}

/// On port 502 a plausible MBAP header is enough: protocol id 0 and a length an ADU can have.
/// Odd PDUs (function code 0, fuzzing, vendor codes) are then dissected with anomalies rather
/// than ignored.
pub fn probe_mbap(input: &[u8]) -> Probe {
    let Some(header) = input.get(..frame::MBAP_LEN + 1) else { return Probe::NeedMore };
    let protocol_id = u16::from_be_bytes([header[2], header[3]]);
    let length = u16::from_be_bytes([header[4], header[5]]);
    if protocol_id == 0 && (2..=254).contains(&length) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// On a port that is not 502, the first bytes must be whole, clean ADUs of known functions:
/// plenty of protocols start with two zero bytes.
pub fn probe_clean_adus(input: &[u8]) -> Probe {
    match probe(input) {
        Probe::Match => {}
        other => return other,
    }
    let mut rest = input;
    let mut seen = 0;
    while !rest.is_empty() {
        // Direction only changes how fields are decoded; framing is the same both ways.
        match parse(rest, Direction::ToServer) {
            Parse::Message { message, consumed } => {
                let known = message.info().name != "unknown";
                if !known || !message.anomalies.is_empty() {
                    if let Parse::Message { message, .. } = parse(rest, Direction::ToClient) {
                        if message.info().name == "unknown" || !message.anomalies.is_empty() {
                            return Probe::NoMatch;
                        }
                    }
                }
                seen += 1;
                rest = rest.get(consumed..).unwrap_or_default();
            }
            Parse::Incomplete { .. } => return if seen > 0 { Probe::Match } else { Probe::NeedMore },
            Parse::Skip { .. } => return Probe::NoMatch,
        }
    }
    Probe::Match
}

#[cfg(test)]
mod tests {
    use super::*;

    static READ_REQUEST: [u8; 12] = [
        0x00, 0x01, // transaction id 1
        0x00, 0x00, // protocol id 0
        0x00, 0x06, // length 6
        0x11, // unit id 17
        0x03, // read holding registers
        0x00, 0x6B, // starting address 107
        0x00, 0x03, // quantity 3
    ];

    static EXCEPTION: [u8; 9] = [
        0x00, 0x01, // transaction id 1
        0x00, 0x00, // protocol id 0
        0x00, 0x03, // length 3
        0x11, // unit id 17
        0x83, // read holding registers, exception
        0x02, // illegal data address
    ];

    #[test]
    fn parse() {
        let Parse::Message { message, consumed } = super::parse(&READ_REQUEST, Direction::ToServer) else { panic!() };
        assert_eq!(consumed, 12);
        assert_eq!(message.unit_id, 0x11);
        assert_eq!(message.address(), Some(107));
        let mut two = READ_REQUEST.to_vec();
        two.extend_from_slice(&EXCEPTION);
        let Parse::Message { consumed, .. } = super::parse(&two, Direction::ToServer) else { panic!() };
        assert_eq!(consumed, 12);
        let Parse::Message { message, consumed } = super::parse(&two[12..], Direction::ToClient) else { panic!() };
        assert_eq!(consumed, 9);
        assert_eq!(message.exception_code(), Some(ExceptionCode(2)));
    }

    #[test]
    fn truncated() {
        for cut in 0..READ_REQUEST.len() {
            match super::parse(&READ_REQUEST[..cut], Direction::ToServer) {
                Parse::Incomplete { needed } => {
                    let expected = if cut < 6 { 8 - cut } else { 12 - cut };
                    assert_eq!(needed, expected, "cut at {cut}");
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn impossible_len() {
        for length in [0u16, 1, 256, 0xFFFF] {
            let mut buf = READ_REQUEST.to_vec();
            buf[4..6].copy_from_slice(&length.to_be_bytes());
            let Parse::Skip { len, anomaly } = super::parse(&buf, Direction::ToServer) else { panic!() };
            assert!(std::ptr::eq(anomaly, &anomalies::INVALID_LENGTH));
            assert!((1..=buf.len()).contains(&len));
            // Judged as soon as the length field is present.
            assert!(matches!(super::parse(&buf[..6], Direction::ToServer), Parse::Skip { .. }));
        }
        let mut buf = READ_REQUEST.to_vec();
        buf[2] = 0x01; // protocol id 0x0100
        let Parse::Skip { anomaly, .. } = super::parse(&buf[..4], Direction::ToServer) else { panic!() };
        assert!(std::ptr::eq(anomaly, &anomalies::INVALID_PROTOCOL_ID));
    }

    #[test]
    fn umas_one_past_the_limit() {
        // Unity's UMAS repeat (0x0A) at MBAP length 255, as in pcaps/modbus/modicon_test.pcap.
        let mut buf = vec![
            0x00, 0x07, // transaction id 7
            0x00, 0x00, // protocol id 0
            0x00, 0xFF, // length 255: one past the Modbus limit
            0x00, // unit id 0
            0x5A, // UMAS
            0x00, // session
            0x0A, // repeat
        ];
        buf.resize(6 + 255, 0xAB); // echoed payload
        assert!(matches!(super::parse(&buf[..6], Direction::ToServer), Parse::Incomplete { needed: 2 }));
        assert!(matches!(super::parse(&buf[..8], Direction::ToServer), Parse::Incomplete { needed: 253 }));
        let Parse::Message { message, consumed } = super::parse(&buf, Direction::ToServer) else { panic!() };
        assert_eq!(consumed, 261);
        assert!(message.anomalies.contains(&anomalies::INVALID_LENGTH));
        assert_eq!(message.info().name, "umas_repeat");
        assert_eq!(super::probe(&buf), Probe::Match);
        // Any other function code at 255 is not framed.
        buf[7] = 0x03;
        assert!(matches!(super::parse(&buf[..8], Direction::ToServer), Parse::Skip { .. }));
        assert_eq!(super::probe(&buf), Probe::NoMatch);
        // Nor is UMAS at 256.
        buf[7] = 0x5A;
        buf[4..6].copy_from_slice(&256u16.to_be_bytes());
        assert!(matches!(super::parse(&buf[..6], Direction::ToServer), Parse::Skip { .. }));
    }

    #[test]
    fn resync() {
        // Garbage, then a real ADU: the skip lands exactly on it.
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        buf.extend_from_slice(&READ_REQUEST);
        let Parse::Skip { len, anomaly } = super::parse(&buf, Direction::ToServer) else { panic!() };
        assert_eq!(len, 16);
        assert!(std::ptr::eq(anomaly, &anomalies::INVALID_PROTOCOL_ID));
        // No header anywhere: keep only a tail that could still start one.
        // (A transaction id can be anything, so the last two bytes always stay.)
        assert_eq!(resync_len(&[0xFF; 20]), 18);
        assert_eq!(resync_len(&[0xFF, 0xFF, 0xFF, 0x00, 0x01]), 3);
        assert_eq!(resync_len(&[0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00]), 1);
        assert_eq!(resync_len(&[0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00]), 2);
        assert_eq!(resync_len(&[0xFF]), 1);
        assert_eq!(resync_len(&[]), 1);
        // A candidate whose function code is impossible is passed over.
        let candidate = [0xFF, 0xAA, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x00, 0xFF, 0xFF];
        assert_eq!(resync_len(&candidate), candidate.len() - 2);
        // An exception candidate needs length 3 and a known code.
        let mut bad_exception = vec![0xFF];
        bad_exception.extend_from_slice(&EXCEPTION[..8]);
        bad_exception.push(0x09);
        assert_eq!(resync_len(&bad_exception), bad_exception.len() - 2);
        let mut good_exception = vec![0xFF];
        good_exception.extend_from_slice(&EXCEPTION);
        assert_eq!(resync_len(&good_exception), 1);
    }

    #[test]
    fn probe() {
        assert_eq!(super::probe(&READ_REQUEST), Probe::Match);
        assert_eq!(super::probe(&READ_REQUEST[..8]), Probe::Match);
        assert_eq!(super::probe(&READ_REQUEST[..7]), Probe::NeedMore);
        assert_eq!(super::probe(&[]), Probe::NeedMore);
        assert_eq!(super::probe(&EXCEPTION), Probe::Match);
        assert_eq!(super::probe(b"GET / HTTP/1.1\r\n\r\n"), Probe::NoMatch);
        assert_eq!(super::probe(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), Probe::NoMatch);
        // Unknown function code.
        let mut buf = READ_REQUEST;
        buf[7] = 0x41;
        assert_eq!(super::probe(&buf), Probe::NoMatch);
        // Only the header is judged: a quirky PDU is still Modbus.
        let quirky = [0, 1, 0, 0, 0, 4, 1, 0x10, 0, 1];
        assert_eq!(super::probe(&quirky), Probe::Match);
        // An exception with an extra byte (a real device in modbus_test_data_part1.pcap).
        let extra = [0, 1, 0, 0, 0, 4, 0x0A, 0x81, 0x06, 0x00];
        assert_eq!(super::probe(&extra), Probe::Match);
        // An exception whose code is not yet present, but whose length leaves no room for one.
        assert_eq!(super::probe(&[0, 1, 0, 0, 0, 2, 1, 0x83]), Probe::NoMatch);
        // Exception with an undefined code.
        let mut buf = EXCEPTION;
        buf[8] = 0x09;
        assert_eq!(super::probe(&buf), Probe::NoMatch);
    }
}
