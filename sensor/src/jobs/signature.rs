//! Job signatures: what makes two transactions the same recurring operation.
//!
//! A job is (master, outstation, protocol, outstation port, *what is done*). Each protocol says
//! what "what is done" is; the engine only hashes and compares [`SigKey`]s:
//!
//! - Modbus: unit, function (and diagnostic or UMAS sub-function), the address range read and
//!   the one written (FC23 has both).
//! - DNP3: outstation and master link addresses, function, the set of object headers (group,
//!   variation, qualifier, range); for commands also the point indices operated or written, so
//!   that "operate breaker 0" and "operate breaker 7" are different jobs. A class 1/2/3 read is
//!   an *event poll*, with class 0 an *integrity poll*.
//! - S7comm: rack and slot, the job function and the items (area, DB, byte, bit, length); for
//!   userdata the function group, subfunction and SZL id/index; for PLC control the PI service
//!   and blocks; for up/download the block.
//!
//! The hot path builds only a fixed-size [`SigKey`] (lists are folded into two independent
//! 64-bit hashes, so a collision would need both to collide). The text forms — the stable
//! machine key written to the baseline and the sentence shown to engineers — are built once per
//! job, when it is first seen.

use crate::transaction::{Dnp3Detail, ModbusDetail, ProtocolDetail, S7Detail, S7Item, Transaction};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

/// What one transaction did, as a fixed-size hashable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SigKey {
    /// The function (low 16 bits) and, above it, the unit: unit id (Modbus), link addresses
    /// (DNP3), rack and slot (S7). One word, so that the key is written and read whole words
    /// at a time (a 16-bit and a 32-bit field written apart and then copied as one word stall
    /// the copy until both writes land).
    pub op: u64,
    pub a: u64,
    pub b: u64,
}

impl SigKey {
    /// The key of `function` on `unit`, with the two words `a` and `b` of what it names.
    pub fn new(function: u16, unit: u32, a: u64, b: u64) -> SigKey {
        SigKey { op: u64::from(unit) << 16 | u64::from(function), a, b }
    }
}

/// The full identity of a job.
///
/// Looked up once per transaction, so equality and hashing are written for speed: the fields
/// most likely to differ are compared first, the protocol name by address before content, and
/// the hash takes whole words (addresses as 128-bit values) rather than byte slices.
#[derive(Clone, Copy, Debug, Eq)]
pub struct JobKey {
    pub app_proto: &'static str,
    pub master: IpAddr,
    pub outstation: IpAddr,
    pub port: u16,
    pub sig: SigKey,
}

impl PartialEq for JobKey {
    fn eq(&self, other: &JobKey) -> bool {
        self.sig == other.sig
            && self.port == other.port
            && self.master == other.master
            && self.outstation == other.outstation
            && same_name(self.app_proto, other.app_proto)
    }
}

impl Hash for JobKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal keys hash equally: equal names have equal lengths, equal addresses equal bits.
        // The fields are folded into two words first (the hasher mixes them; equality, not
        // the hash, tells keys apart).
        let what = self.sig.a ^ self.sig.b.rotate_left(32) ^ self.sig.op;
        let who = ip_word(self.master).rotate_left(17)
            ^ ip_word(self.outstation)
            ^ (self.app_proto.len() as u64) << 56
            ^ u64::from(self.port) << 40;
        state.write_u64(what);
        state.write_u64(who);
    }
}

/// An address as one integer, IPv4 in its IPv4-mapped IPv6 form: compared and hashed as
/// whole words. (The two forms of one IPv4 address are equal here, so it is used only where
/// both ends of a comparison are of one family, or as a hash input.)
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An address folded into one word (a hash input only: equal addresses give equal words).
fn ip_word(ip: IpAddr) -> u64 {
    let bits = ip_bits(ip);
    (bits >> 64) as u64 ^ bits as u64
}

/// String equality by address first, then inline (protocol names are a few bytes: cheaper
/// than a call to `memcmp`).
fn same_name(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || (a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y))
}

/// The master–outstation pair of a job (a *talker*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey {
    pub app_proto: &'static str,
    pub master: IpAddr,
    pub outstation: IpAddr,
    pub port: u16,
}

impl SigKey {
    /// What `t` did; `None` for exchanges that are not operations of a master (DNP3
    /// unsolicited responses).
    #[inline]
    pub fn of(t: &Transaction) -> Option<SigKey> {
        if t.status == crate::transaction::Status::Unsolicited {
            return None;
        }
        Some(match &t.detail {
            ProtocolDetail::Modbus(m) => modbus_key(t.function_code, m),
            ProtocolDetail::Dnp3(d) => dnp3_key(t, d),
            ProtocolDetail::S7comm(s) => s7_key(t.function_code, s),
            ProtocolDetail::S7commPlus(_) => SigKey::new(t.function_code, 0, 0, 0),
        })
    }
}

impl JobKey {
    /// The job a transaction belongs to; `None` for exchanges that are not operations of a
    /// master (DNP3 unsolicited responses).
    #[inline]
    pub fn of(t: &Transaction) -> Option<JobKey> {
        SigKey::of(t).map(|sig| JobKey::with_sig(t, sig))
    }

    /// The job of `t`, whose signature is `sig`.
    #[inline]
    pub fn with_sig(t: &Transaction, sig: SigKey) -> JobKey {
        JobKey {
            app_proto: t.app_proto,
            master: t.flow.client.ip,
            outstation: t.flow.server.ip,
            port: t.flow.server.port,
            sig,
        }
    }

    pub fn pair(&self) -> PairKey {
        PairKey { app_proto: self.app_proto, master: self.master, outstation: self.outstation, port: self.port }
    }
}

/// Two independent hashes of a list, with fixed seeds so that keys are stable within a run.
struct ListHash {
    h1: foldhash::quality::FoldHasher,
    h2: std::hash::DefaultHasher,
}

impl ListHash {
    fn new() -> ListHash {
        ListHash {
            h1: foldhash::quality::FixedState::with_seed(0x6a6f_6277_6174_6368).build_hasher(),
            h2: std::hash::DefaultHasher::new(),
        }
    }
    fn add(&mut self, v: impl Hash) {
        v.hash(&mut self.h1);
        v.hash(&mut self.h2);
    }
    fn finish(self) -> (u64, u64) {
        (self.h1.finish(), self.h2.finish())
    }
}

#[inline]
fn modbus_key(function_code: u16, m: &ModbusDetail) -> SigKey {
    let range = |addr: Option<u16>, qty: Option<u16>| -> u64 {
        match addr {
            Some(a) => (1 << 32) | u64::from(a) << 16 | u64::from(qty.unwrap_or(0)),
            None => 0,
        }
    };
    let sub = m.sub_function.map_or(0, |s| (1 << 16) | u64::from(s));
    SigKey::new(
        function_code,
        u32::from(m.unit_id),
        range(m.address, m.quantity) | sub << 33,
        range(m.write_address, m.write_quantity),
    )
}

fn is_command(t: &Transaction) -> bool {
    t.category != dissectors::Category::Read
}

fn dnp3_key(t: &Transaction, d: &Dnp3Detail) -> SigKey {
    let mut h = ListHash::new();
    for o in &d.objects {
        h.add((o.group, o.variation, o.qualifier, o.start, o.stop));
        if o.start.is_none() {
            h.add(o.count);
        }
    }
    if is_command(t) {
        for (group, index) in command_points(d) {
            h.add((group, index));
        }
    }
    let (a, b) = h.finish();
    SigKey::new(t.function_code, u32::from(d.destination) << 16 | u32::from(d.source), a, b)
}

/// The points a command operates or writes, each once, in order: the response echoes the
/// request's objects, and only the request says what was commanded.
fn command_points(d: &Dnp3Detail) -> Vec<(u8, u32)> {
    let mut points: Vec<(u8, u32)> = Vec::new();
    for p in &d.points {
        if !points.contains(&(p.group, p.index)) {
            points.push((p.group, p.index));
        }
    }
    points
}

fn s7_key(function_code: u16, s: &S7Detail) -> SigKey {
    let mut h = ListHash::new();
    for i in &s.items {
        h.add((i.syntax_id, i.area, i.db, i.address, i.bit, i.transport_size, i.length));
    }
    h.add((s.userdata_group, s.userdata_subfunction, s.szl_id, s.szl_index));
    h.add((&s.pi_service, &s.blocks, &s.block));
    let (a, b) = h.finish();
    let unit = match (s.rack, s.slot) {
        (Some(r), Some(sl)) => u32::from(r) << 8 | u32::from(sl),
        _ => 0xFFFF_FFFF,
    };
    SigKey::new(function_code, unit, a, b)
}

/// The text forms of a job: its stable machine key (what the baseline matches on) and the
/// sentence fragment engineers read ("unit 1 FC3 read holding registers 0–9").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Describe {
    pub key: String,
    pub signature: String,
}

/// Builds the text forms of the job of `t`.
pub fn describe(t: &Transaction) -> Describe {
    match &t.detail {
        ProtocolDetail::Modbus(m) => describe_modbus(t, m),
        ProtocolDetail::Dnp3(d) => describe_dnp3(t, d),
        ProtocolDetail::S7comm(s) => describe_s7(t, s),
        ProtocolDetail::S7commPlus(_) => Describe {
            key: format!("s7comm_plus fc=0x{:04x}", t.function_code),
            signature: format!("S7comm-plus {}", human(t.function)),
        },
    }
}

/// `read_holding_registers` → `read holding registers`.
fn human(name: &str) -> String {
    name.replace('_', " ")
}

/// `0–9`, or `7` for a single element.
fn span(first: u32, count: u32) -> String {
    if count <= 1 {
        first.to_string()
    } else {
        format!("{first}–{}", first.saturating_add(count - 1))
    }
}

fn describe_modbus(t: &Transaction, m: &ModbusDetail) -> Describe {
    let mut key = format!("modbus unit={} fc={}", m.unit_id, t.function_code);
    let mut signature = format!("unit {} FC{} {}", m.unit_id, t.function_code, human(t.function));
    if let Some(s) = m.sub_function {
        let _ = write!(key, " sub={s}");
    }
    if let Some(a) = m.address {
        let q = m.quantity.unwrap_or(1);
        let _ = write!(key, " addr={a} qty={}", m.quantity.unwrap_or(0));
        let _ = write!(signature, " {}", span(u32::from(a), u32::from(q)));
    }
    if let Some(a) = m.write_address {
        let q = m.write_quantity.unwrap_or(1);
        let _ = write!(key, " waddr={a} wqty={}", m.write_quantity.unwrap_or(0));
        let _ = write!(signature, ", writing {}", span(u32::from(a), u32::from(q)));
    }
    Describe { key, signature }
}

/// Class 1/2/3 (and 0) reads are the polls SCADA masters run; name them as engineers do.
fn dnp3_poll_kind(t: &Transaction, d: &Dnp3Detail) -> Option<&'static str> {
    if t.function_code != 1 || d.objects.is_empty() {
        return None;
    }
    let mut classes = [false; 4];
    for o in &d.objects {
        if o.group != 60 || !(1..=4).contains(&o.variation) {
            return None;
        }
        classes[usize::from(o.variation - 1)] = true;
    }
    Some(match classes {
        [true, true, true, true] => "integrity poll (read class 0/1/2/3)",
        [true, false, false, false] => "static data poll (read class 0)",
        [false, true, true, true] => "event poll (read class 1/2/3)",
        [true, c1, c2, c3] => match (c1, c2, c3) {
            (true, true, false) => "integrity poll (read class 0/1/2)",
            (true, false, true) => "integrity poll (read class 0/1/3)",
            (false, true, true) => "integrity poll (read class 0/2/3)",
            (true, false, false) => "integrity poll (read class 0/1)",
            (false, true, false) => "integrity poll (read class 0/2)",
            _ => "integrity poll (read class 0/3)",
        },
        [false, c1, c2, c3] => match (c1, c2, c3) {
            (true, true, false) => "event poll (read class 1/2)",
            (true, false, true) => "event poll (read class 1/3)",
            (false, true, true) => "event poll (read class 2/3)",
            (true, false, false) => "event poll (read class 1)",
            (false, true, false) => "event poll (read class 2)",
            _ => "event poll (read class 3)",
        },
    })
}

fn describe_dnp3(t: &Transaction, d: &Dnp3Detail) -> Describe {
    let mut key = format!("dnp3 dst={} src={} fc={}", d.destination, d.source, t.function_code);
    let mut objects = String::new();
    for (i, o) in d.objects.iter().enumerate() {
        if i > 0 {
            objects.push(',');
        }
        let _ = write!(objects, "g{}v{}q{:02x}", o.group, o.variation, o.qualifier);
        match (o.start, o.stop) {
            (Some(a), Some(b)) => {
                let _ = write!(objects, "[{a}-{b}]");
            }
            _ if o.count > 0 && o.qualifier != 0x06 => {
                let _ = write!(objects, "#{}", o.count);
            }
            _ => {}
        }
    }
    let mut points = String::new();
    if is_command(t) {
        for (i, (group, index)) in command_points(d).into_iter().enumerate() {
            if i > 0 {
                points.push(',');
            }
            let _ = write!(points, "g{group}:{index}");
        }
    }
    if !objects.is_empty() {
        let _ = write!(key, " objs={objects}");
    }
    if !points.is_empty() {
        let _ = write!(key, " points={points}");
    }
    let signature = match dnp3_poll_kind(t, d) {
        Some(poll) => format!("outstation {} {poll}", d.destination),
        None => {
            let mut s = format!("outstation {} {}", d.destination, human(t.function));
            if !objects.is_empty() {
                let _ = write!(s, " {}", objects.replace(',', ", "));
            }
            if !points.is_empty() {
                let _ = write!(s, " points {}", points.replace(',', ", "));
            }
            s
        }
    };
    Describe { key, signature }
}

/// `DB10.DBB0[20]`, `MB28[2]`, `I0.3`, in the notation of Siemens tools (byte addresses).
pub fn s7_item_name(i: &S7Item) -> String {
    let len = i.length.unwrap_or(1);
    let byte = i.address.unwrap_or(0);
    let bit = i.bit.unwrap_or(0);
    let is_bit = i.transport_size == Some("bit");
    let area = match i.area {
        Some(0x84) => {
            let db = i.db.unwrap_or(0);
            return if is_bit { format!("DB{db}.DBX{byte}.{bit}") } else { format!("DB{db}.DBB{byte}[{len}]") };
        }
        Some(0x81) => "I",
        Some(0x82) => "Q",
        Some(0x83) => "M",
        Some(0x1C) => "C",
        Some(0x1D) => "T",
        Some(0x80) => "P",
        Some(0x85) => "DI",
        Some(0x86) => "L",
        _ => {
            return match i.area_name {
                Some(n) => format!("{n} {byte}[{len}]"),
                None => format!("item(syntax {:#04x})", i.syntax_id),
            }
        }
    };
    if is_bit {
        format!("{area}{byte}.{bit}")
    } else {
        format!("{area}B{byte}[{len}]")
    }
}

fn describe_s7(t: &Transaction, s: &S7Detail) -> Describe {
    let (rack_key, rack_text) = match (s.rack, s.slot) {
        (Some(r), Some(sl)) => (format!("rack={r} slot={sl}"), format!("rack {r} slot {sl}")),
        _ => ("rack=? slot=?".to_string(), "PLC".to_string()),
    };
    let mut key = format!("s7comm {rack_key} fc=0x{:04x}", t.function_code);
    let mut signature = format!("{rack_text} {}", human(t.function));
    if !s.items.is_empty() {
        let names: Vec<String> = s.items.iter().map(s7_item_name).collect();
        let _ = write!(key, " items={}", names.join(","));
        let _ = write!(signature, " {}", names.join(", "));
    }
    if let (Some(g), Some(sf)) = (s.userdata_group, s.userdata_subfunction) {
        let _ = write!(key, " group={g} sub={sf}");
    }
    if let Some(id) = s.szl_id {
        let _ = write!(key, " szl=0x{id:04x}/{}", s.szl_index.unwrap_or(0));
        let _ = write!(signature, " SZL 0x{id:04x}");
    }
    if let Some(pi) = &s.pi_service {
        let _ = write!(key, " pi={pi}");
        let _ = write!(signature, " {pi}");
    }
    if !s.blocks.is_empty() {
        let _ = write!(key, " blocks={}", s.blocks.join(","));
        let _ = write!(signature, " {}", s.blocks.join(", "));
    }
    if let Some(b) = &s.block {
        let _ = write!(key, " block={b}");
        let _ = write!(signature, " {b}");
    }
    Describe { key, signature }
}

/// Whether the operation keyed `wide` reads everything the one keyed `narrow` reads (same
/// protocol, unit and function; a superset of its DNP3 objects or S7 items, or a Modbus range
/// containing its range): a master that sends it in place of `narrow` still got the data.
pub fn covers(wide: &str, narrow: &str) -> bool {
    let fields = |key: &str| -> Vec<(String, String)> {
        key.split_whitespace().filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let (w, n) = (fields(wide), fields(narrow));
    let get = |fs: &[(String, String)], k: &str| fs.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    if wide.split_whitespace().next() != narrow.split_whitespace().next() {
        return false;
    }
    for k in ["unit", "dst", "src", "fc", "rack", "slot", "sub"] {
        if get(&w, k) != get(&n, k) {
            return false;
        }
    }
    // Modbus: the read range must contain the other's.
    if let (Some(wa), Some(wq), Some(na), Some(nq)) = (get(&w, "addr"), get(&w, "qty"), get(&n, "addr"), get(&n, "qty"))
    {
        let num = |v: &str| v.parse::<u32>().ok();
        return match (num(&wa), num(&wq), num(&na), num(&nq)) {
            (Some(wa), Some(wq), Some(na), Some(nq)) => wa <= na && na + nq <= wa + wq,
            _ => false,
        };
    }
    // DNP3 objects and S7 items: a superset of the other's list.
    for k in ["objs", "items"] {
        if let (Some(wl), Some(nl)) = (get(&w, k), get(&n, k)) {
            let wide: Vec<&str> = wl.split(',').collect();
            return nl.split(',').all(|item| wide.contains(&item));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wider_read_covers_a_narrower_one() {
        assert!(covers(
            "dnp3 dst=1 src=2 fc=1 objs=g60v1q06,g60v2q06,g60v3q06,g60v4q06",
            "dnp3 dst=1 src=2 fc=1 objs=g60v1q06"
        ));
        assert!(!covers("dnp3 dst=1 src=2 fc=1 objs=g60v2q06", "dnp3 dst=1 src=2 fc=1 objs=g60v1q06"));
        assert!(covers("modbus unit=1 fc=3 addr=0 qty=20", "modbus unit=1 fc=3 addr=5 qty=10"));
        assert!(!covers("modbus unit=1 fc=3 addr=0 qty=10", "modbus unit=1 fc=3 addr=5 qty=10"));
        assert!(!covers("modbus unit=2 fc=3 addr=0 qty=20", "modbus unit=1 fc=3 addr=5 qty=10"));
        assert!(covers(
            "s7comm rack=0 slot=2 fc=0x0004 items=DB1.DBB0[4],MB2[2]",
            "s7comm rack=0 slot=2 fc=0x0004 items=MB2[2]"
        ));
    }
}
