//! The DNP3 data link layer (IEEE 1815-2012 clause 9): frames of a 10-byte header and up to 250
//! bytes of user data in blocks of at most 16 bytes, each block followed by its CRC.
//!
//! ```text
//!  0    2     3     4      6      8      10             10+n+2*ceil(n/16)
//! +----+-----+-----+------+------+------+--------------+
//! |0564| len | ctl | dest | src  | CRC  | data + CRCs  |
//! +----+-----+-----+------+------+------+--------------+
//! ```
//!
//! `len` counts the control, destination and source fields and the user data (not the CRCs), so
//! it is at least 5 and the user data is `len - 5` bytes (9.2.4.1.2). Addresses are
//! little-endian (9.2.4.1.4). The CRC is CRC-16/DNP (9.2.4.1.3): polynomial 0x3D65, reflected,
//! initial value 0, final XOR 0xFFFF, sent least significant byte first.
//!
//! [`parse`] frames one link frame from the front of a byte stream (TCP, or a UDP datagram) and
//! returns a [`LinkFrame`] that owns its user data with the block CRCs stripped (a fixed 250-byte
//! array: no allocation). The user data is not contiguous on the wire, so unlike Modbus there is
//! no borrowed view of it; [`LinkHeader`] is the zero-copy view of the 10-byte header.
//!
//! Under `cfg(fuzzing)` CRCs are not checked, so a fuzzer reaches the layers above (as smoltcp
//! skips checksums). No function here panics, whatever the input.

use super::anomalies::{BAD_LINK_CRC, INVALID_LENGTH, INVALID_START, UNKNOWN_LINK_FUNCTION};
use crate::anomaly::AnomalyList;
use crate::stream::Parse;
use std::fmt;

/// Byte ranges of the link header fields (IEEE 1815-2012 9.2.4.1).
pub mod field {
    use std::ops::Range;

    pub const START: Range<usize> = 0..2;
    pub const LENGTH: usize = 2;
    pub const CONTROL: usize = 3;
    pub const DESTINATION: Range<usize> = 4..6;
    pub const SOURCE: Range<usize> = 6..8;
    pub const HEADER_CRC: Range<usize> = 8..10;
    /// The header fields the header CRC covers.
    pub const CRC_COVERED: Range<usize> = 0..8;
    /// User data blocks start here.
    pub const DATA_START: usize = 10;
}

/// The two start octets, 0x05 0x64.
pub const START: [u8; 2] = [0x05, 0x64];
/// Length of the link header including its CRC.
pub const HEADER_LEN: usize = 10;
/// Smallest valid length field: control, destination and source.
pub const MIN_LENGTH: u8 = 5;
/// Most user data one frame carries (length 255).
pub const MAX_USER_DATA: usize = 250;
/// User data bytes per CRC block.
pub const BLOCK_LEN: usize = 16;
/// Longest link frame on the wire: header, 250 data bytes and 16 block CRCs.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_USER_DATA + 2 * MAX_USER_DATA.div_ceil(BLOCK_LEN);

const fn crc_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            // 0xA6BC is 0x3D65 bit-reversed.
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA6BC } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC_TABLE: [u16; 256] = crc_table();

/// CRC-16/DNP of `data` (check value 0xEA82 for `"123456789"`).
pub fn crc(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in data {
        crc = (crc >> 8) ^ CRC_TABLE[usize::from((crc as u8) ^ byte)];
    }
    !crc
}

/// True when `data` is followed by its CRC in `received` (little-endian), or when fuzzing.
fn crc_ok(data: &[u8], received: &[u8]) -> bool {
    #[allow(unexpected_cfgs)] // cargo-fuzz passes `--cfg fuzzing`
    let checked = !cfg!(fuzzing);
    !checked || matches!(received, &[lo, hi] if u16::from_le_bytes([lo, hi]) == crc(data))
}

/// The frame length on the wire for a given length field (header, data, block CRCs).
pub fn frame_len(length: u8) -> usize {
    let data = usize::from(length).saturating_sub(usize::from(MIN_LENGTH));
    HEADER_LEN + data + 2 * data.div_ceil(BLOCK_LEN)
}

/// A link function code, read according to the PRM bit (tables 9-1 and 9-2 of IEEE 1815-2012).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkFunction {
    /// True in a primary (initiating) frame.
    pub primary: bool,
    /// The four-bit function code.
    pub code: u8,
}

impl LinkFunction {
    pub const RESET_LINK_STATES: LinkFunction = LinkFunction { primary: true, code: 0 };
    pub const TEST_LINK_STATES: LinkFunction = LinkFunction { primary: true, code: 2 };
    pub const CONFIRMED_USER_DATA: LinkFunction = LinkFunction { primary: true, code: 3 };
    pub const UNCONFIRMED_USER_DATA: LinkFunction = LinkFunction { primary: true, code: 4 };
    pub const REQUEST_LINK_STATUS: LinkFunction = LinkFunction { primary: true, code: 9 };
    pub const ACK: LinkFunction = LinkFunction { primary: false, code: 0 };
    pub const NACK: LinkFunction = LinkFunction { primary: false, code: 1 };
    pub const LINK_STATUS: LinkFunction = LinkFunction { primary: false, code: 11 };
    pub const NOT_SUPPORTED: LinkFunction = LinkFunction { primary: false, code: 15 };

    /// The stable snake_case name, or `None` for an undefined code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::RESET_LINK_STATES => "reset_link_states",
            Self::TEST_LINK_STATES => "test_link_states",
            Self::CONFIRMED_USER_DATA => "confirmed_user_data",
            Self::UNCONFIRMED_USER_DATA => "unconfirmed_user_data",
            Self::REQUEST_LINK_STATUS => "request_link_status",
            Self::ACK => "ack",
            Self::NACK => "nack",
            Self::LINK_STATUS => "link_status",
            Self::NOT_SUPPORTED => "not_supported",
            _ => return None,
        })
    }

    /// True for the two functions that carry user data (a transport segment).
    pub fn carries_user_data(self) -> bool {
        self == Self::CONFIRMED_USER_DATA || self == Self::UNCONFIRMED_USER_DATA
    }
}

impl fmt::Display for LinkFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown({})", self.code),
        }
    }
}

/// The link control octet (IEEE 1815-2012 9.2.4.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkControl(pub u8);

impl LinkControl {
    /// DIR: set on frames from the master.
    pub fn dir(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// PRM: set on primary (initiating) frames.
    pub fn prm(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// FCB: frame count bit (primary frames).
    pub fn fcb(self) -> bool {
        self.prm() && self.0 & 0x20 != 0
    }
    /// FCV: frame count valid (primary frames).
    pub fn fcv(self) -> bool {
        self.prm() && self.0 & 0x10 != 0
    }
    /// DFC: data flow control, the secondary station's buffers are full (secondary frames).
    pub fn dfc(self) -> bool {
        !self.prm() && self.0 & 0x10 != 0
    }
    /// The function code, read according to PRM.
    pub fn function(self) -> LinkFunction {
        LinkFunction { primary: self.prm(), code: self.0 & 0x0F }
    }
}

/// A zero-copy view of a link header. No accessor panics: before
/// [`check_len`](Self::check_len) passed, a missing field reads as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// A link header is shorter than 10 bytes (in etherparse's manner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// Bytes required.
    pub required_len: usize,
    /// Bytes present.
    pub len: usize,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DNP3 link header too short: {} bytes are needed, but only {} are present.",
            self.required_len, self.len
        )
    }
}

impl std::error::Error for LenError {}

fn le16(bytes: &[u8], range: std::ops::Range<usize>) -> u16 {
    match bytes.get(range) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> LinkHeader<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> LinkHeader<T> {
        LinkHeader { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<LinkHeader<T>, LenError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that the 10 header bytes are present.
    pub fn check_len(&self) -> Result<(), LenError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(LenError { required_len: HEADER_LEN, len });
        }
        Ok(())
    }

    /// True when the buffer starts with 0x05 0x64.
    pub fn has_start(&self) -> bool {
        self.buffer.as_ref().get(field::START) == Some(&START[..])
    }
    pub fn length(&self) -> u8 {
        self.buffer.as_ref().get(field::LENGTH).copied().unwrap_or(0)
    }
    pub fn control(&self) -> LinkControl {
        LinkControl(self.buffer.as_ref().get(field::CONTROL).copied().unwrap_or(0))
    }
    pub fn destination(&self) -> u16 {
        le16(self.buffer.as_ref(), field::DESTINATION)
    }
    pub fn source(&self) -> u16 {
        le16(self.buffer.as_ref(), field::SOURCE)
    }
    /// The header CRC as received.
    pub fn header_crc(&self) -> u16 {
        le16(self.buffer.as_ref(), field::HEADER_CRC)
    }
    /// True when the header CRC matches (always true when fuzzing).
    pub fn header_crc_ok(&self) -> bool {
        let bytes = self.buffer.as_ref();
        match (bytes.get(field::CRC_COVERED), bytes.get(field::HEADER_CRC)) {
            (Some(covered), Some(received)) => crc_ok(covered, received),
            _ => false,
        }
    }
    /// The frame length on the wire the length field gives.
    pub fn frame_len(&self) -> usize {
        frame_len(self.length())
    }
}

/// One link frame, its user data CRC-stripped.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkFrame {
    pub length: u8,
    pub control: LinkControl,
    pub destination: u16,
    pub source: u16,
    user_data: [u8; MAX_USER_DATA],
    user_data_len: u8,
    /// Unknown link function, user data that disagrees with the function.
    pub anomalies: AnomalyList,
}

impl LinkFrame {
    /// The user data (one transport segment), CRCs removed; empty for link-only frames.
    pub fn user_data(&self) -> &[u8] {
        self.user_data.get(..usize::from(self.user_data_len)).unwrap_or(&[])
    }

    /// The link function.
    pub fn function(&self) -> LinkFunction {
        self.control.function()
    }

    /// True for link activity without user data (reset link, test link, request link status, the
    /// secondary ACK/NACK/link status): nothing for the transport layer.
    pub fn is_link_only(&self) -> bool {
        !self.function().carries_user_data()
    }

    /// True when the frame travels from the master (DIR bit).
    pub fn from_master(&self) -> bool {
        self.control.dir()
    }

    /// The frame's length on the wire.
    pub fn frame_len(&self) -> usize {
        frame_len(self.length)
    }
}

impl fmt::Debug for LinkFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkFrame")
            .field("length", &self.length)
            .field("control", &self.control)
            .field("function", &self.function().to_string())
            .field("destination", &self.destination)
            .field("source", &self.source)
            .field("user_data", &self.user_data())
            .field("anomalies", &self.anomalies)
            .finish()
    }
}

/// How many bytes to drop from the front of `input` to reach the next candidate start (0x05 0x64,
/// or a final 0x05 that may be the first half of one). Always at least 1 and at most
/// `input.len()` (for non-empty input).
pub fn resync_len(input: &[u8]) -> usize {
    let last = input.len().saturating_sub(1);
    (1..input.len())
        .find(|&offset| match input.get(offset..) {
            Some([0x05, 0x64, ..]) => true,
            Some([0x05]) => offset == last,
            _ => false,
        })
        .unwrap_or(input.len())
        .max(1)
}

/// Frames one link frame from the front of `input`.
///
/// - [`Parse::Message`] with `consumed` = the frame's length on the wire.
/// - [`Parse::Incomplete`] while the header, or the body the length field announces, is missing.
/// - [`Parse::Skip`]:
///   - front not 0x05 0x64: [`INVALID_START`], up to the next candidate start;
///   - header CRC fails: [`BAD_LINK_CRC`], up to the next candidate start (the length field
///     cannot be trusted, so the frame's end is unknown);
///   - length field below 5: [`INVALID_LENGTH`], up to the next candidate start;
///   - a user-data block CRC fails: [`BAD_LINK_CRC`] with `len` = the whole frame. The header
///     was good, so the frame's extent is known; its data cannot be trusted, so it is dropped
///     rather than returned flagged (the layers above would decode corrupt bytes). This is what
///     the standard asks of a receiving station (9.2.4.1.3) and what Suricata does.
pub fn parse(input: &[u8]) -> Parse<LinkFrame> {
    match input {
        [] | [0x05] => return Parse::Incomplete { needed: HEADER_LEN - input.len() },
        [0x05, 0x64, ..] => {}
        _ => return Parse::Skip { len: resync_len(input), anomaly: &INVALID_START },
    }
    let header = LinkHeader::new_unchecked(input);
    if header.check_len().is_err() {
        return Parse::Incomplete { needed: HEADER_LEN - input.len() };
    }
    if !header.header_crc_ok() {
        return Parse::Skip { len: resync_len(input), anomaly: &BAD_LINK_CRC };
    }
    let length = header.length();
    if length < MIN_LENGTH {
        return Parse::Skip { len: resync_len(input), anomaly: &INVALID_LENGTH };
    }
    let total = header.frame_len();
    let Some(body) = input.get(field::DATA_START..total) else {
        return Parse::Incomplete { needed: total - input.len() };
    };
    let mut user_data = [0u8; MAX_USER_DATA];
    let mut user_data_len = 0usize;
    for block in body.chunks(BLOCK_LEN + 2) {
        let Some((data, received)) = block.split_at_checked(block.len().saturating_sub(2)) else {
            return Parse::Skip { len: total, anomaly: &BAD_LINK_CRC };
        };
        if !crc_ok(data, received) {
            return Parse::Skip { len: total, anomaly: &BAD_LINK_CRC };
        }
        let end = user_data_len + data.len();
        if let Some(slot) = user_data.get_mut(user_data_len..end) {
            slot.copy_from_slice(data);
        }
        user_data_len = end.min(MAX_USER_DATA);
    }
    let control = header.control();
    let mut anomalies = AnomalyList::new();
    let function = control.function();
    if function.name().is_none() {
        anomalies.push(&UNKNOWN_LINK_FUNCTION);
    } else if function.carries_user_data() == (user_data_len == 0) {
        anomalies.push(&INVALID_LENGTH);
    }
    let frame = LinkFrame {
        length,
        control,
        destination: header.destination(),
        source: header.source(),
        user_data,
        user_data_len: u8::try_from(user_data_len).unwrap_or(u8::MAX),
        anomalies,
    };
    Parse::Message { message: frame, consumed: total }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Request link status from outstation 1 to master 100 (pcaps dnp3_link_only.pcap).
    pub(crate) static REQUEST_LINK_STATUS: [u8; 10] = [
        0x05, 0x64, // start
        0x05, // length 5: no user data
        0x49, // PRM, function 9 request link status (DIR clear: from the outstation)
        0x64, 0x00, // destination 100
        0x01, 0x00, // source 1
        0x7E, 0x5F, // header CRC
    ];

    /// Read class 1/2/3/0 request, master 1 to outstation 10 (pcaps read_and_response.pcap).
    pub(crate) static READ_REQUEST: [u8; 27] = [
        0x05, 0x64, // start
        0x14, // length 20: 15 bytes of user data
        0xC4, // DIR, PRM, unconfirmed user data
        0x0A, 0x00, // destination 10
        0x01, 0x00, // source 1
        0x8F, 0xED, // header CRC
        0xC0, // transport: FIN, FIR, seq 0
        0xC0, // application control: FIR, FIN, seq 0
        0x01, // read
        0x3C, 0x02, 0x06, // g60v2 (class 1), all
        0x3C, 0x03, 0x06, // g60v3 (class 2), all
        0x3C, 0x04, 0x06, // g60v4 (class 3), all
        0x3C, 0x01, 0x06, // g60v1 (class 0), all
        0x8A, 0x51, // block CRC
    ];

    #[test]
    fn crc_vectors() {
        assert_eq!(crc(b"123456789"), 0xEA82);
        assert_eq!(crc(&READ_REQUEST[..8]), 0xED8F);
        assert_eq!(crc(&READ_REQUEST[10..25]), 0x518A);
        assert_eq!(crc(&REQUEST_LINK_STATUS[..8]), 0x5F7E);
        // Link status reply (dnp3_link_only.pcap).
        assert_eq!(crc(&[0x05, 0x64, 0x05, 0x8B, 0x01, 0x00, 0x64, 0x00]), 0x97A0);
        assert_eq!(crc(&[]), 0xFFFF);
    }

    fn fix_crc(frame: &mut [u8]) {
        let [lo, hi] = crc(&frame[..8]).to_le_bytes();
        frame[8] = lo;
        frame[9] = hi;
    }

    fn link_status_request() -> [u8; 10] {
        REQUEST_LINK_STATUS
    }

    #[test]
    fn deconstruct() {
        let header = LinkHeader::new_checked(&READ_REQUEST[..]).unwrap();
        assert!(header.has_start());
        assert_eq!(header.length(), 20);
        assert!(header.control().dir());
        assert!(header.control().prm());
        assert!(!header.control().fcb());
        assert_eq!(header.control().function(), LinkFunction::UNCONFIRMED_USER_DATA);
        assert_eq!(header.destination(), 10);
        assert_eq!(header.source(), 1);
        assert_eq!(header.header_crc(), 0xED8F);
        assert!(header.header_crc_ok());
        assert_eq!(header.frame_len(), 27);
        let secondary = LinkControl(0x0B | 0x10);
        assert!(!secondary.prm());
        assert!(secondary.dfc());
        assert!(!secondary.fcv());
        assert_eq!(secondary.function(), LinkFunction::LINK_STATUS);
        assert_eq!(LinkControl(0x0D).function().to_string(), "unknown(13)");
    }

    #[test]
    fn parse() {
        let Parse::Message { message, consumed } = super::parse(&READ_REQUEST) else { panic!() };
        assert_eq!(consumed, 27);
        assert_eq!(message.user_data(), &READ_REQUEST[10..25]);
        assert!(message.anomalies.is_empty());
        assert!(!message.is_link_only());
        assert!(message.from_master());
        let status = link_status_request();
        let Parse::Message { message, consumed } = super::parse(&status) else { panic!() };
        assert_eq!(consumed, 10);
        assert!(message.is_link_only());
        assert!(!message.from_master());
        assert_eq!((message.destination, message.source), (100, 1));
        assert_eq!(message.function().name(), Some("request_link_status"));
        assert_eq!(message.user_data(), &[] as &[u8]);
        assert!(message.anomalies.is_empty());
    }

    #[test]
    fn truncated() {
        for cut in 0..READ_REQUEST.len() {
            let Parse::Incomplete { needed } = super::parse(&READ_REQUEST[..cut]) else { panic!("cut at {cut}") };
            let expected = if cut < HEADER_LEN { HEADER_LEN - cut } else { 27 - cut };
            assert_eq!(needed, expected, "cut at {cut}");
        }
        let header = LinkHeader::new_unchecked(&READ_REQUEST[..3]);
        assert_eq!(header.check_len(), Err(LenError { required_len: 10, len: 3 }));
        assert_eq!(header.source(), 0);
        assert!(!header.header_crc_ok());
        assert_eq!(
            header.check_len().unwrap_err().to_string(),
            "DNP3 link header too short: 10 bytes are needed, but only 3 are present."
        );
    }

    #[test]
    fn impossible_len() {
        let mut frame = link_status_request();
        frame[2] = 4;
        fix_crc(&mut frame);
        let Parse::Skip { len, anomaly } = super::parse(&frame) else { panic!() };
        assert!(std::ptr::eq(anomaly, &INVALID_LENGTH));
        assert_eq!(len, frame.len());
        assert_eq!(frame_len(255), MAX_FRAME_LEN);
        assert_eq!(MAX_FRAME_LEN, 292);
        assert_eq!(frame_len(0), HEADER_LEN);
    }

    #[test]
    fn anomalies() {
        // Bad header CRC: skip to the next start.
        let mut buf = READ_REQUEST.to_vec();
        buf[8] ^= 1;
        buf.extend_from_slice(&READ_REQUEST);
        let Parse::Skip { len, anomaly } = super::parse(&buf) else { panic!() };
        assert!(std::ptr::eq(anomaly, &BAD_LINK_CRC));
        assert_eq!(len, 27);
        // Bad block CRC: drop the whole frame.
        let mut buf = READ_REQUEST.to_vec();
        buf[20] ^= 0xFF;
        let Parse::Skip { len, anomaly } = super::parse(&buf) else { panic!() };
        assert!(std::ptr::eq(anomaly, &BAD_LINK_CRC));
        assert_eq!(len, 27);
        // Garbage in front.
        let mut buf = b"\x00\x05\x05junk".to_vec();
        buf.extend_from_slice(&READ_REQUEST);
        let Parse::Skip { len, anomaly } = super::parse(&buf) else { panic!() };
        assert!(std::ptr::eq(anomaly, &INVALID_START));
        assert_eq!(len, 7);
        assert_eq!(resync_len(&[0x00, 0x00, 0x05]), 2);
        assert_eq!(resync_len(&[0x00, 0x05, 0x00]), 3);
        assert_eq!(resync_len(&[0x00]), 1);
        assert_eq!(resync_len(&[]), 1);
        // A user-data function without user data.
        let mut frame = link_status_request();
        frame[3] = 0x44;
        fix_crc(&mut frame);
        let Parse::Message { message, .. } = super::parse(&frame) else { panic!() };
        assert!(message.anomalies.contains(&INVALID_LENGTH));
        // An undefined link function.
        frame[3] = 0x45;
        fix_crc(&mut frame);
        let Parse::Message { message, .. } = super::parse(&frame) else { panic!() };
        assert!(message.anomalies.contains(&UNKNOWN_LINK_FUNCTION));
    }
}
