//! The DNP3 application layer (IEEE 1815-2012 clause 4.2.2): the application control octet, the
//! function code, the internal indications of responses, and the object headers after them.
//!
//! ```text
//! request:  | AC | FC | object headers and objects ...
//! response: | AC | FC | IIN1 | IIN2 | object headers and objects ...   (FC 129, 130, 131)
//! ```
//!
//! [`parse`] decodes one reassembled application fragment (the output of
//! [`TransportReassembler`](super::TransportReassembler)). It fails only when the fragment is too
//! short for the application control and function code; everything else odd is an anomaly on
//! the [`ApplicationMessage`]. Parsing walks the object headers once to find anomalies and
//! count objects and points; [`ApplicationMessage::objects`] walks them again for the caller.
//! Nothing here allocates, and nothing panics whatever the bytes.

use super::anomalies::{INVALID_LENGTH, UNKNOWN_FUNCTION};
use super::objects::{Limits, Objects};
use crate::anomaly::AnomalyList;
use crate::classify::{self, FunctionInfo};
use std::fmt;

/// The application control octet (4.2.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AppControl(pub u8);

impl AppControl {
    /// FIR: the first fragment of a message.
    pub fn fir(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// FIN: the final fragment of a message.
    pub fn fin(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// CON: the receiver must confirm this fragment.
    pub fn con(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// UNS: an unsolicited response, or the confirm of one.
    pub fn uns(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// The 4-bit sequence number.
    pub fn sequence(self) -> u8 {
        self.0 & 0x0F
    }
}

/// An application function code (4.2.2.5, table 4-3). Open: an unknown code is a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionCode(pub u8);

impl FunctionCode {
    pub const CONFIRM: FunctionCode = FunctionCode(0);
    pub const READ: FunctionCode = FunctionCode(1);
    pub const WRITE: FunctionCode = FunctionCode(2);
    pub const SELECT: FunctionCode = FunctionCode(3);
    pub const OPERATE: FunctionCode = FunctionCode(4);
    pub const DIRECT_OPERATE: FunctionCode = FunctionCode(5);
    pub const DIRECT_OPERATE_NO_ACK: FunctionCode = FunctionCode(6);
    pub const IMMEDIATE_FREEZE: FunctionCode = FunctionCode(7);
    pub const IMMEDIATE_FREEZE_NO_ACK: FunctionCode = FunctionCode(8);
    pub const FREEZE_AND_CLEAR: FunctionCode = FunctionCode(9);
    pub const FREEZE_AND_CLEAR_NO_ACK: FunctionCode = FunctionCode(10);
    pub const FREEZE_AT_TIME: FunctionCode = FunctionCode(11);
    pub const FREEZE_AT_TIME_NO_ACK: FunctionCode = FunctionCode(12);
    pub const COLD_RESTART: FunctionCode = FunctionCode(13);
    pub const WARM_RESTART: FunctionCode = FunctionCode(14);
    pub const INITIALIZE_DATA: FunctionCode = FunctionCode(15);
    pub const INITIALIZE_APPLICATION: FunctionCode = FunctionCode(16);
    pub const START_APPLICATION: FunctionCode = FunctionCode(17);
    pub const STOP_APPLICATION: FunctionCode = FunctionCode(18);
    pub const SAVE_CONFIGURATION: FunctionCode = FunctionCode(19);
    pub const ENABLE_UNSOLICITED: FunctionCode = FunctionCode(20);
    pub const DISABLE_UNSOLICITED: FunctionCode = FunctionCode(21);
    pub const ASSIGN_CLASS: FunctionCode = FunctionCode(22);
    pub const DELAY_MEASURE: FunctionCode = FunctionCode(23);
    pub const RECORD_CURRENT_TIME: FunctionCode = FunctionCode(24);
    pub const OPEN_FILE: FunctionCode = FunctionCode(25);
    pub const CLOSE_FILE: FunctionCode = FunctionCode(26);
    pub const DELETE_FILE: FunctionCode = FunctionCode(27);
    pub const GET_FILE_INFO: FunctionCode = FunctionCode(28);
    pub const AUTHENTICATE_FILE: FunctionCode = FunctionCode(29);
    pub const ABORT_FILE: FunctionCode = FunctionCode(30);
    pub const ACTIVATE_CONFIG: FunctionCode = FunctionCode(31);
    pub const AUTHENTICATE_REQUEST: FunctionCode = FunctionCode(32);
    pub const AUTHENTICATE_REQUEST_NO_ACK: FunctionCode = FunctionCode(33);
    pub const RESPONSE: FunctionCode = FunctionCode(129);
    pub const UNSOLICITED_RESPONSE: FunctionCode = FunctionCode(130);
    pub const AUTHENTICATE_RESPONSE: FunctionCode = FunctionCode(131);

    /// The stable snake_case name, or `None` for an undefined code.
    pub fn name(self) -> Option<&'static str> {
        classify::dnp3::FUNCTIONS.iter().find(|info| info.code == u16::from(self.0)).map(|info| info.name)
    }

    /// True for a code IEEE 1815 defines.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// True for the response codes (129–131), which carry IIN.
    pub fn is_response(self) -> bool {
        matches!(self.0, 129..=131)
    }

    /// True for requests the outstation must not answer (the "no ack" codes, 6, 8, 10, 12, 33).
    pub fn expects_no_response(self) -> bool {
        matches!(self.0, 6 | 8 | 10 | 12 | 33)
    }
}

impl fmt::Display for FunctionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown({})", self.0),
        }
    }
}

/// The internal indications of a response (4.2.2.6): IIN1 in bits 0–7, IIN2 in bits 8–15 (the
/// two octets read little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Iin(pub u16);

impl Iin {
    pub const BROADCAST: u16 = 1 << 0;
    pub const CLASS_1_EVENTS: u16 = 1 << 1;
    pub const CLASS_2_EVENTS: u16 = 1 << 2;
    pub const CLASS_3_EVENTS: u16 = 1 << 3;
    pub const NEED_TIME: u16 = 1 << 4;
    pub const LOCAL_CONTROL: u16 = 1 << 5;
    pub const DEVICE_TROUBLE: u16 = 1 << 6;
    pub const DEVICE_RESTART: u16 = 1 << 7;
    pub const NO_FUNC_CODE_SUPPORT: u16 = 1 << 8;
    pub const OBJECT_UNKNOWN: u16 = 1 << 9;
    pub const PARAMETER_ERROR: u16 = 1 << 10;
    pub const EVENT_BUFFER_OVERFLOW: u16 = 1 << 11;
    pub const ALREADY_EXECUTING: u16 = 1 << 12;
    pub const CONFIG_CORRUPT: u16 = 1 << 13;
    pub const RESERVED_2: u16 = 1 << 14;
    pub const RESERVED_1: u16 = 1 << 15;

    /// The sixteen bit names, bit 0 (IIN1.0) first.
    pub const NAMES: [&'static str; 16] = [
        "broadcast",
        "class_1_events",
        "class_2_events",
        "class_3_events",
        "need_time",
        "local_control",
        "device_trouble",
        "device_restart",
        "no_func_code_support",
        "object_unknown",
        "parameter_error",
        "event_buffer_overflow",
        "already_executing",
        "config_corrupt",
        "reserved_2",
        "reserved_1",
    ];

    /// From the two octets as on the wire.
    pub fn from_octets(iin1: u8, iin2: u8) -> Iin {
        Iin(u16::from_le_bytes([iin1, iin2]))
    }
    pub fn iin1(self) -> u8 {
        self.0.to_le_bytes()[0]
    }
    pub fn iin2(self) -> u8 {
        self.0.to_le_bytes()[1]
    }
    /// True when `bit` (one of the constants) is set.
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    /// The names of the set bits, IIN1.0 first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES.into_iter().enumerate().filter(move |(bit, _)| self.0 >> bit & 1 == 1).map(|(_, name)| name)
    }
    /// True when an IIN2 error bit (function unsupported, object unknown, parameter error) is
    /// set: the outstation refused the request.
    pub fn is_error(self) -> bool {
        self.has(Self::NO_FUNC_CODE_SUPPORT | Self::OBJECT_UNKNOWN | Self::PARAMETER_ERROR)
    }
}

/// An application fragment is too short for its header (in etherparse's manner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// Bytes required (2: application control and function code).
    pub required_len: usize,
    /// Bytes present.
    pub len: usize,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DNP3 application fragment too short: the header needs {} bytes, but only {} are present.",
            self.required_len, self.len
        )
    }
}

impl std::error::Error for LenError {}

/// One decoded application fragment.
#[derive(Clone, Copy, Debug)]
pub struct ApplicationMessage<'a> {
    pub control: AppControl,
    pub function: FunctionCode,
    /// Internal indications (responses only; `None` when a response is too short for them).
    pub iin: Option<Iin>,
    /// Object headers walked (bounded by [`Limits::max_objects`]).
    pub object_count: usize,
    /// Points (objects carrying data) declared by the headers walked.
    pub point_count: u64,
    pub anomalies: AnomalyList,
    objects: &'a [u8],
    limits: Limits,
}

impl<'a> ApplicationMessage<'a> {
    /// The object headers and their objects.
    pub fn objects(&self) -> Objects<'a> {
        Objects::new(self.objects, self.function, self.limits)
    }

    /// The bytes after the header (and IIN).
    pub fn object_bytes(&self) -> &'a [u8] {
        self.objects
    }

    /// The group of the first object header, which decides a write's category.
    pub fn first_group(&self) -> Option<u8> {
        self.objects.first().copied()
    }

    /// True for a response (FC 129–131).
    pub fn is_response(&self) -> bool {
        self.function.is_response()
    }

    /// True for an unsolicited response (FC 130), or the UNS bit on a confirm.
    pub fn is_unsolicited(&self) -> bool {
        self.function == FunctionCode::UNSOLICITED_RESPONSE || self.control.uns()
    }

    /// The application sequence number.
    pub fn sequence(&self) -> u8 {
        self.control.sequence()
    }

    /// The classification row of this message's function (a write by its first object group).
    pub fn info(&self) -> &'static FunctionInfo {
        classify::dnp3::lookup(self.function.0, self.first_group())
    }
}

/// Decodes one application fragment with [`Limits::DEFAULT`].
pub fn parse(fragment: &[u8]) -> Result<ApplicationMessage<'_>, LenError> {
    parse_with_limits(fragment, Limits::DEFAULT)
}

/// Decodes one application fragment.
pub fn parse_with_limits(fragment: &[u8], limits: Limits) -> Result<ApplicationMessage<'_>, LenError> {
    let &[control, function, ref rest @ ..] = fragment else {
        return Err(LenError { required_len: 2, len: fragment.len() });
    };
    let function = FunctionCode(function);
    let mut anomalies = AnomalyList::new();
    if !function.is_known() {
        anomalies.push(&UNKNOWN_FUNCTION);
    }
    let (iin, objects) = if function.is_response() {
        match *rest {
            [iin1, iin2, ref objects @ ..] => (Some(Iin::from_octets(iin1, iin2)), objects),
            _ => {
                anomalies.push(&INVALID_LENGTH);
                (None, &[][..])
            }
        }
    } else {
        (None, rest)
    };
    let mut walk = Objects::new(objects, function, limits);
    let object_count = walk.by_ref().count();
    for anomaly in walk.anomalies().iter() {
        anomalies.push(anomaly);
    }
    Ok(ApplicationMessage {
        control: AppControl(control),
        function,
        iin,
        object_count,
        point_count: walk.points(),
        anomalies,
        objects,
        limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnp3::anomalies::{TOO_MANY_POINTS, UNKNOWN_OBJECT};
    use crate::dnp3::objects::PointValue;

    /// Read class 1, 2, 3, 0 (read_and_response.pcap).
    static READ: [u8; 14] = [
        0xC0, // FIR, FIN, seq 0
        0x01, // read
        0x3C, 0x02, 0x06, // g60v2, all
        0x3C, 0x03, 0x06, // g60v3, all
        0x3C, 0x04, 0x06, // g60v4, all
        0x3C, 0x01, 0x06, // g60v1, all
    ];

    /// Select of one CROB (select_operate_and_responses.pcap).
    static SELECT: [u8; 20] = [
        0xC0, // FIR, FIN, seq 0
        0x03, // select
        0x0C, 0x01, 0x28, 0x01, 0x00, // g12v1, count 1, 2-octet index
        0x00, 0x00, // index 0
        0x03, 0x01, // latch on, count 1
        0x64, 0x00, 0x00, 0x00, // on 100 ms
        0x64, 0x00, 0x00, 0x00, // off 100 ms
        0x00, // status success
    ];

    /// Unsolicited null response with device restart (unsolcited_response_and_confirm.pcap).
    static UNSOLICITED: [u8; 4] = [
        0xF0, // FIR, FIN, CON, UNS, seq 0
        0x82, // unsolicited response
        0x00, 0x00, // IIN
    ];

    #[test]
    fn deconstruct() {
        let control = AppControl(0xF5);
        assert!(control.fir() && control.fin() && control.con() && control.uns());
        assert_eq!(control.sequence(), 5);
        assert_eq!(FunctionCode::DIRECT_OPERATE.to_string(), "direct_operate");
        assert_eq!(FunctionCode(34).to_string(), "unknown(34)");
        assert!(FunctionCode::DIRECT_OPERATE_NO_ACK.expects_no_response());
        let iin = Iin::from_octets(0x90, 0x02);
        assert!(iin.has(Iin::DEVICE_RESTART) && iin.has(Iin::NEED_TIME) && iin.has(Iin::OBJECT_UNKNOWN));
        assert_eq!(iin.names().collect::<Vec<_>>(), ["need_time", "device_restart", "object_unknown"]);
        assert_eq!((iin.iin1(), iin.iin2()), (0x90, 0x02));
        assert!(iin.is_error());
        for code in (0..=33).chain(129..=131) {
            assert!(FunctionCode(code).is_known(), "{code}");
        }
    }

    #[test]
    fn parse() {
        let message = super::parse(&READ).unwrap();
        assert_eq!(message.function, FunctionCode::READ);
        assert_eq!(message.object_count, 4);
        assert_eq!(message.point_count, 0);
        assert!(message.anomalies.is_empty());
        assert!(message.iin.is_none());
        assert_eq!(message.info().name, "read");
        let groups: Vec<_> = message.objects().map(|o| (o.header.group, o.header.variation)).collect();
        assert_eq!(groups, [(60, 2), (60, 3), (60, 4), (60, 1)]);
        let message = super::parse(&UNSOLICITED).unwrap();
        assert!(message.is_unsolicited() && message.is_response());
        assert_eq!(message.iin, Some(Iin(0)));
        assert_eq!(message.object_count, 0);
    }

    #[test]
    fn select_crob() {
        let message = super::parse(&SELECT).unwrap();
        assert!(message.anomalies.is_empty(), "{:?}", message.anomalies);
        assert_eq!(message.info().category, classify::Category::Write);
        let object = message.objects().next().unwrap();
        let point = object.points().next().unwrap();
        let PointValue::Crob(crob) = point.value else { panic!() };
        assert_eq!(crob.op_type_name(), Some("latch_on"));
        assert_eq!((crob.on_time, crob.off_time), (100, 100));
    }

    #[test]
    fn truncated() {
        assert_eq!(super::parse(&[0xC0]).unwrap_err(), LenError { required_len: 2, len: 1 });
        assert_eq!(
            super::parse(&[]).unwrap_err().to_string(),
            "DNP3 application fragment too short: the header needs 2 bytes, but only 0 are present."
        );
        let message = super::parse(&[0xC0, 0x81, 0x00]).unwrap();
        assert!(message.iin.is_none());
        assert!(message.anomalies.contains(&INVALID_LENGTH));
    }

    #[test]
    fn impossible_len() {
        // 20 000 packed bits declared in a response: more points than the limit.
        let mut fragment = vec![0xC0, 0x81, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00, 0x1F, 0x4E];
        fragment.extend_from_slice(&[0xFF; 2500]);
        let message = super::parse(&fragment).unwrap();
        assert!(message.anomalies.contains(&TOO_MANY_POINTS));
        let points = message.objects().next().unwrap().points().count();
        assert_eq!(points, 16384);
    }

    #[test]
    fn anomalies() {
        let message = super::parse(&[0xC0, 0x22]).unwrap();
        assert!(message.anomalies.contains(&UNKNOWN_FUNCTION));
        assert_eq!(message.info().name, "unknown");
        let message = super::parse(&[0xC0, 0x01, 0xFA, 0x01, 0x06]).unwrap();
        assert!(message.anomalies.contains(&UNKNOWN_OBJECT));
        assert_eq!(message.object_count, 0);
    }
}
