//! A zero-copy view of one S7comm PDU (a whole COTP TSDU starting with protocol id 0x32).
//!
//! ```text
//!  0     1       2         4         6        8        10      11      (10 or 12)
//! +-----+-------+---------+---------+--------+--------+-------+-------+-----------+------+
//! | 32  | rosctr| red. id | pdu ref | par len| dat len| errcls| errcod| parameter | data |
//! +-----+-------+---------+---------+--------+--------+-------+-------+-----------+------+
//! ```
//!
//! Error class and code are present only in ack (2) and ack_data (3) headers.
//!
//! No accessor panics: a missing field reads as zero and a slice cut short by the buffer's end
//! is clamped to the bytes present ([`S7Frame::check_len`] says whether it was).

use super::codes::Rosctr;
use std::fmt;

/// Byte ranges of the header fields.
pub mod field {
    use std::ops::Range;

    pub const PROTOCOL_ID: usize = 0;
    pub const ROSCTR: usize = 1;
    pub const REDUNDANCY_ID: Range<usize> = 2..4;
    pub const PDU_REFERENCE: Range<usize> = 4..6;
    pub const PARAMETER_LENGTH: Range<usize> = 6..8;
    pub const DATA_LENGTH: Range<usize> = 8..10;
    /// ack and ack_data only.
    pub const ERROR_CLASS: usize = 10;
    /// ack and ack_data only.
    pub const ERROR_CODE: usize = 11;
}

/// S7comm's protocol id.
pub const PROTOCOL_ID: u8 = 0x32;
/// Header length of job and userdata PDUs.
pub const SHORT_HEADER_LEN: usize = 10;

/// An S7comm PDU is shorter than its header or its length fields require.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// `"header"`, or `"parameter_and_data"` when the lengths run past the end.
    pub field: &'static str,
    pub required_len: usize,
    pub len: usize,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "S7comm PDU too short: the {} needs {} bytes, but only {} are present.",
            self.field, self.required_len, self.len
        )
    }
}

impl std::error::Error for LenError {}

/// A read-only view of an S7comm PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S7Frame<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(bytes: &[u8], range: std::ops::Range<usize>) -> u16 {
    match bytes.get(range) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> S7Frame<T> {
    pub const fn new_unchecked(buffer: T) -> S7Frame<T> {
        S7Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<S7Frame<T>, LenError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the header and the parameter and data its lengths announce are present.
    pub fn check_len(&self) -> Result<(), LenError> {
        let len = self.buffer.as_ref().len();
        if len < self.header_len() {
            return Err(LenError { field: "header", required_len: self.header_len(), len });
        }
        if len < self.total_len() {
            return Err(LenError { field: "parameter_and_data", required_len: self.total_len(), len });
        }
        Ok(())
    }

    pub fn protocol_id(&self) -> u8 {
        self.buffer.as_ref().get(field::PROTOCOL_ID).copied().unwrap_or(0)
    }

    pub fn rosctr(&self) -> Rosctr {
        Rosctr(self.buffer.as_ref().get(field::ROSCTR).copied().unwrap_or(0))
    }

    pub fn redundancy_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::REDUNDANCY_ID)
    }

    pub fn pdu_reference(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PDU_REFERENCE)
    }

    pub fn parameter_length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PARAMETER_LENGTH)
    }

    pub fn data_length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DATA_LENGTH)
    }

    /// Error class (ack and ack_data only).
    pub fn error_class(&self) -> Option<u8> {
        self.has_error_fields().then(|| self.buffer.as_ref().get(field::ERROR_CLASS).copied().unwrap_or(0))
    }

    /// Error code (ack and ack_data only).
    pub fn error_code(&self) -> Option<u8> {
        self.has_error_fields().then(|| self.buffer.as_ref().get(field::ERROR_CODE).copied().unwrap_or(0))
    }

    fn has_error_fields(&self) -> bool {
        self.rosctr().header_len() > SHORT_HEADER_LEN
    }

    /// 12 for ack and ack_data, 10 otherwise.
    pub fn header_len(&self) -> usize {
        self.rosctr().header_len()
    }

    /// Header, parameter and data lengths added.
    pub fn total_len(&self) -> usize {
        self.header_len() + usize::from(self.parameter_length()) + usize::from(self.data_length())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> S7Frame<&'a T> {
    fn clamped(&self, start: usize, len: usize) -> &'a [u8] {
        let buffer: &'a [u8] = self.buffer.as_ref();
        let end = start.saturating_add(len).min(buffer.len());
        buffer.get(start..end).unwrap_or(&[])
    }

    /// The parameter, clamped to the bytes present.
    pub fn parameter(&self) -> &'a [u8] {
        self.clamped(self.header_len(), usize::from(self.parameter_length()))
    }

    /// The data, clamped to the bytes present.
    pub fn data(&self) -> &'a [u8] {
        self.clamped(self.header_len() + usize::from(self.parameter_length()), usize::from(self.data_length()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ACK_DATA: [u8; 14] = [
        0x32, 0x03, // S7comm, ack_data
        0x00, 0x00, // redundancy id
        0x00, 0x35, // pdu reference 53
        0x00, 0x01, // parameter length 1
        0x00, 0x00, // data length 0
        0x00, 0x00, // error class, code
        0x29, // PLC stop
        0xAA, // trailing byte
    ];

    #[test]
    fn deconstruct() {
        let frame = S7Frame::new_checked(&ACK_DATA[..]).unwrap();
        assert_eq!(frame.protocol_id(), 0x32);
        assert_eq!(frame.rosctr(), Rosctr::ACK_DATA);
        assert_eq!(frame.pdu_reference(), 53);
        assert_eq!((frame.error_class(), frame.error_code()), (Some(0), Some(0)));
        assert_eq!(frame.parameter(), &[0x29]);
        assert_eq!(frame.data(), &[] as &[u8]);
        assert_eq!(frame.total_len(), 13);
    }

    #[test]
    fn truncated() {
        let err = S7Frame::new_checked(&ACK_DATA[..11]).unwrap_err();
        assert_eq!((err.field, err.required_len, err.len), ("header", 12, 11));
        let err = S7Frame::new_checked(&ACK_DATA[..12]).unwrap_err();
        assert_eq!(err.field, "parameter_and_data");
        assert!(err.to_string().starts_with("S7comm PDU too short"));
        let frame = S7Frame::new_unchecked(&ACK_DATA[..3]);
        assert_eq!((frame.parameter_length(), frame.parameter()), (0, &[] as &[u8]));
    }
}
