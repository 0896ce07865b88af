//! DNP3 frame builders: link layer (with its CRCs), transport header and application fragments
//! for the requests and responses a SCADA master and an outstation exchange over TCP.
//!
//! Layouts follow IEEE 1815-2012: clause 9.2 (link frame: 0x0564 start, length, control,
//! destination, source, header CRC, then user data in blocks of at most 16 bytes each followed
//! by its CRC), clause 8.2 (the one-byte transport header: FIN, FIR, sequence), clause 4.2.2
//! (application control and function code; responses add the two IIN bytes), and clause A for
//! the object groups used (g1v2, g12v1, g30v1, g52v2, g60v1–v4). A fragment here always fits one
//! link frame (at most 249 application bytes), as a polling master's fragments do. Builders
//! append to a caller's buffer and never panic.

/// Most user-data bytes one link frame carries (clause 9.2.4.1.3: length counts 5 header bytes).
pub const MAX_LINK_USER_DATA: usize = 250;

/// CRC-16/DNP over `data`: polynomial 0x3D65 reflected (0xA6BC), initial value 0, final XOR 0xFFFF.
/// The result is sent low byte first.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA6BC } else { crc >> 1 };
        }
    }
    !crc
}

/// Application function codes (open: any `u8` is a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FunctionCode(pub u8);

impl FunctionCode {
    pub const READ: FunctionCode = FunctionCode(1);
    pub const DIRECT_OPERATE: FunctionCode = FunctionCode(5);
    pub const COLD_RESTART: FunctionCode = FunctionCode(13);
    pub const RESPONSE: FunctionCode = FunctionCode(129);
}

/// Internal indications (clause 4.2.2.7), IIN1 in the high byte and IIN2 in the low byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Iin(pub u16);

impl Iin {
    pub const CLASS_1_EVENTS: Iin = Iin(0x0200);
    pub const DEVICE_TROUBLE: Iin = Iin(0x4000);
    pub const DEVICE_RESTART: Iin = Iin(0x8000);
    pub const NO_FUNC_CODE_SUPPORT: Iin = Iin(0x0001);
    pub const OBJECT_UNKNOWN: Iin = Iin(0x0002);
    pub const PARAMETER_ERROR: Iin = Iin(0x0004);

    pub fn union(self, other: Iin) -> Iin {
        Iin(self.0 | other.0)
    }

    /// True when a bit that reports a failure is set (device trouble, or any IIN2 error bit).
    pub fn is_error(self) -> bool {
        self.0 & 0x4000 != 0 || self.0 & 0x0007 != 0
    }
}

/// A master's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Event poll of the classes given (1, 2, 3): g60v2/v3/v4, qualifier 0x06 (all).
    ClassPoll {
        classes: Vec<u8>,
    },
    /// Integrity poll: classes 1, 2, 3 then class 0 (g60v2, v3, v4, v1), as masters send it.
    IntegrityPoll,
    /// Direct operate of one CROB (g12v1, qualifier 0x28, one point).
    DirectOperate {
        index: u16,
        code: u8,
        on_ms: u32,
        off_ms: u32,
    },
    ColdRestart,
}

impl Request {
    pub fn function_code(&self) -> FunctionCode {
        match self {
            Request::ClassPoll { .. } | Request::IntegrityPoll => FunctionCode::READ,
            Request::DirectOperate { .. } => FunctionCode::DIRECT_OPERATE,
            Request::ColdRestart => FunctionCode::COLD_RESTART,
        }
    }

    /// Appends the object headers (and data) that follow the function code.
    fn write_objects(&self, out: &mut Vec<u8>) {
        match self {
            Request::ClassPoll { classes } => {
                for &class in classes.iter().filter(|c| (1..=3).contains(*c)) {
                    out.extend_from_slice(&[60, class + 1, 0x06]);
                }
            }
            Request::IntegrityPoll => {
                out.extend_from_slice(&[60, 2, 0x06, 60, 3, 0x06, 60, 4, 0x06, 60, 1, 0x06]);
            }
            Request::DirectOperate { index, code, on_ms, off_ms } => {
                write_crob(*index, *code, *on_ms, *off_ms, 0, out);
            }
            Request::ColdRestart => {}
        }
    }

    /// Appends the request's application fragment (control, function code, objects).
    pub fn write_apdu(&self, app_seq: u8, out: &mut Vec<u8>) {
        // FIR, FIN, no confirmation asked, no unsolicited bit.
        out.push(0xC0 | (app_seq & 0x0F));
        out.push(self.function_code().0);
        self.write_objects(out);
    }
}

/// g12v1 with qualifier 0x28 (2-byte count, 2-byte index prefix), one point.
fn write_crob(index: u16, code: u8, on_ms: u32, off_ms: u32, status: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[12, 1, 0x28]);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.push(code);
    out.push(1); // count
    out.extend_from_slice(&on_ms.to_le_bytes());
    out.extend_from_slice(&off_ms.to_le_bytes());
    out.push(status);
}

/// The data an outstation returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseData {
    /// No objects (an event poll with no events, or a failed request).
    Empty,
    /// Binary inputs with flags (g1v2, qualifier 0x00 start–stop) from index 0, then 32-bit
    /// analog inputs with flag (g30v1, qualifier 0x00) from index 0.
    Static { binaries: Vec<bool>, analogs: Vec<i32> },
    /// Echo of a direct operate with its status (0: success).
    Crob { index: u16, code: u8, on_ms: u32, off_ms: u32, status: u8 },
    /// Cold restart answer: g52v2 (time delay fine, ms), qualifier 0x07, one object.
    TimeDelayFine { ms: u16 },
}

/// ONLINE flag; for binaries bit 7 is the state.
const FLAG_ONLINE: u8 = 0x01;

/// Most points of a kind a response carries, so the fragment fits one link frame.
const MAX_POINTS: usize = 32;

impl ResponseData {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            ResponseData::Empty => {}
            ResponseData::Static { binaries, analogs } => {
                let binaries = &binaries[..binaries.len().min(MAX_POINTS)];
                let analogs = &analogs[..analogs.len().min(MAX_POINTS)];
                if let Some(stop) = binaries.len().checked_sub(1) {
                    out.extend_from_slice(&[1, 2, 0x00, 0, stop as u8]);
                    out.extend(binaries.iter().map(|&b| FLAG_ONLINE | if b { 0x80 } else { 0 }));
                }
                if let Some(stop) = analogs.len().checked_sub(1) {
                    out.extend_from_slice(&[30, 1, 0x00, 0, stop as u8]);
                    for v in analogs {
                        out.push(FLAG_ONLINE);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            ResponseData::Crob { index, code, on_ms, off_ms, status } => {
                write_crob(*index, *code, *on_ms, *off_ms, *status, out);
            }
            ResponseData::TimeDelayFine { ms } => {
                out.extend_from_slice(&[52, 2, 0x07, 1]);
                out.extend_from_slice(&ms.to_le_bytes());
            }
        }
    }
}

/// Appends a response fragment (control echoing `app_seq`, FC 129, IIN, objects).
pub fn write_response_apdu(app_seq: u8, iin: Iin, data: &ResponseData, out: &mut Vec<u8>) {
    out.push(0xC0 | (app_seq & 0x0F));
    out.push(FunctionCode::RESPONSE.0);
    out.extend_from_slice(&iin.0.to_be_bytes());
    data.write(out);
}

/// Link-layer addressing and direction of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkHeader {
    /// DIR bit: set on frames from the master.
    pub from_master: bool,
    pub destination: u16,
    pub source: u16,
}

/// Link function: unconfirmed user data (primary frame, clause 9.2.4.1.3.1).
const LINK_UNCONFIRMED_USER_DATA: u8 = 0x04;
const LINK_DIR: u8 = 0x80;
const LINK_PRM: u8 = 0x40;

/// Appends a whole link frame carrying `user_data` (the transport segment). User data beyond
/// [`MAX_LINK_USER_DATA`] bytes is dropped: callers keep fragments within one frame.
pub fn write_link_frame(link: LinkHeader, user_data: &[u8], out: &mut Vec<u8>) {
    let user_data = &user_data[..user_data.len().min(MAX_LINK_USER_DATA)];
    let start = out.len();
    out.extend_from_slice(&[0x05, 0x64, (5 + user_data.len()) as u8]);
    let dir = if link.from_master { LINK_DIR } else { 0 };
    out.push(dir | LINK_PRM | LINK_UNCONFIRMED_USER_DATA);
    out.extend_from_slice(&link.destination.to_le_bytes());
    out.extend_from_slice(&link.source.to_le_bytes());
    let crc = crc16(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    for block in user_data.chunks(16) {
        out.extend_from_slice(block);
        out.extend_from_slice(&crc16(block).to_le_bytes());
    }
}

/// Appends a link frame holding one transport segment (FIR and FIN set) around `apdu`.
pub fn write_frame(link: LinkHeader, transport_seq: u8, apdu: &[u8], out: &mut Vec<u8>) {
    let mut user = Vec::with_capacity(apdu.len() + 1);
    user.push(0xC0 | (transport_seq & 0x3F));
    user.extend_from_slice(apdu);
    write_link_frame(link, &user, out);
}

/// Length of the link frame that starts `bytes`, from its length field; `None` when fewer
/// than three bytes are given.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let len = usize::from(*bytes.get(2)?);
    let user = len.saturating_sub(5);
    Some(10 + user + 2 * user.div_ceil(16))
}

/// The sequence counters one direction of a DNP3 association keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequences {
    transport: u8,
    application: u8,
}

impl Sequences {
    pub fn starting_at(transport: u8, application: u8) -> Sequences {
        Sequences { transport: transport & 0x3F, application: application & 0x0F }
    }

    /// The next transport sequence number (modulo 64).
    pub fn next_transport(&mut self) -> u8 {
        let s = self.transport;
        self.transport = (s + 1) & 0x3F;
        s
    }

    /// The next application sequence number (modulo 16).
    pub fn next_application(&mut self) -> u8 {
        let s = self.application;
        self.application = (s + 1) & 0x0F;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const MASTER: LinkHeader = LinkHeader { from_master: true, destination: 10, source: 1 };
    const OUTSTATION: LinkHeader = LinkHeader { from_master: false, destination: 1, source: 10 };

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0xEA82);
    }

    #[test]
    fn class_poll() {
        // read_and_response.pcap frame 4: "Read, Class 0123".
        let mut apdu = Vec::new();
        Request::IntegrityPoll.write_apdu(0, &mut apdu);
        let mut frame = Vec::new();
        write_frame(MASTER, 0, &apdu, &mut frame);
        #[rustfmt::skip]
        assert_eq!(frame, hex(concat!(
            "0564", "14", "c4", "0a00", "0100", "8fed",   // start, length 20, DIR|PRM|UD, dest 10, src 1, CRC
            "c0",                                       // transport: FIR FIN seq 0
            "c001",                                     // app: FIR FIN seq 0, READ
            "3c0206", "3c0306", "3c0406", "3c0106",     // g60v2 v3 v4 v1, all
            "8a51",                                     // block CRC
        )));
        assert_eq!(frame_len(&frame), Some(frame.len()));
        apdu.clear();
        Request::ClassPoll { classes: vec![1, 2, 3] }.write_apdu(3, &mut apdu);
        assert_eq!(apdu, hex("c3013c02063c03063c0406"));
    }

    #[test]
    fn cold_restart() {
        // cold_restart_and_response.pcap frames 4 and 6.
        let mut apdu = Vec::new();
        Request::ColdRestart.write_apdu(0, &mut apdu);
        let mut frame = Vec::new();
        write_frame(MASTER, 0, &apdu, &mut frame);
        assert_eq!(frame, hex("056408c40a000100fc42c0c00d9c86"));
        apdu.clear();
        write_response_apdu(0, Iin(0x0001), &ResponseData::Empty, &mut apdu);
        frame.clear();
        write_frame(OUTSTATION, 0, &apdu, &mut frame);
        assert_eq!(frame, hex("05640a4401000a006e25c0c0810001c2de"));
    }

    #[test]
    fn direct_operate() {
        // directoperate_and_response.pcap frames 4 and 6: latch on, point 0, 100 ms on and off.
        let request = Request::DirectOperate { index: 0, code: 3, on_ms: 100, off_ms: 100 };
        let mut apdu = Vec::new();
        request.write_apdu(0, &mut apdu);
        let mut frame = Vec::new();
        write_frame(MASTER, 0, &apdu, &mut frame);
        #[rustfmt::skip]
        assert_eq!(frame, hex(concat!(
            "05641ac40a0001008a1c",
            "c0", "c005", "0c0128", "0100", "0000", "0301", "64000000", "dded", // 16 bytes, CRC
            "64000000", "00", "005b",                                        // off time, status, CRC
        )));
        apdu.clear();
        let echo = ResponseData::Crob { index: 0, code: 3, on_ms: 100, off_ms: 100, status: 0 };
        write_response_apdu(0, Iin::default(), &echo, &mut apdu);
        frame.clear();
        write_frame(OUTSTATION, 9, &apdu, &mut frame);
        assert_eq!(frame, hex("05641c4401000a007636c9c08100000c012801000000030164008ccd00006400000000005b"));
    }

    #[test]
    fn static_response() {
        let mut apdu = Vec::new();
        let data = ResponseData::Static { binaries: vec![true, false], analogs: vec![-2, 300] };
        write_response_apdu(5, Iin::DEVICE_RESTART, &data, &mut apdu);
        #[rustfmt::skip]
        assert_eq!(apdu, hex(concat!(
            "c581", "8000",                                 // seq 5, RESPONSE, IIN1 restart
            "010200", "0001", "81", "01",                  // g1v2 0–1: on, off
            "1e0100", "0001", "01", "feffffff", "01", "2c010000", // g30v1 0–1
        )));
        let mut frame = Vec::new();
        write_frame(OUTSTATION, 1, &apdu, &mut frame);
        // Every 16-byte block is followed by its CRC.
        assert_eq!(frame_len(&frame), Some(frame.len()));
        let user = &frame[10..];
        for block in user.chunks(18) {
            let (data, crc) = block.split_at(block.len() - 2);
            assert_eq!(crc16(data).to_le_bytes(), [crc[0], crc[1]]);
        }
        apdu.clear();
        write_response_apdu(1, Iin::default(), &ResponseData::TimeDelayFine { ms: 1000 }, &mut apdu);
        assert_eq!(apdu, hex("c1810000340207 01e803".replace(' ', "").as_str()));
    }

    #[test]
    fn iin_errors() {
        assert!(!Iin::CLASS_1_EVENTS.is_error());
        assert!(Iin::DEVICE_TROUBLE.is_error());
        assert!(Iin::OBJECT_UNKNOWN.union(Iin::CLASS_1_EVENTS).is_error());
    }

    #[test]
    fn sequences_wrap() {
        let mut s = Sequences::starting_at(63, 15);
        assert_eq!((s.next_transport(), s.next_transport()), (63, 0));
        assert_eq!((s.next_application(), s.next_application()), (15, 0));
    }
}
