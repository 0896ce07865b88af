//! The meaning-level view of one Modbus/TCP ADU and the PDU decoder.
//!
//! Field layouts are those of the Modbus Application Protocol Specification V1.1b3, section 6
//! (one subsection per function; the decoder cites them). Decoding never fails: a PDU whose fields
//! cannot be read becomes [`Pdu::Raw`] with [`INVALID_LENGTH`], and anything else odd (a byte count
//! that disagrees, a quantity out of range, an unknown code) is an anomaly on the message beside
//! the decoded fields. Nothing here allocates, and every iterator is bounded by the bytes present
//! and by the limits below.

use super::anomalies::*;
use super::function::{ExceptionCode, FunctionCode, MeiType, UmasCode};
use crate::anomaly::AnomalyList;
use crate::classify::{self, FunctionInfo};
use crate::stream::Direction;

/// At most this many Read Device Identification objects are decoded from one response; a
/// response declaring more gets [`TOO_MANY_OBJECTS`]. The spec defines 7 basic and regular
/// objects and up to 128 vendor-specific extended ones, but a 253-byte PDU holds at most about
/// 120 objects, and real devices send fewer than 20; 64 leaves room for any we know of.
pub const MAX_DEVICE_ID_OBJECTS: usize = 64;

/// At most this many file records are decoded from one FC 20/21 PDU; more gets
/// [`TOO_MANY_RECORDS`]. 35 is the spec's own bound: an FC 20 request byte count is at most 0xF5
/// (245) and each sub-request takes 7 bytes.
pub const MAX_FILE_RECORDS: usize = 35;

/// The file record reference type the spec requires (MB 6.14).
pub const FILE_REFERENCE_TYPE: u8 = 6;

/// FC 5 output value for ON (MB 6.5).
pub const COIL_ON: u16 = 0xFF00;
/// FC 5 output value for OFF.
pub const COIL_OFF: u16 = 0x0000;

/// One decoded Modbus/TCP ADU.
#[derive(Debug, Clone, Copy)]
pub struct ModbusMessage<'a> {
    pub transaction_id: u16,
    pub protocol_id: u16,
    pub length: u16,
    pub unit_id: u8,
    /// Raw function code byte as on the wire (exception bit included).
    pub raw_function_code: u8,
    pub direction: Direction,
    pub pdu: Pdu<'a>,
    pub anomalies: AnomalyList,
}

impl<'a> ModbusMessage<'a> {
    /// The function code with the exception bit cleared.
    pub fn function_code(&self) -> FunctionCode {
        FunctionCode(self.raw_function_code & 0x7F)
    }

    /// True when the function code has the exception bit (0x80) set.
    pub fn is_exception(&self) -> bool {
        self.raw_function_code & 0x80 != 0
    }

    /// The exception code of an exception response.
    pub fn exception_code(&self) -> Option<ExceptionCode> {
        match self.pdu {
            Pdu::Exception { code } => Some(code),
            _ => None,
        }
    }

    /// FC 8 sub-function, FC 43 MEI type, FC 90 UMAS code (in a response, the 0xFE/0xFD status);
    /// `None` for other functions and for exceptions.
    pub fn sub_function(&self) -> Option<u16> {
        match self.pdu {
            Pdu::Diagnostics { sub_function, .. } => Some(sub_function),
            Pdu::ReadDeviceIdRequest { .. } | Pdu::ReadDeviceIdResponse { .. } => {
                Some(u16::from(MeiType::READ_DEVICE_IDENTIFICATION.0))
            }
            Pdu::EncapsulatedInterface { mei_type, .. } => Some(u16::from(mei_type)),
            Pdu::Umas { code, .. } => Some(u16::from(code)),
            _ => None,
        }
    }

    /// The classification row of this message's function (and sub-function).
    pub fn info(&self) -> &'static FunctionInfo {
        classify::modbus::lookup(self.function_code().0, self.sub_function())
    }

    /// The first address read or written (FC 23: the read start; FC 24: the FIFO pointer
    /// address; FC 22: the reference address).
    pub fn address(&self) -> Option<u16> {
        match self.pdu {
            Pdu::ReadRequest { address, .. }
            | Pdu::WriteSingleCoil { address, .. }
            | Pdu::WriteSingleRegister { address, .. }
            | Pdu::WriteMultipleCoilsRequest { address, .. }
            | Pdu::WriteMultipleRegistersRequest { address, .. }
            | Pdu::WriteMultipleResponse { address, .. }
            | Pdu::MaskWriteRegister { address, .. }
            | Pdu::ReadFifoRequest { address } => Some(address),
            Pdu::ReadWriteMultipleRequest { read_address, .. } => Some(read_address),
            _ => None,
        }
    }

    /// The number of coils or registers read or written (FC 5, 6, 22: 1; FC 23 request: the read
    /// quantity; register responses: the registers present; FC 24 response: the FIFO count).
    /// `None` for bit responses, whose padding hides the count.
    pub fn quantity(&self) -> Option<u16> {
        match self.pdu {
            Pdu::ReadRequest { quantity, .. }
            | Pdu::WriteMultipleCoilsRequest { quantity, .. }
            | Pdu::WriteMultipleRegistersRequest { quantity, .. }
            | Pdu::WriteMultipleResponse { quantity, .. } => Some(quantity),
            Pdu::WriteSingleCoil { .. } | Pdu::WriteSingleRegister { .. } | Pdu::MaskWriteRegister { .. } => Some(1),
            Pdu::ReadWriteMultipleRequest { read_quantity, .. } => Some(read_quantity),
            Pdu::ReadRegistersResponse { registers, .. } => u16::try_from(registers.len()).ok(),
            Pdu::ReadFifoResponse { fifo_count, .. } => Some(fifo_count),
            _ => None,
        }
    }
}

/// The decoded PDU. Multi-byte fields are big-endian on the wire, as everywhere in Modbus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// FC 1–4 requests (MB 6.1–6.4).
    ReadRequest { address: u16, quantity: u16 },
    /// FC 1, 2 responses.
    ReadBitsResponse { byte_count: u8, bits: Bits<'a> },
    /// FC 3, 4, 23 responses.
    ReadRegistersResponse { byte_count: u8, registers: Registers<'a> },
    /// FC 5, both directions (value raw: 0xFF00 on, 0x0000 off).
    WriteSingleCoil { address: u16, value: u16 },
    /// FC 6, both directions.
    WriteSingleRegister { address: u16, value: u16 },
    /// FC 15 request (MB 6.11).
    WriteMultipleCoilsRequest { address: u16, quantity: u16, byte_count: u8, bits: Bits<'a> },
    /// FC 16 request (MB 6.12).
    WriteMultipleRegistersRequest { address: u16, quantity: u16, byte_count: u8, registers: Registers<'a> },
    /// FC 15, 16 responses.
    WriteMultipleResponse { address: u16, quantity: u16 },
    /// FC 22, both directions (MB 6.16).
    MaskWriteRegister { address: u16, and_mask: u16, or_mask: u16 },
    /// FC 23 request (MB 6.17).
    ReadWriteMultipleRequest {
        read_address: u16,
        read_quantity: u16,
        write_address: u16,
        write_quantity: u16,
        byte_count: u8,
        registers: Registers<'a>,
    },
    /// FC 24 request (MB 6.18).
    ReadFifoRequest { address: u16 },
    /// FC 24 response.
    ReadFifoResponse { byte_count: u16, fifo_count: u16, registers: Registers<'a> },
    /// FC 8, both directions (MB 6.8).
    Diagnostics { sub_function: u16, data: &'a [u8] },
    /// FC 7 response (MB 6.7; the request is [`Pdu::Empty`]).
    ReadExceptionStatusResponse { status: u8 },
    /// FC 11 response (MB 6.9).
    CommEventCounterResponse { status: u16, event_count: u16 },
    /// FC 12 response (MB 6.10).
    CommEventLogResponse { byte_count: u8, status: u16, event_count: u16, message_count: u16, events: &'a [u8] },
    /// FC 17 response (MB 6.13).
    ReportServerIdResponse { byte_count: u8, data: &'a [u8] },
    /// FC 20 and FC 21 requests (MB 6.14, 6.15; FC 21 records carry data).
    FileRecordRequest { byte_count: u8, records: FileRecords<'a> },
    /// FC 20 and FC 21 responses.
    FileRecordResponse { byte_count: u8, records: FileRecords<'a> },
    /// FC 43 / MEI 14 request (MB 6.21).
    ReadDeviceIdRequest { read_device_id_code: u8, object_id: u8 },
    /// FC 43 / MEI 14 response.
    ReadDeviceIdResponse {
        read_device_id_code: u8,
        conformity_level: u8,
        more_follows: bool,
        next_object_id: u8,
        number_of_objects: u8,
        objects: DeviceIdObjects<'a>,
    },
    /// FC 43 with another MEI type (13: CANopen general reference, MB 6.20).
    EncapsulatedInterface { mei_type: u8, data: &'a [u8] },
    /// FC 90 (Schneider UMAS): `code` is the UMAS function in a request, 0xFE (ok) or 0xFD
    /// (error) in a response.
    Umas { session: u8, code: u8, data: &'a [u8] },
    /// Requests with no data (FC 7, 11, 12, 17).
    Empty,
    /// An exception response (MB 7).
    Exception { code: ExceptionCode },
    /// Legacy/vendor program codes and unknown functions, or fields that could not be decoded.
    Raw { data: &'a [u8] },
}

/// Register values: big-endian u16s over borrowed bytes. An odd trailing byte is ignored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Registers<'a> {
    bytes: &'a [u8],
}

impl<'a> Registers<'a> {
    pub const fn new(bytes: &'a [u8]) -> Self {
        Registers { bytes }
    }

    /// Number of whole registers.
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The register at `index`.
    pub fn get(&self, index: usize) -> Option<u16> {
        let start = index.checked_mul(2)?;
        match self.bytes.get(start..start.checked_add(2)?) {
            Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.bytes.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for Registers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Coil or discrete input states: `count` bits packed LSB first (MB 6.1: "the LSB of the first
/// data byte contains the output addressed in the query").
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bits<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Bits<'a> {
    /// `count` bits over `bytes`; the count is capped at `8 * bytes.len()`.
    pub fn new(bytes: &'a [u8], count: usize) -> Self {
        Bits { bytes, count: count.min(bytes.len().saturating_mul(8)) }
    }

    /// All `8 * bytes.len()` bits (a response does not say how many were asked for).
    pub fn all(bytes: &'a [u8]) -> Self {
        Self::new(bytes, usize::MAX)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bit at `index`.
    pub fn get(&self, index: usize) -> Option<bool> {
        if index >= self.count {
            return None;
        }
        let byte = self.bytes.get(index / 8)?;
        Some(byte >> (index % 8) & 1 == 1)
    }

    /// The bits in address order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + 'a {
        let bytes = self.bytes;
        (0..self.count).map(move |i| bytes.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1))
    }

    /// The raw packed bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for Bits<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(u8::from)).finish()
    }
}

/// Which layout file records have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRecordLayout {
    /// FC 20 request: 7-byte sub-requests (reference type, file, record, length).
    ReadRequest,
    /// FC 20 response: sub-responses (length, reference type, data).
    ReadResponse,
    /// FC 21 request and response: sub-requests with `2 * record_length` bytes of data.
    Write,
}

/// One file record (sub-request or sub-response).
///
/// In an FC 20 response, which does not repeat them, `file_number` and `record_number` are 0 and
/// `record_length` is the number of whole registers in `data`. In an FC 20 request `data` is
/// empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRecord<'a> {
    pub reference_type: u8,
    pub file_number: u16,
    pub record_number: u16,
    pub record_length: u16,
    pub data: &'a [u8],
}

/// The file records of an FC 20 or FC 21 PDU (after the byte count).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileRecords<'a> {
    bytes: &'a [u8],
    layout: FileRecordLayout,
}

impl<'a> FileRecords<'a> {
    pub const fn new(bytes: &'a [u8], layout: FileRecordLayout) -> Self {
        FileRecords { bytes, layout }
    }

    pub fn layout(&self) -> FileRecordLayout {
        self.layout
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The records, at most [`MAX_FILE_RECORDS`]; stops at the first truncated one.
    pub fn iter(&self) -> FileRecordIter<'a> {
        FileRecordIter { rest: self.bytes, layout: self.layout, yielded: 0 }
    }
}

impl std::fmt::Debug for FileRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for FileRecords<'a> {
    type Item = FileRecord<'a>;
    type IntoIter = FileRecordIter<'a>;
    fn into_iter(self) -> FileRecordIter<'a> {
        self.iter()
    }
}

/// Iterator over [`FileRecords`].
#[derive(Clone, Debug)]
pub struct FileRecordIter<'a> {
    rest: &'a [u8],
    layout: FileRecordLayout,
    yielded: usize,
}

impl<'a> FileRecordIter<'a> {
    /// The bytes not yet consumed (after exhaustion: trailing bytes that did not make a record).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    /// How many records were yielded so far.
    pub fn yielded(&self) -> usize {
        self.yielded
    }
}

impl<'a> Iterator for FileRecordIter<'a> {
    type Item = FileRecord<'a>;

    fn next(&mut self) -> Option<FileRecord<'a>> {
        if self.yielded >= MAX_FILE_RECORDS {
            return None;
        }
        let (record, rest) = match (self.layout, self.rest) {
            (FileRecordLayout::ReadRequest, &[rt, f0, f1, r0, r1, l0, l1, ref rest @ ..]) => (
                FileRecord {
                    reference_type: rt,
                    file_number: u16::from_be_bytes([f0, f1]),
                    record_number: u16::from_be_bytes([r0, r1]),
                    record_length: u16::from_be_bytes([l0, l1]),
                    data: &[],
                },
                rest,
            ),
            (FileRecordLayout::Write, &[rt, f0, f1, r0, r1, l0, l1, ref rest @ ..]) => {
                let record_length = u16::from_be_bytes([l0, l1]);
                let data_len = usize::from(record_length) * 2;
                let (data, rest) = rest.split_at_checked(data_len)?;
                (
                    FileRecord {
                        reference_type: rt,
                        file_number: u16::from_be_bytes([f0, f1]),
                        record_number: u16::from_be_bytes([r0, r1]),
                        record_length,
                        data,
                    },
                    rest,
                )
            }
            (FileRecordLayout::ReadResponse, &[len, rt, ref rest @ ..]) => {
                // The sub-response length counts the reference type and the data.
                let data_len = usize::from(len).checked_sub(1)?;
                let (data, rest) = rest.split_at_checked(data_len)?;
                (
                    FileRecord {
                        reference_type: rt,
                        file_number: 0,
                        record_number: 0,
                        record_length: u16::try_from(data.len() / 2).unwrap_or(u16::MAX),
                        data,
                    },
                    rest,
                )
            }
            _ => return None,
        };
        self.rest = rest;
        self.yielded += 1;
        Some(record)
    }
}

/// The objects of a Read Device Identification response: `(object_id, value)` pairs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdObjects<'a> {
    bytes: &'a [u8],
    declared: u8,
}

impl<'a> DeviceIdObjects<'a> {
    /// Objects over `bytes`, of which the response declared `declared`.
    pub const fn new(bytes: &'a [u8], declared: u8) -> Self {
        DeviceIdObjects { bytes, declared }
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// At most `min(declared, MAX_DEVICE_ID_OBJECTS)` objects; stops at the first truncated one.
    pub fn iter(&self) -> DeviceIdObjectIter<'a> {
        DeviceIdObjectIter { rest: self.bytes, remaining: usize::from(self.declared).min(MAX_DEVICE_ID_OBJECTS) }
    }
}

impl std::fmt::Debug for DeviceIdObjects<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for DeviceIdObjects<'a> {
    type Item = (u8, &'a [u8]);
    type IntoIter = DeviceIdObjectIter<'a>;
    fn into_iter(self) -> DeviceIdObjectIter<'a> {
        self.iter()
    }
}

/// Iterator over [`DeviceIdObjects`].
#[derive(Clone, Debug)]
pub struct DeviceIdObjectIter<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> DeviceIdObjectIter<'a> {
    /// The bytes not yet consumed.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for DeviceIdObjectIter<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        if self.remaining == 0 {
            return None;
        }
        let &[id, len, ref rest @ ..] = self.rest else {
            return None;
        };
        let (value, rest) = rest.split_at_checked(usize::from(len))?;
        self.rest = rest;
        self.remaining -= 1;
        Some((id, value))
    }
}

fn be(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// Flags [`INVALID_LENGTH`] unless `rest` is empty (a PDU longer than its function requires).
fn expect_end(rest: &[u8], anomalies: &mut AnomalyList) {
    if !rest.is_empty() {
        anomalies.push(&INVALID_LENGTH);
    }
}

fn check_quantity(quantity: u16, max: u16, anomalies: &mut AnomalyList) {
    if quantity == 0 || quantity > max {
        anomalies.push(&INVALID_QUANTITY);
    }
}

/// `rest` limited to `byte_count` bytes, flagging [`INVALID_BYTE_COUNT`] when they disagree.
fn counted<'a>(byte_count: usize, rest: &'a [u8], anomalies: &mut AnomalyList) -> &'a [u8] {
    if byte_count != rest.len() {
        anomalies.push(&INVALID_BYTE_COUNT);
    }
    rest.get(..byte_count).unwrap_or(rest)
}

fn too_short<'a>(data: &'a [u8], anomalies: &mut AnomalyList) -> Pdu<'a> {
    anomalies.push(&INVALID_LENGTH);
    Pdu::Raw { data }
}

/// Decodes a PDU's data (after the function code byte `raw_fc`).
pub(crate) fn decode_pdu<'a>(raw_fc: u8, data: &'a [u8], direction: Direction, anomalies: &mut AnomalyList) -> Pdu<'a> {
    let fc = FunctionCode(raw_fc & 0x7F);
    if raw_fc & 0x80 != 0 {
        if !fc.is_known() {
            anomalies.push(&UNKNOWN_FUNCTION);
        }
        // MB 7: an exception response carries exactly one byte, the exception code.
        let &[code, ref rest @ ..] = data else {
            return too_short(data, anomalies);
        };
        expect_end(rest, anomalies);
        let code = ExceptionCode(code);
        if code.name().is_none() {
            anomalies.push(&INVALID_EXCEPTION_CODE);
        }
        return Pdu::Exception { code };
    }
    let request = direction == Direction::ToServer;
    match fc {
        FunctionCode::READ_COILS
        | FunctionCode::READ_DISCRETE_INPUTS
        | FunctionCode::READ_HOLDING_REGISTERS
        | FunctionCode::READ_INPUT_REGISTERS
            if request =>
        {
            // MB 6.1–6.4: starting address, quantity.
            let &[a0, a1, q0, q1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            let quantity = be(q0, q1);
            let max = if fc.0 <= 2 { 2000 } else { 125 };
            check_quantity(quantity, max, anomalies);
            Pdu::ReadRequest { address: be(a0, a1), quantity }
        }
        FunctionCode::READ_COILS | FunctionCode::READ_DISCRETE_INPUTS => {
            // Byte count N = ceil(quantity / 8), quantity 1..=2000.
            let &[byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            if byte_count == 0 || byte_count > 250 {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let bytes = counted(usize::from(byte_count), rest, anomalies);
            Pdu::ReadBitsResponse { byte_count, bits: Bits::all(bytes) }
        }
        FunctionCode::READ_HOLDING_REGISTERS
        | FunctionCode::READ_INPUT_REGISTERS
        | FunctionCode::READ_WRITE_MULTIPLE_REGISTERS
            if !request =>
        {
            // Byte count 2 * N, N 1..=125.
            let &[byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            if byte_count == 0 || byte_count > 250 || byte_count % 2 != 0 {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let bytes = counted(usize::from(byte_count), rest, anomalies);
            Pdu::ReadRegistersResponse { byte_count, registers: Registers::new(bytes) }
        }
        FunctionCode::WRITE_SINGLE_COIL | FunctionCode::WRITE_SINGLE_REGISTER => {
            // MB 6.5, 6.6: address, value; the response echoes the request.
            let &[a0, a1, v0, v1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            let (address, value) = (be(a0, a1), be(v0, v1));
            if fc == FunctionCode::WRITE_SINGLE_REGISTER {
                return Pdu::WriteSingleRegister { address, value };
            }
            if value != COIL_ON && value != COIL_OFF {
                anomalies.push(&INVALID_COIL_VALUE);
            }
            Pdu::WriteSingleCoil { address, value }
        }
        FunctionCode::READ_EXCEPTION_STATUS
        | FunctionCode::GET_COMM_EVENT_COUNTER
        | FunctionCode::GET_COMM_EVENT_LOG
        | FunctionCode::REPORT_SERVER_ID
            if request =>
        {
            expect_end(data, anomalies);
            Pdu::Empty
        }
        FunctionCode::READ_EXCEPTION_STATUS => {
            let &[status, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            Pdu::ReadExceptionStatusResponse { status }
        }
        FunctionCode::DIAGNOSTICS => {
            // MB 6.8: sub-function, then data (two bytes for every sub-function except 0x00,
            // which echoes any number of bytes).
            let &[s0, s1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let sub_function = be(s0, s1);
            match classify::modbus::DIAGNOSTIC_SUB_FUNCTIONS.iter().find(|info| info.code == sub_function) {
                None => anomalies.push(&UNKNOWN_SUB_FUNCTION),
                Some(_) if sub_function != 0 && rest.len() != 2 => anomalies.push(&INVALID_LENGTH),
                Some(_) => {}
            }
            Pdu::Diagnostics { sub_function, data: rest }
        }
        FunctionCode::GET_COMM_EVENT_COUNTER => {
            let &[s0, s1, e0, e1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            Pdu::CommEventCounterResponse { status: be(s0, s1), event_count: be(e0, e1) }
        }
        FunctionCode::GET_COMM_EVENT_LOG => {
            // MB 6.10: byte count, status, event count, message count, events (0..=64 bytes).
            let &[byte_count, s0, s1, e0, e1, m0, m1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            if byte_count < 6 || usize::from(byte_count) != rest.len() + 6 || rest.len() > 64 {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let events = rest.get(..usize::from(byte_count).saturating_sub(6)).unwrap_or(rest);
            Pdu::CommEventLogResponse {
                byte_count,
                status: be(s0, s1),
                event_count: be(e0, e1),
                message_count: be(m0, m1),
                events,
            }
        }
        FunctionCode::WRITE_MULTIPLE_COILS | FunctionCode::WRITE_MULTIPLE_REGISTERS if request => {
            // MB 6.11, 6.12: address, quantity, byte count, values.
            let &[a0, a1, q0, q1, byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let (address, quantity) = (be(a0, a1), be(q0, q1));
            let coils = fc == FunctionCode::WRITE_MULTIPLE_COILS;
            check_quantity(quantity, if coils { 1968 } else { 123 }, anomalies);
            let expected = if coils { usize::from(quantity).div_ceil(8) } else { usize::from(quantity) * 2 };
            if usize::from(byte_count) != expected {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let bytes = counted(usize::from(byte_count), rest, anomalies);
            if coils {
                Pdu::WriteMultipleCoilsRequest {
                    address,
                    quantity,
                    byte_count,
                    bits: Bits::new(bytes, usize::from(quantity)),
                }
            } else {
                Pdu::WriteMultipleRegistersRequest { address, quantity, byte_count, registers: Registers::new(bytes) }
            }
        }
        FunctionCode::WRITE_MULTIPLE_COILS | FunctionCode::WRITE_MULTIPLE_REGISTERS => {
            let &[a0, a1, q0, q1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            let quantity = be(q0, q1);
            let max = if fc == FunctionCode::WRITE_MULTIPLE_COILS { 1968 } else { 123 };
            check_quantity(quantity, max, anomalies);
            Pdu::WriteMultipleResponse { address: be(a0, a1), quantity }
        }
        FunctionCode::REPORT_SERVER_ID => {
            let &[byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let data = counted(usize::from(byte_count), rest, anomalies);
            Pdu::ReportServerIdResponse { byte_count, data }
        }
        FunctionCode::READ_FILE_RECORD | FunctionCode::WRITE_FILE_RECORD => {
            // MB 6.14, 6.15: byte count, then sub-requests or sub-responses.
            let &[byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let bytes = counted(usize::from(byte_count), rest, anomalies);
            let layout = match (fc, request) {
                (FunctionCode::READ_FILE_RECORD, true) => {
                    if !(7..=0xF5).contains(&byte_count) || byte_count % 7 != 0 {
                        anomalies.push(&INVALID_BYTE_COUNT);
                    }
                    FileRecordLayout::ReadRequest
                }
                (FunctionCode::READ_FILE_RECORD, false) => FileRecordLayout::ReadResponse,
                _ => FileRecordLayout::Write,
            };
            let records = FileRecords::new(bytes, layout);
            check_file_records(records, anomalies);
            if request {
                Pdu::FileRecordRequest { byte_count, records }
            } else {
                Pdu::FileRecordResponse { byte_count, records }
            }
        }
        FunctionCode::MASK_WRITE_REGISTER => {
            // MB 6.16: reference address, AND mask, OR mask; the response echoes the request.
            let &[a0, a1, n0, n1, o0, o1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            Pdu::MaskWriteRegister { address: be(a0, a1), and_mask: be(n0, n1), or_mask: be(o0, o1) }
        }
        FunctionCode::READ_WRITE_MULTIPLE_REGISTERS => {
            // MB 6.17 request: read start, read quantity, write start, write quantity, byte
            // count, write values.
            let &[ra0, ra1, rq0, rq1, wa0, wa1, wq0, wq1, byte_count, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let read_quantity = be(rq0, rq1);
            let write_quantity = be(wq0, wq1);
            check_quantity(read_quantity, 125, anomalies);
            check_quantity(write_quantity, 121, anomalies);
            if usize::from(byte_count) != usize::from(write_quantity) * 2 {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let bytes = counted(usize::from(byte_count), rest, anomalies);
            Pdu::ReadWriteMultipleRequest {
                read_address: be(ra0, ra1),
                read_quantity,
                write_address: be(wa0, wa1),
                write_quantity,
                byte_count,
                registers: Registers::new(bytes),
            }
        }
        FunctionCode::READ_FIFO_QUEUE if request => {
            let &[a0, a1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            expect_end(rest, anomalies);
            Pdu::ReadFifoRequest { address: be(a0, a1) }
        }
        FunctionCode::READ_FIFO_QUEUE => {
            // MB 6.18: byte count (of FIFO count + values), FIFO count (at most 31), values.
            let &[b0, b1, f0, f1, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let (byte_count, fifo_count) = (be(b0, b1), be(f0, f1));
            if fifo_count > 31 {
                anomalies.push(&INVALID_QUANTITY);
            }
            if usize::from(byte_count) != usize::from(fifo_count) * 2 + 2 {
                anomalies.push(&INVALID_BYTE_COUNT);
            }
            let bytes = counted(usize::from(fifo_count) * 2, rest, anomalies);
            Pdu::ReadFifoResponse { byte_count, fifo_count, registers: Registers::new(bytes) }
        }
        FunctionCode::ENCAPSULATED_INTERFACE => {
            let &[mei_type, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            decode_mei(mei_type, rest, data, request, anomalies)
        }
        FunctionCode::UMAS => {
            // Data: session (pairing) key, UMAS function code or response status, payload.
            let &[session, code, ref rest @ ..] = data else {
                return too_short(data, anomalies);
            };
            let umas = UmasCode(code);
            let known = if request { classify::modbus::umas_lookup(code).is_some() } else { umas.is_response() };
            if !known {
                anomalies.push(&UNKNOWN_SUB_FUNCTION);
            }
            Pdu::Umas { session, code, data: rest }
        }
        fc => {
            // Legacy and vendor codes have no public layout.
            if !fc.is_known() {
                anomalies.push(&UNKNOWN_FUNCTION);
            }
            Pdu::Raw { data }
        }
    }
}

fn check_file_records(records: FileRecords<'_>, anomalies: &mut AnomalyList) {
    let mut iter = records.iter();
    for record in iter.by_ref() {
        if record.reference_type != FILE_REFERENCE_TYPE {
            anomalies.push(&INVALID_REFERENCE_TYPE);
        }
    }
    if iter.remainder().is_empty() {
        if iter.yielded() == 0 {
            anomalies.push(&INVALID_BYTE_COUNT);
        }
    } else if iter.yielded() >= MAX_FILE_RECORDS {
        anomalies.push(&TOO_MANY_RECORDS);
    } else {
        // Bytes left that do not make a whole record.
        anomalies.push(&INVALID_BYTE_COUNT);
    }
}

fn decode_mei<'a>(mei_type: u8, rest: &'a [u8], data: &'a [u8], request: bool, anomalies: &mut AnomalyList) -> Pdu<'a> {
    if MeiType(mei_type) != MeiType::READ_DEVICE_IDENTIFICATION {
        if MeiType(mei_type).name().is_none() {
            anomalies.push(&UNKNOWN_SUB_FUNCTION);
        }
        return Pdu::EncapsulatedInterface { mei_type, data: rest };
    }
    if request {
        // MB 6.21 request: read device id code, object id.
        let &[read_device_id_code, object_id, ref tail @ ..] = rest else {
            return too_short(data, anomalies);
        };
        expect_end(tail, anomalies);
        return Pdu::ReadDeviceIdRequest { read_device_id_code, object_id };
    }
    // Response: code, conformity level, more follows, next object id, number of objects, then
    // (id, length, value) triples.
    let &[read_device_id_code, conformity_level, more, next_object_id, number_of_objects, ref tail @ ..] = rest else {
        return too_short(data, anomalies);
    };
    let objects = DeviceIdObjects::new(tail, number_of_objects);
    let mut iter = objects.iter();
    let decoded = iter.by_ref().count();
    if usize::from(number_of_objects) > MAX_DEVICE_ID_OBJECTS {
        anomalies.push(&TOO_MANY_OBJECTS);
    } else if decoded < usize::from(number_of_objects) || !iter.remainder().is_empty() {
        anomalies.push(&INVALID_LENGTH);
    }
    Pdu::ReadDeviceIdResponse {
        read_device_id_code,
        conformity_level,
        more_follows: more == 0xFF,
        next_object_id,
        number_of_objects,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::parse;
    use crate::stream::Parse;
    use Direction::{ToClient, ToServer};

    /// Wraps annotated PDU bytes in an MBAP header (transaction id 0x1234, unit id 1).
    fn adu(pdu: &[u8]) -> Vec<u8> {
        let length = u16::try_from(pdu.len() + 1).unwrap();
        let mut out = vec![0x12, 0x34, 0x00, 0x00];
        out.extend_from_slice(&length.to_be_bytes());
        out.push(0x01);
        out.extend_from_slice(pdu);
        out
    }

    /// Parses one whole ADU and returns the message (asserting it consumed everything).
    fn one(buf: &[u8], direction: Direction) -> ModbusMessage<'_> {
        match parse(buf, direction) {
            Parse::Message { message, consumed } => {
                assert_eq!(consumed, buf.len());
                message
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn clean(buf: &[u8], direction: Direction) -> ModbusMessage<'_> {
        let message = one(buf, direction);
        assert!(message.anomalies.is_empty(), "{:?}", message.anomalies);
        message
    }

    fn has<'a>(buf: &'a [u8], direction: Direction, kind: &'static crate::AnomalyKind) -> Pdu<'a> {
        let message = one(buf, direction);
        assert!(message.anomalies.contains(kind), "expected {} in {:?}", kind.id, message.anomalies);
        message.pdu
    }

    #[test]
    fn deconstruct() {
        let buf = adu(&[
            0x03, // read holding registers
            0x00, 0x6B, // starting address 107
            0x00, 0x03, // quantity 3
        ]);
        let m = clean(&buf, ToServer);
        assert_eq!(m.transaction_id, 0x1234);
        assert_eq!(m.protocol_id, 0);
        assert_eq!(m.length, 6);
        assert_eq!(m.unit_id, 1);
        assert_eq!(m.raw_function_code, 3);
        assert_eq!(m.function_code(), FunctionCode::READ_HOLDING_REGISTERS);
        assert!(!m.is_exception());
        assert_eq!(m.exception_code(), None);
        assert_eq!(m.sub_function(), None);
        assert_eq!(m.info().name, "read_holding_registers");
        assert_eq!(m.address(), Some(107));
        assert_eq!(m.quantity(), Some(3));
        assert_eq!(m.direction, ToServer);
    }

    #[test]
    fn parse_read_requests() {
        for fc in 1..=4u8 {
            let buf = adu(&[
                fc, // read coils / discrete inputs / holding / input registers
                0x00, 0x13, // starting address 19
                0x00, 0x13, // quantity 19
            ]);
            let m = clean(&buf, ToServer);
            assert_eq!(m.pdu, Pdu::ReadRequest { address: 19, quantity: 19 });
        }
    }

    #[test]
    fn parse_read_bits_response() {
        // MB 6.1 example: coils 20..38.
        let buf = adu(&[
            0x01, // read coils
            0x03, // byte count 3
            0xCD, 0x6B, 0x05, // coil states, LSB first
        ]);
        let m = clean(&buf, ToClient);
        let Pdu::ReadBitsResponse { byte_count, bits } = m.pdu else { panic!("{:?}", m.pdu) };
        assert_eq!(byte_count, 3);
        assert_eq!(bits.len(), 24);
        let first: Vec<bool> = bits.iter().take(8).collect();
        // 0xCD = 1100_1101: coils 20..27 = 1,0,1,1,0,0,1,1
        assert_eq!(first, [true, false, true, true, false, false, true, true]);
        assert_eq!(bits.get(8), Some(true));
        assert_eq!(bits.get(24), None);
        assert_eq!(m.quantity(), None);
        let buf = adu(&[0x02, 0x01, 0x0A]); // read discrete inputs, 1 byte
        assert!(matches!(clean(&buf, ToClient).pdu, Pdu::ReadBitsResponse { .. }));
    }

    #[test]
    fn parse_read_registers_response() {
        let buf = adu(&[
            0x03, // read holding registers
            0x06, // byte count 6
            0x02, 0x2B, // register 107: 555
            0x00, 0x00, // register 108: 0
            0x00, 0x64, // register 109: 100
        ]);
        let m = clean(&buf, ToClient);
        let Pdu::ReadRegistersResponse { byte_count, registers } = m.pdu else { panic!("{:?}", m.pdu) };
        assert_eq!(byte_count, 6);
        assert_eq!(registers.iter().collect::<Vec<_>>(), [555, 0, 100]);
        assert_eq!(registers.get(2), Some(100));
        assert_eq!(registers.get(3), None);
        assert_eq!(registers.as_bytes().len(), 6);
        assert_eq!(m.quantity(), Some(3));
        assert_eq!(m.address(), None);
        let buf = adu(&[0x04, 0x02, 0x00, 0x0A]); // read input registers: one register, 10
        assert!(matches!(clean(&buf, ToClient).pdu, Pdu::ReadRegistersResponse { .. }));
    }

    #[test]
    fn parse_write_single() {
        let buf = adu(&[
            0x05, // write single coil
            0x00, 0xAC, // output address 172
            0xFF, 0x00, // ON
        ]);
        for direction in [ToServer, ToClient] {
            let m = clean(&buf, direction);
            assert_eq!(m.pdu, Pdu::WriteSingleCoil { address: 172, value: COIL_ON });
            assert_eq!(m.quantity(), Some(1));
        }
        let buf = adu(&[
            0x06, // write single register
            0x00, 0x01, // register address 1
            0x00, 0x03, // value 3
        ]);
        for direction in [ToServer, ToClient] {
            let m = clean(&buf, direction);
            assert_eq!(m.pdu, Pdu::WriteSingleRegister { address: 1, value: 3 });
            assert_eq!(m.address(), Some(1));
        }
    }

    #[test]
    fn parse_serial_line_functions() {
        for fc in [7u8, 11, 12, 17] {
            assert_eq!(clean(&adu(&[fc]), ToServer).pdu, Pdu::Empty);
        }
        let buf = adu(&[
            0x07, // read exception status
            0x6D, // status
        ]);
        assert_eq!(clean(&buf, ToClient).pdu, Pdu::ReadExceptionStatusResponse { status: 0x6D });
        let buf = adu(&[
            0x0B, // get comm event counter
            0xFF, 0xFF, // status: busy
            0x01, 0x08, // event count 264
        ]);
        assert_eq!(clean(&buf, ToClient).pdu, Pdu::CommEventCounterResponse { status: 0xFFFF, event_count: 264 });
        let buf = adu(&[
            0x0C, // get comm event log
            0x08, // byte count 8
            0x00, 0x00, // status
            0x01, 0x08, // event count 264
            0x01, 0x21, // message count 289
            0x20, 0x00, // events
        ]);
        assert_eq!(
            clean(&buf, ToClient).pdu,
            Pdu::CommEventLogResponse {
                byte_count: 8,
                status: 0,
                event_count: 264,
                message_count: 289,
                events: &[0x20, 0x00]
            }
        );
        let buf = adu(&[
            0x11, // report server id
            0x03, // byte count 3
            0x42, // server id
            0xFF, // run indicator: on
            0x01, // additional data
        ]);
        assert_eq!(clean(&buf, ToClient).pdu, Pdu::ReportServerIdResponse { byte_count: 3, data: &[0x42, 0xFF, 0x01] });
    }

    #[test]
    fn parse_diagnostics() {
        let buf = adu(&[
            0x08, // diagnostics
            0x00, 0x00, // sub-function 0: return query data
            0xA5, 0x37, // data
        ]);
        for direction in [ToServer, ToClient] {
            let m = clean(&buf, direction);
            assert_eq!(m.pdu, Pdu::Diagnostics { sub_function: 0, data: &[0xA5, 0x37] });
            assert_eq!(m.sub_function(), Some(0));
            assert_eq!(m.info().name, "return_query_data");
        }
        for sub in [1u8, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20] {
            let buf = adu(&[
                0x08, // diagnostics
                0x00, sub, // sub-function
                0x00, 0x00, // data
            ]);
            let m = clean(&buf, ToServer);
            assert_eq!(m.sub_function(), Some(u16::from(sub)));
            assert_ne!(m.info().name, "diagnostics");
        }
        let buf = adu(&[0x08, 0x00, 0x01, 0xFF, 0x00]); // restart communications, clear log
        assert_eq!(clean(&buf, ToServer).info().category, crate::Category::Control);
        let buf = adu(&[0x08, 0x00, 0x04, 0x00, 0x00]); // force listen only mode
        assert_eq!(clean(&buf, ToServer).info().name, "force_listen_only_mode");
    }

    #[test]
    fn parse_write_multiple() {
        let buf = adu(&[
            0x0F, // write multiple coils
            0x00, 0x13, // starting address 19
            0x00, 0x0A, // quantity 10
            0x02, // byte count 2
            0xCD, 0x01, // outputs 19..28
        ]);
        let m = clean(&buf, ToServer);
        let Pdu::WriteMultipleCoilsRequest { address, quantity, byte_count, bits } = m.pdu else {
            panic!("{:?}", m.pdu)
        };
        assert_eq!((address, quantity, byte_count), (19, 10, 2));
        assert_eq!(bits.len(), 10);
        assert_eq!(bits.iter().collect::<Vec<_>>(), [true, false, true, true, false, false, true, true, true, false]);
        let buf = adu(&[
            0x0F, // write multiple coils
            0x00, 0x13, // starting address 19
            0x00, 0x0A, // quantity 10
        ]);
        let m = clean(&buf, ToClient);
        assert_eq!(m.pdu, Pdu::WriteMultipleResponse { address: 19, quantity: 10 });
        let buf = adu(&[
            0x10, // write multiple registers
            0x00, 0x01, // starting address 1
            0x00, 0x02, // quantity 2
            0x04, // byte count 4
            0x00, 0x0A, // 10
            0x01, 0x02, // 258
        ]);
        let m = clean(&buf, ToServer);
        let Pdu::WriteMultipleRegistersRequest { registers, .. } = m.pdu else { panic!("{:?}", m.pdu) };
        assert_eq!(registers.iter().collect::<Vec<_>>(), [10, 258]);
        assert_eq!((m.address(), m.quantity()), (Some(1), Some(2)));
        let buf = adu(&[
            0x10, // write multiple registers
            0x00, 0x01, // starting address 1
            0x00, 0x02, // quantity 2
        ]);
        assert!(matches!(clean(&buf, ToClient).pdu, Pdu::WriteMultipleResponse { .. }));
    }

    #[test]
    fn parse_file_records() {
        // MB 6.14 example: two sub-requests.
        let buf = adu(&[
            0x14, // read file record
            0x0E, // byte count 14
            0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, // ref 6, file 4, record 1, length 2
            0x06, 0x00, 0x03, 0x00, 0x09, 0x00, 0x02, // ref 6, file 3, record 9, length 2
        ]);
        let m = clean(&buf, ToServer);
        let Pdu::FileRecordRequest { byte_count, records } = m.pdu else { panic!("{:?}", m.pdu) };
        assert_eq!(byte_count, 14);
        let got: Vec<_> = records.iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            FileRecord { reference_type: 6, file_number: 3, record_number: 9, record_length: 2, data: &[] }
        );
        let buf = adu(&[
            0x14, // read file record
            0x0C, // response data length 12
            0x05, 0x06, 0x0D, 0xFE, 0x00, 0x20, // length 5, ref 6, two registers
            0x05, 0x06, 0x33, 0xCD, 0x00, 0x40, // length 5, ref 6, two registers
        ]);
        let m = clean(&buf, ToClient);
        let Pdu::FileRecordResponse { records, .. } = m.pdu else { panic!("{:?}", m.pdu) };
        let got: Vec<_> = records.into_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, &[0x0D, 0xFE, 0x00, 0x20]);
        assert_eq!(got[0].record_length, 2);
        // MB 6.15 example: one sub-request with three registers; the response echoes it.
        let buf = adu(&[
            0x15, // write file record
            0x0D, // byte count 13
            0x06, // reference type 6
            0x00, 0x04, // file 4
            0x00, 0x07, // record 7
            0x00, 0x03, // record length 3
            0x06, 0xAF, 0x04, 0xBE, 0x10, 0x0D, // data
        ]);
        for direction in [ToServer, ToClient] {
            let m = clean(&buf, direction);
            let records = match m.pdu {
                Pdu::FileRecordRequest { records, .. } if direction == ToServer => records,
                Pdu::FileRecordResponse { records, .. } if direction == ToClient => records,
                other => panic!("{other:?}"),
            };
            let got: Vec<_> = records.iter().collect();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].file_number, 4);
            assert_eq!(got[0].record_number, 7);
            assert_eq!(got[0].data.len(), 6);
            assert_eq!(records.layout(), FileRecordLayout::Write);
        }
    }

    #[test]
    fn parse_mask_write_and_fifo() {
        let buf = adu(&[
            0x16, // mask write register
            0x00, 0x04, // reference address 4
            0x00, 0xF2, // AND mask
            0x00, 0x25, // OR mask
        ]);
        for direction in [ToServer, ToClient] {
            let m = clean(&buf, direction);
            assert_eq!(m.pdu, Pdu::MaskWriteRegister { address: 4, and_mask: 0xF2, or_mask: 0x25 });
            assert_eq!((m.address(), m.quantity()), (Some(4), Some(1)));
        }
        let buf = adu(&[
            0x18, // read FIFO queue
            0x04, 0xDE, // FIFO pointer address 1246
        ]);
        let m = clean(&buf, ToServer);
        assert_eq!(m.pdu, Pdu::ReadFifoRequest { address: 1246 });
        assert_eq!(m.address(), Some(1246));
        let buf = adu(&[
            0x18, // read FIFO queue
            0x00, 0x06, // byte count 6
            0x00, 0x02, // FIFO count 2
            0x01, 0xB8, // 440
            0x12, 0x84, // 4740
        ]);
        let m = clean(&buf, ToClient);
        let Pdu::ReadFifoResponse { byte_count, fifo_count, registers } = m.pdu else { panic!("{:?}", m.pdu) };
        assert_eq!((byte_count, fifo_count), (6, 2));
        assert_eq!(registers.iter().collect::<Vec<_>>(), [440, 4740]);
        assert_eq!(m.quantity(), Some(2));
    }

    #[test]
    fn parse_read_write_multiple() {
        let buf = adu(&[
            0x17, // read/write multiple registers
            0x00, 0x03, // read starting address 3
            0x00, 0x06, // quantity to read 6
            0x00, 0x0E, // write starting address 14
            0x00, 0x03, // quantity to write 3
            0x06, // write byte count 6
            0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, // write values
        ]);
        let m = clean(&buf, ToServer);
        let Pdu::ReadWriteMultipleRequest {
            read_address,
            read_quantity,
            write_address,
            write_quantity,
            byte_count,
            registers,
        } = m.pdu
        else {
            panic!("{:?}", m.pdu)
        };
        assert_eq!((read_address, read_quantity, write_address, write_quantity, byte_count), (3, 6, 14, 3, 6));
        assert_eq!(registers.len(), 3);
        assert_eq!((m.address(), m.quantity()), (Some(3), Some(6)));
        assert_eq!(m.info().category, crate::Category::Write);
        let buf = adu(&[
            0x17, // read/write multiple registers
            0x04, // byte count 4
            0x00, 0xFE, 0x0A, 0xCD, // two registers read
        ]);
        let m = clean(&buf, ToClient);
        assert!(matches!(m.pdu, Pdu::ReadRegistersResponse { byte_count: 4, .. }));
    }

    #[test]
    fn parse_device_identification() {
        let buf = adu(&[
            0x2B, // encapsulated interface transport
            0x0E, // MEI type 14: read device identification
            0x01, // read device id code 1: basic
            0x00, // object id 0
        ]);
        let m = clean(&buf, ToServer);
        assert_eq!(m.pdu, Pdu::ReadDeviceIdRequest { read_device_id_code: 1, object_id: 0 });
        assert_eq!(m.sub_function(), Some(14));
        assert_eq!(m.info().name, "read_device_identification");
        let buf = adu(&[
            0x2B, // encapsulated interface transport
            0x0E, // MEI type 14
            0x01, // read device id code 1
            0x01, // conformity level 1
            0x00, // more follows: no
            0x00, // next object id
            0x03, // number of objects 3
            0x00, 0x04, b'A', b'C', b'M', b'E', // vendor name "ACME"
            0x01, 0x02, b'P', b'1', // product code "P1"
            0x02, 0x04, b'V', b'1', b'.', b'0', // revision "V1.0"
        ]);
        let m = clean(&buf, ToClient);
        let Pdu::ReadDeviceIdResponse { conformity_level, more_follows, number_of_objects, objects, .. } = m.pdu else {
            panic!("{:?}", m.pdu)
        };
        assert_eq!((conformity_level, more_follows, number_of_objects), (1, false, 3));
        let got: Vec<_> = objects.iter().collect();
        assert_eq!(got, [(0, &b"ACME"[..]), (1, &b"P1"[..]), (2, &b"V1.0"[..])]);
        let buf = adu(&[
            0x2B, // encapsulated interface transport
            0x0D, // MEI type 13: CANopen general reference
            0x00, 0x01, 0x02, // CANopen request bytes
        ]);
        let m = clean(&buf, ToServer);
        assert_eq!(m.pdu, Pdu::EncapsulatedInterface { mei_type: 13, data: &[0, 1, 2] });
        assert_eq!(m.info().name, "canopen_general_reference");
    }

    #[test]
    fn parse_umas() {
        let buf = adu(&[
            0x5A, // UMAS
            0x07, // session key
            0x41, // stop PLC
            0xFF, 0x00, // payload
        ]);
        let m = clean(&buf, ToServer);
        assert_eq!(m.pdu, Pdu::Umas { session: 7, code: 0x41, data: &[0xFF, 0x00] });
        assert_eq!(m.sub_function(), Some(0x41));
        assert_eq!(m.info().name, "umas_stop_plc");
        assert_eq!(m.info().category, crate::Category::Control);
        let buf = adu(&[
            0x5A, // UMAS
            0x07, // session key
            0xFE, // response OK
        ]);
        let m = clean(&buf, ToClient);
        assert_eq!(m.pdu, Pdu::Umas { session: 7, code: 0xFE, data: &[] });
        assert_eq!(m.info().name, "umas");
        let buf = adu(&[0x5A, 0x00, 0xFD, 0x81]); // response error
        assert!(matches!(clean(&buf, ToClient).pdu, Pdu::Umas { code: 0xFD, .. }));
    }

    #[test]
    fn parse_exceptions() {
        let buf = adu(&[
            0x83, // read holding registers, exception bit set
            0x02, // illegal data address
        ]);
        let m = clean(&buf, ToClient);
        assert!(m.is_exception());
        assert_eq!(m.function_code(), FunctionCode::READ_HOLDING_REGISTERS);
        assert_eq!(m.exception_code(), Some(ExceptionCode::ILLEGAL_DATA_ADDRESS));
        assert_eq!(m.info().name, "read_holding_registers");
        assert_eq!(m.sub_function(), None);
        for code in [1u8, 2, 3, 4, 5, 6, 7, 8, 10, 11] {
            for fc in [0x81u8, 0x82, 0x85, 0x86, 0x88, 0x8F, 0x90, 0x94, 0x95, 0x96, 0x97, 0x98, 0xAB, 0xDA] {
                let buf = adu(&[fc, code]);
                assert_eq!(clean(&buf, ToClient).pdu, Pdu::Exception { code: ExceptionCode(code) });
            }
        }
    }

    #[test]
    fn parse_legacy_functions() {
        for fc in [9u8, 10, 13, 14, 18, 19, 40, 125, 126, 127] {
            let buf = adu(&[fc, 0xDE, 0xAD]);
            for direction in [ToServer, ToClient] {
                let m = clean(&buf, direction);
                assert_eq!(m.pdu, Pdu::Raw { data: &[0xDE, 0xAD] });
                assert_eq!(m.info().code, u16::from(fc));
            }
        }
        let buf = adu(&[125]);
        let m = one(&buf, ToServer);
        assert_eq!(m.info().category, crate::Category::Firmware);
    }

    #[test]
    fn truncated() {
        // Every function with fixed fields, cut short: Raw with invalid_length.
        let short: &[(&[u8], Direction)] = &[
            (&[0x01, 0x00, 0x01, 0x00], ToServer),
            (&[0x03], ToClient),
            (&[0x05, 0x00, 0x01], ToServer),
            (&[0x06, 0x00], ToClient),
            (&[0x07], ToClient),
            (&[0x08, 0x00], ToServer),
            (&[0x0B, 0x00, 0x00, 0x00], ToClient),
            (&[0x0C, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00], ToClient),
            (&[0x0F, 0x00, 0x01, 0x00, 0x01], ToServer),
            (&[0x10, 0x00, 0x01, 0x00], ToClient),
            (&[0x11], ToClient),
            (&[0x14], ToServer),
            (&[0x16, 0x00, 0x01, 0x00, 0x01, 0x00], ToServer),
            (&[0x17, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01], ToServer),
            (&[0x18, 0x00], ToServer),
            (&[0x18, 0x00, 0x02, 0x00], ToClient),
            (&[0x2B], ToServer),
            (&[0x2B, 0x0E, 0x01], ToServer),
            (&[0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00], ToClient),
            (&[0x5A, 0x00], ToServer),
            (&[0x83], ToClient),
        ];
        for (pdu, direction) in short {
            let buf = adu(pdu);
            let m = one(&buf, *direction);
            assert!(matches!(m.pdu, Pdu::Raw { .. }), "{pdu:02X?}: {:?}", m.pdu);
            assert!(m.anomalies.contains(&INVALID_LENGTH), "{pdu:02X?}");
        }
    }

    #[test]
    fn anomalies() {
        // Quantities out of range.
        for (pdu, dir) in [
            (&[0x01u8, 0x00, 0x00, 0x07, 0xD1][..], ToServer), // 2001 coils
            (&[0x03, 0x00, 0x00, 0x00, 0x00], ToServer),       // 0 registers
            (&[0x04, 0x00, 0x00, 0x00, 0x7E], ToServer),       // 126 registers
            (&[0x10, 0x00, 0x00, 0x00, 0x7C], ToClient),       // 124 registers written
            (&[0x0F, 0x00, 0x00, 0x07, 0xB1], ToClient),       // 1969 coils written
            (&[0x18, 0x00, 0x42, 0x00, 0x20], ToClient),       // FIFO count 32
        ] {
            has(&adu(pdu), dir, &INVALID_QUANTITY);
        }
        has(&adu(&[0x17, 0, 0, 0, 126, 0, 0, 0, 1, 2, 0, 0]), ToServer, &INVALID_QUANTITY);
        has(&adu(&[0x17, 0, 0, 0, 1, 0, 0, 0, 122, 2, 0, 0]), ToServer, &INVALID_QUANTITY);
        // Byte counts that disagree.
        for (pdu, dir) in [
            (&[0x03u8, 0x04, 0x00, 0x01][..], ToClient), // says 4, has 2
            (&[0x03, 0x03, 0x00, 0x01, 0x02], ToClient), // odd
            (&[0x01, 0x00], ToClient),                   // zero
            (&[0x10, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x01], ToServer), // 2 regs need 4
            (&[0x0F, 0x00, 0x00, 0x00, 0x09, 0x01, 0xFF], ToServer), // 9 coils need 2
            (&[0x11, 0x05, 0x01], ToClient),
            (&[0x0C, 0x05, 0, 0, 0, 0, 0, 0], ToClient),
            (&[0x14, 0x08, 6, 0, 1, 0, 1, 0, 1, 0], ToServer), // not a multiple of 7
            (&[0x18, 0x00, 0x08, 0x00, 0x02, 0, 1, 0, 2], ToClient),
        ] {
            has(&adu(pdu), dir, &INVALID_BYTE_COUNT);
        }
        // Too long for the function.
        has(&adu(&[0x03, 0, 0, 0, 1, 0xFF]), ToServer, &INVALID_LENGTH);
        has(&adu(&[0x07, 0xFF]), ToServer, &INVALID_LENGTH);
        has(&adu(&[0x83, 0x02, 0x00]), ToClient, &INVALID_LENGTH);
        has(&adu(&[0x08, 0x00, 0x0A, 0, 0, 0]), ToServer, &INVALID_LENGTH);
        // Coil value.
        let buf = adu(&[0x05, 0x00, 0x01, 0x12, 0x34]);
        let pdu = has(&buf, ToServer, &INVALID_COIL_VALUE);
        assert_eq!(pdu, Pdu::WriteSingleCoil { address: 1, value: 0x1234 });
        // Exception code.
        let buf = adu(&[0x81, 0x09]);
        let pdu = has(&buf, ToClient, &INVALID_EXCEPTION_CODE);
        assert_eq!(pdu, Pdu::Exception { code: ExceptionCode(9) });
        // Unknown function and sub-functions.
        let buf = adu(&[0x41, 0x01]);
        let pdu = has(&buf, ToServer, &UNKNOWN_FUNCTION);
        assert_eq!(pdu, Pdu::Raw { data: &[0x01] });
        has(&adu(&[0xC1, 0x01]), ToClient, &UNKNOWN_FUNCTION);
        has(&adu(&[0x00]), ToServer, &UNKNOWN_FUNCTION);
        has(&adu(&[0x08, 0x00, 0x05, 0, 0]), ToServer, &UNKNOWN_SUB_FUNCTION);
        has(&adu(&[0x2B, 0x0F, 0x00]), ToServer, &UNKNOWN_SUB_FUNCTION);
        has(&adu(&[0x5A, 0x00, 0xEE]), ToServer, &UNKNOWN_SUB_FUNCTION);
        has(&adu(&[0x5A, 0x00, 0x41]), ToClient, &UNKNOWN_SUB_FUNCTION);
        // File records: reference type, truncated record, too many records.
        has(&adu(&[0x14, 0x07, 5, 0, 1, 0, 1, 0, 1]), ToServer, &INVALID_REFERENCE_TYPE);
        has(&adu(&[0x15, 0x09, 6, 0, 1, 0, 1, 0, 2, 0xAA, 0xBB]), ToServer, &INVALID_BYTE_COUNT);
        // 40 sub-responses of one byte each (length 1: the reference type only).
        let mut pdu = vec![0x14, 80];
        for _ in 0..40 {
            pdu.extend_from_slice(&[0x01, 0x06]);
        }
        let buf = adu(&pdu);
        let m = one(&buf, ToClient);
        assert!(m.anomalies.contains(&TOO_MANY_RECORDS));
        let Pdu::FileRecordResponse { records, .. } = m.pdu else { panic!() };
        assert_eq!(records.iter().count(), MAX_FILE_RECORDS);
        // Device identification: declared objects missing, or too many.
        has(&adu(&[0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x01, b'A']), ToClient, &INVALID_LENGTH);
        let mut pdu = vec![0x2B, 0x0E, 0x03, 0x83, 0x00, 0x00, 100];
        for id in 0..100u8 {
            pdu.extend_from_slice(&[id, 0x00]);
        }
        let buf = adu(&pdu);
        let m = one(&buf, ToClient);
        assert!(m.anomalies.contains(&TOO_MANY_OBJECTS));
        let Pdu::ReadDeviceIdResponse { objects, .. } = m.pdu else { panic!() };
        assert_eq!(objects.iter().count(), MAX_DEVICE_ID_OBJECTS);
    }

    #[test]
    fn iterators_never_overrun() {
        assert_eq!(Registers::new(&[1, 2, 3]).len(), 1);
        assert_eq!(Registers::new(&[1, 2, 3]).iter().count(), 1);
        assert!(Registers::new(&[1]).is_empty());
        let bits = Bits::new(&[0xFF], 100);
        assert_eq!(bits.len(), 8);
        assert_eq!(bits.iter().count(), 8);
        assert!(Bits::new(&[], 5).is_empty());
        let records = FileRecords::new(&[6, 0, 1, 0, 1, 0, 9, 0xAA], FileRecordLayout::Write);
        assert_eq!(records.iter().count(), 0);
        let records = FileRecords::new(&[0, 6, 1], FileRecordLayout::ReadResponse);
        assert_eq!(records.iter().count(), 0);
        let objects = DeviceIdObjects::new(&[0, 200, 1, 2], 5);
        assert_eq!(objects.iter().count(), 0);
        let objects = DeviceIdObjects::new(&[0, 1, b'x', 1, 0], 1);
        let mut iter = objects.iter();
        assert_eq!(iter.next(), Some((0, &b"x"[..])));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.remainder(), &[1, 0]);
    }
}
