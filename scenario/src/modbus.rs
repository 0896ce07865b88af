//! Modbus/TCP ADU builders: requests, normal responses and exception responses.
//!
//! Layouts follow the MODBUS Application Protocol Specification V1.1b3 (§6.1–§6.12 for the PDUs,
//! §7 for exceptions) and MODBUS Messaging on TCP/IP Implementation Guide V1.0b (§3.1.3, the MBAP
//! header). Builders append to a caller's buffer so a generator can reuse one allocation, and
//! never panic: quantities beyond the spec's limits are clamped, as a correct master would.

/// Most coils or discrete inputs one read may ask for (§6.1, §6.2).
pub const MAX_READ_BITS: u16 = 2000;
/// Most registers one read may ask for (§6.3, §6.4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils one FC 15 request may write (§6.11).
pub const MAX_WRITE_BITS: u16 = 1968;
/// Most registers one FC 16 request may write (§6.12).
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// Modbus function codes (open: any `u8` is a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionCode(pub u8);

impl FunctionCode {
    pub const READ_COILS: FunctionCode = FunctionCode(1);
    pub const READ_DISCRETE_INPUTS: FunctionCode = FunctionCode(2);
    pub const READ_HOLDING_REGISTERS: FunctionCode = FunctionCode(3);
    pub const READ_INPUT_REGISTERS: FunctionCode = FunctionCode(4);
    pub const WRITE_SINGLE_COIL: FunctionCode = FunctionCode(5);
    pub const WRITE_SINGLE_REGISTER: FunctionCode = FunctionCode(6);
    pub const WRITE_MULTIPLE_COILS: FunctionCode = FunctionCode(15);
    pub const WRITE_MULTIPLE_REGISTERS: FunctionCode = FunctionCode(16);
}

/// Exception codes (§7), open like [`FunctionCode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExceptionCode(pub u8);

impl ExceptionCode {
    pub const ILLEGAL_FUNCTION: ExceptionCode = ExceptionCode(1);
    pub const ILLEGAL_DATA_ADDRESS: ExceptionCode = ExceptionCode(2);
    pub const ILLEGAL_DATA_VALUE: ExceptionCode = ExceptionCode(3);
    pub const SERVER_DEVICE_FAILURE: ExceptionCode = ExceptionCode(4);
    pub const SERVER_DEVICE_BUSY: ExceptionCode = ExceptionCode(6);
}

/// One request PDU of the public function codes jobwatch tracks as jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    ReadCoils { address: u16, quantity: u16 },
    ReadDiscreteInputs { address: u16, quantity: u16 },
    ReadHoldingRegisters { address: u16, quantity: u16 },
    ReadInputRegisters { address: u16, quantity: u16 },
    WriteSingleCoil { address: u16, value: bool },
    WriteSingleRegister { address: u16, value: u16 },
    WriteMultipleCoils { address: u16, values: Vec<bool> },
    WriteMultipleRegisters { address: u16, values: Vec<u16> },
}

/// FC 5 encodes ON as 0xFF00 and OFF as 0x0000 (§6.5).
fn coil_word(value: bool) -> u16 {
    if value {
        0xFF00
    } else {
        0x0000
    }
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Packs bits LSB first, the first bit in the low bit of the first byte (§6.1).
fn push_bits(out: &mut Vec<u8>, count: u16, bit: &mut dyn FnMut(u16) -> bool) {
    let mut byte = 0u8;
    for i in 0..count {
        if bit(i) {
            byte |= 1 << (i % 8);
        }
        if i % 8 == 7 {
            out.push(byte);
            byte = 0;
        }
    }
    if count & 7 != 0 {
        out.push(byte);
    }
}

fn byte_count_bits(count: u16) -> u8 {
    // Clamped quantities keep this at most 250.
    u8::try_from(count.div_ceil(8)).unwrap_or(u8::MAX)
}

impl Request {
    pub fn function_code(&self) -> FunctionCode {
        match self {
            Request::ReadCoils { .. } => FunctionCode::READ_COILS,
            Request::ReadDiscreteInputs { .. } => FunctionCode::READ_DISCRETE_INPUTS,
            Request::ReadHoldingRegisters { .. } => FunctionCode::READ_HOLDING_REGISTERS,
            Request::ReadInputRegisters { .. } => FunctionCode::READ_INPUT_REGISTERS,
            Request::WriteSingleCoil { .. } => FunctionCode::WRITE_SINGLE_COIL,
            Request::WriteSingleRegister { .. } => FunctionCode::WRITE_SINGLE_REGISTER,
            Request::WriteMultipleCoils { .. } => FunctionCode::WRITE_MULTIPLE_COILS,
            Request::WriteMultipleRegisters { .. } => FunctionCode::WRITE_MULTIPLE_REGISTERS,
        }
    }

    /// The first address the request touches.
    pub fn address(&self) -> u16 {
        match *self {
            Request::ReadCoils { address, .. }
            | Request::ReadDiscreteInputs { address, .. }
            | Request::ReadHoldingRegisters { address, .. }
            | Request::ReadInputRegisters { address, .. }
            | Request::WriteSingleCoil { address, .. }
            | Request::WriteSingleRegister { address, .. }
            | Request::WriteMultipleCoils { address, .. }
            | Request::WriteMultipleRegisters { address, .. } => address,
        }
    }

    /// How many coils or registers the request touches (after clamping to the spec's limits).
    pub fn quantity(&self) -> u16 {
        match self {
            Request::ReadCoils { quantity, .. } | Request::ReadDiscreteInputs { quantity, .. } => {
                (*quantity).clamp(1, MAX_READ_BITS)
            }
            Request::ReadHoldingRegisters { quantity, .. } | Request::ReadInputRegisters { quantity, .. } => {
                (*quantity).clamp(1, MAX_READ_REGISTERS)
            }
            Request::WriteSingleCoil { .. } | Request::WriteSingleRegister { .. } => 1,
            Request::WriteMultipleCoils { values, .. } => clamp_len(values.len(), MAX_WRITE_BITS),
            Request::WriteMultipleRegisters { values, .. } => clamp_len(values.len(), MAX_WRITE_REGISTERS),
        }
    }

    /// Appends the request PDU (function code and data).
    pub fn write_pdu(&self, out: &mut Vec<u8>) {
        out.push(self.function_code().0);
        push_u16(out, self.address());
        let quantity = self.quantity();
        match self {
            Request::ReadCoils { .. }
            | Request::ReadDiscreteInputs { .. }
            | Request::ReadHoldingRegisters { .. }
            | Request::ReadInputRegisters { .. } => push_u16(out, quantity),
            Request::WriteSingleCoil { value, .. } => push_u16(out, coil_word(*value)),
            Request::WriteSingleRegister { value, .. } => push_u16(out, *value),
            Request::WriteMultipleCoils { values, .. } => {
                push_u16(out, quantity);
                out.push(byte_count_bits(quantity));
                push_bits(out, quantity, &mut |i| values.get(usize::from(i)).copied().unwrap_or(false));
            }
            Request::WriteMultipleRegisters { values, .. } => {
                push_u16(out, quantity);
                out.push(u8::try_from(quantity * 2).unwrap_or(u8::MAX));
                for v in values.iter().take(usize::from(quantity)) {
                    push_u16(out, *v);
                }
            }
        }
    }

    /// Appends the normal response PDU. Reads take their data from `value(offset)` (the low bit
    /// for coils and inputs); writes echo the request as §6.5, §6.6, §6.11 and §6.12 say.
    pub fn write_response_pdu(&self, value: &mut dyn FnMut(u16) -> u16, out: &mut Vec<u8>) {
        let fc = self.function_code();
        let quantity = self.quantity();
        out.push(fc.0);
        match self {
            Request::ReadCoils { .. } | Request::ReadDiscreteInputs { .. } => {
                out.push(byte_count_bits(quantity));
                push_bits(out, quantity, &mut |i| value(i) & 1 == 1);
            }
            Request::ReadHoldingRegisters { .. } | Request::ReadInputRegisters { .. } => {
                out.push(u8::try_from(quantity * 2).unwrap_or(u8::MAX));
                for i in 0..quantity {
                    push_u16(out, value(i));
                }
            }
            Request::WriteSingleCoil { address, value } => {
                push_u16(out, *address);
                push_u16(out, coil_word(*value));
            }
            Request::WriteSingleRegister { address, value } => {
                push_u16(out, *address);
                push_u16(out, *value);
            }
            Request::WriteMultipleCoils { address, .. } | Request::WriteMultipleRegisters { address, .. } => {
                push_u16(out, *address);
                push_u16(out, quantity);
            }
        }
    }
}

fn clamp_len(len: usize, max: u16) -> u16 {
    u16::try_from(len).unwrap_or(max).clamp(1, max)
}

/// Appends an exception response PDU: the function code with its high bit set, then the code.
pub fn write_exception_pdu(function: FunctionCode, code: ExceptionCode, out: &mut Vec<u8>) {
    out.push(function.0 | 0x80);
    out.push(code.0);
}

/// Length of the MBAP header (§3.1.3 of the TCP/IP guide).
pub const MBAP_LEN: usize = 7;

/// Appends an MBAP header for a PDU of `pdu_len` bytes; the PDU follows it.
pub fn write_mbap(transaction_id: u16, unit_id: u8, pdu_len: usize, out: &mut Vec<u8>) {
    push_u16(out, transaction_id);
    push_u16(out, 0); // protocol identifier: Modbus
    push_u16(out, u16::try_from(pdu_len + 1).unwrap_or(u16::MAX));
    out.push(unit_id);
}

/// Appends a whole ADU: MBAP header, then whatever `pdu` appends.
pub fn write_adu(transaction_id: u16, unit_id: u8, out: &mut Vec<u8>, pdu: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    write_mbap(transaction_id, unit_id, 0, out);
    pdu(out);
    let len = u16::try_from(out.len() - start - MBAP_LEN + 1).unwrap_or(u16::MAX);
    if let Some(field) = out.get_mut(start + 4..start + 6) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}

/// A master's transaction identifiers: 1, 2, 3, … wrapping to 0 after 65535.
#[derive(Clone, Debug, Default)]
pub struct TransactionIds {
    last: u16,
}

impl TransactionIds {
    /// Starts so that the first identifier handed out is `first`.
    pub fn starting_at(first: u16) -> TransactionIds {
        TransactionIds { last: first.wrapping_sub(1) }
    }

    pub fn next_id(&mut self) -> u16 {
        self.last = self.last.wrapping_add(1);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adu(tid: u16, unit: u8, pdu: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        write_adu(tid, unit, &mut out, pdu);
        out
    }

    #[test]
    fn read_holding_registers() {
        // Spec §6.3 example: read registers 108–110 (address 0x006B, quantity 3).
        let request = Request::ReadHoldingRegisters { address: 0x006B, quantity: 3 };
        let bytes = adu(0x0001, 0x11, |o| request.write_pdu(o));
        #[rustfmt::skip]
        assert_eq!(bytes, [
            0x00, 0x01,             // transaction id
            0x00, 0x00,             // protocol id
            0x00, 0x06,             // length: unit + 5 PDU bytes
            0x11,                   // unit id
            0x03,                   // FC 3
            0x00, 0x6B, 0x00, 0x03, // address, quantity
        ]);
        let values = [0x022B, 0x0000, 0x0064];
        let bytes = adu(0x0001, 0x11, |o| request.write_response_pdu(&mut |i| values[usize::from(i)], o));
        #[rustfmt::skip]
        assert_eq!(bytes, [
            0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x11,
            0x03, 0x06,             // FC 3, byte count
            0x02, 0x2B, 0x00, 0x00, 0x00, 0x64,
        ]);
    }

    #[test]
    fn read_coils_packs_lsb_first() {
        // Spec §6.1 example: coils 20–38, status CD 6B 05.
        let request = Request::ReadCoils { address: 0x0013, quantity: 0x13 };
        let status: u32 = 0x05_6B_CD;
        let mut pdu = Vec::new();
        request.write_response_pdu(&mut |i| ((status >> i) & 1) as u16, &mut pdu);
        assert_eq!(pdu, [0x01, 0x03, 0xCD, 0x6B, 0x05]);
    }

    #[test]
    fn writes() {
        let mut pdu = Vec::new();
        Request::WriteSingleCoil { address: 0x00AC, value: true }.write_pdu(&mut pdu);
        assert_eq!(pdu, [0x05, 0x00, 0xAC, 0xFF, 0x00]);
        pdu.clear();
        // Spec §6.11 example: 10 coils from 20, CD 01.
        let bits = [true, false, true, true, false, false, true, true, true, false];
        Request::WriteMultipleCoils { address: 0x0013, values: bits.to_vec() }.write_pdu(&mut pdu);
        assert_eq!(pdu, [0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01]);
        pdu.clear();
        let request = Request::WriteMultipleRegisters { address: 1, values: vec![0x000A, 0x0102] };
        request.write_pdu(&mut pdu);
        assert_eq!(pdu, [0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02]);
        pdu.clear();
        request.write_response_pdu(&mut |_| 0, &mut pdu);
        assert_eq!(pdu, [0x10, 0x00, 0x01, 0x00, 0x02]);
        pdu.clear();
        Request::WriteSingleRegister { address: 1, value: 3 }.write_response_pdu(&mut |_| 0, &mut pdu);
        assert_eq!(pdu, [0x06, 0x00, 0x01, 0x00, 0x03]);
    }

    #[test]
    fn exception() {
        let bytes = adu(7, 1, |o| write_exception_pdu(FunctionCode(3), ExceptionCode::ILLEGAL_DATA_ADDRESS, o));
        assert_eq!(bytes, [0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x01, 0x83, 0x02]);
    }

    #[test]
    fn quantities_are_clamped() {
        let request = Request::ReadInputRegisters { address: 0, quantity: 1000 };
        assert_eq!(request.quantity(), MAX_READ_REGISTERS);
        let mut pdu = Vec::new();
        request.write_response_pdu(&mut |_| 0, &mut pdu);
        assert_eq!(pdu.len(), 2 + 250);
    }

    #[test]
    fn transaction_ids_wrap() {
        let mut ids = TransactionIds::starting_at(65535);
        assert_eq!(ids.next_id(), 65535);
        assert_eq!(ids.next_id(), 0);
        assert_eq!(TransactionIds::default().next_id(), 1);
    }
}
