//! DNP3 sessions (IEEE 1815) over TCP or UDP: link frames found in each direction's bytes,
//! transport segments reassembled into application fragments per direction and address pair,
//! requests paired with responses by link addresses and application sequence, multi-fragment
//! responses joined, unsolicited responses logged with the outstation as requester, and
//! application confirms folded into the exchange they confirm.

use super::limiter::AnomalyLimiter;
use super::{
    dir_index as idx, hex as hex_bytes, oriented, take_expired, unanswered_status, AppSession, FlowEnd, PartialPdu,
    ProtocolSpec, SessionCtx,
};
use crate::config::Config;
use crate::event::{Alert, Event};
use crate::flow::Transport;
use crate::time::Timestamp;
use crate::transaction::{Dnp3Detail, Dnp3Object, Dnp3Point, Dnp3Value, ProtocolDetail, Status, Transaction};
use dissectors::dnp3::objects::{self, PointValue, Range};
use dissectors::dnp3::{self, anomalies, application, link, ApplicationMessage, FunctionCode, TransportReassembler};
use dissectors::{AnomalyKind, Direction, FunctionInfo, Parse};

pub const APP_PROTO: &str = "dnp3";

/// Most object headers copied into one event, per side.
const MAX_OBJECTS: usize = 32;
/// Most transport reassemblers per flow (one per direction and address pair).
const MAX_REASSEMBLERS: usize = 16;
/// Largest application fragment reassembled: 63 transport segments of 255 bytes, the most a
/// 6-bit transport sequence can carry without wrapping onto itself (Suricata's bound too).
/// Outstations usually cap fragments at 2048 bytes, but larger ones are legal.
const MAX_FRAGMENT: usize = 63 * 255;
/// Requests awaiting a response on one connection before `dnp3.flooded`: a DNP3 master has one
/// request outstanding per outstation, so dozens mean a flood (Suricata's bound is 32 too).
const MAX_OUTSTANDING: usize = 32;

/// DNP3 for dispatch: TCP or UDP port 20000, and any TCP port by probing (a start octet pair
/// followed by a header with a valid CRC is a strong signature).
pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: APP_PROTO,
    tcp_ports: &[dnp3::PORT],
    udp_ports: &[dnp3::PORT],
    probe_on_port: dnp3::probe,
    probe_elsewhere: dnp3::probe,
    new_session,
    not_this_protocol: &anomalies::NON_DNP3_TRAFFIC,
};

fn new_session(config: &Config) -> Box<dyn AppSession> {
    Box::new(Dnp3Session {
        limits: objects::Limits {
            max_objects: config.max_objects_per_message,
            max_points: config.max_points_per_message,
        },
        ..Dnp3Session::default()
    })
}

/// A request awaiting its response (or the rest of a multi-fragment response).
#[derive(Debug)]
struct Pending {
    ts: Timestamp,
    /// Requester and responder link addresses.
    master: u16,
    outstation: u16,
    sequence: u8,
    function: u8,
    info: &'static FunctionInfo,
    /// The requester is the TCP client (false: the outstation opened the connection).
    from_client: bool,
    detail: Dnp3Detail,
    /// Sequence number of the next response fragment, once the first arrived without FIN.
    next_fragment: Option<u8>,
    response_ts: Option<Timestamp>,
    exception: bool,
    /// The final response fragment asked for a confirm with this sequence: the exchange stays
    /// open until the master confirms, sends its next request, or the timeout passes.
    awaiting_confirm: Option<u8>,
}

/// One DNP3 conversation.
#[derive(Debug, Default)]
pub struct Dnp3Session {
    partial: [PartialPdu; 2],
    resync: [bool; 2],
    reassemblers: Vec<((usize, u16, u16), TransportReassembler)>,
    pending: Vec<Pending>,
    limiter: AnomalyLimiter,
    /// Object and point limits per message (`--max-objects`, `--max-points`).
    limits: objects::Limits,
}

impl AppSession for Dnp3Session {
    fn on_data(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, data: &[u8]) {
        let i = idx(dir);
        // A datagram is whole: what it leaves unparsed is not the start of the next one.
        let keep_rest = ctx.flow.transport == Transport::Tcp;
        let mut partial = std::mem::take(&mut self.partial[i]);
        partial.feed(data, keep_rest, |input| self.parse_all(ctx, dir, input));
        self.partial[i] = partial;
    }

    fn on_gap(&mut self, _ctx: &mut SessionCtx<'_>, dir: Direction, _len: u32) {
        let i = idx(dir);
        self.partial[i].clear();
        self.resync[i] = true;
        for ((d, _, _), r) in &mut self.reassemblers {
            if *d == i {
                r.reset();
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>) {
        let timeout = ctx.config.response_timeout_us;
        for p in take_expired(&mut self.pending, ctx.ts, timeout, |p| p.response_ts.unwrap_or(p.ts)) {
            // Answered (perhaps in part, or never confirmed): what came is the answer.
            let status = match (p.response_ts, p.exception) {
                (None, _) => Status::NoResponse,
                (Some(_), true) => Status::Exception,
                (Some(_), false) => Status::Ok,
            };
            finish(ctx, p, status);
        }
    }

    fn on_close(&mut self, ctx: &mut SessionCtx<'_>, end: FlowEnd) {
        let timeout = ctx.config.response_timeout_us;
        for p in std::mem::take(&mut self.pending) {
            let status = if p.response_ts.is_some() {
                // Part of a multi-fragment response came: what came is the answer.
                if p.exception {
                    Status::Exception
                } else {
                    Status::Ok
                }
            } else {
                unanswered_status(end, ctx.ts, p.ts, timeout)
            };
            finish(ctx, p, status);
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

impl Dnp3Session {
    /// Handles every whole link frame of `input`; returns the bytes consumed.
    fn parse_all(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, input: &[u8]) -> usize {
        let i = idx(dir);
        let mut offset = 0;
        while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
            match link::parse(rest) {
                Parse::Message { message: frame, consumed } => {
                    self.resync[i] = false;
                    offset += consumed.max(1);
                    self.on_frame(ctx, dir, &frame);
                }
                Parse::Incomplete { .. } => break,
                Parse::Skip { len, anomaly } => {
                    ctx.stats.anomalies += 1;
                    // A bad CRC is always worth reporting; garbage after a gap only once.
                    if !self.resync[i] || std::ptr::eq(anomaly, &anomalies::BAD_LINK_CRC) {
                        self.raise(ctx, anomaly, dir, None);
                    }
                    self.resync[i] = true;
                    offset += len.max(1);
                }
            }
        }
        offset
    }

    fn on_frame(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, frame: &dnp3::LinkFrame) {
        ctx.stats.pdus.bump("dnp3_link");
        for kind in frame.anomalies.iter() {
            ctx.stats.anomalies += 1;
            self.raise(ctx, kind, dir, None);
        }
        if frame.is_link_only() {
            return; // link activity (reset, link status), not an application exchange
        }
        let key = (idx(dir), frame.source, frame.destination);
        let at = match self.reassemblers.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                if self.reassemblers.len() >= MAX_REASSEMBLERS {
                    self.reassemblers.remove(0);
                }
                self.reassemblers.push((key, TransportReassembler::with_max_fragment(MAX_FRAGMENT)));
                self.reassemblers.len() - 1
            }
        };
        let limits = self.limits;
        let Some((_, reassembler)) = self.reassemblers.get_mut(at) else { return };
        let segment = reassembler.push(frame.user_data());
        let segment_anomalies = segment.anomalies;
        // The fragment borrows the reassembler: decode it into owned data before anything else.
        let decoded =
            segment.fragment.map(|fragment| application::parse_with_limits(fragment, limits).map(|m| Decoded::new(&m)));
        for kind in segment_anomalies.iter() {
            ctx.stats.anomalies += 1;
            self.raise(ctx, kind, dir, None);
        }
        match decoded {
            None => {}
            Some(Err(_)) => {
                ctx.stats.anomalies += 1;
                self.raise(ctx, &anomalies::INVALID_LENGTH, dir, None);
            }
            Some(Ok(message)) => {
                ctx.stats.pdus.bump(APP_PROTO);
                for kind in message.anomalies.iter() {
                    ctx.stats.anomalies += 1;
                    self.raise(ctx, kind, dir, None);
                }
                self.on_message(ctx, dir, frame.source, frame.destination, message);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, source: u16, destination: u16, m: Decoded) {
        let from_client = dir == Direction::ToServer;
        match m.function {
            FunctionCode::CONFIRM => {
                // Folded into the exchange it confirms; an unsolicited confirm needs no record.
                if m.uns {
                    return;
                }
                let confirms = |p: &Pending| {
                    p.master == source
                        && p.outstation == destination
                        && (p.awaiting_confirm == Some(m.sequence) || p.next_fragment == Some((m.sequence + 1) & 0x0F))
                };
                if let Some(k) = self.pending.iter().position(confirms) {
                    let done = self.pending.get(k).is_some_and(|p| p.awaiting_confirm.is_some());
                    if let Some(p) = self.pending.get_mut(k) {
                        p.detail.confirmed = true;
                    }
                    if done {
                        let p = self.pending.remove(k);
                        let status = if p.exception { Status::Exception } else { Status::Ok };
                        finish(ctx, p, status);
                    }
                }
            }
            FunctionCode::UNSOLICITED_RESPONSE => {
                let mut detail = Dnp3Detail {
                    source,
                    destination,
                    sequence: m.sequence,
                    response_objects: m.objects,
                    iin: m.iin,
                    iin_flags: m.iin_flags,
                    points: m.points,
                    points_truncated: m.points_truncated,
                    ..Dnp3Detail::default()
                };
                detail.anomalies = m.anomalies.iter().map(|k| k.id).collect();
                let info = dissectors::classify::dnp3::lookup(m.function.0, None);
                let t = Transaction {
                    flow: oriented(ctx.flow, from_client),
                    app_proto: APP_PROTO,
                    request_ts: Some(ctx.ts),
                    response_ts: None,
                    function_code: u16::from(m.function.0),
                    function: info.name,
                    category: info.category,
                    status: Status::Unsolicited,
                    job_id: None,
                    detail: ProtocolDetail::Dnp3(detail),
                };
                ctx.stats.transactions.bump(APP_PROTO);
                ctx.events.push(Event::Transaction(Box::new(t)));
            }
            f if f.is_response() => self.on_response(ctx, dir, source, destination, m),
            _ => self.on_request(ctx, dir, source, destination, m),
        }
    }

    fn on_request(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, source: u16, destination: u16, m: Decoded) {
        // The master moved on: exchanges still waiting for its confirm are complete.
        while let Some(k) = self
            .pending
            .iter()
            .position(|p| p.master == source && p.outstation == destination && p.awaiting_confirm.is_some())
        {
            let p = self.pending.remove(k);
            let status = if p.exception { Status::Exception } else { Status::Ok };
            finish(ctx, p, status);
        }
        // A repeated sequence while the first is still open is kept beside it (some masters
        // pipeline selects and operates): responses pair with the oldest open request of their
        // sequence, and one never answered times out.
        if self.pending.len() >= MAX_OUTSTANDING.min(ctx.config.max_outstanding_per_flow) {
            let oldest = self.pending.remove(0);
            ctx.stats.anomalies += 1;
            self.raise(ctx, &anomalies::FLOODED, dir, None);
            finish(ctx, oldest, Status::NoResponse);
        }
        let info = dissectors::classify::dnp3::lookup(m.function.0, m.first_group);
        let mut detail = Dnp3Detail {
            source,
            destination,
            sequence: m.sequence,
            objects: m.objects,
            points: m.points,
            points_truncated: m.points_truncated,
            ..Dnp3Detail::default()
        };
        detail.anomalies = m.anomalies.iter().map(|k| k.id).collect();
        let pending = Pending {
            ts: ctx.ts,
            master: source,
            outstation: destination,
            sequence: m.sequence,
            function: m.function.0,
            info,
            from_client: dir == Direction::ToServer,
            detail,
            next_fragment: None,
            response_ts: None,
            exception: false,
            awaiting_confirm: None,
        };
        if m.function.expects_no_response() {
            // Direct operate without acknowledgement and the like: complete as sent.
            finish(ctx, pending, Status::Ok);
        } else {
            self.pending.push(pending);
        }
    }

    fn on_response(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, source: u16, destination: u16, m: Decoded) {
        // The first fragment answers the request's sequence; later ones count on from it.
        let found = self.pending.iter().position(|p| {
            p.outstation == source
                && p.master == destination
                && p.awaiting_confirm.is_none()
                && match p.next_fragment {
                    Some(next) => !m.fir && m.sequence == next,
                    None => m.fir && m.sequence == p.sequence,
                }
        });
        let Some(k) = found else {
            ctx.stats.anomalies += 1;
            self.raise(ctx, &anomalies::UNMATCHED_RESPONSE, dir, None);
            return;
        };
        let Some(p) = self.pending.get_mut(k) else { return };
        p.response_ts = Some(ctx.ts);
        p.detail.response_fragments = Some(p.detail.response_fragments.unwrap_or(0) + 1);
        if p.detail.iin.is_none() || m.fin {
            p.detail.iin = m.iin;
            p.detail.iin_flags = m.iin_flags;
        }
        p.exception |= m.iin.is_some_and(|iin| dnp3::Iin(iin).is_error());
        let room = ctx.config.max_values_per_transaction.saturating_sub(p.detail.points.len());
        p.detail.points_truncated |= m.points_truncated || m.points.len() > room;
        p.detail.points.extend(m.points.into_iter().take(room));
        let room = MAX_OBJECTS.saturating_sub(p.detail.response_objects.len());
        p.detail.response_objects.extend(m.objects.into_iter().take(room));
        for id in m.anomalies.iter().map(|k| k.id) {
            if !p.detail.anomalies.contains(&id) {
                p.detail.anomalies.push(id);
            }
        }
        if m.fin && m.con {
            p.next_fragment = None;
            p.awaiting_confirm = Some(m.sequence);
        } else if m.fin {
            let p = self.pending.remove(k);
            let status = if p.exception { Status::Exception } else { Status::Ok };
            finish(ctx, p, status);
        } else {
            p.next_fragment = Some((m.sequence + 1) & 0x0F);
        }
    }

    fn raise(&mut self, ctx: &mut SessionCtx<'_>, kind: &'static AnomalyKind, dir: Direction, what: Option<&str>) {
        let Some(count) = self.limiter.admit(kind, ctx.ts) else { return };
        let (from, to) = match dir {
            Direction::ToServer => (ctx.flow.client.ip, ctx.flow.server.ip),
            Direction::ToClient => (ctx.flow.server.ip, ctx.flow.client.ip),
        };
        let what = what.map_or_else(|| format!("DNP3 traffic from {from} to {to}"), str::to_string);
        let message = format!("{what}: {}.", kind.description.trim_end_matches('.'));
        let mut alert = Alert::anomaly(ctx.ts, ctx.flow, Some(APP_PROTO), kind, message);
        if count > 1 {
            alert.count = Some(count);
        }
        ctx.events.push(Event::Alert(Box::new(alert)));
    }
}

/// Counts and emits the transaction of `p`.
fn finish(ctx: &mut SessionCtx<'_>, p: Pending, status: Status) {
    ctx.stats.transactions.bump(APP_PROTO);
    let t = Transaction {
        flow: oriented(ctx.flow, p.from_client),
        app_proto: APP_PROTO,
        request_ts: Some(p.ts),
        response_ts: p.response_ts,
        function_code: u16::from(p.function),
        function: p.info.name,
        category: p.info.category,
        status,
        job_id: None,
        detail: ProtocolDetail::Dnp3(p.detail),
    };
    ctx.events.push(Event::Transaction(Box::new(t)));
}

/// What the session keeps of one application fragment (owned: the fragment is borrowed from
/// the transport reassembler).
struct Decoded {
    function: FunctionCode,
    sequence: u8,
    fir: bool,
    fin: bool,
    con: bool,
    uns: bool,
    first_group: Option<u8>,
    iin: Option<u16>,
    iin_flags: Vec<&'static str>,
    objects: Vec<Dnp3Object>,
    points: Vec<Dnp3Point>,
    points_truncated: bool,
    anomalies: dissectors::AnomalyList,
}

/// Most points decoded from one fragment (the event bound is applied again on top).
const MAX_POINTS_DECODED: usize = 256;

impl Decoded {
    fn new(m: &ApplicationMessage<'_>) -> Decoded {
        let mut objects = Vec::new();
        let mut points = Vec::new();
        let mut points_truncated = false;
        let mut iter = m.objects();
        for object in iter.by_ref() {
            let h = object.header;
            if objects.len() < MAX_OBJECTS {
                let (start, stop) = match h.range {
                    Range::StartStop { start, stop } | Range::VirtualStartStop { start, stop } => {
                        (Some(start), Some(stop))
                    }
                    Range::All | Range::Count(_) => (None, None),
                };
                objects.push(Dnp3Object {
                    group: h.group,
                    variation: h.variation,
                    name: objects::group_name(h.group),
                    qualifier: h.qualifier.0,
                    start,
                    stop,
                    count: h.count(),
                });
            }
            if object.with_data {
                for point in object.points() {
                    if points.len() >= MAX_POINTS_DECODED {
                        points_truncated = true;
                        break;
                    }
                    points.push(convert(h.group, h.variation, &point));
                }
            }
        }
        let mut anomalies = m.anomalies;
        for kind in iter.anomalies().iter() {
            anomalies.push(kind);
        }
        Decoded {
            function: m.function,
            sequence: m.sequence(),
            fir: m.control.fir(),
            fin: m.control.fin(),
            con: m.control.con(),
            uns: m.control.uns(),
            first_group: m.first_group(),
            iin: m.iin.map(|i| i.0),
            iin_flags: m.iin.map(|i| i.names().collect()).unwrap_or_default(),
            objects,
            points,
            points_truncated,
            anomalies,
        }
    }
}

fn convert(group: u8, variation: u8, p: &objects::Point<'_>) -> Dnp3Point {
    let value = match p.value {
        PointValue::Binary(b) => Dnp3Value::Bool(b),
        PointValue::DoubleBit(v) => Dnp3Value::Unsigned(u64::from(v)),
        PointValue::Unsigned(v) => Dnp3Value::Unsigned(u64::from(v)),
        PointValue::Signed(v) => Dnp3Value::Signed(i64::from(v)),
        PointValue::Float(v) => Dnp3Value::Float(f64::from(v)),
        PointValue::Double(v) => Dnp3Value::Float(v),
        PointValue::Crob(c) => Dnp3Value::Crob {
            control_code: c.control_code,
            operation: c.op_type_name(),
            trip_close: c.trip_close_name(),
            count: c.count,
            on_time_ms: c.on_time,
            off_time_ms: c.off_time,
            status: c.status,
            status_name: objects::command_status_name(c.status),
        },
        PointValue::Time { millis, interval, .. } => Dnp3Value::Time { time_ms: millis, interval },
        PointValue::Delay(ms) => Dnp3Value::Unsigned(u64::from(ms)),
        PointValue::Octets(bytes) | PointValue::Raw(bytes) => Dnp3Value::Hex(hex_bytes(bytes, 64)),
    };
    let time_ms = p.time.map(|t| match t {
        objects::Timestamp::Absolute(ms) => ms,
        objects::Timestamp::Relative(ms) => u64::from(ms),
    });
    Dnp3Point { group, variation, index: p.index, value, flags: p.flags.map(|f| f.0), time_ms, status: p.status }
}
