//! Siemens S7 sessions on ISO-on-TCP (TCP 102): TPKT and COTP framing (fragments reassembled),
//! then S7comm (jobs paired with their ack_data by PDU reference, userdata requests with their
//! responses, pushes logged as unsolicited) or S7comm-plus (requests paired with responses by
//! sequence number, notifications logged as unsolicited).

use super::limiter::AnomalyLimiter;
use super::{
    dir_index as idx, hex as hex_bytes, oriented, take_expired, unanswered_status, AppSession, FlowEnd, PartialPdu,
    ProtocolSpec, SessionCtx,
};
use crate::config::Config;
use crate::event::{Alert, Event};
use crate::time::Timestamp;
use crate::transaction::{ProtocolDetail, S7Data, S7Detail, S7Item, S7PlusDetail, Status, Transaction};
use dissectors::s7comm::{self, anomalies, BlockId, Pdu, S7Message, S7Stream, TransactionKey};
use dissectors::s7commplus::S7PlusMessage;
use dissectors::{AnomalyKind, AnomalyList, Direction, FunctionInfo, Parse};

pub const APP_PROTO: &str = "s7comm";
pub const APP_PROTO_PLUS: &str = "s7comm_plus";

/// Most items and data items copied into one event.
const MAX_ITEMS: usize = 32;
/// Most value bytes per data item copied into an event (as hex).
const MAX_VALUE_BYTES: usize = 64;
/// Largest COTP TSDU reassembled (S7 PDUs are at most 960 bytes; S7comm-plus ones larger).
const MAX_TSDU: usize = 64 * 1024;

pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: APP_PROTO,
    tcp_ports: &[s7comm::PORT],
    udp_ports: &[],
    probe_on_port: s7comm::probe,
    probe_elsewhere: s7comm::probe_s7_start,
    new_session,
    not_this_protocol: &anomalies::NON_S7_TRAFFIC,
};

fn new_session(_config: &Config) -> Box<dyn AppSession> {
    Box::new(S7Session::new())
}

/// What a request or response contributed, owned (the stream's buffers are reused).
#[derive(Debug)]
enum Unit {
    Classic {
        key: Option<TransactionKey>,
        request: bool,
        code: u16,
        info: &'static FunctionInfo,
        detail: Box<S7Detail>,
        error: bool,
    },
    Plus {
        request: bool,
        notification: bool,
        sequence: Option<u16>,
        code: u16,
        info: &'static FunctionInfo,
        detail: S7PlusDetail,
    },
    /// COTP connect: the TSAPs.
    Connect {
        src_tsap: Option<Vec<u8>>,
        dst_tsap: Option<Vec<u8>>,
    },
    Nothing,
}

#[derive(Debug)]
struct Pending {
    ts: Timestamp,
    plus: bool,
    key: u16,
    code: u16,
    info: &'static FunctionInfo,
    from_client: bool,
    classic: Option<S7Detail>,
    plus_detail: Option<S7PlusDetail>,
}

/// One ISO-on-TCP connection.
#[derive(Debug)]
pub struct S7Session {
    streams: [S7Stream; 2],
    /// Bytes of a TPKT packet not yet whole, per direction (client→server, server→client).
    partial: [PartialPdu; 2],
    resync: [bool; 2],
    pending: Vec<Pending>,
    src_tsap: Option<String>,
    dst_tsap: Option<String>,
    rack_slot: Option<(u8, u8)>,
    limiter: AnomalyLimiter,
}

impl S7Session {
    fn new() -> S7Session {
        S7Session {
            streams: [S7Stream::new(MAX_TSDU), S7Stream::new(MAX_TSDU)],
            partial: [PartialPdu::default(), PartialPdu::default()],
            resync: [false; 2],
            pending: Vec::new(),
            src_tsap: None,
            dst_tsap: None,
            rack_slot: None,
            limiter: AnomalyLimiter::default(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    hex_bytes(bytes, MAX_VALUE_BYTES)
}

fn block_name(b: &BlockId) -> String {
    match b.block_type.name() {
        Some(name) => format!("{}{}", name.to_ascii_uppercase(), b.number),
        None => format!("block_0x{:02x}_{}", b.block_type.0, b.number),
    }
}

impl AppSession for S7Session {
    fn on_data(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, data: &[u8]) {
        // A TPKT packet cut by a segment boundary (even inside its 4-byte header) is kept here
        // until the rest arrives: S7Stream holds only whole-packet state (COTP fragments).
        let i = idx(dir);
        let Some(slot) = self.partial.get_mut(i) else { return };
        let mut partial = std::mem::take(slot);
        partial.feed(data, true, |input| self.parse_all(ctx, dir, input));
        if let Some(slot) = self.partial.get_mut(i) {
            *slot = partial;
        }
    }

    fn on_gap(&mut self, _ctx: &mut SessionCtx<'_>, dir: Direction, _len: u32) {
        let i = idx(dir);
        if let Some(partial) = self.partial.get_mut(i) {
            partial.clear();
        }
        if let Some(stream) = self.streams.get_mut(i) {
            stream.reset();
        }
        self.resync[i] = true;
    }

    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>) {
        for p in take_expired(&mut self.pending, ctx.ts, ctx.config.response_timeout_us, |p| p.ts) {
            finish(ctx, p, None, Status::NoResponse);
        }
    }

    fn on_close(&mut self, ctx: &mut SessionCtx<'_>, end: FlowEnd) {
        let timeout = ctx.config.response_timeout_us;
        for p in std::mem::take(&mut self.pending) {
            let status = unanswered_status(end, ctx.ts, p.ts, timeout);
            finish(ctx, p, None, status);
        }
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn pending_span(&self) -> Option<(Timestamp, Timestamp)> {
        let oldest = self.pending.iter().map(|p| p.ts).min()?;
        let newest = self.pending.iter().map(|p| p.ts).max()?;
        Some((oldest, newest))
    }
}

/// Turns one framed event of the stream into owned data.
fn summarise(event: &s7comm::Event<'_>) -> (Unit, AnomalyList) {
    match event {
        s7comm::Event::Cotp(pdu) => {
            let params = pdu.parameters();
            if pdu.pdu_type() == dissectors::cotp::PduType::CR {
                let unit = Unit::Connect {
                    src_tsap: params.src_tsap().map(<[u8]>::to_vec),
                    dst_tsap: params.dst_tsap().map(<[u8]>::to_vec),
                };
                return (unit, AnomalyList::new());
            }
            (Unit::Nothing, AnomalyList::new())
        }
        s7comm::Event::Fragment { .. } => (Unit::Nothing, AnomalyList::new()),
        s7comm::Event::Invalid { anomaly, .. } => {
            let mut list = AnomalyList::new();
            list.push(anomaly);
            (Unit::Nothing, list)
        }
        s7comm::Event::S7 { message, .. } => (classic(message), message.anomalies),
        s7comm::Event::S7Plus { message, .. } => (plus(message), message.anomalies),
    }
}

fn classic(m: &S7Message<'_>) -> Unit {
    let mut d = S7Detail {
        rosctr: m.rosctr.0,
        rosctr_name: m.rosctr.name(),
        pdu_ref: m.pdu_reference,
        error_class: m.error_class.map(|c| c.0),
        error_code: m.error_code,
        ..S7Detail::default()
    };
    let error = m.error().filter(|e| *e != 0);
    if let Some(e) = error {
        d.error = Some(e);
        d.error_name = s7comm::error_description(e);
    }
    for item in m.items().iter().take(MAX_ITEMS) {
        d.items.push(S7Item {
            syntax_id: item.syntax_id.0,
            area: item.any.map(|a| a.area.0),
            area_name: item.any.and_then(|a| a.area.name()),
            db: item.any.filter(|a| a.area == s7comm::Area(0x84) || a.area == s7comm::Area(0x85)).map(|a| a.db_number),
            address: item.any.map(|a| a.byte_address),
            bit: item.any.map(|a| a.bit_address),
            transport_size: item.any.and_then(|a| a.transport_size.name()),
            length: item.any.map(|a| a.length),
        });
    }
    for data in m.data_items().iter().take(MAX_ITEMS) {
        d.data.push(S7Data {
            return_code: data.return_code.0,
            return_code_name: data.return_code.name(),
            value: hex(data.value),
        });
    }
    // An item the PLC refused (return code other than 0xFF) makes the exchange an exception,
    // even when the header reports no error.
    let mut item_failed = false;
    match &m.pdu {
        Pdu::ReadVarResponse { items, .. } => {
            item_failed = items.iter().any(|i| i.return_code.0 != 0xFF);
        }
        Pdu::WriteVarResponse { return_codes, .. } => {
            d.return_codes = return_codes.iter().take(MAX_ITEMS).copied().collect();
            item_failed = return_codes.iter().any(|c| *c != 0xFF);
        }
        Pdu::SetupCommunication { pdu_length, .. } => d.pdu_length = Some(*pdu_length),
        Pdu::BlockTransfer(b) => {
            d.block = b.block.as_ref().map(block_name);
            d.filename = b.filename.map(|f| String::from_utf8_lossy(f).into_owned());
        }
        Pdu::PiService { service, parameter } => {
            d.pi_service = Some(String::from_utf8_lossy(service).into_owned());
            d.blocks = s7comm::PiBlocks::new(parameter).iter().take(MAX_ITEMS).map(|b| block_name(&b)).collect();
        }
        Pdu::PlcStop { service } => d.pi_service = Some(String::from_utf8_lossy(service).into_owned()),
        _ => {}
    }
    let mut code = m.function().map_or(0, |f| u16::from(f.0));
    let mut userdata_error = false;
    if let Some(u) = m.userdata() {
        d.userdata_group = Some(u.group.0);
        d.userdata_group_name = u.group.name();
        d.userdata_subfunction = Some(u.subfunction);
        d.userdata_type = u.kind.name();
        d.sequence_number = Some(u.sequence_number);
        d.data_unit_reference = u.data_unit_reference;
        if let Some((id, index)) = u.szl {
            d.szl_id = Some(id);
            d.szl_index = Some(index);
        }
        if let Some(e) = u.error_code.filter(|e| *e != 0) {
            userdata_error = true;
            d.error = Some(e);
            d.error_name = s7comm::error_description(e);
        }
        code = u16::from(u.group.0) << 8 | u16::from(u.subfunction);
    }
    Unit::Classic {
        key: m.transaction_key(),
        request: m.is_request(),
        code,
        info: m.info(),
        detail: Box::new(d),
        error: error.is_some() || userdata_error || item_failed,
    }
}

fn plus(m: &S7PlusMessage<'_>) -> Unit {
    if m.is_keep_alive() || m.continuation {
        return Unit::Nothing;
    }
    let detail = S7PlusDetail {
        version: m.version.0,
        sequence_number: m.sequence_number,
        session_id: m.session_id,
        subscription_id: m.subscription_id,
        integrity: m.digest.is_some(),
        anomalies: m.anomalies.iter().map(|k| k.id).collect(),
    };
    Unit::Plus {
        request: m.is_request(),
        notification: m.is_notification(),
        sequence: m.sequence_number,
        code: m.function.map_or(0, |f| f.0),
        info: m.info(),
        detail,
    }
}

impl S7Session {
    /// Frames and handles every whole TPKT packet at the front of `input`; returns the bytes
    /// consumed (what is left is the start of a packet still missing bytes).
    fn parse_all(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, input: &[u8]) -> usize {
        let i = idx(dir);
        let mut offset = 0;
        while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
            let Some(stream) = self.streams.get_mut(i) else { break };
            let (unit, anomalies, consumed, skip) = match stream.parse(rest) {
                Parse::Message { message, consumed } => {
                    let (unit, anomalies) = summarise(&message);
                    (unit, anomalies, consumed, None)
                }
                Parse::Incomplete { .. } => break,
                Parse::Skip { len, anomaly } => (Unit::Nothing, AnomalyList::new(), len, Some(anomaly)),
            };
            offset += consumed.max(1);
            if let Some(anomaly) = skip {
                ctx.stats.anomalies += 1;
                if !self.resync[i] {
                    self.raise(ctx, anomaly, dir);
                }
                self.resync[i] = true;
            } else {
                self.resync[i] = false;
            }
            for kind in anomalies.iter() {
                ctx.stats.anomalies += 1;
                self.raise(ctx, kind, dir);
            }
            self.on_unit(ctx, dir, unit);
        }
        offset.min(input.len())
    }

    fn on_unit(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, unit: Unit) {
        let from_client = dir == Direction::ToServer;
        match unit {
            Unit::Nothing => {}
            Unit::Connect { src_tsap, dst_tsap } => {
                // The client's CR names the rack and slot it wants (destination TSAP, 2nd byte).
                if from_client {
                    if let Some(&[_, b]) = dst_tsap.as_deref() {
                        self.rack_slot = Some((b >> 5, b & 0x1F));
                    }
                    self.src_tsap = src_tsap.as_deref().map(hex);
                    self.dst_tsap = dst_tsap.as_deref().map(hex);
                }
            }
            Unit::Classic { key, request, code, info, mut detail, error } => {
                ctx.stats.pdus.bump(APP_PROTO);
                detail.rack = self.rack_slot.map(|(r, _)| r);
                detail.slot = self.rack_slot.map(|(_, s)| s);
                detail.src_tsap.clone_from(&self.src_tsap);
                detail.dst_tsap.clone_from(&self.dst_tsap);
                match key {
                    Some(TransactionKey::Push) => {
                        let p = Pending {
                            ts: ctx.ts,
                            plus: false,
                            key: 0,
                            code,
                            info,
                            from_client,
                            classic: Some(*detail),
                            plus_detail: None,
                        };
                        finish(ctx, p, None, Status::Unsolicited);
                    }
                    Some(TransactionKey::PduReference(reference)) if request => {
                        self.open(
                            ctx,
                            dir,
                            Pending {
                                ts: ctx.ts,
                                plus: false,
                                key: reference,
                                code,
                                info,
                                from_client,
                                classic: Some(*detail),
                                plus_detail: None,
                            },
                        );
                    }
                    Some(TransactionKey::PduReference(reference)) => {
                        let found = self.pending.iter().position(|p| !p.plus && p.key == reference);
                        let Some(k) = found else {
                            ctx.stats.anomalies += 1;
                            self.raise(ctx, &anomalies::UNMATCHED_RESPONSE, dir);
                            return;
                        };
                        let mut p = self.pending.remove(k);
                        if let Some(req) = p.classic.as_mut() {
                            merge_response(req, *detail);
                        }
                        let status = if error { Status::Exception } else { Status::Ok };
                        finish(ctx, p, Some(ctx.ts), status);
                    }
                    None => {}
                }
            }
            Unit::Plus { request, notification, sequence, code, info, detail } => {
                ctx.stats.pdus.bump(APP_PROTO_PLUS);
                let p = Pending {
                    ts: ctx.ts,
                    plus: true,
                    key: sequence.unwrap_or(0),
                    code,
                    info,
                    from_client,
                    classic: None,
                    plus_detail: Some(detail),
                };
                if notification {
                    finish(ctx, p, None, Status::Unsolicited);
                } else if request {
                    self.open(ctx, dir, p);
                } else if let Some(seq) = sequence {
                    match self.pending.iter().position(|q| q.plus && q.key == seq) {
                        Some(k) => {
                            let q = self.pending.remove(k);
                            finish(ctx, q, Some(ctx.ts), Status::Ok);
                        }
                        None => {
                            ctx.stats.anomalies += 1;
                            self.raise(ctx, &anomalies::UNMATCHED_RESPONSE, dir);
                        }
                    }
                }
            }
        }
    }

    fn open(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, p: Pending) {
        if let Some(k) = self.pending.iter().position(|q| q.plus == p.plus && q.key == p.key) {
            // The reference was reused before an answer came: the earlier one went unanswered.
            let earlier = self.pending.remove(k);
            finish(ctx, earlier, None, Status::NoResponse);
        }
        if self.pending.len() >= ctx.config.max_outstanding_per_flow {
            let oldest = self.pending.remove(0);
            ctx.stats.anomalies += 1;
            self.raise(ctx, &anomalies::TOO_MANY_OUTSTANDING, dir);
            finish(ctx, oldest, None, Status::NoResponse);
        }
        self.pending.push(p);
    }

    fn raise(&mut self, ctx: &mut SessionCtx<'_>, kind: &'static AnomalyKind, dir: Direction) {
        let Some(count) = self.limiter.admit(kind, ctx.ts) else { return };
        let (from, to) = match dir {
            Direction::ToServer => (ctx.flow.client.ip, ctx.flow.server.ip),
            Direction::ToClient => (ctx.flow.server.ip, ctx.flow.client.ip),
        };
        let message = format!("S7 traffic from {from} to {to}: {}.", kind.description.trim_end_matches('.'));
        let mut alert = Alert::anomaly(ctx.ts, ctx.flow, Some(APP_PROTO), kind, message);
        if count > 1 {
            alert.count = Some(count);
        }
        ctx.events.push(Event::Alert(Box::new(alert)));
    }
}

/// Adds what the ack_data (or userdata response) says to the request's detail.
fn merge_response(req: &mut S7Detail, resp: S7Detail) {
    req.error_class = resp.error_class;
    req.error_code = resp.error_code;
    req.error = resp.error;
    req.error_name = resp.error_name;
    if req.data.is_empty() {
        req.data = resp.data;
    }
    req.return_codes = resp.return_codes;
    if req.szl_id.is_none() {
        req.szl_id = resp.szl_id;
        req.szl_index = resp.szl_index;
    }
    if req.pdu_length.is_some() {
        req.pdu_length = resp.pdu_length.or(req.pdu_length);
    }
    if req.block.is_none() {
        req.block = resp.block;
        req.filename = resp.filename;
    }
    for id in resp.anomalies {
        if !req.anomalies.contains(&id) {
            req.anomalies.push(id);
        }
    }
}

fn finish(ctx: &mut SessionCtx<'_>, p: Pending, response_ts: Option<Timestamp>, status: Status) {
    let proto = if p.plus { APP_PROTO_PLUS } else { APP_PROTO };
    ctx.stats.transactions.bump(proto);
    let detail = match (p.classic, p.plus_detail) {
        (Some(c), _) => ProtocolDetail::S7comm(c),
        (None, Some(d)) => ProtocolDetail::S7commPlus(d),
        (None, None) => ProtocolDetail::S7commPlus(S7PlusDetail::default()),
    };
    let t = Transaction {
        flow: oriented(ctx.flow, p.from_client),
        app_proto: proto,
        request_ts: Some(p.ts),
        response_ts,
        function_code: p.code,
        function: p.info.name,
        category: p.info.category,
        status,
        job_id: None,
        detail,
    };
    ctx.events.push(Event::Transaction(Box::new(t)));
}
