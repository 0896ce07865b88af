//! A zero-copy view of one Modbus/TCP ADU: the MBAP header (Modbus Messaging on TCP/IP
//! Implementation Guide V1.0b, section 3.1.3) followed by the PDU (function code and data).
//!
//! ```text
//!  0      2      4      6    7    8
//! +------+------+------+----+----+------------------+
//! | tid  | pid  | len  | uid| fc | data (len-2)     |
//! +------+------+------+----+----+------------------+
//! ```
//!
//! `len` counts the unit identifier and the PDU, so the ADU is `6 + len` bytes long.
//!
//! No accessor panics, whatever the buffer: once [`ModbusFrame::check_len`] passed every field is
//! present; before that a missing field reads as zero and [`ModbusFrame::data`] as empty.

use std::fmt;

/// Byte ranges of the ADU fields.
pub mod field {
    use std::ops::Range;

    pub const TRANSACTION_ID: Range<usize> = 0..2;
    pub const PROTOCOL_ID: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const UNIT_ID: usize = 6;
    pub const FUNCTION_CODE: usize = 7;
    pub const DATA_START: usize = 8;
    /// The data runs from here to `6 + length`.
    pub const DATA: std::ops::RangeFrom<usize> = DATA_START..;
}

/// Length of the MBAP header (transaction id, protocol id, length, unit id).
pub const MBAP_LEN: usize = 7;
/// Bytes before the data: the MBAP header and the function code.
pub const HEADER_LEN: usize = MBAP_LEN + 1;
/// Bytes before the part of the ADU that the MBAP length field counts.
pub const LENGTH_OFFSET: usize = 6;

/// What said how many bytes were required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenSource {
    /// The fixed header layout.
    Header,
    /// The MBAP length field.
    MbapLength,
}

/// A Modbus/TCP ADU is shorter than a field requires (in etherparse's manner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenError {
    /// The field that could not be read whole (`"function_code"`, `"data"`, `"length"`).
    pub field: &'static str,
    /// Offset of that field from the start of the ADU.
    pub offset: usize,
    /// Bytes required.
    pub required_len: usize,
    /// Bytes present (for [`LenSource::MbapLength`] with field `"length"`, the ADU length the
    /// length field gives).
    pub len: usize,
    /// What said how many bytes were required.
    pub len_source: LenSource,
}

impl fmt::Display for LenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.len_source, self.field) {
            (LenSource::MbapLength, "length") => write!(
                f,
                "Modbus/TCP MBAP length field gives an ADU of {} bytes, shorter than the {} bytes \
                 the header and function code need.",
                self.len, self.required_len
            ),
            (LenSource::MbapLength, _) => write!(
                f,
                "Modbus/TCP ADU too short: the MBAP length field requires {} bytes to the end of \
                 the {} at offset {}, but only {} are present.",
                self.required_len, self.field, self.offset, self.len
            ),
            (LenSource::Header, _) => write!(
                f,
                "Modbus/TCP ADU too short: the {} at offset {} needs {} bytes, but only {} are \
                 present.",
                self.field, self.offset, self.required_len, self.len
            ),
        }
    }
}

impl std::error::Error for LenError {}

/// A read-only view of a Modbus/TCP ADU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModbusFrame<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(bytes: &[u8], range: std::ops::Range<usize>) -> u16 {
    match bytes.get(range) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> ModbusFrame<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> ModbusFrame<T> {
        ModbusFrame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<ModbusFrame<T>, LenError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the header and function code are present, that the MBAP length covers at
    /// least the unit id and function code, and that the buffer holds `6 + length` bytes.
    /// Bytes beyond the ADU are allowed (they belong to the next ADU).
    pub fn check_len(&self) -> Result<(), LenError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(LenError {
                field: "function_code",
                offset: field::FUNCTION_CODE,
                required_len: HEADER_LEN,
                len,
                len_source: LenSource::Header,
            });
        }
        let adu_len = self.adu_len();
        if adu_len < HEADER_LEN {
            return Err(LenError {
                field: "length",
                offset: field::LENGTH.start,
                required_len: HEADER_LEN,
                len: adu_len,
                len_source: LenSource::MbapLength,
            });
        }
        if len < adu_len {
            return Err(LenError {
                field: "data",
                offset: field::DATA_START,
                required_len: adu_len,
                len,
                len_source: LenSource::MbapLength,
            });
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The ADU length the MBAP length field gives (`6 + length`).
    pub fn adu_len(&self) -> usize {
        LENGTH_OFFSET + usize::from(self.length())
    }

    /// Transaction identifier, echoed by the server.
    pub fn transaction_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TRANSACTION_ID)
    }

    /// Protocol identifier, 0 for Modbus.
    pub fn protocol_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL_ID)
    }

    /// Number of following bytes (unit identifier and PDU).
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Unit identifier (the serial-line server address behind a gateway).
    pub fn unit_id(&self) -> u8 {
        self.buffer.as_ref().get(field::UNIT_ID).copied().unwrap_or(0)
    }

    /// Function code byte as on the wire (exception bit included).
    pub fn function_code(&self) -> u8 {
        self.buffer.as_ref().get(field::FUNCTION_CODE).copied().unwrap_or(0)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> ModbusFrame<&'a T> {
    /// The PDU data after the function code, as far as the MBAP length says (empty when the
    /// buffer is shorter than that).
    pub fn data(&self) -> &'a [u8] {
        let buffer: &'a [u8] = self.buffer.as_ref();
        buffer.get(field::DATA_START..self.adu_len().max(field::DATA_START)).unwrap_or(&[])
    }

    /// The whole ADU (`6 + length` bytes; empty when the buffer is shorter than that).
    pub fn adu(&self) -> &'a [u8] {
        let buffer: &'a [u8] = self.buffer.as_ref();
        buffer.get(..self.adu_len()).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read Holding Registers request (MB 6.3).
    static REQUEST: [u8; 12] = [
        0x00, 0x01, // transaction id 1
        0x00, 0x00, // protocol id 0
        0x00, 0x06, // length 6: unit id + 5 PDU bytes
        0x11, // unit id 17
        0x03, // function code: read holding registers
        0x00, 0x6B, // starting address 107
        0x00, 0x03, // quantity 3
    ];

    #[test]
    fn deconstruct() {
        let frame = ModbusFrame::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(frame.transaction_id(), 1);
        assert_eq!(frame.protocol_id(), 0);
        assert_eq!(frame.length(), 6);
        assert_eq!(frame.unit_id(), 0x11);
        assert_eq!(frame.function_code(), 3);
        assert_eq!(frame.data(), &[0x00, 0x6B, 0x00, 0x03]);
        assert_eq!(frame.adu_len(), 12);
        assert_eq!(frame.adu(), &REQUEST[..]);
    }

    #[test]
    fn trailing_bytes_ignored() {
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(&[0xAA, 0xBB]);
        let frame = ModbusFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(frame.data(), &[0x00, 0x6B, 0x00, 0x03]);
    }

    #[test]
    fn truncated() {
        let err = ModbusFrame::new_checked(&REQUEST[..7]).unwrap_err();
        assert_eq!(err.field, "function_code");
        assert_eq!(err.required_len, 8);
        assert_eq!(err.len, 7);
        assert_eq!(err.len_source, LenSource::Header);
        let err = ModbusFrame::new_checked(&REQUEST[..11]).unwrap_err();
        assert_eq!(err.field, "data");
        assert_eq!(err.required_len, 12);
        assert_eq!(err.len, 11);
        assert_eq!(err.len_source, LenSource::MbapLength);
        assert_eq!(
            err.to_string(),
            "Modbus/TCP ADU too short: the MBAP length field requires 12 bytes to the end of the \
             data at offset 8, but only 11 are present."
        );
        // Accessors on an unchecked, short buffer read as zero and never panic.
        let frame = ModbusFrame::new_unchecked(&REQUEST[..3]);
        assert_eq!(frame.protocol_id(), 0);
        assert_eq!(frame.length(), 0);
        assert_eq!(frame.function_code(), 0);
        assert_eq!(frame.data(), &[] as &[u8]);
    }

    #[test]
    fn impossible_len() {
        let mut buf = REQUEST;
        buf[5] = 1; // length 1: no room for the function code
        let err = ModbusFrame::new_checked(&buf[..]).unwrap_err();
        assert_eq!(err.field, "length");
        assert_eq!(err.len, 7);
        assert_eq!(err.required_len, 8);
        assert!(err.to_string().contains("7 bytes"));
        buf[5] = 0;
        assert!(ModbusFrame::new_checked(&buf[..]).is_err());
        let frame = ModbusFrame::new_unchecked(&buf[..]);
        assert_eq!(frame.data(), &[] as &[u8]);
    }
}
