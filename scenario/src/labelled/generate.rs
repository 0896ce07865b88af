//! The packet generator of a labelled scenario: one generator per connection, each building one
//! exchange at a time into a small queue, merged by a heap keyed by each queue's next packet.

use super::{CommandDef, ConnDef, FailMode, JobMod, Op, Phase, Protocol, Scenario};
use crate::capture::{Packet, PacketSink};
use crate::dnp3::{self, Iin, LinkHeader, ResponseData, Sequences};
use crate::modbus::{self, ExceptionCode, TransactionIds};
use crate::s7comm::{self, Function, Pdu, Rosctr};
use crate::tcp::{Side, TcpConversation};
use anyhow::Result;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// What the generator saw of one injected anomaly, to place its label exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// First packet the anomaly concerns (first affected request, first packet of a command).
    pub first: Option<Duration>,
    /// Last such packet (for a stopped job: its last poll before stopping).
    pub last: Option<Duration>,
    /// When the first affected poll was due (late and missed polls).
    pub due: Option<Duration>,
    /// Polls affected.
    pub count: u32,
}

impl Observation {
    fn saw(&mut self, t: Duration) {
        self.first.get_or_insert(t);
        self.last = Some(t);
    }
}

/// What one phase produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseReport {
    pub phase: Phase,
    /// The phase's nominal window (connections close just after its end).
    pub start: Duration,
    pub end: Duration,
    /// Packets written.
    pub packets: u64,
    /// Packets not written because they fell in the capture gap.
    pub dropped: u64,
    pub first_ts: Duration,
    pub last_ts: Duration,
    /// One per planned anomaly, in plan order (empty observations in the train phase).
    pub observations: Vec<Observation>,
}

/// A pure ACK after this long unless the receiver has data to send first.
const DELAYED_ACK: Duration = Duration::from_millis(40);
/// Least bytes in the first segment of a split PDU (headers the dissectors need whole).
const SPLIT_MIN: usize = 12;

pub(super) fn run(s: &Scenario, phase: Phase, sink: &mut dyn PacketSink) -> Result<PhaseReport> {
    let (start, end) = if phase == Phase::Train { s.train_window() } else { s.test_window() };
    let gap = if phase == Phase::Test { s.gap() } else { None };
    let mut observations = vec![Observation::default(); s.planned.len()];
    let mut conns: Vec<ConnRun> = (0..s.conns.len()).filter_map(|i| ConnRun::new(s, i, phase, start, end)).collect();
    let mut heap: BinaryHeap<Reverse<(Duration, usize)>> =
        conns.iter().enumerate().map(|(k, c)| Reverse((c.open_at, k))).collect();
    let mut report = PhaseReport {
        phase,
        start,
        end,
        packets: 0,
        dropped: 0,
        first_ts: Duration::ZERO,
        last_ts: Duration::ZERO,
        observations: Vec::new(),
    };
    while let Some(Reverse((_, k))) = heap.pop() {
        let Some(conn) = conns.get_mut(k) else { continue };
        if conn.is_empty() {
            conn.refill(s, &mut observations)?;
        }
        let Some(packet) = conn.pop_front() else { continue };
        if conn.is_empty() {
            // Generate ahead so the heap key is the real next timestamp.
            conn.refill(s, &mut observations)?;
        }
        if let Some(next) = conn.front() {
            heap.push(Reverse((next.ts, k)));
        }
        if gap.is_some_and(|(from, until)| packet.ts >= from && packet.ts < until) {
            report.dropped += 1;
            continue;
        }
        if report.packets == 0 {
            report.first_ts = packet.ts;
        }
        report.last_ts = packet.ts;
        report.packets += 1;
        sink.packet(packet.ts, &packet.frame)?;
    }
    if let Some((from, until)) = gap {
        if let Some(o) = s.planned.iter().position(|p| p.until.is_some()).and_then(|i| observations.get_mut(i)) {
            o.first = Some(from);
            o.last = Some(until);
        }
    }
    report.observations = observations;
    Ok(report)
}

#[derive(Debug)]
struct ModState {
    at: Duration,
    modification: JobMod,
    anomaly: usize,
    left: u32,
    applied: bool,
    /// A miss ended or a period changed: the next poll sent is the label's boundary.
    mark_next: bool,
}

#[derive(Debug)]
struct JobRun {
    job: usize,
    period: Duration,
    /// Nominal due time of the next poll.
    next_due: Duration,
    /// When it is actually sent (later for a late poll).
    send_at: Duration,
    stopped: bool,
    modification: Option<ModState>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Opening,
    Running,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Normal,
    Slow,
    Fail(FailMode),
}

/// One message of an exchange: who sends it, how long after the previous one, its bytes
/// (empty: a pure ACK).
#[derive(Debug)]
struct Step {
    side: Side,
    delay: Duration,
    bytes: Vec<u8>,
}

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

#[derive(Debug)]
struct ConnRun {
    index: usize,
    phase: Phase,
    end: Duration,
    open_at: Duration,
    tcp: TcpConversation,
    rng: SmallRng,
    state: State,
    sink: Queue,
    busy_until: Duration,
    jobs: Vec<JobRun>,
    commands: VecDeque<CommandDef>,
    tids: TransactionIds,
    dnp3_master: Sequences,
    dnp3_outstation: Sequences,
    s7_ref: u16,
    s7_plc_ref: u16,
}

impl ConnRun {
    fn new(s: &Scenario, index: usize, phase: Phase, start: Duration, end: Duration) -> Option<ConnRun> {
        let def = &s.conns[index];
        let salt = if phase == Phase::Train { 0x5452_4149_4E00 } else { 0x5445_5354_0000 };
        let mut rng =
            SmallRng::seed_from_u64(s.config.seed ^ salt ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let open_at = match phase {
            Phase::Train if def.in_train => start + Duration::from_micros(rng.gen_range(0..1_000_000)),
            Phase::Train => return None,
            Phase::Test => def.test_open.unwrap_or(start + Duration::from_micros(rng.gen_range(0..1_000_000))),
        };
        let mut client = def.client;
        if phase == Phase::Test {
            // A new TCP connection: another ephemeral port.
            client.port = client.port.wrapping_add(rng.gen_range(1..500)).max(49152);
        }
        let tcp = TcpConversation::new(client, def.server, rng.gen(), rng.gen());
        let ready = open_at + Duration::from_millis(300);
        let mut jobs = Vec::new();
        for (j, job) in s.jobs.iter().enumerate().filter(|(_, j)| j.conn == index) {
            let first = match (phase, job.in_train, job.test_from) {
                (Phase::Train, false, _) => continue,
                (Phase::Test, _, Some(from)) => from.max(ready),
                _ => ready + Duration::from_micros(rng.gen_range(0..job.period.as_micros().max(1) as u64)),
            };
            let modification = match (phase, job.test_mod) {
                (Phase::Test, Some((at, modification, anomaly))) => {
                    let left = match modification {
                        JobMod::Miss { count } | JobMod::Slow { count } | JobMod::Fail { count, .. } => count,
                        _ => 0,
                    };
                    Some(ModState { at, modification, anomaly, left, applied: false, mark_next: false })
                }
                _ => None,
            };
            jobs.push(JobRun {
                job: j,
                period: job.period,
                next_due: first,
                send_at: first,
                stopped: false,
                modification,
            });
        }
        let mut commands: Vec<CommandDef> =
            s.commands.iter().filter(|c| c.conn == index && c.phase == phase).cloned().collect();
        commands.sort_by_key(|c| c.at);
        let mut run = ConnRun {
            index,
            phase,
            end,
            open_at,
            tcp,
            state: State::Opening,
            sink: Queue::default(),
            busy_until: open_at,
            jobs,
            commands: commands.into(),
            tids: TransactionIds::starting_at(rng.gen_range(1..1000)),
            dnp3_master: Sequences::starting_at(rng.gen(), rng.gen()),
            dnp3_outstation: Sequences::starting_at(rng.gen(), 0),
            s7_ref: rng.gen_range(1..0x0400),
            s7_plc_ref: rng.gen_range(0x0100..0x0800),
            rng,
        };
        for slot in 0..run.jobs.len() {
            run.settle(slot, None);
        }
        Some(run)
    }

    fn is_empty(&self) -> bool {
        self.sink.packets.is_empty()
    }

    fn pop_front(&mut self) -> Option<Packet> {
        self.sink.packets.pop_front()
    }

    fn front(&self) -> Option<&Packet> {
        self.sink.packets.front()
    }

    fn def<'s>(&self, s: &'s Scenario) -> &'s ConnDef {
        &s.conns[self.index]
    }

    /// Applies the job's modification to its next due time: a stop, skipped polls, a late poll.
    fn settle(&mut self, slot: usize, mut observations: Option<&mut [Observation]>) {
        let job = &mut self.jobs[slot];
        let Some(m) = job.modification.as_mut() else {
            job.send_at = job.next_due;
            return;
        };
        loop {
            job.send_at = job.next_due;
            if job.next_due < m.at {
                return;
            }
            match m.modification {
                JobMod::Stop => {
                    job.stopped = true;
                    return;
                }
                JobMod::Miss { .. } if m.left > 0 => {
                    if let Some(o) = observations.as_deref_mut().and_then(|o| o.get_mut(m.anomaly)) {
                        o.due.get_or_insert(job.next_due);
                        o.count += 1;
                    }
                    m.left -= 1;
                    m.mark_next = m.left == 0;
                    job.next_due += job.period;
                }
                JobMod::Late { delay } if !m.applied => {
                    m.applied = true;
                    m.mark_next = true;
                    if let Some(o) = observations.as_deref_mut().and_then(|o| o.get_mut(m.anomaly)) {
                        o.due = Some(job.next_due);
                    }
                    job.send_at = job.next_due + delay;
                    return;
                }
                _ => return,
            }
        }
    }

    /// The soonest activity: a job's poll (`Ok(slot)`) or the next command (`Err(())`).
    fn next_activity(&self) -> Option<(Duration, Result<usize, ()>)> {
        let job = (0..self.jobs.len())
            .filter(|&i| !self.jobs[i].stopped)
            .min_by_key(|&i| (self.jobs[i].send_at, i))
            .map(|i| (self.jobs[i].send_at, Ok(i)));
        let command = self.commands.front().map(|c| (c.at, Err(())));
        match (job, command) {
            (Some(j), Some(c)) => Some(if c.0 < j.0 { c } else { j }),
            (j, c) => j.or(c),
        }
    }

    fn rtt(&mut self) -> Duration {
        Duration::from_micros(self.rng.gen_range(150..600))
    }

    fn refill(&mut self, s: &Scenario, observations: &mut [Observation]) -> Result<()> {
        match self.state {
            State::Done => Ok(()),
            State::Opening => {
                let rtt = self.rtt();
                let t = self.tcp.handshake(self.open_at, rtt, &mut self.sink)?;
                self.busy_until = t;
                self.state = State::Running;
                if self.def(s).protocol == Protocol::S7comm {
                    let steps = self.s7_connect(s);
                    self.busy_until = self.execute(t + Duration::from_millis(1), &steps)?;
                }
                self.after_exchange();
                Ok(())
            }
            State::Running => match self.next_activity() {
                Some((at, what)) if at < self.end => {
                    let t = at.max(self.busy_until + Duration::from_micros(50));
                    match what {
                        Ok(slot) => self.poll(s, slot, t, observations),
                        Err(()) => self.command(s, t, observations),
                    }
                }
                _ => {
                    let jitter = Duration::from_micros(self.rng.gen_range(0..200_000));
                    let at = (self.busy_until + Duration::from_millis(1)).max(self.end + jitter);
                    let rtt = self.rtt();
                    self.tcp.close(Side::Client, at, rtt, &mut self.sink)?;
                    self.state = State::Done;
                    Ok(())
                }
            },
        }
    }

    fn poll(&mut self, s: &Scenario, slot: usize, t: Duration, observations: &mut [Observation]) -> Result<()> {
        let job = &s.jobs[self.jobs[slot].job];
        let mut outcome = Outcome::Normal;
        if let Some(m) = self.jobs[slot].modification.as_mut() {
            let o = observations.get_mut(m.anomaly);
            if m.mark_next && t >= m.at {
                m.mark_next = false;
                if let Some(o) = o {
                    if matches!(m.modification, JobMod::Period { .. }) {
                        o.first = Some(t);
                    }
                    o.last = Some(t);
                }
            } else if t >= m.at && m.left > 0 {
                match m.modification {
                    JobMod::Slow { .. } => outcome = Outcome::Slow,
                    JobMod::Fail { mode, .. } => outcome = Outcome::Fail(mode),
                    _ => {}
                }
                if outcome != Outcome::Normal {
                    m.left -= 1;
                    if let Some(o) = o {
                        o.count += 1;
                        o.saw(t);
                    }
                }
            } else if t < m.at && matches!(m.modification, JobMod::Stop) {
                if let Some(o) = o {
                    o.last = Some(t);
                }
            }
        }
        if self.phase == Phase::Test && !job.in_train {
            if let Some(index) = s.planned.iter().position(|p| p.job == Some(self.jobs[slot].job)) {
                if let Some(o) = observations.get_mut(index) {
                    o.first.get_or_insert(t);
                    o.count += 1;
                }
            }
        }
        let op = job.op.clone();
        let period = self.jobs[slot].period;
        let (steps, hold) = self.steps(s, &op, outcome, period);
        let last = self.execute(t, &steps)?;
        if outcome != Outcome::Normal {
            if let Some(o) = self.jobs[slot].modification.as_ref().and_then(|m| observations.get_mut(m.anomaly)) {
                o.last = Some(last.max(t + hold));
            }
        }
        self.busy_until = last.max(t + hold);
        // Reschedule from the due time, so a late poll does not shift the job's phase.
        let factor = 1.0 + s.config.jitter * self.rng.gen_range(-1.0..=1.0);
        let run = &mut self.jobs[slot];
        if let Some(m) = run.modification.as_mut() {
            if let JobMod::Period { period } = m.modification {
                if t >= m.at && !m.applied {
                    m.applied = true;
                    m.mark_next = true;
                    run.period = period;
                }
            }
        }
        run.next_due += run.period.mul_f64(factor);
        if run.next_due <= t {
            run.next_due = t + run.period.mul_f64(factor);
        }
        self.settle(slot, Some(observations));
        self.after_exchange();
        Ok(())
    }

    fn command(&mut self, s: &Scenario, t: Duration, observations: &mut [Observation]) -> Result<()> {
        let Some(command) = self.commands.pop_front() else { return Ok(()) };
        let (steps, _) = self.steps(s, &command.op, Outcome::Normal, Duration::from_secs(1));
        let last = self.execute(t, &steps)?;
        if let Some(o) = command.anomaly.and_then(|a| observations.get_mut(a)) {
            o.first = Some(t);
            o.last = Some(last);
            o.count += 1;
        }
        self.busy_until = last;
        self.after_exchange();
        Ok(())
    }

    /// The receiver of the last message ACKs it after the delayed-ACK time unless it sends
    /// first.
    fn after_exchange(&mut self) {
        let next = self.next_activity().map_or(Duration::MAX, |(t, _)| t);
        if self.tcp.ack_pending(Side::Client) && next > self.busy_until + DELAYED_ACK {
            let at = self.busy_until + DELAYED_ACK;
            if self.tcp.ack(Side::Client, at, &mut self.sink).is_ok() {
                self.busy_until = at;
            }
        }
    }

    /// Sends the steps from `t`; returns the time of the last segment.
    /// Each step's delay counts from the previous message, not from the pure ACKs between.
    fn execute(&mut self, t0: Duration, steps: &[Step]) -> Result<Duration> {
        let mut t = t0;
        let mut last = t0;
        for (i, step) in steps.iter().enumerate() {
            t = (t + step.delay).max(last);
            if step.bytes.is_empty() {
                self.tcp.ack(step.side, t, &mut self.sink)?;
                last = t;
                continue;
            }
            t = self.send(step.side, t, &step.bytes)?;
            last = t;
            // The receiver ACKs on its own when it has nothing to send soon.
            let receiver = step.side.peer();
            if let Some(next) = steps.get(i + 1) {
                if (next.side != receiver || next.delay > DELAYED_ACK) && !next.bytes.is_empty() {
                    let at = t + DELAYED_ACK.min(next.delay / 2);
                    self.tcp.ack(receiver, at, &mut self.sink)?;
                    last = at;
                }
            }
        }
        Ok(last)
    }

    fn send(&mut self, side: Side, t: Duration, bytes: &[u8]) -> Result<Duration> {
        if bytes.len() > SPLIT_MIN + 1 && self.rng.gen_bool(0.01) {
            let at = self.rng.gen_range(SPLIT_MIN..bytes.len());
            let gap = Duration::from_micros(self.rng.gen_range(20..300));
            return self.tcp.send_split(side, t, bytes, at, gap, &mut self.sink);
        }
        self.tcp.send(side, t, bytes, &mut self.sink)?;
        Ok(t)
    }

    fn response_time(&mut self, s: &Scenario, outcome: Outcome, period: Duration) -> Duration {
        let base = self.def(s).response_time;
        let rt = base.mul_f64(1.0 + 0.2 * self.rng.gen_range(-1.0..=1.0));
        if outcome == Outcome::Slow {
            // Many times the usual, still well inside the period.
            (base * 8 + Duration::from_millis(60)).min(period * 2 / 5).max(rt * 3)
        } else {
            rt
        }
    }

    fn s7_connect(&mut self, s: &Scenario) -> Vec<Step> {
        let rt = self.def(s).response_time;
        let src_ref = self.rng.gen_range(1..0x100u16);
        let dst_ref = self.rng.gen_range(1..0x100u16);
        let (local, remote) = (0x0100, s7comm::tsap(1, 0, 2));
        let mut cr = Vec::new();
        s7comm::write_cotp_cr(src_ref, local, remote, &mut cr);
        let mut cc = Vec::new();
        s7comm::write_cotp_cc(src_ref, dst_ref, local, remote, &mut cc);
        let r = self.next_s7_ref();
        let mut setup = Vec::new();
        s7comm::write_pdu(Rosctr::JOB, r, None, &s7comm::setup_communication(480), &mut setup);
        let mut ack = Vec::new();
        s7comm::write_pdu(Rosctr::ACK_DATA, r, None, &s7comm::setup_communication(240), &mut ack);
        vec![
            Step { side: Side::Client, delay: Duration::ZERO, bytes: cr },
            Step { side: Side::Server, delay: rt / 2, bytes: cc },
            Step { side: Side::Client, delay: Duration::from_millis(1), bytes: setup },
            Step { side: Side::Server, delay: rt, bytes: ack },
        ]
    }

    fn next_s7_ref(&mut self) -> u16 {
        self.s7_ref = self.s7_ref.wrapping_add(1).max(1);
        self.s7_ref
    }

    /// The messages of one exchange and how long the master waits after it (a timeout).
    fn steps(&mut self, s: &Scenario, op: &Op, outcome: Outcome, period: Duration) -> (Vec<Step>, Duration) {
        let rt = self.response_time(s, outcome, period);
        let no_response = outcome == Outcome::Fail(FailMode::NoResponse);
        let hold = if no_response { period / 2 } else { Duration::ZERO };
        let request = |bytes| Step { side: Side::Client, delay: Duration::ZERO, bytes };
        let answer = |bytes: Vec<u8>| Step {
            side: Side::Server,
            delay: rt,
            bytes: if no_response { Vec::new() } else { bytes },
        };
        let def = self.def(s).clone();
        match op {
            Op::Modbus(r) => {
                let tid = self.tids.next_id();
                let mut req = Vec::new();
                modbus::write_adu(tid, def.unit, &mut req, |o| r.write_pdu(o));
                let mut resp = Vec::new();
                let rng = &mut self.rng;
                modbus::write_adu(tid, def.unit, &mut resp, |o| {
                    if outcome == Outcome::Fail(FailMode::Exception) {
                        modbus::write_exception_pdu(r.function_code(), ExceptionCode::SERVER_DEVICE_FAILURE, o);
                    } else {
                        r.write_response_pdu(&mut |_| rng.gen_range(0..1000), o);
                    }
                });
                (vec![request(req), answer(resp)], hold)
            }
            Op::Dnp3(r) => {
                let app_seq = self.dnp3_master.next_application();
                let mut apdu = Vec::new();
                r.write_apdu(app_seq, &mut apdu);
                let mut req = Vec::new();
                let to = LinkHeader { from_master: true, destination: def.dnp3_outstation, source: def.dnp3_master };
                dnp3::write_frame(to, self.dnp3_master.next_transport(), &apdu, &mut req);
                let (iin, data) = if outcome == Outcome::Fail(FailMode::Iin) {
                    (Iin::DEVICE_TROUBLE.union(Iin::OBJECT_UNKNOWN), ResponseData::Empty)
                } else {
                    let data = match r {
                        dnp3::Request::ClassPoll { .. } => ResponseData::Empty,
                        dnp3::Request::IntegrityPoll => ResponseData::Static {
                            binaries: (0..8).map(|_| self.rng.gen_bool(0.3)).collect(),
                            analogs: (0..6).map(|_| self.rng.gen_range(0..10_000)).collect(),
                        },
                        dnp3::Request::DirectOperate { index, code, on_ms, off_ms } => {
                            ResponseData::Crob { index: *index, code: *code, on_ms: *on_ms, off_ms: *off_ms, status: 0 }
                        }
                        dnp3::Request::ColdRestart => ResponseData::TimeDelayFine { ms: 5000 },
                    };
                    (Iin::default(), data)
                };
                apdu.clear();
                dnp3::write_response_apdu(app_seq, iin, &data, &mut apdu);
                let mut resp = Vec::new();
                let back = LinkHeader { from_master: false, destination: def.dnp3_master, source: def.dnp3_outstation };
                if !no_response {
                    dnp3::write_frame(back, self.dnp3_outstation.next_transport(), &apdu, &mut resp);
                }
                (vec![request(req), answer(resp)], hold)
            }
            Op::S7Read(items) | Op::S7Write(items) => {
                let r = self.next_s7_ref();
                let write = matches!(op, Op::S7Write(_));
                let rng = &mut self.rng;
                let job = if write { s7comm::write_var(items, &mut |_, _| rng.gen()) } else { s7comm::read_var(items) };
                let mut req = Vec::new();
                s7comm::write_pdu(Rosctr::JOB, r, None, &job, &mut req);
                let mut resp = Vec::new();
                if outcome == Outcome::Fail(FailMode::S7Error) {
                    s7comm::write_pdu(Rosctr::ACK_DATA, r, Some((0x81, 0x04)), &Pdu::default(), &mut resp);
                } else {
                    let ack = if write {
                        s7comm::write_var_response(items.len())
                    } else {
                        let rng = &mut self.rng;
                        s7comm::read_var_response(items, &mut |_, _| rng.gen())
                    };
                    s7comm::write_pdu(Rosctr::ACK_DATA, r, None, &ack, &mut resp);
                }
                (vec![request(req), answer(resp)], hold)
            }
            Op::S7Stop => {
                let r = self.next_s7_ref();
                let mut req = Vec::new();
                s7comm::write_pdu(Rosctr::JOB, r, None, &s7comm::plc_stop(), &mut req);
                let mut resp = Vec::new();
                s7comm::write_pdu(Rosctr::ACK_DATA, r, None, &s7comm::ack_params(Function::PLC_STOP), &mut resp);
                (vec![request(req), answer(resp)], hold)
            }
            Op::S7Download(block) => (self.download(*block, rt), Duration::ZERO),
        }
    }

    /// Request download, the PLC's download block jobs answered with the block's parts,
    /// download ended, then PI `_INSE`.
    fn download(&mut self, block: s7comm::Block, rt: Duration) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut push = |side, delay, rosctr, pdu_ref, pdu: &Pdu| {
            let mut bytes = Vec::new();
            s7comm::write_pdu(rosctr, pdu_ref, None, pdu, &mut bytes);
            steps.push(Step { side, delay, bytes });
        };
        let body: Vec<u8> = (0..300).map(|_| self.rng.gen()).collect();
        let r = self.next_s7_ref();
        push(Side::Client, Duration::ZERO, Rosctr::JOB, r, &s7comm::request_download(block, 372, 300));
        push(Side::Server, rt, Rosctr::ACK_DATA, r, &s7comm::ack_params(Function::REQUEST_DOWNLOAD));
        let parts: Vec<&[u8]> = body.chunks(200).collect();
        for (i, part) in parts.iter().enumerate() {
            self.s7_plc_ref = self.s7_plc_ref.wrapping_add(1);
            let p = self.s7_plc_ref;
            let gap = Duration::from_micros(self.rng.gen_range(2_000..8_000));
            push(Side::Server, gap, Rosctr::JOB, p, &s7comm::download_block(block));
            let think = Duration::from_micros(self.rng.gen_range(1_000..5_000));
            let more = i + 1 < parts.len();
            push(Side::Client, think, Rosctr::ACK_DATA, p, &s7comm::download_block_response(part, more));
        }
        self.s7_plc_ref = self.s7_plc_ref.wrapping_add(1);
        let p = self.s7_plc_ref;
        push(Side::Server, rt, Rosctr::JOB, p, &s7comm::download_ended(block));
        push(
            Side::Client,
            Duration::from_millis(2),
            Rosctr::ACK_DATA,
            p,
            &s7comm::ack_params(Function::DOWNLOAD_ENDED),
        );
        let r = self.next_s7_ref();
        push(Side::Client, Duration::from_millis(50), Rosctr::JOB, r, &s7comm::pi_insert(block));
        push(Side::Server, rt * 3, Rosctr::ACK_DATA, r, &s7comm::ack_params(Function::PLC_CONTROL));
        steps
    }
}
