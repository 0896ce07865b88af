//! TPKT (RFC 1006, section 6): the 4-byte framing that carries ISO transport (COTP) over TCP.
//!
//! ```text
//!  0         1          2        4
//! +---------+----------+--------+------------------------+
//! | vrsn 3  | reserved | length | TPDU (length - 4)      |
//! +---------+----------+--------+------------------------+
//! ```
//!
//! `length` counts the whole packet, header included. [`parse`] frames one packet from the front
//! of a reassembled TCP stream under the crate's incremental contract.
//!
//! No function here panics: once [`TpktFrame::check_len`] passed every field is present; before
//! that a missing field reads as zero and [`TpktFrame::payload`] as empty.

use crate::anomaly::AnomalyKind;
use crate::s7comm::anomalies::INVALID_TPKT;
use crate::stream::Parse;
use std::fmt;

/// Byte ranges of the TPKT header.
pub mod field {
    use std::ops::Range;

    pub const VERSION: usize = 0;
    pub const RESERVED: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const PAYLOAD_START: usize = 4;
}

/// Length of the TPKT header.
pub const HEADER_LEN: usize = 4;
/// The only TPKT version (RFC 1006).
pub const VERSION: u8 = 3;
/// Smallest packet framed: the header and the smallest COTP PDU (a class 0 DT header: length
/// indicator, code, TPDU number).
pub const MIN_LENGTH: u16 = 7;

/// A TPKT packet is shorter than its header or its length field requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// `"header"` or `"payload"`.
    pub field: &'static str,
    /// Bytes required (for `"payload"`, the length field's value).
    pub required_len: usize,
    /// Bytes present.
    pub len: usize,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TPKT packet too short: the {} needs {} bytes (from {}), but only {} are present.",
            self.field,
            self.required_len,
            if self.field == "header" { "the header layout" } else { "the length field" },
            self.len
        )
    }
}

impl std::error::Error for LenError {}

/// A read-only view of one TPKT packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TpktFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TpktFrame<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> TpktFrame<T> {
        TpktFrame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<TpktFrame<T>, LenError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the header is present and that the buffer holds `length` bytes (bytes beyond
    /// belong to the next packet).
    pub fn check_len(&self) -> Result<(), LenError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(LenError { field: "header", required_len: HEADER_LEN, len });
        }
        let packet_len = usize::from(self.length()).max(HEADER_LEN);
        if len < packet_len {
            return Err(LenError { field: "payload", required_len: packet_len, len });
        }
        Ok(())
    }

    /// Version, 3.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref().get(field::VERSION).copied().unwrap_or(0)
    }

    /// Reserved byte, 0.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref().get(field::RESERVED).copied().unwrap_or(0)
    }

    /// Packet length, header included.
    pub fn length(&self) -> u16 {
        match self.buffer.as_ref().get(field::LENGTH) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TpktFrame<&'a T> {
    /// The TPDU (COTP PDU) after the header, as far as the length field says (empty when the
    /// buffer is shorter than that).
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a [u8] = self.buffer.as_ref();
        buffer.get(field::PAYLOAD_START..usize::from(self.length()).max(HEADER_LEN)).unwrap_or(&[])
    }

    /// The whole packet (empty when the buffer is shorter than the length field says).
    pub fn packet(&self) -> &'a [u8] {
        let buffer: &'a [u8] = self.buffer.as_ref();
        buffer.get(..usize::from(self.length())).unwrap_or(&[])
    }
}

/// True when the bytes present at the front of `window` could start a TPKT packet.
fn plausible_header(window: &[u8]) -> bool {
    let frame = TpktFrame::new_unchecked(window);
    match window.len() {
        0 => false,
        1 => frame.version() == VERSION,
        2 | 3 => frame.version() == VERSION && frame.reserved() == 0,
        _ => frame.version() == VERSION && frame.reserved() == 0 && frame.length() >= MIN_LENGTH,
    }
}

/// The framing rule the front of `input` breaks, judged on the bytes present.
fn framing_violation(input: &[u8]) -> Option<&'static AnomalyKind> {
    (!input.is_empty() && !plausible_header(input)).then_some(&INVALID_TPKT)
}

/// Frames one TPKT packet from the front of `input`.
///
/// - [`Parse::Message`] with `consumed = length` when the whole packet is present.
/// - [`Parse::Incomplete`] when the front is a plausible header with bytes missing.
/// - [`Parse::Skip`] with [`INVALID_TPKT`] when the front is not a TPKT header (version not 3,
///   reserved not 0, length below 7); `len` reaches the next plausible header ([`resync_len`]).
pub fn parse(input: &[u8]) -> Parse<TpktFrame<&[u8]>> {
    if let Some(anomaly) = framing_violation(input) {
        return Parse::Skip { len: resync_len(input), anomaly };
    }
    let frame = TpktFrame::new_unchecked(input);
    let required = if input.len() < HEADER_LEN { HEADER_LEN } else { usize::from(frame.length()) };
    if input.len() < required {
        return Parse::Incomplete { needed: required - input.len() };
    }
    Parse::Message { message: TpktFrame::new_unchecked(input), consumed: required }
}

/// How many bytes to drop from the front of `input` to reach the next offset that could start a
/// TPKT packet (`03 00` and a length of at least 7, judged on the bytes present so a header split
/// across reads is kept). At least 1 and at most `input.len()` (for non-empty input).
pub fn resync_len(input: &[u8]) -> usize {
    (1..input.len()).find(|&offset| input.get(offset..).is_some_and(plausible_header)).unwrap_or(input.len()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A COTP DT carrying an S7comm setup communication job (snap7_s300_setupCommunication).
    static PACKET: [u8; 25] = [
        0x03, 0x00, // version 3, reserved
        0x00, 0x19, // length 25
        0x02, 0xF0, 0x80, // COTP DT, EOT
        0x32, 0x01, 0x00, 0x00, 0x04, 0x00, 0x00, 0x08, 0x00, 0x00, // S7 job header
        0xF0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0xE0, // setup communication
    ];

    #[test]
    fn deconstruct() {
        let frame = TpktFrame::new_checked(&PACKET[..]).unwrap();
        assert_eq!((frame.version(), frame.reserved(), frame.length()), (3, 0, 25));
        assert_eq!(frame.payload(), &PACKET[4..]);
        assert_eq!(frame.packet(), &PACKET[..]);
    }

    #[test]
    fn truncated() {
        for cut in 0..PACKET.len() {
            let Parse::Incomplete { needed } = super::parse(&PACKET[..cut]) else { panic!("cut {cut}") };
            assert_eq!(needed, if cut < 4 { 4 - cut } else { 25 - cut });
        }
        let err = TpktFrame::new_checked(&PACKET[..10]).unwrap_err();
        assert_eq!((err.field, err.required_len, err.len), ("payload", 25, 10));
        assert!(err.to_string().contains("length field"));
        assert_eq!(TpktFrame::new_unchecked(&PACKET[..1]).payload(), &[] as &[u8]);
    }

    #[test]
    fn impossible_len() {
        for length in [0u16, 4, 6] {
            let mut buf = PACKET.to_vec();
            buf[2..4].copy_from_slice(&length.to_be_bytes());
            let Parse::Skip { len, anomaly } = super::parse(&buf) else { panic!() };
            assert!(std::ptr::eq(anomaly, &INVALID_TPKT));
            assert!((1..=buf.len()).contains(&len));
        }
    }

    #[test]
    fn parse() {
        let mut two = PACKET.to_vec();
        two.extend_from_slice(&PACKET);
        let Parse::Message { message, consumed } = super::parse(&two) else { panic!() };
        assert_eq!(consumed, 25);
        assert_eq!(message.payload().len(), 21);
    }

    #[test]
    fn resync() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        buf.extend_from_slice(&PACKET);
        let Parse::Skip { len, .. } = super::parse(&buf) else { panic!() };
        assert_eq!(len, 16);
        assert_eq!(resync_len(&[0xFF; 10]), 10);
        assert_eq!(resync_len(&[0xFF, 0x03]), 1);
        assert_eq!(resync_len(&[0xFF, 0x03, 0x01, 0x03, 0x00]), 3);
        assert_eq!(resync_len(&[0x03, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x07]), 4);
        assert_eq!(resync_len(&[]), 1);
    }
}
