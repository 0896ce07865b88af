//! The packet pipeline: decode → flow → TCP reassembly → protocol dispatch → sessions, with every
//! timer driven by capture time.
//!
//! The pipeline is single-threaded and deterministic: the same packets give the same events in
//! the same order. Conversations are keyed by their unordered address pair, so sharding it over
//! workers by a symmetric hash needs no locks (see README, "Design").

use crate::app::dispatch::{Prober, Verdict};
use crate::app::limiter::AnomalyLimiter;
use crate::app::{by_port, dir_index, AppSession, FlowEnd, SessionCtx};
use crate::config::Config;
use crate::decode::{decode, DecodedPacket, LinkType, Skipped, TcpFlags, TransportPart};
use crate::event::{Alert, Event};
use crate::flow::{flow_id, Endpoint, FlowInfo, FlowKey, Transport};
use crate::reassembly::{Budget, Delivery, TcpDirection};
use crate::stats::StatsSnapshot;
use crate::time::Timestamp;
use dissectors::{AnomalyKind, Direction, Severity};
use std::collections::HashMap;

/// How often (capture time) timers are checked.
const SWEEP_INTERVAL_US: u64 = 1_000_000;
/// Least capture time between two `sensor_health` alerts of the same kind.
const HEALTH_ALERT_INTERVAL_US: u64 = 60_000_000;
/// How long after a reported capture gap stream holes are taken for its consequences.
const CAPTURE_GAP_EXCUSE_US: u64 = 60_000_000;

/// TCP-level anomalies (raised as `protocol_anomaly` alerts, rate-limited per flow).
pub mod tcp_anomalies {
    use dissectors::{AnomalyKind, Severity};

    pub static GAP: AnomalyKind = AnomalyKind {
        id: "tcp.gap",
        severity: Severity::Low,
        description: "bytes of the TCP stream were never seen (capture loss or a mirror-port drop)",
    };
    pub static OVERLAP_MISMATCH: AnomalyKind = AnomalyKind {
        id: "tcp.overlap_mismatch",
        severity: Severity::Medium,
        description: "a TCP retransmission carried different bytes than the original segment",
    };
    pub static REASSEMBLY_LIMIT: AnomalyKind = AnomalyKind {
        id: "tcp.reassembly_limit",
        severity: Severity::Low,
        description: "the out-of-order buffer of a TCP stream reached its bound and a hole was skipped",
    };
}

/// How the packet that creates a flow tells which side is the client.
#[derive(Clone, Copy, Debug)]
enum Orientation {
    /// A handshake packet said so.
    ClientIsA(bool),
    /// The well-known port tells; without one, the lower port is the server's.
    ByPort,
}

/// What a flow runs at the application layer.
#[derive(Debug)]
enum AppState {
    Probing(Prober),
    Active(Box<dyn AppSession>),
    /// Not a protocol jobwatch dissects: its bytes are not even reassembled.
    Ignored,
}

#[derive(Debug)]
struct Flow {
    info: FlowInfo,
    /// True when the key's `lo` endpoint is the client.
    client_is_lo: bool,
    last_seen: Timestamp,
    /// Indexed by [`dir_index`]: client→server, then server→client.
    tcp: [TcpDirection; 2],
    app: AppState,
    limiter: AnomalyLimiter,
    /// Holes in this flow's streams before this time come from a capture gap already reported
    /// as `sensor_health`: they are counted, not alerted again per flow.
    excuse_gaps_until: Timestamp,
}

/// Everything a delivery to the application layer needs, borrowed apart from the flow table.
struct Shared<'a> {
    config: &'a Config,
    stats: &'a mut StatsSnapshot,
    events: &'a mut Vec<Event>,
    ts: Timestamp,
    /// Stream holes are explained by a reported capture gap.
    gaps_excused: bool,
}

/// The whole single-threaded pipeline.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    /// foldhash: fast on the small keys of the hot path, and randomly seeded per run so that
    /// crafted addresses cannot force collisions (iteration order never reaches the output).
    flows: HashMap<FlowKey, Flow, foldhash::fast::RandomState>,
    budget: Budget,
    stats: StatsSnapshot,
    events: Vec<Event>,
    /// Capture time: the latest packet timestamp seen (never goes back).
    now: Option<Timestamp>,
    next_sweep: Timestamp,
    next_stats: Timestamp,
    last_flow_limit_alert: Option<Timestamp>,
    flow_limit_suppressed: u64,
    last_budget_alert: Option<Timestamp>,
    budget_exhausted_reported: u64,
    last_drop_alert: Option<Timestamp>,
    drops_reported: u64,
}

impl Pipeline {
    pub fn new(config: Config) -> Pipeline {
        let budget = Budget::new(config.max_ooo_bytes_total);
        Pipeline {
            config,
            flows: HashMap::default(),
            budget,
            stats: StatsSnapshot::default(),
            events: Vec::new(),
            now: None,
            next_sweep: Timestamp(0),
            next_stats: Timestamp(0),
            last_flow_limit_alert: None,
            flow_limit_suppressed: 0,
            last_budget_alert: None,
            budget_exhausted_reported: 0,
            last_drop_alert: None,
            drops_reported: 0,
        }
    }

    /// The capture time reached so far (`None` before the first packet).
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// Events produced so far, in order; the caller writes them.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Whether events are waiting (most packets, bare ACKs and requests, produce none).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Moves the events produced so far to the end of `out`, in order. With `out` empty the
    /// two buffers are swapped rather than copied.
    pub fn take_events_into(&mut self, out: &mut Vec<Event>) {
        if out.is_empty() {
            std::mem::swap(&mut self.events, out);
        } else {
            out.append(&mut self.events);
        }
    }

    /// The capture lost everything up to `to` (the job engine saw a silence of the whole
    /// capture and reported it): the holes this leaves in every TCP stream are that same
    /// incident, so for a while they are counted without a `tcp.gap` alert per flow.
    pub fn excuse_capture_gap(&mut self, to: Timestamp) {
        let until = to.plus_micros(CAPTURE_GAP_EXCUSE_US);
        for flow in self.flows.values_mut() {
            flow.excuse_gaps_until = flow.excuse_gaps_until.max(until);
        }
    }

    /// The oldest and newest requests of `flow`'s connection still awaiting a response.
    pub fn pending_span(&self, flow: &FlowInfo) -> Option<(Timestamp, Timestamp)> {
        let (key, _) = FlowKey::of(flow.transport, flow.client, flow.server);
        match &self.flows.get(&key)?.app {
            AppState::Active(session) => session.pending_span(),
            _ => None,
        }
    }

    /// The current counters.
    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self.stats.clone();
        s.flows_active = self.flows.len() as u64;
        s.tcp_buffered_bytes = self.budget.used as u64;
        s
    }

    /// Live capture: the kernel's and the interface's cumulative drop counters. New drops raise
    /// a `sensor_health` alert (at most one a minute): every later conclusion about missed polls
    /// must be read in their light.
    pub fn set_capture_drops(&mut self, capture_drops: u64, interface_drops: u64) {
        let total = capture_drops.saturating_add(interface_drops);
        let before = self.stats.capture_drops.saturating_add(self.stats.interface_drops);
        self.stats.capture_drops = capture_drops;
        self.stats.interface_drops = interface_drops;
        let now = self.now.unwrap_or_default();
        if total > self.drops_reported && total > before && self.health_alert_due(self.last_drop_alert, now) {
            let new = total - self.drops_reported;
            self.drops_reported = total;
            self.last_drop_alert = Some(now);
            self.events.push(Event::Alert(Box::new(Alert::sensor_health(
                now,
                Severity::High,
                "sensor.capture_drops",
                format!(
                    "The capture dropped {new} packet(s) ({capture_drops} by the kernel, {interface_drops} by the interface so far); transactions may be missing."
                ),
            ))));
        }
    }

    /// One captured frame.
    pub fn process(&mut self, ts: Timestamp, link: LinkType, frame: &[u8]) {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        self.advance(ts);
        let packet = match decode(link, frame, self.config.verify_checksums) {
            Ok(p) => p,
            Err(skipped) => {
                match skipped {
                    Skipped::NotIp => self.stats.non_ip += 1,
                    Skipped::OtherTransport => self.stats.other_transport += 1,
                    Skipped::IpFragment => self.stats.ip_fragments += 1,
                    Skipped::Malformed => self.stats.malformed += 1,
                    Skipped::BadChecksum => self.stats.bad_checksums += 1,
                }
                return;
            }
        };
        self.packet(ts, packet);
    }

    /// Capture time moved on without a packet (live capture idle): run the timers.
    pub fn tick(&mut self, ts: Timestamp) {
        self.advance(ts);
    }

    /// The capture ended: close every flow and write the final stats.
    pub fn finish(&mut self) {
        let Some(now) = self.now else {
            self.events.push(Event::Stats(Box::new((Timestamp(0), self.stats()))));
            return;
        };
        let mut keys: Vec<(u64, FlowKey)> = self.flows.iter().map(|(k, f)| (f.info.flow_id, *k)).collect();
        keys.sort_unstable_by_key(|(id, _)| *id);
        let start = self.events.len();
        for (_, key) in keys {
            self.close_flow(&key, FlowEnd::EndOfCapture, now);
        }
        sort_events(&mut self.events[start..]);
        let stats = self.stats();
        self.events.push(Event::Stats(Box::new((now, stats))));
    }

    fn advance(&mut self, ts: Timestamp) {
        let now = match self.now {
            None => {
                self.next_sweep = ts.plus_micros(SWEEP_INTERVAL_US);
                self.next_stats = ts.plus_micros(self.config.stats_interval_us);
                ts
            }
            Some(prev) => prev.max(ts),
        };
        self.now = Some(now);
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now.plus_micros(SWEEP_INTERVAL_US);
        }
        if self.config.stats_interval_us > 0 && now >= self.next_stats {
            let stats = self.stats();
            self.events.push(Event::Stats(Box::new((now, stats))));
            self.next_stats = now.plus_micros(self.config.stats_interval_us);
        }
    }

    /// Response timeouts and idle flows. Events come out sorted by time, then flow id, whatever
    /// the hash map's order.
    fn sweep(&mut self, now: Timestamp) {
        let start = self.events.len();
        let mut idle: Vec<(u64, FlowKey)> = Vec::new();
        for (key, flow) in self.flows.iter_mut() {
            let timeout = match key.transport {
                Transport::Tcp => self.config.tcp_idle_timeout_us,
                Transport::Udp => self.config.udp_idle_timeout_us,
            };
            if now.micros_since(flow.last_seen) >= timeout {
                idle.push((flow.info.flow_id, *key));
                continue;
            }
            if let AppState::Active(session) = &mut flow.app {
                if session.has_pending() {
                    let mut ctx = SessionCtx {
                        flow: &flow.info,
                        ts: now,
                        config: &self.config,
                        stats: &mut self.stats,
                        events: &mut self.events,
                    };
                    session.on_timer(&mut ctx);
                }
            }
        }
        idle.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in idle {
            self.stats.flows_timed_out += 1;
            self.close_flow(&key, FlowEnd::IdleTimeout, now);
        }
        sort_events(&mut self.events[start..]);
        if self.budget.exhausted > self.budget_exhausted_reported && self.health_alert_due(self.last_budget_alert, now)
        {
            let n = self.budget.exhausted - self.budget_exhausted_reported;
            self.budget_exhausted_reported = self.budget.exhausted;
            self.last_budget_alert = Some(now);
            self.events.push(Event::Alert(Box::new(Alert::sensor_health(
                now,
                Severity::Medium,
                "sensor.reassembly_memory_limit",
                format!(
                    "The TCP reassembly memory bound ({} bytes over all flows) was reached {n} time(s); holes were skipped instead of buffered.",
                    self.config.max_ooo_bytes_total
                ),
            ))));
        }
    }

    fn health_alert_due(&self, last: Option<Timestamp>, now: Timestamp) -> bool {
        last.is_none_or(|t| now.micros_since(t) >= HEALTH_ALERT_INTERVAL_US)
    }

    fn packet(&mut self, ts: Timestamp, packet: DecodedPacket<'_>) {
        match packet.transport {
            TransportPart::Tcp { src_port, dst_port, seq, ack, flags, payload, missing } => {
                let a = Endpoint { ip: packet.src, port: src_port };
                let b = Endpoint { ip: packet.dst, port: dst_port };
                self.tcp(ts, a, b, seq, ack, flags, payload, missing);
            }
            TransportPart::Udp { src_port, dst_port, payload } => {
                let a = Endpoint { ip: packet.src, port: src_port };
                let b = Endpoint { ip: packet.dst, port: dst_port };
                self.udp(ts, a, b, payload);
            }
        }
    }

    /// Creates the flow of a packet from `a` to `b` unless `known`; false when it is not tracked.
    /// Everything a new flow needs (ports, orientation) is worked out here, once per flow, not
    /// per packet.
    #[allow(clippy::too_many_arguments)]
    fn ensure_flow(
        &mut self,
        ts: Timestamp,
        key: FlowKey,
        a: Endpoint,
        b: Endpoint,
        a_is_lo: bool,
        orientation: Orientation,
        known: bool,
    ) -> bool {
        if !known {
            let port = by_port(key.transport == Transport::Tcp, a.port, b.port);
            let client_is_a = match orientation {
                Orientation::ClientIsA(client_is_a) => client_is_a,
                // The side on a protocol's well-known port is the server; else the lower port is.
                Orientation::ByPort => port.map_or(a.port >= b.port, |(_, server_port)| server_port == b.port),
            };
            if self.flows.len() >= self.config.max_flows {
                self.stats.flows_untracked += 1;
                self.flow_limit_suppressed += 1;
                if self.health_alert_due(self.last_flow_limit_alert, ts) {
                    self.last_flow_limit_alert = Some(ts);
                    let n = std::mem::take(&mut self.flow_limit_suppressed);
                    self.events.push(Event::Alert(Box::new(Alert::sensor_health(
                        ts,
                        Severity::High,
                        "sensor.flow_table_full",
                        format!(
                            "The flow table is full ({} flows): {n} new conversation(s) are not being monitored.",
                            self.config.max_flows
                        ),
                    ))));
                }
                return false;
            }
            let (lo, hi) = (key.lo, key.hi);
            let client_is_lo = client_is_a == a_is_lo;
            let (client, server) = if client_is_lo { (lo, hi) } else { (hi, lo) };
            let port_spec = port.map(|(spec, _)| spec);
            let info = FlowInfo { flow_id: flow_id(&key, ts.as_micros()), transport: key.transport, client, server };
            self.stats.flows += 1;
            self.flows.insert(
                key,
                Flow {
                    info,
                    client_is_lo,
                    last_seen: ts,
                    tcp: [TcpDirection::default(), TcpDirection::default()],
                    app: AppState::Probing(Prober::new(port_spec)),
                    limiter: AnomalyLimiter::default(),
                    excuse_gaps_until: Timestamp(0),
                },
            );
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        ts: Timestamp,
        a: Endpoint,
        b: Endpoint,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
        missing: u32,
    ) {
        let (key, a_is_lo) = FlowKey::of(Transport::Tcp, a, b);
        // A SYN with FIN or RST set is a fuzzed or hostile packet, not a handshake.
        let handshake = flags.syn && !flags.fin && !flags.rst;
        let known = self.flows.contains_key(&key);
        if !known {
            // Only a handshake or data starts tracking; stray ACKs, FINs and RSTs of unknown or
            // finished conversations do not.
            if !handshake && (payload.is_empty() || flags.rst) {
                return;
            }
        }
        // A SYN says who the client is (its sender, unless it is the SYN-ACK); mid-stream, ports do.
        let orientation = if handshake { Orientation::ClientIsA(!flags.ack) } else { Orientation::ByPort };
        if !self.ensure_flow(ts, key, a, b, a_is_lo, orientation, known) {
            return;
        }
        let Pipeline { config, budget, stats, events, flows, .. } = self;
        let Some(flow) = flows.get_mut(&key) else { return };
        flow.last_seen = flow.last_seen.max(ts);
        let dir = if a_is_lo == flow.client_is_lo { Direction::ToServer } else { Direction::ToClient };
        if matches!(flow.app, AppState::Ignored) {
            let closing = flags.rst || (flags.fin && flow.tcp[dir_index(dir.reverse())].fin_seen());
            if flags.fin {
                flow.tcp[dir_index(dir)].on_fin(seq, 0);
            }
            if closing {
                self.stats.flows_closed += 1;
                self.close_flow(&key, FlowEnd::Closed, ts);
            }
            return;
        }

        let mut shared = Shared { config, stats, events, ts, gaps_excused: ts < flow.excuse_gaps_until };
        let Flow { info, tcp, app, limiter, .. } = flow;
        let [to_server, to_client] = tcp;
        let (this, other) = match dir {
            Direction::ToServer => (to_server, to_client),
            Direction::ToClient => (to_client, to_server),
        };

        if handshake {
            this.on_syn(seq, budget);
        }
        if flags.ack {
            // The peer's bytes this segment acknowledges but we never saw are lost for good.
            let other_clean = other.started_with_handshake();
            other.on_peer_ack(ts.as_micros(), ack, budget, &mut |d| {
                deliver(app, info, limiter, &mut shared, dir.reverse(), other_clean, d)
            });
        }
        let data_seq = if handshake { seq.wrapping_add(1) } else { seq };
        let this_clean = this.started_with_handshake();
        if !payload.is_empty() || missing > 0 {
            let outcome = this.on_segment(
                ts.as_micros(),
                data_seq,
                payload,
                missing,
                shared.config.max_ooo_bytes_per_direction,
                budget,
                &mut |d| deliver(app, info, limiter, &mut shared, dir, this_clean, d),
            );
            let s = &mut *shared.stats;
            s.tcp_midstream += u64::from(outcome.midstream_start);
            s.tcp_retransmissions += u64::from(outcome.retransmission);
            s.tcp_out_of_order += u64::from(outcome.out_of_order);
            s.tcp_overlap_mismatches += u64::from(outcome.overlap_mismatch);
            s.tcp_buffer_limit += u64::from(outcome.buffer_limit);
            if outcome.overlap_mismatch {
                tcp_anomaly(info, limiter, &mut shared, &tcp_anomalies::OVERLAP_MISMATCH, dir);
            }
            if outcome.buffer_limit {
                tcp_anomaly(info, limiter, &mut shared, &tcp_anomalies::REASSEMBLY_LIMIT, dir);
            }
        }
        if flags.fin {
            this.on_fin(data_seq, (payload.len() as u32).wrapping_add(missing));
        }
        let closing = flags.rst || (this.fin_seen() && other.fin_seen());
        if closing {
            self.stats.flows_closed += 1;
            self.close_flow(&key, FlowEnd::Closed, ts);
        }
    }

    fn udp(&mut self, ts: Timestamp, a: Endpoint, b: Endpoint, payload: &[u8]) {
        let (key, a_is_lo) = FlowKey::of(Transport::Udp, a, b);
        let known = self.flows.contains_key(&key);
        if !known && by_port(false, a.port, b.port).is_none() {
            return; // no UDP protocol claims these ports
        }
        if !self.ensure_flow(ts, key, a, b, a_is_lo, Orientation::ByPort, known) {
            return;
        }
        let Pipeline { config, stats, events, flows, .. } = self;
        let Some(flow) = flows.get_mut(&key) else { return };
        flow.last_seen = flow.last_seen.max(ts);
        let dir = if a_is_lo == flow.client_is_lo { Direction::ToServer } else { Direction::ToClient };
        let mut shared = Shared { config, stats, events, ts, gaps_excused: ts < flow.excuse_gaps_until };
        let Flow { info, app, limiter, .. } = flow;
        // A datagram is always a whole message: its start is known.
        deliver(app, info, limiter, &mut shared, dir, true, Delivery::Data(payload));
    }

    fn close_flow(&mut self, key: &FlowKey, end: FlowEnd, ts: Timestamp) {
        let Some(mut flow) = self.flows.remove(key) else { return };
        let Pipeline { config, budget, stats, events, .. } = self;
        let mut shared = Shared { config, stats, events, ts, gaps_excused: ts < flow.excuse_gaps_until };
        let Flow { info, tcp, app, limiter, .. } = &mut flow;
        if !matches!(app, AppState::Ignored) {
            for (i, dir) in [Direction::ToServer, Direction::ToClient].into_iter().enumerate() {
                if let Some(stream) = tcp.get_mut(i) {
                    let clean = stream.started_with_handshake();
                    stream.flush(budget, &mut |d| deliver(app, info, limiter, &mut shared, dir, clean, d));
                }
            }
        }
        for stream in tcp.iter_mut() {
            stream.release(budget);
        }
        let mut ctx = SessionCtx { flow: info, ts, config: shared.config, stats: shared.stats, events: shared.events };
        match app {
            AppState::Active(session) => session.on_close(&mut ctx, end),
            AppState::Probing(prober) => {
                // Still undecided at the end, but its bytes were refused: report it too.
                if let Some(spec) = prober.refused_by_port_protocol() {
                    not_this_protocol(&mut ctx, info, spec);
                }
            }
            AppState::Ignored => {}
        }
    }
}

/// Hands one delivery to the flow's application layer (probing or session).
#[allow(clippy::too_many_arguments)]
fn deliver(
    app: &mut AppState,
    info: &FlowInfo,
    limiter: &mut AnomalyLimiter,
    shared: &mut Shared<'_>,
    dir: Direction,
    from_handshake: bool,
    delivery: Delivery<'_>,
) {
    if let Delivery::Gap(len) = delivery {
        shared.stats.tcp_gaps += 1;
        shared.stats.tcp_gap_bytes += u64::from(len);
        if !matches!(app, AppState::Ignored) && !shared.gaps_excused {
            tcp_anomaly(info, limiter, shared, &tcp_anomalies::GAP, dir);
        }
    }
    // Bytes released from the out-of-order buffer carry the time of the packet that brought them.
    let (delivery, ts) = match delivery {
        Delivery::Buffered(bytes, ts_us) => (Delivery::Data(bytes), Timestamp(ts_us).min(shared.ts)),
        other => (other, shared.ts),
    };
    let mut ctx = SessionCtx { flow: info, ts, config: shared.config, stats: shared.stats, events: shared.events };
    match app {
        AppState::Active(session) => match delivery {
            Delivery::Data(bytes) | Delivery::Buffered(bytes, _) => session.on_data(&mut ctx, dir, bytes),
            Delivery::Gap(len) => session.on_gap(&mut ctx, dir, len),
        },
        AppState::Probing(prober) => match delivery {
            Delivery::Gap(_) => prober.gap(dir),
            Delivery::Data(bytes) | Delivery::Buffered(bytes, _) => match prober.feed(dir, bytes, from_handshake) {
                Verdict::Undecided => {}
                Verdict::Matched { spec, held } => {
                    let mut session = (spec.new_session)(ctx.config);
                    for (d, bytes) in held {
                        session.on_data(&mut ctx, d, &bytes);
                    }
                    *app = AppState::Active(session);
                }
                Verdict::Rejected { port_spec } => {
                    if let Some(spec) = port_spec {
                        not_this_protocol(&mut ctx, info, spec);
                    }
                    *app = AppState::Ignored;
                }
            },
        },
        AppState::Ignored => {}
    }
}

/// A flow on `spec`'s port carries something else: one alert, and the flow is counted.
fn not_this_protocol(ctx: &mut SessionCtx<'_>, info: &FlowInfo, spec: &'static crate::app::ProtocolSpec) {
    ctx.stats.unrecognised_flows += 1;
    ctx.stats.anomalies += 1;
    ctx.events.push(Event::Alert(Box::new(Alert::anomaly(
        ctx.ts,
        info,
        Some(spec.name),
        spec.not_this_protocol,
        format!(
            "Traffic from {} to {} port {} is not {}; it is not dissected.",
            info.client.ip, info.server.ip, info.server.port, spec.name
        ),
    ))));
}

fn tcp_anomaly(
    info: &FlowInfo,
    limiter: &mut AnomalyLimiter,
    shared: &mut Shared<'_>,
    kind: &'static AnomalyKind,
    dir: Direction,
) {
    shared.stats.anomalies += 1;
    if let Some(count) = limiter.admit(kind, shared.ts) {
        let (from, to) = match dir {
            Direction::ToServer => (info.client.ip, info.server.ip),
            Direction::ToClient => (info.server.ip, info.client.ip),
        };
        let mut alert = Alert::anomaly(
            shared.ts,
            info,
            None,
            kind,
            format!("TCP stream from {from} to {to}: {}.", kind.description.trim_end_matches('.')),
        );
        if count > 1 {
            alert.count = Some(count);
        }
        shared.events.push(Event::Alert(Box::new(alert)));
    }
}

/// Orders events by capture time, then flow id (stable for everything else).
fn sort_events(events: &mut [Event]) {
    events.sort_by_key(|e| {
        let flow = match e {
            Event::Transaction(t) => t.flow.flow_id,
            Event::Alert(a) => a.flow.as_ref().map_or(0, |f| f.flow_id),
            Event::Job(j) => j.flow.as_ref().map_or(0, |f| f.flow_id),
            Event::Stats(_) => 0,
        };
        (e.timestamp(), flow)
    });
}
