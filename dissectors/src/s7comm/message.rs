//! The meaning-level view of one S7comm PDU and its decoder.
//!
//! Layouts follow Wireshark's `packet-s7comm.c` (there is no public specification): the job and
//! ack_data parameters per function, the read/write item (variable specification, S7ANY), the
//! data items, the block transfer file names (`_0A00001P`), the PI services and the userdata
//! parameter and data headers. Decoding never fails once the header is present: a field that
//! cannot be read becomes [`Pdu::Raw`] with [`TRUNCATED`], and anything odd is an anomaly beside
//! the decoded fields. Nothing allocates; iterators are bounded by the bytes present and by
//! [`MAX_ITEMS`].

use super::anomalies::*;
use super::codes::*;
use crate::anomaly::AnomalyList;
use crate::classify::{self, FunctionInfo};

/// At most this many read/write items are decoded from one PDU; a count above it gets
/// [`TOO_MANY_ITEMS`]. The item count is one byte on the wire, and the largest PDU size S7 CPUs
/// negotiate (960 bytes) holds at most 79 S7ANY items of 12 bytes; snap7 and Step 7 send 20.
pub const MAX_ITEMS: usize = 128;

/// Length of an S7ANY variable specification after its length byte.
pub const S7ANY_SPEC_LEN: usize = 10;

/// One decoded S7comm PDU.
#[derive(Debug, Clone, Copy)]
pub struct S7Message<'a> {
    pub rosctr: Rosctr,
    pub redundancy_id: u16,
    /// Chosen by the requester and echoed in the ack/ack_data (and in userdata responses).
    pub pdu_reference: u16,
    pub parameter_length: u16,
    pub data_length: u16,
    /// Header error class and code (ack and ack_data only).
    pub error_class: Option<ErrorClass>,
    pub error_code: Option<u8>,
    /// The parameter and data as the lengths say (clamped to the bytes present).
    pub parameter: &'a [u8],
    pub data: &'a [u8],
    pub pdu: Pdu<'a>,
    pub anomalies: AnomalyList,
}

/// What pairs a response with its request, as the sensor keys its outstanding transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// Job ↔ ack/ack_data, and userdata request ↔ response: the PDU reference, echoed by the PLC.
    PduReference(u16),
    /// A userdata push (cyclic data, alarm and mode-transition notifications): nothing to pair.
    Push,
}

impl<'a> S7Message<'a> {
    /// The job / ack_data function (first parameter byte); `None` for ack without parameter and
    /// for userdata.
    pub fn function(&self) -> Option<Function> {
        match self.rosctr {
            Rosctr::JOB | Rosctr::ACK_DATA | Rosctr::ACK => self.parameter.first().map(|&f| Function(f)),
            _ => None,
        }
    }

    /// The userdata header, for userdata PDUs.
    pub fn userdata(&self) -> Option<&Userdata<'a>> {
        match &self.pdu {
            Pdu::Userdata(userdata) => Some(userdata),
            _ => None,
        }
    }

    /// True for a job and a userdata request.
    pub fn is_request(&self) -> bool {
        self.rosctr == Rosctr::JOB || self.userdata().is_some_and(|u| u.kind.is_request())
    }

    /// True for an ack, an ack_data and a userdata response.
    pub fn is_response(&self) -> bool {
        self.rosctr == Rosctr::ACK
            || self.rosctr == Rosctr::ACK_DATA
            || self.userdata().is_some_and(|u| u.kind.is_response())
    }

    /// How to pair this PDU; `None` for an unknown ROSCTR.
    pub fn transaction_key(&self) -> Option<TransactionKey> {
        match self.userdata() {
            Some(u) if u.kind.is_push() => Some(TransactionKey::Push),
            _ if self.rosctr.is_known() => Some(TransactionKey::PduReference(self.pdu_reference)),
            _ => None,
        }
    }

    /// The error of a response as one u16 (header class and code; for userdata, the parameter's
    /// error code), when it is not zero. Describe it with [`error_description`].
    pub fn error(&self) -> Option<u16> {
        let code = match (self.error_class, self.error_code, self.userdata()) {
            (Some(class), Some(code), _) => u16::from_be_bytes([class.0, code]),
            (_, _, Some(u)) => u.error_code.unwrap_or(0),
            _ => 0,
        };
        (code != 0).then_some(code)
    }

    /// The PI service name of a PLC control (0x28) or PLC stop (0x29) job.
    pub fn pi_service(&self) -> Option<&'a [u8]> {
        match self.pdu {
            Pdu::PiService { service, .. } | Pdu::PlcStop { service } => Some(service),
            _ => None,
        }
    }

    /// The classification row: job function (a PI service's own row when known), userdata
    /// group and subfunction. Responses take their function's row, as requests do.
    pub fn info(&self) -> &'static FunctionInfo {
        match (self.userdata(), self.function()) {
            (Some(u), _) => classify::s7comm::lookup_userdata(u.group.0, u.subfunction),
            (None, Some(function)) => classify::s7comm::lookup_job(function.0, self.pi_service()),
            (None, None) => &classify::s7comm::ACK,
        }
    }

    /// The variable specifications of a read or write var job (empty otherwise).
    pub fn items(&self) -> VarItems<'a> {
        match self.pdu {
            Pdu::ReadVarRequest { items, .. } | Pdu::WriteVarRequest { items, .. } => items,
            _ => VarItems::new(&[], 0),
        }
    }

    /// The data items of a write var job or a read var ack_data (empty otherwise).
    pub fn data_items(&self) -> DataItems<'a> {
        match self.pdu {
            Pdu::ReadVarResponse { items, .. } | Pdu::WriteVarRequest { data: items, .. } => items,
            _ => DataItems::new(&[], 0),
        }
    }
}

/// The decoded parameter and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// 0xF0, job and ack_data: the negotiated queue depths and PDU size.
    SetupCommunication { max_amq_calling: u16, max_amq_called: u16, pdu_length: u16 },
    /// 0x04 job.
    ReadVarRequest { item_count: u8, items: VarItems<'a> },
    /// 0x04 ack_data: one data item (return code, value) per item read.
    ReadVarResponse { item_count: u8, items: DataItems<'a> },
    /// 0x05 job.
    WriteVarRequest { item_count: u8, items: VarItems<'a>, data: DataItems<'a> },
    /// 0x05 ack_data: one return code per item written.
    WriteVarResponse { item_count: u8, return_codes: &'a [u8] },
    /// 0x1A..=0x1F, job and ack_data.
    BlockTransfer(BlockTransfer<'a>),
    /// 0x28 job: the PI service name (`_INSE`, `P_PROGRAM`, ...) and its parameter block.
    PiService { service: &'a [u8], parameter: &'a [u8] },
    /// 0x29 job (service `P_PROGRAM`).
    PlcStop { service: &'a [u8] },
    /// ROSCTR 7.
    Userdata(Userdata<'a>),
    /// An ack (ROSCTR 2) without parameter.
    Ack,
    /// Anything else (responses carrying only their function, unknown functions, fields that
    /// could not be read).
    Raw { parameter: &'a [u8], data: &'a [u8] },
}

/// A block upload or download step (functions 0x1A..=0x1F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTransfer<'a> {
    pub function: Function,
    /// Function status (bit 0: more data follows; bit 1: error).
    pub status: u8,
    /// The upload id (upload, end upload; the PLC assigns it in the start upload response).
    pub upload_id: Option<u32>,
    /// The file name (`_` `0A` `00001` `P`: block type in hex ASCII, number, file system).
    pub filename: Option<&'a [u8]>,
    /// The block the file name designates.
    pub block: Option<BlockId>,
    /// What follows the file name: request download's lengths (`1`, load memory and MC7 code
    /// lengths in ASCII), start upload response's block length in ASCII.
    pub extra: &'a [u8],
    /// Block bytes (download block and upload responses), after the data's 4-byte header.
    pub data: &'a [u8],
}

/// A block designation, from a file name or a PI parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockId {
    pub block_type: BlockType,
    pub number: u32,
    /// Destination file system: `P` passive (load memory), `A` active, `B` both.
    pub filesystem: u8,
}

impl BlockId {
    /// Parses `0A00001P` (type in hex ASCII, 5-digit number, file system letter).
    pub fn parse(bytes: &[u8]) -> Option<BlockId> {
        let [t1, t2, digits @ .., fs] = bytes else { return None };
        if digits.len() != 5 {
            return None;
        }
        let hex = |b: u8| char::from(b).to_digit(16);
        let block_type = hex(*t1)? * 16 + hex(*t2)?;
        let number = digits.iter().try_fold(0u32, |n, &d| Some(n * 10 + char::from(d).to_digit(10)?))?;
        Some(BlockId { block_type: BlockType(u8::try_from(block_type).ok()?), number, filesystem: *fs })
    }

    /// Parses a file name `_0A00001P`.
    pub fn from_filename(filename: &[u8]) -> Option<BlockId> {
        match filename.split_first() {
            Some((b'_', rest)) => Self::parse(rest),
            _ => None,
        }
    }
}

/// The blocks named in a PI service's parameter block (`_INSE`, `_DELE`: a count, a reserved byte,
/// then 8-byte designations). Empty when the parameter block has another layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiBlocks<'a> {
    entries: &'a [u8],
}

impl<'a> PiBlocks<'a> {
    pub fn new(parameter: &'a [u8]) -> Self {
        let entries = match parameter {
            [count, _, rest @ ..] if rest.len() == usize::from(*count) * 8 => rest,
            _ => &[],
        };
        PiBlocks { entries }
    }

    /// The blocks, in order (an entry that is not a block designation is skipped).
    pub fn iter(&self) -> impl Iterator<Item = BlockId> + 'a {
        self.entries.chunks_exact(8).filter_map(BlockId::parse)
    }
}

/// The userdata parameter and data headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Userdata<'a> {
    /// 0x11 request, 0x12 response.
    pub method: u8,
    pub kind: UserdataType,
    pub group: UserdataGroup,
    pub subfunction: u8,
    /// Chains the data units of a multi-part exchange.
    pub sequence_number: u8,
    /// Multi-part: the data unit reference (parameter length 8 only).
    pub data_unit_reference: Option<u8>,
    /// Multi-part: true when this is the last data unit (wire 0x00), false when more follow.
    pub last_data_unit: Option<bool>,
    /// Parameter error code (parameter length 8 only).
    pub error_code: Option<u16>,
    pub return_code: Option<ReturnCode>,
    pub transport_size: Option<DataTransportSize>,
    /// The data after its 4-byte header, as long as its length says.
    pub payload: &'a [u8],
    /// Read SZL (group 4, subfunction 1): the SZL id and index, from a request or the first data
    /// unit of a response.
    pub szl: Option<(u16, u16)>,
}

impl Userdata<'_> {
    /// The subfunction's name within its group, when known.
    pub fn subfunction_name(&self) -> Option<&'static str> {
        classify::s7comm::userdata_subfunction(self.group.0, self.subfunction).map(|info| info.name)
    }
}

/// The variable specifications of a read/write var job.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VarItems<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> VarItems<'a> {
    /// At most `count` (and [`MAX_ITEMS`]) items over `bytes`.
    pub fn new(bytes: &'a [u8], count: usize) -> Self {
        VarItems { bytes, count: count.min(MAX_ITEMS) }
    }

    pub fn iter(&self) -> VarItemIter<'a> {
        VarItemIter { rest: self.bytes, left: self.count }
    }

    /// The raw bytes after the item count.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for VarItems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for VarItems<'a> {
    type Item = VarItem<'a>;
    type IntoIter = VarItemIter<'a>;
    fn into_iter(self) -> VarItemIter<'a> {
        self.iter()
    }
}

/// One variable specification (spec type 0x12, length, syntax id, then its address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarItem<'a> {
    /// The variable specification type byte (0x12).
    pub spec_type: u8,
    pub syntax_id: SyntaxId,
    /// The address bytes after the syntax id.
    pub address: &'a [u8],
    /// The decoded S7ANY address (syntax id 0x10).
    pub any: Option<AnyAddress>,
}

/// An S7ANY address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnyAddress {
    pub transport_size: TransportSize,
    /// Number of elements of `transport_size`.
    pub length: u16,
    pub db_number: u16,
    pub area: Area,
    pub byte_address: u32,
    pub bit_address: u8,
}

impl AnyAddress {
    fn parse(bytes: &[u8]) -> Option<AnyAddress> {
        let &[ts, l1, l2, d1, d2, area, a1, a2, a3] = bytes.get(..9)? else { return None };
        let address = u32::from_be_bytes([0, a1, a2, a3]);
        Some(AnyAddress {
            transport_size: TransportSize(ts),
            length: u16::from_be_bytes([l1, l2]),
            db_number: u16::from_be_bytes([d1, d2]),
            area: Area(area),
            // Counters (0x1C) and timers (0x1D) are addressed by element number, not bit
            // address (Wireshark's `address.number`, snap7's encoding).
            byte_address: if matches!(area, 0x1C | 0x1D) { address } else { address >> 3 },
            bit_address: if matches!(area, 0x1C | 0x1D) { 0 } else { (address & 7) as u8 },
        })
    }
}

/// Iterator over [`VarItems`]; stops at the count or at an item cut short.
#[derive(Clone, Debug)]
pub struct VarItemIter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for VarItemIter<'a> {
    type Item = VarItem<'a>;
    fn next(&mut self) -> Option<VarItem<'a>> {
        if self.left == 0 {
            return None;
        }
        let [spec_type, len, rest @ ..] = self.rest else { return None };
        let spec = rest.get(..usize::from(*len))?;
        self.rest = rest.get(usize::from(*len)..).unwrap_or(&[]);
        self.left -= 1;
        let (&syntax, address) = spec.split_first()?;
        let syntax_id = SyntaxId(syntax);
        let any = if syntax_id == SyntaxId::S7ANY { AnyAddress::parse(address) } else { None };
        Some(VarItem { spec_type: *spec_type, syntax_id, address, any })
    }
}

/// Data items: return code, transport size, length, value, padded to an even length between
/// items.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DataItems<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> DataItems<'a> {
    /// At most `count` (and [`MAX_ITEMS`]) items over `bytes`.
    pub fn new(bytes: &'a [u8], count: usize) -> Self {
        DataItems { bytes, count: count.min(MAX_ITEMS) }
    }

    pub fn iter(&self) -> DataItemIter<'a> {
        DataItemIter { rest: self.bytes, left: self.count }
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for DataItems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for DataItems<'a> {
    type Item = DataItem<'a>;
    type IntoIter = DataItemIter<'a>;
    fn into_iter(self) -> DataItemIter<'a> {
        self.iter()
    }
}

/// One data item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataItem<'a> {
    pub return_code: ReturnCode,
    pub transport_size: DataTransportSize,
    /// The length field as on the wire (bits or bytes, see
    /// [`DataTransportSize::length_in_bits`]).
    pub length: u16,
    /// The value (empty for a failed read).
    pub value: &'a [u8],
}

/// Iterator over [`DataItems`]; stops at the count or at an item cut short.
#[derive(Clone, Debug)]
pub struct DataItemIter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> DataItemIter<'a> {
    /// Bytes after the items read so far.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for DataItemIter<'a> {
    type Item = DataItem<'a>;
    fn next(&mut self) -> Option<DataItem<'a>> {
        if self.left == 0 {
            return None;
        }
        let [return_code, ts, l1, l2, rest @ ..] = self.rest else { return None };
        let transport_size = DataTransportSize(*ts);
        let length = u16::from_be_bytes([*l1, *l2]);
        // A failed item of a response (return code other than 0xFF "success"; write requests
        // carry 0x00) has no value, whatever its length field says: snap7 echoes the requested
        // length there, Siemens CPUs send 0. Wireshark reads no value either.
        let failed = *return_code != 0x00 && *return_code != 0xFF;
        let byte_len = if failed {
            0
        } else if transport_size.length_in_bits() {
            usize::from(length).div_ceil(8)
        } else {
            usize::from(length)
        };
        let value = rest.get(..byte_len)?;
        self.left -= 1;
        // Every item but the last is padded to an even length.
        let padded = if byte_len % 2 == 1 && self.left > 0 { byte_len + 1 } else { byte_len };
        self.rest = rest.get(padded..).unwrap_or(&[]);
        Some(DataItem { return_code: ReturnCode(*return_code), transport_size, length, value })
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at.checked_add(4)?) {
        Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

/// A length-prefixed string at `at`: the string and the offset after it.
fn counted(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = usize::from(*bytes.get(at)?);
    let end = at + 1 + len;
    Some((bytes.get(at + 1..end)?, end))
}

/// Decodes the parameter and data of a PDU whose header was read.
pub(crate) fn decode_pdu<'a>(rosctr: Rosctr, parameter: &'a [u8], data: &'a [u8], found: &mut AnomalyList) -> Pdu<'a> {
    let raw = Pdu::Raw { parameter, data };
    match rosctr {
        Rosctr::USERDATA => match decode_userdata(parameter, data) {
            Some(userdata) => {
                if !userdata.group.is_known()
                    || classify::s7comm::userdata_subfunction(userdata.group.0, userdata.subfunction).is_none()
                        && !userdata.kind.is_push()
                        && userdata.group != UserdataGroup::MODE_TRANSITION
                {
                    found.push(&UNKNOWN_FUNCTION);
                }
                Pdu::Userdata(userdata)
            }
            None => {
                found.push(&TRUNCATED);
                raw
            }
        },
        // An ack_data without a parameter is how a PLC refuses a job (its header carries the
        // error class and code): not a truncated PDU.
        Rosctr::ACK | Rosctr::ACK_DATA if parameter.is_empty() => Pdu::Ack,
        Rosctr::JOB | Rosctr::ACK_DATA | Rosctr::ACK => {
            let Some(&function) = parameter.first() else {
                found.push(&TRUNCATED);
                return raw;
            };
            let function = Function(function);
            if !function.is_known() {
                found.push(&UNKNOWN_FUNCTION);
                return raw;
            }
            let pdu = if rosctr == Rosctr::JOB {
                decode_job(function, parameter, data, found)
            } else {
                decode_ack_data(function, parameter, data, found)
            };
            pdu.unwrap_or_else(|| {
                found.push(&TRUNCATED);
                raw
            })
        }
        _ => {
            found.push(&UNKNOWN_ROSCTR);
            raw
        }
    }
}

fn check_count(declared: usize, present: usize, found: &mut AnomalyList) {
    if declared > MAX_ITEMS || present < declared.min(MAX_ITEMS) {
        found.push(&TOO_MANY_ITEMS);
    }
}

fn decode_job<'a>(function: Function, p: &'a [u8], data: &'a [u8], found: &mut AnomalyList) -> Option<Pdu<'a>> {
    Some(match function {
        Function::SETUP_COMMUNICATION => setup(p)?,
        Function::READ_VAR => {
            let count = *p.get(1)?;
            let items = VarItems::new(p.get(2..)?, usize::from(count));
            check_count(usize::from(count), items.iter().count(), found);
            Pdu::ReadVarRequest { item_count: count, items }
        }
        Function::WRITE_VAR => {
            let count = *p.get(1)?;
            let items = VarItems::new(p.get(2..)?, usize::from(count));
            let values = DataItems::new(data, usize::from(count));
            check_count(usize::from(count), items.iter().count().min(values.iter().count()), found);
            Pdu::WriteVarRequest { item_count: count, items, data: values }
        }
        f if f.is_block_transfer() => Pdu::BlockTransfer(block_transfer(function, p, data, true)?),
        Function::PI_SERVICE => {
            // Function, 7 reserved bytes, parameter block length and block, service name.
            let len = usize::from(be16(p, 8)?);
            let parameter = p.get(10..10 + len)?;
            let (service, _) = counted(p, 10 + len)?;
            Pdu::PiService { service, parameter }
        }
        Function::PLC_STOP => {
            // Function, 5 reserved bytes, service name.
            let (service, _) = counted(p, 6)?;
            Pdu::PlcStop { service }
        }
        _ => Pdu::Raw { parameter: p, data },
    })
}

fn decode_ack_data<'a>(function: Function, p: &'a [u8], data: &'a [u8], found: &mut AnomalyList) -> Option<Pdu<'a>> {
    Some(match function {
        // An error answer may carry only the function.
        _ if p.len() < 2 => Pdu::Raw { parameter: p, data },
        Function::SETUP_COMMUNICATION => setup(p)?,
        Function::READ_VAR => {
            let count = *p.get(1)?;
            let items = DataItems::new(data, usize::from(count));
            check_count(usize::from(count), items.iter().count(), found);
            Pdu::ReadVarResponse { item_count: count, items }
        }
        Function::WRITE_VAR => {
            let count = *p.get(1)?;
            if usize::from(count) > MAX_ITEMS || data.len() < usize::from(count) {
                found.push(&TOO_MANY_ITEMS);
            }
            let return_codes = data.get(..usize::from(count).min(MAX_ITEMS)).unwrap_or(data);
            Pdu::WriteVarResponse { item_count: count, return_codes }
        }
        f if f.is_block_transfer() => Pdu::BlockTransfer(block_transfer(function, p, data, false)?),
        _ => Pdu::Raw { parameter: p, data },
    })
}

fn setup(p: &[u8]) -> Option<Pdu<'_>> {
    Some(Pdu::SetupCommunication { max_amq_calling: be16(p, 2)?, max_amq_called: be16(p, 4)?, pdu_length: be16(p, 6)? })
}

/// Block transfer parameters: function, status, 2 reserved bytes, 4-byte id, then (in the
/// functions that name a file) the file name and what follows it. Responses may stop after the
/// status; upload and download block responses carry the block in the data (length, 2 reserved
/// bytes, block bytes).
fn block_transfer<'a>(function: Function, p: &'a [u8], data: &'a [u8], job: bool) -> Option<BlockTransfer<'a>> {
    let status = p.get(1).copied().unwrap_or(0);
    let id = be32(p, 4);
    if job && id.is_none() {
        return None;
    }
    let (filename, extra) = match p.get(8..) {
        Some(rest) if !rest.is_empty() && job => {
            let (name, end) = counted(p, 8)?;
            let extra = match counted(p, end) {
                Some((extra, _)) => extra,
                None => p.get(end..).unwrap_or(&[]),
            };
            (Some(name), extra)
        }
        Some(rest) if !rest.is_empty() => (None, counted(p, 8).map_or(rest, |(s, _)| s)),
        _ => (None, &[][..]),
    };
    let upload_id = match function {
        Function::UPLOAD | Function::END_UPLOAD => id,
        Function::START_UPLOAD if !job => id,
        _ => None,
    };
    let block_data = match data {
        [_, _, _, _, rest @ ..] => rest,
        _ => &[],
    };
    Some(BlockTransfer {
        function,
        status,
        upload_id,
        filename,
        block: filename.and_then(BlockId::from_filename),
        extra,
        data: block_data,
    })
}

/// Userdata: parameter head (3 bytes), parameter length (4 or 8), method, type/group,
/// subfunction, sequence number, [data unit reference, last data unit, error code]; data:
/// return code, transport size, length, payload.
fn decode_userdata<'a>(p: &'a [u8], data: &'a [u8]) -> Option<Userdata<'a>> {
    let &[_, _, _, plen, method, type_group, subfunction, sequence_number, ref rest @ ..] = p else {
        return None;
    };
    let long = plen >= 8;
    let data_unit_reference = if long { rest.first().copied() } else { None };
    let last_data_unit = if long { rest.get(1).map(|&b| b == 0) } else { None };
    let error_code = if long { be16(rest, 2) } else { None };
    let (return_code, transport_size, payload) = match data {
        [rc, ts, l1, l2, rest @ ..] => {
            let len = usize::from(u16::from_be_bytes([*l1, *l2]));
            (Some(ReturnCode(*rc)), Some(DataTransportSize(*ts)), rest.get(..len).unwrap_or(rest))
        }
        _ => (None, None, &[][..]),
    };
    let kind = UserdataType(type_group >> 4);
    let group = UserdataGroup(type_group & 0x0F);
    let first_unit = data_unit_reference.is_none_or(|r| r == 0);
    let szl = if group == UserdataGroup::CPU_FUNCTIONS
        && subfunction == 1
        && return_code == Some(ReturnCode::SUCCESS)
        && (kind.is_request() || first_unit)
    {
        be16(payload, 0).zip(be16(payload, 2))
    } else {
        None
    };
    Some(Userdata {
        method,
        kind,
        group,
        subfunction,
        sequence_number,
        data_unit_reference,
        last_data_unit,
        error_code,
        return_code,
        transport_size,
        payload,
        szl,
    })
}

#[cfg(test)]
mod failed_item_tests {
    use super::*;

    #[test]
    fn failed_read_item_has_no_value_and_the_next_item_follows() {
        // Item 1: return code 0x0A (object does not exist), transport size 0, length 4 (snap7
        // echoes the request's length), no value. Item 2: success, byte transport (0x04), 16 bits.
        let bytes = [0x0A, 0x00, 0x00, 0x04, 0xFF, 0x04, 0x00, 0x10, 0xBE, 0xEF];
        let items: Vec<DataItem<'_>> = DataItems::new(&bytes, 2).iter().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].return_code, ReturnCode(0x0A));
        assert!(items[0].value.is_empty());
        assert_eq!(items[1].value, &[0xBE, 0xEF]);
    }
}

#[cfg(test)]
mod timer_address_tests {
    use super::*;

    #[test]
    fn timers_and_counters_are_numbered_not_bit_addressed() {
        // Transport size timer (0x1D), 1 element, no DB, area timer (0x1D), element 5.
        let t5 = AnyAddress::parse(&[0x1D, 0x00, 0x01, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x05]).unwrap();
        assert_eq!((t5.byte_address, t5.bit_address), (5, 0));
        // A DB bit address: byte 2, bit 3 is (2 << 3) | 3.
        let db = AnyAddress::parse(&[0x01, 0x00, 0x01, 0x00, 0x01, 0x84, 0x00, 0x00, 0x13]).unwrap();
        assert_eq!((db.byte_address, db.bit_address), (2, 3));
    }
}
