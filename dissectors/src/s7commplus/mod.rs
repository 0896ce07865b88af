//! S7comm-plus (protocol id 0x72): S7-1200/1500 and TIA Portal, inside COTP TSDUs on TCP 102.
//!
//! Siemens publishes nothing; the layout follows Thomas Wiens' `s7comm_plus` Wireshark plugin
//! (s7commwireshark on SourceForge; tshark 4.0 has no S7comm-plus dissector):
//!
//! ```text
//! header:  72 | version | data length (2)
//! V3 only: digest length (1, 0x20) | digest (32)          integrity part, counted in the length
//! data:    opcode (1) | reserved (2) | function (2) | reserved (2) | sequence number (2)
//!          request: session id (4) | transport flags (1)     response: transport flags (1)
//!          notification (0x33): subscription object id (4) | ...
//! trailer: 72 | version | 00 00                            absent on all but a TSDU's last fragment
//! ```
//!
//! Version 0xFF is a 4-byte keep-alive (72 FF sequence reserved). V2 frames of S7-1500 carry
//! their integrity part at the end of the data, which jobwatch does not read. The object payload
//! (attribute and value lists in variable-length integers) is not decoded: [`S7PlusMessage::data`]
//! gives it raw.
//!
//! No function here panics; [`decode`] fails only when the bytes are not S7comm-plus or the
//! 4-byte header is cut short.

use crate::anomaly::{AnomalyKind, AnomalyList};
use crate::classify::{self, FunctionInfo};
use crate::s7comm::anomalies::{INVALID_LENGTH, INVALID_PROTOCOL_ID, TRUNCATED, UNKNOWN_FUNCTION};
use std::fmt;

/// S7comm-plus's protocol id.
pub const PROTOCOL_ID: u8 = 0x72;
/// Length of the header (protocol id, version, data length) and of the trailer.
pub const HEADER_LEN: usize = 4;
/// Digest length of the V3 integrity part.
pub const DIGEST_LEN: usize = 32;

/// A protocol version byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u8);

impl Version {
    pub const V1: Version = Version(0x01);
    pub const V2: Version = Version(0x02);
    pub const V3: Version = Version(0x03);
    /// "Extended keep-alive", also seen as a logout confirmation.
    pub const EXTENDED_KEEP_ALIVE: Version = Version(0xFE);
    pub const KEEP_ALIVE: Version = Version(0xFF);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
            Self::V3 => "v3",
            Self::EXTENDED_KEEP_ALIVE => "extended_keep_alive",
            Self::KEEP_ALIVE => "keep_alive",
            _ => return None,
        })
    }
}

/// The data part's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    pub const REQUEST: Opcode = Opcode(0x31);
    pub const RESPONSE: Opcode = Opcode(0x32);
    pub const NOTIFICATION: Opcode = Opcode(0x33);
    /// A response seen from V13 HMIs on cyclic data.
    pub const RESPONSE2: Opcode = Opcode(0x02);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::REQUEST => "request",
            Self::RESPONSE => "response",
            Self::NOTIFICATION => "notification",
            Self::RESPONSE2 => "response2",
            _ => return None,
        })
    }
}

/// A function code (requests and responses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionCode(pub u16);

impl FunctionCode {
    pub const ERROR: FunctionCode = FunctionCode(0x04B1);
    pub const EXPLORE: FunctionCode = FunctionCode(0x04BB);
    pub const CREATE_OBJECT: FunctionCode = FunctionCode(0x04CA);
    pub const DELETE_OBJECT: FunctionCode = FunctionCode(0x04D4);
    pub const SET_VARIABLE: FunctionCode = FunctionCode(0x04F2);
    pub const GET_VARIABLE: FunctionCode = FunctionCode(0x04FC);
    pub const ADD_LINK: FunctionCode = FunctionCode(0x0506);
    pub const REMOVE_LINK: FunctionCode = FunctionCode(0x051A);
    pub const GET_LINK: FunctionCode = FunctionCode(0x0524);
    pub const SET_MULTI_VARIABLES: FunctionCode = FunctionCode(0x0542);
    pub const GET_MULTI_VARIABLES: FunctionCode = FunctionCode(0x054C);
    pub const BEGIN_SEQUENCE: FunctionCode = FunctionCode(0x0556);
    pub const END_SEQUENCE: FunctionCode = FunctionCode(0x0560);
    pub const INVOKE: FunctionCode = FunctionCode(0x056B);
    pub const SET_VAR_SUB_STREAMED: FunctionCode = FunctionCode(0x057C);
    pub const GET_VAR_SUB_STREAMED: FunctionCode = FunctionCode(0x0586);
    pub const GET_VARIABLES_ADDRESS: FunctionCode = FunctionCode(0x0590);
    pub const ABORT: FunctionCode = FunctionCode(0x059A);

    /// The stable snake_case name (from the classification table), or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        classify::s7comm::plus_lookup(self.0).map(|info| info.name)
    }
}

impl fmt::Display for FunctionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown(0x{:04X})", self.0),
        }
    }
}

/// One decoded S7comm-plus PDU (header and data header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7PlusMessage<'a> {
    pub version: Version,
    /// The header's data length (V3: integrity part included); for a keep-alive, 0.
    pub data_length: u16,
    /// The V3 digest (integrity protection; jobwatch does not verify it).
    pub digest: Option<&'a [u8]>,
    pub opcode: Option<Opcode>,
    /// Requests and responses.
    pub function: Option<FunctionCode>,
    /// Requests and responses (keep-alive: its one-byte counter). Pairs a response with its
    /// request.
    pub sequence_number: Option<u16>,
    /// Requests: the session id, in clear.
    pub session_id: Option<u32>,
    pub transport_flags: Option<u8>,
    /// Notifications: the subscription object id.
    pub subscription_id: Option<u32>,
    /// The object payload after the data header, raw.
    pub data: &'a [u8],
    /// False when the trailer is missing: the TSDU is a fragment of a larger S7comm-plus PDU
    /// whose later fragments follow in the next TSDUs.
    pub has_trailer: bool,
    /// True for a later fragment of a larger PDU (decoded with [`decode_continuation`]): its
    /// data continues the previous fragment's and has no opcode or function of its own.
    pub continuation: bool,
    pub anomalies: AnomalyList,
}

impl S7PlusMessage<'_> {
    pub fn is_keep_alive(&self) -> bool {
        self.version == Version::KEEP_ALIVE || self.version == Version::EXTENDED_KEEP_ALIVE
    }

    pub fn is_request(&self) -> bool {
        self.opcode == Some(Opcode::REQUEST)
    }

    pub fn is_response(&self) -> bool {
        self.opcode == Some(Opcode::RESPONSE) || self.opcode == Some(Opcode::RESPONSE2)
    }

    pub fn is_notification(&self) -> bool {
        self.opcode == Some(Opcode::NOTIFICATION)
    }

    /// The classification row of the function (notifications and keep-alives: their own rows).
    pub fn info(&self) -> &'static FunctionInfo {
        if self.is_notification() {
            return &classify::s7comm::PLUS_NOTIFICATION;
        }
        if self.is_keep_alive() {
            return &classify::s7comm::PLUS_KEEP_ALIVE;
        }
        match self.function {
            Some(function) => classify::s7comm::plus_lookup(function.0).unwrap_or(&classify::s7comm::PLUS_UNKNOWN),
            None => &classify::s7comm::PLUS_UNKNOWN,
        }
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at + 2) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Decodes one S7comm-plus PDU (a whole COTP TSDU).
///
/// Fails with [`INVALID_PROTOCOL_ID`] when the first byte is not 0x72, with [`TRUNCATED`] when
/// the 4-byte header is cut short. Otherwise fields that cannot be read are `None` and the
/// message carries [`TRUNCATED`]; a data length past the end, or bytes after the data that are
/// not a trailer, give [`INVALID_LENGTH`].
pub fn decode(tsdu: &[u8]) -> Result<S7PlusMessage<'_>, &'static AnomalyKind> {
    decode_with(tsdu, false)
}

/// Decodes a later fragment of a larger S7comm-plus PDU: the TSDU after one whose trailer was
/// missing ([`S7PlusMessage::has_trailer`] false) in the same direction. Header, V3 digest and
/// trailer are read as in [`decode`]; everything after them is [`S7PlusMessage::data`].
pub fn decode_continuation(tsdu: &[u8]) -> Result<S7PlusMessage<'_>, &'static AnomalyKind> {
    decode_with(tsdu, true)
}

fn decode_with(tsdu: &[u8], continuation: bool) -> Result<S7PlusMessage<'_>, &'static AnomalyKind> {
    let &[protocol_id, version, l1, l2, ref rest @ ..] = tsdu else {
        return Err(if tsdu.first().is_some_and(|&b| b != PROTOCOL_ID) { &INVALID_PROTOCOL_ID } else { &TRUNCATED });
    };
    if protocol_id != PROTOCOL_ID {
        return Err(&INVALID_PROTOCOL_ID);
    }
    let version = Version(version);
    let mut found = AnomalyList::new();
    let mut message = S7PlusMessage {
        version,
        data_length: 0,
        digest: None,
        opcode: None,
        function: None,
        sequence_number: None,
        session_id: None,
        transport_flags: None,
        subscription_id: None,
        data: &[],
        has_trailer: true,
        continuation,
        anomalies: found,
    };
    if version == Version::KEEP_ALIVE {
        message.sequence_number = Some(u16::from(l1));
        return Ok(message);
    }
    let data_length = u16::from_be_bytes([l1, l2]);
    message.data_length = data_length;
    let body = match rest.get(..usize::from(data_length)) {
        Some(body) => body,
        None => {
            found.push(&TRUNCATED);
            rest
        }
    };
    let after = rest.get(usize::from(data_length)..).unwrap_or(&[]);
    message.has_trailer = match after {
        [] => false,
        [PROTOCOL_ID, v, 0, 0] if *v == version.0 => true,
        _ => {
            found.push(&INVALID_LENGTH);
            false
        }
    };
    let mut body = body;
    if version == Version::V3 {
        match body {
            [len, digest @ ..] if usize::from(*len) == DIGEST_LEN && digest.len() >= DIGEST_LEN => {
                message.digest = digest.get(..DIGEST_LEN);
                body = digest.get(DIGEST_LEN..).unwrap_or(&[]);
            }
            _ => {
                // Without its digest the opcode's place is unknown: decode nothing more.
                found.push(&TRUNCATED);
                body = &[];
            }
        }
    }
    if version == Version::EXTENDED_KEEP_ALIVE || continuation {
        message.data = body;
        message.anomalies = found;
        return Ok(message);
    }
    let Some((&opcode, fields)) = body.split_first() else {
        message.anomalies = found;
        return Ok(message);
    };
    let opcode = Opcode(opcode);
    message.opcode = Some(opcode);
    let header_len = match opcode {
        Opcode::NOTIFICATION => {
            message.subscription_id = be32(fields, 0);
            4
        }
        Opcode::REQUEST | Opcode::RESPONSE | Opcode::RESPONSE2 => {
            message.function = be16(fields, 2).map(FunctionCode);
            message.sequence_number = be16(fields, 6);
            if opcode == Opcode::REQUEST {
                message.session_id = be32(fields, 8);
                message.transport_flags = fields.get(12).copied();
                13
            } else {
                message.transport_flags = fields.get(8).copied();
                9
            }
        }
        _ => {
            found.push(&UNKNOWN_FUNCTION);
            0
        }
    };
    if fields.len() < header_len {
        found.push(&TRUNCATED);
    }
    if message.function.is_some_and(|f| f.name().is_none()) {
        found.push(&UNKNOWN_FUNCTION);
    }
    message.data = fields.get(header_len..).unwrap_or(&[]);
    message.anomalies = found;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn leak(s: &str) -> &'static [u8] {
        Box::leak(hex(s).into_boxed_slice())
    }

    #[test]
    fn parse_v1_create_object() {
        // S7-1200-Uploading-OB1-TIAV12.pcap frame 4, cut after the data header; header length
        // patched to match, trailer appended.
        let tsdu = hex(concat!(
            "72",       // S7comm-plus
            "01",       // V1
            "000e",     // data length 14
            "31",       // request
            "0000",     // reserved
            "04ca",     // CreateObject
            "0000",     // reserved
            "0001",     // sequence number 1
            "00000120", // session id 0x120
            "36",       // transport flags
            "72010000", // trailer
        ));
        let m = decode(&tsdu).unwrap();
        assert_eq!(m.version, Version::V1);
        assert!(m.is_request());
        assert_eq!(m.function, Some(FunctionCode::CREATE_OBJECT));
        assert_eq!(m.sequence_number, Some(1));
        assert_eq!(m.session_id, Some(0x120));
        assert_eq!(m.transport_flags, Some(0x36));
        assert!(m.has_trailer);
        assert!(m.anomalies.is_empty(), "{:?}", m.anomalies);
        assert_eq!(m.info().name, "create_object");
    }

    #[test]
    fn parse_v3_integrity() {
        // s7comm_plus.pcap: a V3 SetVariable request with its 32-byte digest (zeroed here).
        let mut tsdu = hex("720300300020");
        tsdu.truncate(4);
        tsdu.push(0x20); // digest length 32
        tsdu.extend_from_slice(&[0xAB; 32]);
        tsdu.extend_from_slice(&hex("31000004f20000831a70000e4d74")); // request SetVariable seq 0x831a
        tsdu.extend_from_slice(&hex("72030000"));
        let len = u16::try_from(tsdu.len() - 8).unwrap();
        tsdu[2..4].copy_from_slice(&len.to_be_bytes());
        let m = decode(&tsdu).unwrap();
        assert_eq!(m.digest.map(<[u8]>::len), Some(32));
        assert_eq!(m.function, Some(FunctionCode::SET_VARIABLE));
        assert_eq!((m.sequence_number, m.session_id, m.transport_flags), (Some(0x831a), Some(0x70000e4d), Some(0x74)));
        assert!(m.anomalies.is_empty(), "{:?}", m.anomalies);
        assert_eq!(m.info().category, crate::Category::Write);
    }

    #[test]
    fn parse_notification_and_keep_alive() {
        // mixed/modbusBig.pcap: a V2 notification, subscription 0x1000006e.
        let tsdu = hex("7202001233");
        let mut tsdu = tsdu;
        tsdu.extend_from_slice(&hex("1000006e0400000000000006000000000072020000"));
        let m = decode(&tsdu).unwrap();
        assert!(m.is_notification());
        assert_eq!(m.subscription_id, Some(0x1000006e));
        assert_eq!(m.function, None);
        assert!(m.has_trailer);
        assert_eq!(m.info().name, "notification");
        // A later fragment: no opcode of its own.
        let m = decode_continuation(&tsdu).unwrap();
        assert!(m.continuation && m.opcode.is_none() && m.anomalies.is_empty());
        assert_eq!(m.data.len(), 18);
        let m = decode(&[0x72, 0xFF, 0x05, 0x00]).unwrap();
        assert!(m.is_keep_alive());
        assert_eq!(m.sequence_number, Some(5));
    }

    #[test]
    fn truncated() {
        assert_eq!(decode(&[0x72, 0x01]), Err(&TRUNCATED));
        assert_eq!(decode(&[0x32, 0x01, 0x00, 0x00]), Err(&INVALID_PROTOCOL_ID));
        assert_eq!(decode(&[0x32]), Err(&INVALID_PROTOCOL_ID));
        let m = decode(leak("7201000e3100")).unwrap();
        assert!(m.anomalies.contains(&TRUNCATED));
        assert!(!m.has_trailer);
        let m = decode(leak("72030004200000")).unwrap();
        assert!(m.anomalies.contains(&TRUNCATED));
        assert_eq!(m.opcode, None);
        // Bytes after the data that are not a trailer.
        let m = decode(leak("720100013100")).unwrap();
        assert!(m.anomalies.contains(&INVALID_LENGTH));
    }
}
