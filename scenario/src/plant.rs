//! A plant model: masters polling PLCs with periodic jobs, one TCP connection per master–PLC
//! pair, merged into one timeline in timestamp order.
//!
//! Each connection generates its traffic one exchange (request, response, delayed ACK) at a time
//! into a small queue; a binary heap keyed by the head of each queue merges the connections, so
//! memory is bounded by the number of connections, whatever the capture size. Every connection
//! has its own RNG seeded from the plant's seed and its index, so the same configuration gives
//! the same capture byte for byte.

use crate::capture::{Packet, PacketSink};
use crate::modbus::{self, ExceptionCode, FunctionCode, Request, TransactionIds};
use crate::tcp::{Endpoint, Side, TcpConversation};
use anyhow::{bail, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Poll periods a job picks from (ms): the round numbers engineers configure.
pub const PERIODS_MS: [u64; 8] = [100, 200, 250, 500, 1000, 2000, 2500, 5000];

/// The shape of the plant and how its traffic misbehaves.
#[derive(Clone, Debug)]
pub struct PlantConfig {
    pub seed: u64,
    pub masters: usize,
    /// PLCs in the plant; masters pick theirs from this pool, so some PLCs serve several masters.
    pub plcs: usize,
    /// PLCs each master polls (inclusive range).
    pub plcs_per_master: (usize, usize),
    /// Periodic jobs per master–PLC connection (inclusive range).
    pub jobs_per_connection: (usize, usize),
    /// Each poll is late or early by up to this fraction of its period.
    pub jitter: f64,
    /// A PLC's typical response time is drawn from this range (inclusive, µs)...
    pub response_time_us: (u64, u64),
    /// ... and each response varies around it by up to this fraction.
    pub response_variation: f64,
    /// Capture time of the first packet.
    pub start: Duration,
    /// A master's pure ACK follows a response after this long, unless its next request
    /// piggy-backs the ACK first.
    pub delayed_ack: Duration,
    /// Chance that a request or response is split across two TCP segments.
    pub split_probability: f64,
    /// Chance that a poll pipelines a second job's request in the same segment (the response
    /// segment then carries both responses).
    pub coalesce_probability: f64,
    /// Chance that a request is retransmitted (exactly, after an RTO) before it is answered.
    pub retransmit_probability: f64,
    /// Chance that a PLC answers with an exception.
    pub exception_probability: f64,
}

impl Default for PlantConfig {
    fn default() -> Self {
        PlantConfig {
            seed: 1,
            masters: 4,
            plcs: 8,
            plcs_per_master: (2, 4),
            jobs_per_connection: (1, 4),
            jitter: 0.03,
            response_time_us: (1_000, 20_000),
            response_variation: 0.2,
            // 2024-01-01T00:00:00Z
            start: Duration::from_secs(1_704_067_200),
            delayed_ack: Duration::from_millis(40),
            split_probability: 0.01,
            coalesce_probability: 0.01,
            retransmit_probability: 0.0,
            exception_probability: 0.001,
        }
    }
}

impl PlantConfig {
    /// `masters` masters over a pool of twice as many PLCs, the rest default.
    pub fn with_masters(masters: usize, seed: u64) -> PlantConfig {
        PlantConfig { seed, masters, plcs: (masters * 2).max(1), ..PlantConfig::default() }
    }
}

/// One master–PLC TCP connection (ground truth).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub master: usize,
    pub plc: usize,
    pub client: Endpoint,
    pub server: Endpoint,
    pub unit_id: u8,
    /// When the connection opens (its SYN).
    pub open_at: Duration,
    /// The PLC's typical response time.
    pub response_time: Duration,
}

/// One periodic job (ground truth for the job engine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// Index into [`Plant::connections`].
    pub connection: usize,
    pub unit_id: u8,
    pub function: FunctionCode,
    pub address: u16,
    pub quantity: u16,
    pub period: Duration,
}

/// When generation stops; the connections are then closed (FIN/ACK), so a capture runs a
/// little past the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    /// Stop after this many packets (0: no packet limit).
    pub packets: u64,
    /// Stop at this much capture time after the start.
    pub duration: Option<Duration>,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    pub requests: u64,
    pub responses: u64,
    pub exceptions: u64,
    pub split_segments: u64,
    pub coalesced_segments: u64,
    pub retransmissions: u64,
    pub first_ts: Duration,
    pub last_ts: Duration,
}

/// The plant: its topology and jobs, fixed by the configuration and seed.
#[derive(Debug)]
pub struct Plant {
    config: PlantConfig,
    connections: Vec<ConnectionSpec>,
    jobs: Vec<JobSpec>,
}

fn pick_range(rng: &mut SmallRng, (lo, hi): (usize, usize)) -> usize {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

fn host(net: [u8; 2], index: usize) -> (Ipv4Addr, [u8; 6]) {
    // Hosts from .10 on; a /16 holds 65 000 of them.
    let n = (index as u32 + 10) & 0xFFFF;
    let [_, _, hi, lo] = n.to_be_bytes();
    (Ipv4Addr::new(10, net[0], hi, lo), [0x02, 0x00, 10, net[0], hi, lo])
}

/// A job's function and address range, weighted as real polling traffic is (mostly FC 3).
fn random_job(rng: &mut SmallRng) -> (FunctionCode, u16, u16) {
    let roll = rng.gen_range(0..100);
    let (function, max_quantity) = match roll {
        0..=39 => (FunctionCode::READ_HOLDING_REGISTERS, 60),
        40..=54 => (FunctionCode::READ_INPUT_REGISTERS, 40),
        55..=69 => (FunctionCode::READ_COILS, 64),
        70..=79 => (FunctionCode::READ_DISCRETE_INPUTS, 64),
        80..=86 => (FunctionCode::WRITE_MULTIPLE_REGISTERS, 16),
        87..=91 => (FunctionCode::WRITE_SINGLE_REGISTER, 1),
        92..=95 => (FunctionCode::WRITE_SINGLE_COIL, 1),
        _ => (FunctionCode::WRITE_MULTIPLE_COILS, 32),
    };
    let quantity = if max_quantity == 1 { 1 } else { rng.gen_range(1..=max_quantity) };
    let address = rng.gen_range(0..1000u16) * 10;
    (function, address, quantity)
}

impl Plant {
    /// Draws the topology and jobs from the seed.
    pub fn new(config: PlantConfig) -> Plant {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let plcs = config.plcs.max(1);
        let mut plc_units = Vec::with_capacity(plcs);
        let mut plc_response = Vec::with_capacity(plcs);
        for _ in 0..plcs {
            let unit = match rng.gen_range(0..10) {
                0 => 255,
                1 => 0,
                2 => rng.gen_range(2..=247),
                _ => 1,
            };
            plc_units.push(unit);
            let (lo, hi) = config.response_time_us;
            plc_response.push(Duration::from_micros(if hi <= lo { lo } else { rng.gen_range(lo..=hi) }));
        }
        let mut connections = Vec::new();
        let mut jobs = Vec::new();
        for master in 0..config.masters {
            let (ip, mac) = host([10, 0], master);
            let wanted = pick_range(&mut rng, config.plcs_per_master).min(plcs);
            let mut chosen: Vec<usize> = Vec::with_capacity(wanted);
            // Masters mostly poll their own neighbourhood of the pool.
            while chosen.len() < wanted {
                let plc = (master * 2 + rng.gen_range(0..wanted.max(4))) % plcs;
                if !chosen.contains(&plc) {
                    chosen.push(plc);
                }
                if chosen.len() < wanted && rng.gen_bool(0.1) {
                    let other = rng.gen_range(0..plcs);
                    if !chosen.contains(&other) {
                        chosen.push(other);
                    }
                }
            }
            let mut port = rng.gen_range(49152..60000u16);
            for plc in chosen {
                let (plc_ip, plc_mac) = host([20, 0], plc);
                let index = connections.len();
                port = port.wrapping_add(rng.gen_range(1..20));
                connections.push(ConnectionSpec {
                    master,
                    plc,
                    client: Endpoint { mac, ip, port },
                    server: Endpoint { mac: plc_mac, ip: plc_ip, port: 502 },
                    unit_id: plc_units.get(plc).copied().unwrap_or(1),
                    open_at: config.start + Duration::from_micros(rng.gen_range(0..1_000_000)),
                    response_time: plc_response.get(plc).copied().unwrap_or(Duration::from_millis(5)),
                });
                for _ in 0..pick_range(&mut rng, config.jobs_per_connection).max(1) {
                    let (function, address, quantity) = random_job(&mut rng);
                    let mut period_ms = PERIODS_MS[rng.gen_range(0..PERIODS_MS.len())];
                    if function.0 >= 5 {
                        period_ms = period_ms.max(1000); // set-points are written less often
                    }
                    jobs.push(JobSpec {
                        connection: index,
                        unit_id: plc_units.get(plc).copied().unwrap_or(1),
                        function,
                        address,
                        quantity,
                        period: Duration::from_millis(period_ms),
                    });
                }
            }
        }
        Plant { config, connections, jobs }
    }

    pub fn config(&self) -> &PlantConfig {
        &self.config
    }

    pub fn connections(&self) -> &[ConnectionSpec] {
        &self.connections
    }

    pub fn jobs(&self) -> &[JobSpec] {
        &self.jobs
    }

    /// Generates the capture into `sink`, in timestamp order, until `limit`; then closes every
    /// connection.
    pub fn run(&self, limit: Limit, sink: &mut dyn PacketSink) -> Result<Summary> {
        if limit.packets == 0 && limit.duration.is_none() {
            bail!("a plant run needs a packet or duration limit");
        }
        let mut timeline = Timeline::new(self);
        let end = limit.duration.map(|d| self.config.start + d);
        let mut summary = Summary::default();
        let mut closing = false;
        while let Some(packet) = timeline.next_packet(closing)? {
            if summary.packets == 0 {
                summary.first_ts = packet.ts;
            }
            summary.last_ts = packet.ts;
            summary.packets += 1;
            sink.packet(packet.ts, &packet.frame)?;
            if !closing
                && ((limit.packets > 0 && summary.packets >= limit.packets)
                    || end.is_some_and(|e| summary.last_ts >= e))
            {
                closing = true;
            }
        }
        for conn in &timeline.conns {
            summary.requests += conn.counters.requests;
            summary.responses += conn.counters.responses;
            summary.exceptions += conn.counters.exceptions;
            summary.split_segments += conn.counters.split_segments;
            summary.coalesced_segments += conn.counters.coalesced_segments;
            summary.retransmissions += conn.counters.retransmissions;
        }
        Ok(summary)
    }

    /// Convenience for tests and benchmarks: the capture in memory.
    pub fn packets(&self, limit: Limit) -> Result<(Vec<Packet>, Summary)> {
        let mut out = Vec::new();
        let summary = self.run(limit, &mut out)?;
        Ok((out, summary))
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: u64,
    responses: u64,
    exceptions: u64,
    split_segments: u64,
    coalesced_segments: u64,
    retransmissions: u64,
}

#[derive(Debug)]
struct JobState {
    job: usize,
    next_due: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Opening,
    Running,
    Done,
}

/// The per-connection packet queue: the packets of one exchange.
#[derive(Debug, Default)]
struct Queue {
    packets: VecDeque<Packet>,
}

impl PacketSink for Queue {
    fn packet(&mut self, ts: Duration, frame: &[u8]) -> Result<()> {
        self.packets.push_back(Packet { ts, frame: frame.to_vec() });
        Ok(())
    }
}

/// One connection's generator.
#[derive(Debug)]
struct ConnGen {
    index: usize,
    tcp: TcpConversation,
    rng: SmallRng,
    tids: TransactionIds,
    jobs: Vec<JobState>,
    queue: Queue,
    /// Timestamp of the last packet generated: the next exchange starts after it.
    busy_until: Duration,
    phase: Phase,
    counters: Counters,
    /// Scratch buffers for ADUs.
    request: Vec<u8>,
    response: Vec<u8>,
}

const MICRO: Duration = Duration::from_micros(1);
/// Least bytes in the first segment of a split ADU (MBAP header and function code).
const SPLIT_MIN: usize = modbus::MBAP_LEN + 1;

impl ConnGen {
    fn new(plant: &Plant, index: usize, spec: &ConnectionSpec) -> ConnGen {
        let mut rng =
            SmallRng::seed_from_u64(plant.config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let tcp = TcpConversation::new(spec.client, spec.server, rng.gen(), rng.gen());
        let jobs = plant
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| j.connection == index)
            .map(|(job, j)| {
                let offset = rng.gen_range(0..j.period.as_micros().max(1) as u64);
                JobState { job, next_due: spec.open_at + Duration::from_millis(2) + Duration::from_micros(offset) }
            })
            .collect();
        ConnGen {
            index,
            tcp,
            rng,
            tids: TransactionIds::starting_at(1),
            jobs,
            queue: Queue::default(),
            busy_until: spec.open_at,
            phase: Phase::Opening,
            counters: Counters::default(),
            request: Vec::with_capacity(300),
            response: Vec::with_capacity(300),
        }
    }

    fn rtt(&mut self) -> Duration {
        Duration::from_micros(self.rng.gen_range(150..600))
    }

    /// Appends the next exchange (or the handshake, or the teardown) to the queue.
    fn refill(&mut self, plant: &Plant, closing: bool) -> Result<()> {
        let spec = &plant.connections[self.index];
        match self.phase {
            Phase::Done => Ok(()),
            Phase::Opening => {
                let rtt = self.rtt();
                self.busy_until = self.tcp.handshake(spec.open_at, rtt, &mut self.queue)?;
                self.phase = Phase::Running;
                Ok(())
            }
            Phase::Running if closing => {
                let at = self.busy_until + Duration::from_millis(1);
                let rtt = self.rtt();
                self.busy_until = self.tcp.close(Side::Client, at, rtt, &mut self.queue)?;
                self.phase = Phase::Done;
                Ok(())
            }
            Phase::Running => self.exchange(plant, spec),
        }
    }

    /// The soonest job; ties go to the earlier job.
    fn soonest(&self, except: Option<usize>) -> Option<usize> {
        (0..self.jobs.len()).filter(|&i| Some(i) != except).min_by_key(|&i| (self.jobs[i].next_due, i))
    }

    fn reschedule(&mut self, slot: usize, period: Duration, jitter: f64, now: Duration) {
        let factor = 1.0 + jitter * self.rng.gen_range(-1.0..=1.0);
        let state = &mut self.jobs[slot];
        // Scheduled from the previous due time, so a late poll does not shift the job's phase.
        state.next_due += period.mul_f64(factor.max(0.01));
        if state.next_due <= now {
            state.next_due = now + period.mul_f64(factor.max(0.01));
        }
    }

    fn exchange(&mut self, plant: &Plant, spec: &ConnectionSpec) -> Result<()> {
        let config = &plant.config;
        let Some(first) = self.soonest(None) else {
            // No jobs: the connection idles and is never closed.
            return Ok(());
        };
        let t_request = self.jobs[first].next_due.max(self.busy_until + Duration::from_micros(50));
        let mut slots = vec![first];
        if self.jobs.len() > 1 && self.rng.gen_bool(config.coalesce_probability) {
            if let Some(second) = self.soonest(Some(first)) {
                slots.push(second);
            }
        }
        // Requests, back to back.
        self.request.clear();
        let mut requests = Vec::with_capacity(slots.len());
        for &slot in &slots {
            let job = &plant.jobs[self.jobs[slot].job];
            let request = self.request_for(job);
            let tid = self.tids.next_id();
            modbus::write_adu(tid, job.unit_id, &mut self.request, |o| request.write_pdu(o));
            requests.push((tid, job.unit_id, request));
            self.counters.requests += 1;
        }
        let mut t = t_request;
        t = self.send(Side::Client, t, slots.len() > 1, config.split_probability, true)?;
        if self.rng.gen_bool(config.retransmit_probability) {
            // The request was lost beyond the capture point: the master retransmits after an RTO.
            t += Duration::from_millis(self.rng.gen_range(200..400));
            self.tcp.retransmit(Side::Client, t, &mut self.queue)?;
            self.counters.retransmissions += 1;
        }
        // Responses, in one segment when the requests shared one.
        let variation = 1.0 + config.response_variation * self.rng.gen_range(-1.0..=1.0);
        t += spec.response_time.mul_f64(variation.max(0.05)).max(MICRO * 100);
        self.response.clear();
        for (tid, unit, request) in &requests {
            let exception = self.rng.gen_bool(config.exception_probability);
            let seed = u64::from(request.address()) ^ (t.as_secs() / 10);
            modbus::write_adu(*tid, *unit, &mut self.response, |o| {
                if exception {
                    modbus::write_exception_pdu(request.function_code(), ExceptionCode::ILLEGAL_DATA_ADDRESS, o);
                } else {
                    request.write_response_pdu(&mut |i| process_value(seed, i), o);
                }
            });
            self.counters.responses += 1;
            self.counters.exceptions += u64::from(exception);
        }
        t = self.send(Side::Server, t, slots.len() > 1, config.split_probability, false)?;
        for &slot in &slots {
            let period = plant.jobs[self.jobs[slot].job].period;
            self.reschedule(slot, period, config.jitter, t);
        }
        // The master ACKs the response on its own unless its next request comes first.
        let next = self.soonest(None).map_or(Duration::MAX, |s| self.jobs[s].next_due);
        if next > t + config.delayed_ack {
            t += config.delayed_ack;
            self.tcp.ack(Side::Client, t, &mut self.queue)?;
        }
        self.busy_until = t;
        Ok(())
    }

    /// Sends the request or response buffer, perhaps split; returns the last segment's time.
    fn send(
        &mut self,
        side: Side,
        t: Duration,
        coalesced: bool,
        split_probability: f64,
        request: bool,
    ) -> Result<Duration> {
        let buf = if request { &self.request } else { &self.response };
        if coalesced {
            self.counters.coalesced_segments += 1;
        }
        // The first segment keeps the MBAP header and the function code: tshark's Modbus/TCP
        // dissector needs those 8 bytes to recognise a PDU it must reassemble, and the capture's
        // ground truth is checked against tshark. Splits inside the header are the dissector
        // tests' business (`dissectors/tests/modbus_stream.rs` splits at every byte).
        if buf.len() > SPLIT_MIN && self.rng.gen_bool(split_probability) {
            let at = self.rng.gen_range(SPLIT_MIN..buf.len());
            let gap = Duration::from_micros(self.rng.gen_range(20..300));
            self.counters.split_segments += 1;
            return self.tcp.send_split(side, t, buf, at, gap, &mut self.queue);
        }
        self.tcp.send(side, t, buf, &mut self.queue)?;
        Ok(t)
    }

    fn request_for(&mut self, job: &JobSpec) -> Request {
        let (address, quantity) = (job.address, job.quantity);
        match job.function {
            FunctionCode::READ_COILS => Request::ReadCoils { address, quantity },
            FunctionCode::READ_DISCRETE_INPUTS => Request::ReadDiscreteInputs { address, quantity },
            FunctionCode::READ_INPUT_REGISTERS => Request::ReadInputRegisters { address, quantity },
            FunctionCode::WRITE_SINGLE_COIL => Request::WriteSingleCoil { address, value: self.rng.gen() },
            FunctionCode::WRITE_SINGLE_REGISTER => {
                Request::WriteSingleRegister { address, value: self.rng.gen_range(0..1000) }
            }
            FunctionCode::WRITE_MULTIPLE_COILS => {
                Request::WriteMultipleCoils { address, values: (0..quantity).map(|_| self.rng.gen()).collect() }
            }
            FunctionCode::WRITE_MULTIPLE_REGISTERS => Request::WriteMultipleRegisters {
                address,
                values: (0..quantity).map(|_| self.rng.gen_range(0..1000)).collect(),
            },
            _ => Request::ReadHoldingRegisters { address, quantity },
        }
    }
}

/// A slowly changing process value for register `offset` of a block.
fn process_value(seed: u64, offset: u16) -> u16 {
    let x = (seed ^ u64::from(offset)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 40) % 1000) as u16
}

/// The merge of every connection's packets in timestamp order.
#[derive(Debug)]
struct Timeline<'p> {
    plant: &'p Plant,
    conns: Vec<ConnGen>,
    /// (timestamp of the connection's next packet, connection index), earliest first.
    heap: BinaryHeap<Reverse<(Duration, usize)>>,
}

impl<'p> Timeline<'p> {
    fn new(plant: &'p Plant) -> Timeline<'p> {
        let conns: Vec<ConnGen> =
            plant.connections.iter().enumerate().map(|(i, spec)| ConnGen::new(plant, i, spec)).collect();
        let heap = conns.iter().map(|c| Reverse((plant.connections[c.index].open_at, c.index))).collect();
        Timeline { plant, conns, heap }
    }

    /// The next packet of the capture, `None` when every connection is done.
    fn next_packet(&mut self, closing: bool) -> Result<Option<Packet>> {
        while let Some(Reverse((_, index))) = self.heap.pop() {
            let Some(conn) = self.conns.get_mut(index) else { continue };
            if conn.queue.packets.is_empty() {
                conn.refill(self.plant, closing)?;
            }
            let Some(packet) = conn.queue.packets.pop_front() else { continue };
            if conn.queue.packets.is_empty() && conn.phase != Phase::Done {
                // Generate ahead so the heap key is the real next timestamp.
                conn.refill(self.plant, closing)?;
            }
            if let Some(next) = conn.queue.packets.front() {
                self.heap.push(Reverse((next.ts, index)));
            }
            return Ok(Some(packet));
        }
        Ok(None)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capture::PcapSink;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use pcap_file::pcap::PcapReader;
    use std::collections::HashMap;

    fn small_config(seed: u64) -> PlantConfig {
        PlantConfig {
            split_probability: 0.05,
            coalesce_probability: 0.05,
            exception_probability: 0.01,
            ..PlantConfig::with_masters(3, seed)
        }
    }

    /// A TCP segment as the checks need it.
    struct Seg {
        key: (Ipv4Addr, u16, Ipv4Addr, u16),
        seq: u32,
        ack: Option<u32>,
        syn: bool,
        fin: bool,
        payload: Vec<u8>,
    }

    fn decode(frame: &[u8]) -> Seg {
        let sliced = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else { panic!("not IPv4") };
        let header = ip.header().to_header();
        assert_eq!(usize::from(header.total_len), frame.len() - 14, "IPv4 total length");
        assert_eq!(header.calc_header_checksum(), header.header_checksum, "IPv4 checksum");
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { panic!("not TCP") };
        assert_eq!(tcp.calc_checksum_ipv4(header.source, header.destination).unwrap(), tcp.checksum(), "TCP checksum");
        Seg {
            key: (header.source.into(), tcp.source_port(), header.destination.into(), tcp.destination_port()),
            seq: tcp.sequence_number(),
            ack: tcp.ack().then(|| tcp.acknowledgment_number()),
            syn: tcp.syn(),
            fin: tcp.fin(),
            payload: tcp.payload().to_vec(),
        }
    }

    #[derive(Default)]
    pub(crate) struct DirState {
        next_seq: Option<u32>,
        stream: Vec<u8>,
        fin: bool,
    }

    /// Checks sequence/ack continuity of every direction and returns each direction's stream.
    pub(crate) fn check_tcp(
        packets: &[Packet],
        retransmissions_allowed: bool,
    ) -> HashMap<(Ipv4Addr, u16, Ipv4Addr, u16), DirState> {
        let mut dirs: HashMap<_, DirState> = HashMap::new();
        let mut retransmissions = 0;
        for p in packets {
            let seg = decode(&p.frame);
            let reverse = (seg.key.2, seg.key.3, seg.key.0, seg.key.1);
            let peer_next = dirs.get(&reverse).and_then(|d| d.next_seq);
            let dir = dirs.entry(seg.key).or_default();
            if seg.syn {
                assert!(dir.next_seq.is_none(), "one SYN per direction");
                dir.next_seq = Some(seg.seq.wrapping_add(1));
            } else {
                let next = dir.next_seq.expect("data before SYN");
                if seg.seq != next {
                    // Only an exact copy of the last data segment may repeat bytes.
                    assert!(retransmissions_allowed, "sequence discontinuity");
                    let len = seg.payload.len();
                    assert_eq!(seg.seq.wrapping_add(len as u32), next);
                    assert_eq!(&dir.stream[dir.stream.len() - len..], &seg.payload[..]);
                    retransmissions += 1;
                } else {
                    dir.stream.extend_from_slice(&seg.payload);
                    dir.next_seq = Some(next.wrapping_add(seg.payload.len() as u32 + u32::from(seg.fin)));
                }
                assert!(!dir.fin || seg.payload.is_empty(), "data after FIN");
                dir.fin |= seg.fin;
            }
            match seg.ack {
                // Every ACK acknowledges exactly what the peer has sent so far.
                Some(ack) => assert_eq!(Some(ack), peer_next, "ack number"),
                None => assert!(seg.syn && peer_next.is_none(), "only the first SYN goes without ACK"),
            }
        }
        assert!(retransmissions_allowed || retransmissions == 0);
        dirs
    }

    /// Splits a reassembled stream into ADUs by the MBAP length, checking each is whole.
    fn adus(stream: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            assert!(rest.len() >= 8, "truncated MBAP header");
            assert_eq!(&rest[2..4], &[0, 0], "protocol id");
            let len = 6 + usize::from(u16::from_be_bytes([rest[4], rest[5]]));
            let (adu, tail) = rest.split_at(len);
            out.push(adu);
            rest = tail;
        }
        out
    }

    #[test]
    fn tcp_is_continuous_and_modbus_is_whole() {
        let plant = Plant::new(small_config(7));
        let (packets, summary) = plant.packets(Limit { packets: 5_000, duration: None }).unwrap();
        assert_eq!(summary.packets, packets.len() as u64);
        assert!((5_000..5_000 + 4 * plant.connections().len() as u64 + 20).contains(&summary.packets));
        assert!(summary.split_segments > 0 && summary.coalesced_segments > 0 && summary.exceptions > 0);
        assert!(packets.windows(2).all(|w| w[0].ts <= w[1].ts), "timeline in order");
        assert_eq!(packets[0].ts, summary.first_ts);
        let dirs = check_tcp(&packets, false);
        assert_eq!(dirs.len(), 2 * plant.connections().len());
        let mut requests = 0;
        let mut responses = 0;
        for conn in plant.connections() {
            let key = (conn.client.ip, conn.client.port, conn.server.ip, conn.server.port);
            let to_server = &dirs[&key];
            let to_client = &dirs[&(key.2, key.3, key.0, key.1)];
            assert!(to_server.fin && to_client.fin, "every connection is closed");
            let reqs = adus(&to_server.stream);
            let resps = adus(&to_client.stream);
            assert_eq!(reqs.len(), resps.len(), "every request is answered");
            for (i, (req, resp)) in reqs.iter().zip(&resps).enumerate() {
                // Transaction ids count up from 1; the response echoes id, unit and function.
                assert_eq!(u16::from_be_bytes([req[0], req[1]]), i as u16 + 1);
                assert_eq!(req[..2], resp[..2]);
                assert_eq!(req[6], conn.unit_id);
                assert_eq!(req[6], resp[6]);
                assert_eq!(req[7], resp[7] & 0x7F);
            }
            requests += reqs.len() as u64;
            responses += resps.len() as u64;
        }
        assert_eq!((requests, responses), (summary.requests, summary.responses));
    }

    #[test]
    fn retransmissions_are_exact_copies() {
        let config = PlantConfig { retransmit_probability: 0.05, ..small_config(3) };
        let plant = Plant::new(config);
        let (packets, summary) = plant.packets(Limit { packets: 3_000, duration: None }).unwrap();
        assert!(summary.retransmissions > 0);
        check_tcp(&packets, true);
    }

    #[test]
    fn jobs_poll_at_their_period() {
        let plant = Plant::new(PlantConfig::with_masters(2, 11));
        let (packets, _) = plant.packets(Limit { packets: 0, duration: Some(Duration::from_secs(60)) }).unwrap();
        let span = packets.last().unwrap().ts - packets[0].ts;
        assert!(span >= Duration::from_secs(60) && span < Duration::from_secs(61));
        // Requests per job over 60 s ≈ 60 s / period (jitter and queueing move a poll or two).
        let dirs = check_tcp(&packets, false);
        for (index, conn) in plant.connections().iter().enumerate() {
            let key = (conn.client.ip, conn.client.port, conn.server.ip, conn.server.port);
            let polls = adus(&dirs[&key].stream).len() as f64;
            let expected: f64 =
                plant.jobs().iter().filter(|j| j.connection == index).map(|j| 60.0 / j.period.as_secs_f64()).sum();
            assert!((polls - expected).abs() <= expected * 0.05 + 4.0, "{polls} polls, expected {expected}");
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let limit = Limit { packets: 2_000, duration: None };
        let a = Plant::new(small_config(5)).packets(limit).unwrap();
        let b = Plant::new(small_config(5)).packets(limit).unwrap();
        let c = Plant::new(small_config(6)).packets(limit).unwrap();
        assert!(a == b, "same seed, same capture");
        assert!(a.0 != c.0, "another seed, another capture");
    }

    #[test]
    fn pcap_round_trip() {
        let plant = Plant::new(small_config(9));
        let limit = Limit { packets: 1_000, duration: None };
        let (packets, _) = plant.packets(limit).unwrap();
        let mut sink = PcapSink::new(Vec::new()).unwrap();
        let summary = plant.run(limit, &mut sink).unwrap();
        assert_eq!(sink.packets(), summary.packets);
        let bytes = sink.into_inner();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, pcap_file::DataLink::ETHERNET);
        let mut read = Vec::new();
        while let Some(p) = reader.next_packet() {
            let p = p.unwrap();
            assert_eq!(p.orig_len as usize, p.data.len());
            read.push(Packet { ts: p.timestamp, frame: p.data.into_owned() });
        }
        assert!(read == packets, "the pcap file holds the packets generated");
    }

    #[test]
    fn needs_a_limit() {
        assert!(Plant::new(small_config(1)).packets(Limit::default()).is_err());
    }

    #[test]
    fn topology() {
        let plant = Plant::new(PlantConfig::with_masters(50, 1));
        let conns = plant.connections();
        assert!(conns.len() >= 100 && conns.len() <= 200);
        let mut pairs: Vec<_> = conns.iter().map(|c| (c.master, c.plc)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), conns.len(), "one connection per master–PLC pair");
        for job in plant.jobs() {
            assert!(job.period >= Duration::from_millis(100) && job.period <= Duration::from_secs(5));
            assert!((1..=20).contains(&conns[job.connection].response_time.as_millis()));
        }
    }
}
