//! S7comm frame builders over ISO-on-TCP: TPKT (RFC 1006 §6), COTP connection request and
//! confirm with TSAPs and data TPDUs (ISO 8073 / X.224 §13.3, §13.4, §13.7), and the S7comm PDUs
//! a HMI and an engineering station send: setup communication, read and write var with S7ANY
//! items, PLC stop, and the program download sequence (request download, download block,
//! download ended, PI service `_INSE`).
//!
//! S7comm is not publicly specified; field layouts follow Wireshark's `packet-s7comm.c` and were
//! checked byte for byte against the captures in `../shared/pcaps/s7comm` (see the tests).
//! Builders append to a caller's buffer and never panic.

/// TPKT header plus the COTP data TPDU header (`02 f0 80`: length 2, DT, EOT).
pub const TPKT_COTP_DT_LEN: usize = 7;

/// S7comm PDU types (ROSCTR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rosctr(pub u8);

impl Rosctr {
    pub const JOB: Rosctr = Rosctr(1);
    pub const ACK_DATA: Rosctr = Rosctr(3);
}

/// Job functions (open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Function(pub u8);

impl Function {
    pub const READ_VAR: Function = Function(0x04);
    pub const WRITE_VAR: Function = Function(0x05);
    pub const REQUEST_DOWNLOAD: Function = Function(0x1A);
    pub const DOWNLOAD_BLOCK: Function = Function(0x1B);
    pub const DOWNLOAD_ENDED: Function = Function(0x1C);
    pub const PLC_CONTROL: Function = Function(0x28);
    pub const PLC_STOP: Function = Function(0x29);
    pub const SETUP_COMMUNICATION: Function = Function(0xF0);
}

/// Memory areas of an S7ANY item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Area(pub u8);

impl Area {
    pub const INPUTS: Area = Area(0x81);
    pub const OUTPUTS: Area = Area(0x82);
    pub const FLAGS: Area = Area(0x83);
    pub const DB: Area = Area(0x84);
}

/// One S7ANY variable: `length` bytes from byte `address` of `area` (DB number `db` for DBs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    pub area: Area,
    pub db: u16,
    pub address: u32,
    pub length: u16,
}

/// Transport size BYTE in a request item; data items use 0x04 (BYTE/WORD/DWORD, length in bits).
const TS_BYTE: u8 = 0x02;
const DATA_TS_BYTES: u8 = 0x04;
/// Item return code "success".
pub const RETURN_SUCCESS: u8 = 0xFF;

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

impl Item {
    /// The 12-byte S7ANY request item.
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x12, 0x0A, 0x10, TS_BYTE]);
        push_u16(out, self.length);
        push_u16(out, if self.area == Area::DB { self.db } else { 0 });
        out.push(self.area.0);
        let bits = (self.address & 0x1F_FFFF) << 3;
        out.extend_from_slice(&bits.to_be_bytes()[1..]);
    }
}

/// An S7comm PDU (header, parameters, data) as the builders below produce it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pdu {
    pub params: Vec<u8>,
    pub data: Vec<u8>,
}

/// Appends TPKT, COTP DT and the S7 header around `pdu`. `error` is the ack_data header's
/// error class and code (ack_data always carries them; jobs never do).
pub fn write_pdu(rosctr: Rosctr, pdu_ref: u16, error: Option<(u8, u8)>, pdu: &Pdu, out: &mut Vec<u8>) {
    let header_len = if rosctr == Rosctr::ACK_DATA { 12 } else { 10 };
    let total = TPKT_COTP_DT_LEN + header_len + pdu.params.len() + pdu.data.len();
    out.extend_from_slice(&[0x03, 0x00]);
    push_u16(out, u16::try_from(total).unwrap_or(u16::MAX));
    out.extend_from_slice(&[0x02, 0xF0, 0x80, 0x32, rosctr.0, 0x00, 0x00]);
    push_u16(out, pdu_ref);
    push_u16(out, u16::try_from(pdu.params.len()).unwrap_or(u16::MAX));
    push_u16(out, u16::try_from(pdu.data.len()).unwrap_or(u16::MAX));
    if rosctr == Rosctr::ACK_DATA {
        let (class, code) = error.unwrap_or((0, 0));
        out.extend_from_slice(&[class, code]);
    }
    out.extend_from_slice(&pdu.params);
    out.extend_from_slice(&pdu.data);
}

/// Appends a COTP connection request (TPKT-framed) from TSAP `src_tsap` to `dst_tsap`
/// (e.g. 0x0102: PG connection to rack 0, slot 2), TPDU size 1024.
pub fn write_cotp_cr(src_ref: u16, src_tsap: u16, dst_tsap: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x03, 0x00, 0x00, 0x16, 0x11, 0xE0, 0x00, 0x00]);
    push_u16(out, src_ref);
    out.extend_from_slice(&[0x00, 0xC1, 0x02]);
    push_u16(out, src_tsap);
    out.extend_from_slice(&[0xC2, 0x02]);
    push_u16(out, dst_tsap);
    out.extend_from_slice(&[0xC0, 0x01, 0x0A]);
}

/// Appends the COTP connection confirm answering [`write_cotp_cr`].
pub fn write_cotp_cc(dst_ref: u16, src_ref: u16, src_tsap: u16, dst_tsap: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x03, 0x00, 0x00, 0x16, 0x11, 0xD0]);
    push_u16(out, dst_ref);
    push_u16(out, src_ref);
    out.extend_from_slice(&[0x00, 0xC0, 0x01, 0x0A, 0xC1, 0x02]);
    push_u16(out, src_tsap);
    out.extend_from_slice(&[0xC2, 0x02]);
    push_u16(out, dst_tsap);
}

/// The TSAP of a PG connection to `rack`/`slot` (connection type 1, rack × 32 + slot).
pub fn tsap(connection_type: u8, rack: u8, slot: u8) -> u16 {
    u16::from_be_bytes([connection_type, (rack & 0x07) << 5 | (slot & 0x1F)])
}

/// Setup communication job: one parallel job each way, PDU size `pdu_size`.
pub fn setup_communication(pdu_size: u16) -> Pdu {
    let mut params = vec![Function::SETUP_COMMUNICATION.0, 0x00, 0x00, 0x01, 0x00, 0x01];
    push_u16(&mut params, pdu_size);
    Pdu { params, data: Vec::new() }
}

/// Read var job for `items`.
pub fn read_var(items: &[Item]) -> Pdu {
    let mut params = vec![Function::READ_VAR.0, items.len().min(20) as u8];
    for item in items.iter().take(20) {
        item.write(&mut params);
    }
    Pdu { params, data: Vec::new() }
}

/// Appends data items (return code or reserved byte, transport size, bit length, bytes), each
/// but the last padded to an even length, as read var responses and write var requests carry.
fn push_data_items(first: u8, items: &[Item], value: &mut dyn FnMut(usize, u16) -> u8, out: &mut Vec<u8>) {
    let n = items.len().min(20);
    for (i, item) in items.iter().take(n).enumerate() {
        out.extend_from_slice(&[first, DATA_TS_BYTES]);
        push_u16(out, item.length.saturating_mul(8));
        out.extend((0..item.length).map(|b| value(i, b)));
        if item.length % 2 == 1 && i + 1 < n {
            out.push(0);
        }
    }
}

/// Read var ack_data: every item successful, byte `b` of item `i` being `value(i, b)`.
pub fn read_var_response(items: &[Item], value: &mut dyn FnMut(usize, u16) -> u8) -> Pdu {
    let params = vec![Function::READ_VAR.0, items.len().min(20) as u8];
    let mut data = Vec::new();
    push_data_items(RETURN_SUCCESS, items, value, &mut data);
    Pdu { params, data }
}

/// Write var job: `items` with byte `b` of item `i` being `value(i, b)`.
pub fn write_var(items: &[Item], value: &mut dyn FnMut(usize, u16) -> u8) -> Pdu {
    let mut params = vec![Function::WRITE_VAR.0, items.len().min(20) as u8];
    for item in items.iter().take(20) {
        item.write(&mut params);
    }
    let mut data = Vec::new();
    push_data_items(0x00, items, value, &mut data);
    Pdu { params, data }
}

/// Write var ack_data: one success return code per item.
pub fn write_var_response(items: usize) -> Pdu {
    let n = items.min(20);
    Pdu { params: vec![Function::WRITE_VAR.0, n as u8], data: vec![RETURN_SUCCESS; n] }
}

/// The ack_data parameters of a job that needs no more than its function code echoed.
pub fn ack_params(function: Function) -> Pdu {
    Pdu { params: vec![function.0], data: Vec::new() }
}

/// PLC stop job (PI service `P_PROGRAM`).
pub fn plc_stop() -> Pdu {
    let mut params = vec![Function::PLC_STOP.0, 0, 0, 0, 0, 0, 9];
    params.extend_from_slice(b"P_PROGRAM");
    Pdu { params, data: Vec::new() }
}

/// Block types as the file names of the download services spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockType {
    Ob,
    Db,
    Fc,
    Fb,
}

impl BlockType {
    fn code(self) -> &'static str {
        match self {
            BlockType::Ob => "08",
            BlockType::Db => "0A",
            BlockType::Fc => "0C",
            BlockType::Fb => "0E",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BlockType::Ob => "OB",
            BlockType::Db => "DB",
            BlockType::Fc => "FC",
            BlockType::Fb => "FB",
        }
    }
}

/// A block: its type and number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub kind: BlockType,
    pub number: u16,
}

impl Block {
    /// "0A00001" for DB1: type code and five-digit number.
    fn id(self) -> String {
        format!("{}{:05}", self.kind.code(), self.number)
    }

    /// "_0A00001P": the file name of the download services (P: passive file system).
    fn file_name(self) -> String {
        format!("_{}P", self.id())
    }
}

/// Request download job from the engineering station, announcing the load memory and MC7 lengths.
pub fn request_download(block: Block, load_len: u32, mc7_len: u32) -> Pdu {
    let mut params = vec![Function::REQUEST_DOWNLOAD.0, 0x00, 0x01, 0x00, 0, 0, 0, 0];
    let name = block.file_name();
    params.push(name.len() as u8);
    params.extend_from_slice(name.as_bytes());
    let lengths = format!("1{:06}{:06}", load_len % 1_000_000, mc7_len % 1_000_000);
    params.push(lengths.len() as u8);
    params.extend_from_slice(lengths.as_bytes());
    Pdu { params, data: Vec::new() }
}

/// Download block job, sent by the PLC to fetch the next part of the block.
pub fn download_block(block: Block) -> Pdu {
    download_service(Function::DOWNLOAD_BLOCK, block)
}

/// Download ended job, sent by the PLC when it has the whole block.
pub fn download_ended(block: Block) -> Pdu {
    download_service(Function::DOWNLOAD_ENDED, block)
}

fn download_service(function: Function, block: Block) -> Pdu {
    let mut params = vec![function.0, 0x00, 0, 0, 0, 0, 0, 0];
    let name = block.file_name();
    params.push(name.len() as u8);
    params.extend_from_slice(name.as_bytes());
    Pdu { params, data: Vec::new() }
}

/// Download block ack_data from the engineering station: one part of the block's bytes;
/// `more` says whether further parts follow.
pub fn download_block_response(part: &[u8], more: bool) -> Pdu {
    let part = &part[..part.len().min(400)];
    let params = vec![Function::DOWNLOAD_BLOCK.0, u8::from(more)];
    let mut data = Vec::with_capacity(part.len() + 4);
    push_u16(&mut data, part.len() as u16);
    data.extend_from_slice(&[0x00, 0xFB]);
    data.extend_from_slice(part);
    Pdu { params, data }
}

/// PI service `_INSE` (insert, i.e. activate, the downloaded block).
pub fn pi_insert(block: Block) -> Pdu {
    let mut params = vec![Function::PLC_CONTROL.0, 0, 0, 0, 0, 0, 0, 0xFD];
    let mut arg = vec![0x01, 0x00];
    arg.extend_from_slice(block.id().as_bytes());
    arg.push(b'P');
    push_u16(&mut params, arg.len() as u16);
    params.extend_from_slice(&arg);
    params.push(5);
    params.extend_from_slice(b"_INSE");
    Pdu { params, data: Vec::new() }
}

/// Length of the TPKT packet that starts `bytes`; `None` with fewer than four bytes.
pub fn tpkt_len(bytes: &[u8]) -> Option<usize> {
    let hi = *bytes.get(2)?;
    let lo = *bytes.get(3)?;
    Some(usize::from(u16::from_be_bytes([hi, lo])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn frame(rosctr: Rosctr, pdu_ref: u16, pdu: &Pdu) -> Vec<u8> {
        let mut out = Vec::new();
        write_pdu(rosctr, pdu_ref, None, pdu, &mut out);
        assert_eq!(tpkt_len(&out), Some(out.len()));
        out
    }

    #[test]
    fn cotp_connect() {
        // s7comm_downloading_block_db1.pcap frames 5 and 6.
        let mut out = Vec::new();
        write_cotp_cr(0x0007, 0x0100, tsap(1, 0, 2), &mut out);
        assert_eq!(out, hex("0300001611e00000000700c1020100c2020102c0010a"));
        out.clear();
        write_cotp_cc(0x0007, 0x0003, 0x0100, 0x0102, &mut out);
        assert_eq!(out, hex("0300001611d00007000300c0010ac1020100c2020102"));
    }

    #[test]
    fn setup_communication_job_and_ack() {
        // snap7_s300_everything.pcapng frames 1 and 2 (PDU size 480 asked, 240 granted).
        #[rustfmt::skip]
        assert_eq!(frame(Rosctr::JOB, 0, &setup_communication(480)), hex(concat!(
            "03000019", "02f080",                     // TPKT length 25, COTP DT EOT
            "32", "01", "0000", "0000", "0008", "0000", // S7, job, redundancy, pdu ref, param and data lengths
            "f000", "0001", "0001", "01e0",           // setup communication: AmQ 1/1, PDU 480
        )));
        assert_eq!(
            frame(Rosctr::ACK_DATA, 0, &setup_communication(240)),
            hex("0300001b02f080320300000000000800000000f0000001000100f0")
        );
    }

    #[test]
    fn read_var_request() {
        // snap7_s300_readVar.pcapng: 64 bytes of DB1 from byte 0.
        let item = Item { area: Area::DB, db: 1, address: 0, length: 64 };
        assert_eq!(
            frame(Rosctr::JOB, 0, &read_var(&[item])),
            hex("0300001f02f080320100000000000e00000401120a10020040000184000000")
        );
        let m = Item { area: Area::FLAGS, db: 7, address: 100, length: 2 };
        let mut params = Vec::new();
        m.write(&mut params);
        // The DB number is 0 outside DBs; byte 100 is bit address 800 (0x000320).
        assert_eq!(params, hex("120a10020002000083000320"));
    }

    #[test]
    fn read_var_ack_pads_odd_items() {
        let items = [
            Item { area: Area::DB, db: 10, address: 0, length: 3 },
            Item { area: Area::DB, db: 10, address: 10, length: 2 },
        ];
        let pdu = read_var_response(&items, &mut |i, b| (i * 16) as u8 + b as u8);
        assert_eq!(pdu.params, [0x04, 0x02]);
        #[rustfmt::skip]
        assert_eq!(pdu.data, [
            0xff, 0x04, 0x00, 0x18, 0x00, 0x01, 0x02, 0x00, // success, bytes, 24 bits, data, fill
            0xff, 0x04, 0x00, 0x10, 0x10, 0x11,             // last item: no fill
        ]);
        let write = write_var(&items[1..], &mut |_, b| b as u8 + 7);
        assert_eq!(write.params, hex("0501120a10020002000a84000050"));
        assert_eq!(write.data, [0x00, 0x04, 0x00, 0x10, 0x07, 0x08]);
        assert_eq!(write_var_response(1), Pdu { params: vec![5, 1], data: vec![0xff] });
    }

    #[test]
    fn plc_stop_job_and_ack() {
        // snap7_s300_stop.pcapng frames 1 and 2.
        assert_eq!(
            frame(Rosctr::JOB, 0x0200, &plc_stop()),
            hex("0300002102f0803201000002000010000029000000000009505f50524f4752414d")
        );
        assert_eq!(
            frame(Rosctr::ACK_DATA, 0x0200, &ack_params(Function::PLC_STOP)),
            hex("0300001402f08032030000020000010000000029")
        );
    }

    #[test]
    fn download_sequence() {
        // s7comm_downloading_block_db1.pcap frames 43, 44, 46, 55, 57, 58, 59.
        let db1 = Block { kind: BlockType::Db, number: 1 };
        assert_eq!(
            frame(Rosctr::JOB, 0x0e00, &request_download(db1, 500, 400)),
            hex("0300003102f080320100000e00002000001a00010000000000095f30413030303031500d31303030353030303030343030")
        );
        assert_eq!(
            frame(Rosctr::ACK_DATA, 0x0e00, &ack_params(Function::REQUEST_DOWNLOAD)),
            hex("0300001402f080320300000e000001000000001a")
        );
        assert_eq!(
            frame(Rosctr::JOB, 0x0100, &download_block(db1)),
            hex("0300002302f080320100000100001200001b00000000000000095f3041303030303150")
        );
        assert_eq!(
            frame(Rosctr::JOB, 0x0700, &download_ended(db1)),
            hex("0300002302f080320100000700001200001c00000000000000095f3041303030303150")
        );
        assert_eq!(
            frame(Rosctr::ACK_DATA, 0x0700, &ack_params(Function::DOWNLOAD_ENDED)),
            hex("0300001402f0803203000007000001000000001c")
        );
        assert_eq!(
            frame(Rosctr::JOB, 0x0f00, &pi_insert(db1)),
            hex("0300002b02f080320100000f00001a000028000000000000fd000a01003041303030303150055f494e5345")
        );
        assert_eq!(
            frame(Rosctr::ACK_DATA, 0x0f00, &ack_params(Function::PLC_CONTROL)),
            hex("0300001402f080320300000f0000010000000028")
        );
        // Frame 54's part: the last one (status 0), 0x38 bytes.
        let part = download_block_response(&[0u8; 0x38], false);
        assert_eq!(part.params, [0x1b, 0x00]);
        assert_eq!(part.data[..4], [0x00, 0x38, 0x00, 0xfb]);
    }

    #[test]
    fn error_in_ack_header() {
        let mut out = Vec::new();
        write_pdu(Rosctr::ACK_DATA, 9, Some((0x81, 0x04)), &Pdu::default(), &mut out);
        // Header: ack_data, pdu ref 9, no parameters or data, error class 0x81 code 0x04.
        assert_eq!(out, hex("0300001302f080320300000009000000008104"));
    }
}
