//! The job engine: assigns every transaction to its job, learns each job's cadence and
//! response times, holds established jobs to them, and raises one alert per incident.
//!
//! # Modes
//! - [`Mode::Learn`] (`jobwatch learn`): learns, never alerts on jobs; the result is a
//!   [`Baseline`].
//! - [`Mode::Auto`] (no `--baseline`): learns for [`EngineConfig::learn_window_us`] of capture
//!   time from the first packet, then enforces what it learned. Jobs still learning at the end
//!   of the window keep learning and are enforced once their cadence is known.
//! - [`Mode::Enforce`] (`--baseline`): enforces the baseline from the first packet; whatever is
//!   not in it is new.
//!
//! # Alerts and incidents
//! Timing (`job_late`, `job_missed`, `job_stopped`, `job_period_changed`, `response_slow`),
//! failure (`job_failed`) and novelty (`new_job`, `new_talker`, and `unexpected_command` for
//! commands never seen) are raised once per incident: further bad observations fold into the
//! open incident, which closes after [`EngineConfig::clear_after`] good ones in a row. A
//! master–outstation pair that goes silent as a whole is one `job_stopped` incident, however
//! many jobs it ran.
//!
//! # What is not the plant's fault
//! - The end of the capture is not a stop: stops are decided on the clock of captured packets,
//!   and nothing is concluded after the last one.
//! - A request still awaiting its answer (its transaction is written at the response or at
//!   the timeout) is not a missed poll: deadlines wait for the connection's requests in flight.
//! - A silence of the whole capture while the jobs of two or more connections were due is a
//!   sensor problem (a mirror port or capture that dropped everything): it raises one
//!   `sensor_health` alert (`sensor.capture_gap`), the grids restart after it, and no timing or
//!   missing-response conclusion is drawn from it.

use super::baseline::{Baseline, JobEntry, LearnedFrom, ResponseEntry, TalkerEntry};
use super::commands::CommandIncidents;
use super::job::{Job, Sample, MATURE_SAMPLES};
use super::period::PeriodConfig;
use super::recent::{Met, RecentJobs};
use super::signature::{self, JobKey, PairKey, SigKey};
use super::steady::Steady;
use super::text;
use super::timing::{Cadence, Fit};
use crate::event::{Alert, AlertKind, Event, JobEvent, JobState};
use crate::flow::FlowInfo;
use crate::rules::Action;
use crate::rules::RuleSet;
use crate::time::Timestamp;
use crate::transaction::{Status, Transaction};
use dissectors::{Category, Severity};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Requests seen before a job without a cadence is reported as aperiodic.
const APERIODIC_AFTER_SAMPLES: u64 = 16;

/// Tunables of the job engine; all durations in µs of capture time. Defaults in the README.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Learning window of [`Mode::Auto`] (default 10 min: six polls of a 60 s job, with room).
    pub learn_window_us: u64,
    /// A job is stopped after `stop_after_missed + 1` periods plus its slot window without a
    /// request: this many polls missed, and the next one not on time either.
    pub stop_after_missed: u64,
    /// A job without requests for this long (and at least 10 periods) is retired.
    pub retire_after_us: u64,
    /// A silence of the whole capture at least this long, while jobs of two or more
    /// connections were due, is a capture gap.
    pub capture_gap_us: u64,
    /// The protocols' response timeout (requests in flight are awaited this long).
    pub response_timeout_us: u64,
    /// Most jobs tracked at once.
    pub max_jobs: usize,
    /// Good observations in a row that close an incident.
    pub clear_after: u32,
    /// At most one `new_job` alert per pair in this interval (a scan is one incident).
    pub novelty_interval_us: u64,
    /// Responses needed before a learned `response_slow` threshold applies.
    pub min_response_samples: u64,
    /// A new cadence must differ from the reference by this fraction to be a change.
    pub period_change_ratio: f64,
    pub period: PeriodConfig,
    /// Whether `job` events are built at all (off when none is written: their distribution
    /// percentiles are the costliest part of a state change). Without them, and outside
    /// `jobwatch learn`, nothing reads the interval and jitter distributions (alerts need the
    /// response times alone, and those only until an enforced job's response limit is
    /// learned), so they are not recorded.
    pub job_events: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            learn_window_us: 600_000_000,
            stop_after_missed: 4,
            retire_after_us: 3_600_000_000,
            capture_gap_us: 1_000_000,
            response_timeout_us: 5_000_000,
            max_jobs: 100_000,
            clear_after: 3,
            novelty_interval_us: 60_000_000,
            min_response_samples: 20,
            period_change_ratio: 0.1,
            period: PeriodConfig::default(),
            job_events: true,
        }
    }
}

/// How the engine treats what it sees. See the module docs.
#[derive(Debug, Clone)]
pub enum Mode {
    Learn,
    Auto,
    Enforce(Box<Baseline>),
}

/// What the engine needs to know of the connections: requests still awaiting an answer.
pub trait InFlight {
    /// The oldest and newest requests of `flow`'s connection awaiting a response.
    fn pending_span(&self, flow: &FlowInfo) -> Option<(Timestamp, Timestamp)>;
}

/// A master–outstation pair.
#[derive(Debug, Default)]
struct Pair {
    /// Its number, also held by each of its jobs (scans over the jobs of a pair compare it
    /// rather than the jobs' keys, which live in colder cache lines).
    id: u32,
    known: bool,
    last_new_job_alert: Option<u64>,
    new_jobs_folded: u64,
    /// An open "the whole pair went silent" incident.
    silent_incident: bool,
}

/// The pair `key`, numbered when first met.
fn pair_mut(pairs: &mut HashMap<PairKey, Pair, foldhash::fast::RandomState>, key: PairKey) -> &mut Pair {
    let next = u32::try_from(pairs.len()).unwrap_or(u32::MAX);
    pairs.entry(key).or_insert_with(|| Pair { id: next, ..Pair::default() })
}

/// A baseline entry, as the engine applies it.
#[derive(Debug, Clone)]
struct Known {
    reference: Option<Cadence>,
    stop_after_us: Option<u64>,
    response_limit_us: Option<u64>,
    failure_ratio: f64,
}

/// A capture gap: no packet from `from` to `to` (µs).
#[derive(Debug, Clone, Copy)]
struct Gap {
    from: u64,
    to: u64,
}

/// The job engine. See the module docs.
#[derive(Debug)]
pub struct JobEngine {
    cfg: EngineConfig,
    learning: bool,
    /// Learning ends at this capture time ([`Mode::Auto`]).
    learn_until: Option<u64>,
    mode_learn_only: bool,
    baseline_jobs: HashMap<(PairKey, String), Known>,
    jobs: Vec<Job>,
    /// Job indices by key. Only the index is stored (the key lives in the job, hot, next to
    /// what the transaction updates): a few KiB that stay in cache however many packets go by.
    by_key: hashbrown::HashTable<u32>,
    /// The jobs met lately by connection and signature: most transactions are found here.
    recent: RecentJobs,
    key_hasher: foldhash::fast::FixedState,
    pairs: HashMap<PairKey, Pair, foldhash::fast::RandomState>,
    /// Each job's pair number, by job index: scans for the jobs of one pair read this
    /// (a few KiB) rather than a cache line of every job.
    pair_of: Vec<u32>,
    next_id: u64,
    first_packet: Option<u64>,
    last_packet: Option<u64>,
    gaps: VecDeque<Gap>,
    /// A silence of the whole capture in progress (live capture), and whether it was reported.
    silence_reported: bool,
    jobs_limit_reported: bool,
    /// A capture gap declared and not yet handed to the pipeline (end time).
    new_gap: Option<Timestamp>,
    rules: Arc<RuleSet>,
    /// Whether any command-policy rule exists (reads are matched against rules only then).
    rules_have_commands: bool,
    incidents: CommandIncidents,
    /// Declared jobs (rules) not seen yet, by id, with when they became due.
    declared_missing: Vec<String>,
    declared_reported: Vec<String>,
    /// Job events and alerts produced, for the caller to interleave with transactions.
    out: Vec<Event>,
    /// Requests a learning job's estimator must hold before its steady polls take the steady
    /// path ([`Steady::window`]): fixed by the configuration, so worked out once.
    steady_window: u64,
    /// Tests only: whether steady polls take [`Job::steady_poll`] (off, `judge` judges every
    /// transaction, and the output must not change).
    #[cfg(test)]
    steady_path_off: bool,
    /// Tests only: how many transactions [`Job::steady_poll`] judged.
    #[cfg(test)]
    steady_polls: u64,
}

impl JobEngine {
    pub fn new(cfg: EngineConfig, mode: Mode, rules: Arc<RuleSet>) -> JobEngine {
        let mut engine = JobEngine {
            learning: !matches!(mode, Mode::Enforce(_)),
            mode_learn_only: matches!(mode, Mode::Learn),
            learn_until: None,
            baseline_jobs: HashMap::new(),
            jobs: Vec::new(),
            by_key: hashbrown::HashTable::new(),
            recent: RecentJobs::default(),
            pair_of: Vec::new(),
            key_hasher: foldhash::fast::FixedState::default(),
            pairs: HashMap::default(),
            next_id: 1,
            first_packet: None,
            last_packet: None,
            gaps: VecDeque::new(),
            silence_reported: false,
            jobs_limit_reported: false,
            new_gap: None,
            rules_have_commands: !rules.commands().is_empty(),
            rules,
            incidents: CommandIncidents::default(),
            declared_missing: Vec::new(),
            declared_reported: Vec::new(),
            out: Vec::new(),
            steady_window: (cfg.period.window as u64).max(MATURE_SAMPLES),
            cfg,
            #[cfg(test)]
            steady_path_off: false,
            #[cfg(test)]
            steady_polls: 0,
        };
        if let Mode::Enforce(baseline) = mode {
            engine.load_baseline(&baseline);
        }
        engine.declared_missing = engine.rules.declared_jobs().iter().map(|d| d.id.clone()).collect();
        engine
    }

    fn load_baseline(&mut self, b: &Baseline) {
        for t in &b.talkers {
            if let Some(app_proto) = proto_name(&t.protocol) {
                let key = PairKey { app_proto, master: t.master, outstation: t.outstation, port: t.port };
                pair_mut(&mut self.pairs, key).known = true;
            }
        }
        for e in b.jobs.iter().chain(&b.commands) {
            let Some(app_proto) = proto_name(&e.protocol) else { continue };
            let pair = PairKey { app_proto, master: e.master, outstation: e.outstation, port: e.port };
            pair_mut(&mut self.pairs, pair).known = true;
            let us = |v: f64| (v * 1000.0).round() as u64;
            let reference = match (e.periodic, e.period_ms) {
                (true, Some(p)) if p > 0.0 => {
                    let period_us = us(p).max(1);
                    // The file's tolerance is the user's word; without one, the engine's floor.
                    match e.tolerance_ms {
                        Some(t) => Some(Cadence { period_us, tolerance_us: us(t).min(period_us / 2) }),
                        None => Some(super::job::enforceable(period_us, 0)),
                    }
                }
                _ => None,
            };
            let known = Known {
                reference,
                stop_after_us: e.stop_after_ms.map(us),
                response_limit_us: e.response_ms.as_ref().map(|r| us(r.alert_above)),
                failure_ratio: e.failure_ratio,
            };
            self.baseline_jobs.insert((pair, e.key.clone()), known);
        }
    }

    /// New rules (hot reload): they judge every command from now on; jobs keep their names
    /// and thresholds until they are next created.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules_have_commands = !rules.commands().is_empty();
        for job in &mut self.jobs {
            job.master_name = rules.describe(job.key.master);
            job.outstation_name = rules.describe(job.key.outstation);
        }
        let seen: Vec<String> = self.jobs.iter().filter_map(|j| j.declared.clone()).collect();
        self.declared_missing =
            rules.declared_jobs().iter().map(|d| d.id.clone()).filter(|id| !seen.contains(id)).collect();
        self.rules = rules;
    }

    /// The end of the latest capture gap.
    pub fn last_gap_end(&self) -> Option<Timestamp> {
        self.gaps.back().map(|g| Timestamp(g.to))
    }

    /// The end of a capture gap declared since the last call.
    pub fn take_new_gap(&mut self) -> Option<Timestamp> {
        self.new_gap.take()
    }

    /// Events produced since the last call.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Event> {
        self.out.drain(..)
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }

    /// Whether events are waiting to be drained.
    #[inline]
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// A packet was captured at `ts` (before it is processed): detects capture gaps. True when
    /// that produced something (events, or a gap for [`JobEngine::take_new_gap`]).
    #[inline]
    pub fn on_packet(&mut self, ts: Timestamp) -> bool {
        let now = ts.as_micros();
        match self.last_packet {
            // The common case: shortly after the previous packet (nothing to report).
            Some(last) if now < last.saturating_add(self.cfg.capture_gap_us) => {
                if now > last {
                    self.last_packet = Some(now);
                }
                self.silence_reported = false;
                false
            }
            _ => {
                self.first_packet_or_after_silence(now);
                !self.out.is_empty() || self.new_gap.is_some()
            }
        }
    }

    #[cold]
    fn first_packet_or_after_silence(&mut self, now: u64) {
        if self.first_packet.is_none() {
            self.first_packet = Some(now);
            if self.learning && !self.mode_learn_only {
                self.learn_until = Some(now.saturating_add(self.cfg.learn_window_us));
            }
        }
        if let Some(last) = self.last_packet {
            if now > last && now - last >= self.cfg.capture_gap_us {
                let (jobs, flows) = self.jobs_due_in_silence(last, now);
                if flows >= 2 {
                    self.capture_gap(last, now, jobs, flows);
                }
            }
        }
        self.silence_reported = false;
        self.last_packet = Some(self.last_packet.map_or(now, |l| l.max(now)));
    }

    /// Periodic jobs whose next poll was due (window closed) during a silence from `from` to
    /// `to`, and over how many connections.
    fn jobs_due_in_silence(&self, from: u64, to: u64) -> (usize, usize) {
        let mut flows: Vec<u64> = Vec::new();
        let mut jobs = 0;
        for job in &self.jobs {
            if job.state == JobState::Stopped || job.state == JobState::Retired {
                continue;
            }
            let Some(c) = job.cadence() else { continue };
            let due = job.tracker.due_by(c).unwrap_or(job.last_seen.saturating_add(c.period_us + c.tolerance_us));
            if job.last_seen <= from && due < to {
                jobs += 1;
                if !flows.contains(&job.flow.flow_id) {
                    flows.push(job.flow.flow_id);
                }
            }
        }
        (jobs, flows.len())
    }

    fn capture_gap(&mut self, from: u64, to: u64, jobs: usize, flows: usize) {
        if self.gaps.len() >= 16 {
            self.gaps.pop_front();
        }
        self.gaps.push_back(Gap { from, to });
        self.new_gap = Some(Timestamp(to));
        self.out.push(Event::Alert(Box::new(Alert::sensor_health(
            Timestamp(to),
            Severity::High,
            "sensor.capture_gap",
            format!(
                "No packet at all was captured for {} (from {} to {}) while {jobs} job(s) on {flows} connection(s) were due: the capture or the mirror port lost traffic; no job timing is judged over that time.",
                text::duration(to - from),
                Timestamp(from),
                Timestamp(to)
            ),
        ))));
        for job in &mut self.jobs {
            job.resync_at = to;
            job.tracker.reset();
            job.incidents.late.close();
            job.incidents.missed.close();
        }
    }

    /// Whether a request sent at `ts` could have lost its answer to a capture gap or to the
    /// silence going on now.
    #[cold]
    #[inline(never)]
    fn in_capture_gap(&self, ts: u64, now: u64) -> bool {
        let reach = self.cfg.response_timeout_us;
        if self.gaps.iter().any(|g| ts.saturating_add(reach) >= g.from && ts <= g.to) {
            return true;
        }
        self.last_packet.is_some_and(|last| now > last && now - last >= self.cfg.capture_gap_us && ts <= last)
    }

    /// The capture clock reached `now`: ends learning, judges deadlines, retires idle jobs.
    pub fn on_clock(&mut self, now: Timestamp, inflight: &dyn InFlight) {
        let now = now.as_micros();
        let due = self.incidents.due(now);
        self.out.extend(due);
        self.declared_absent(now);
        if self.learning && self.learn_until.is_some_and(|until| now >= until) {
            self.end_learning();
        }
        if self.learning {
            return;
        }
        // A silence of the whole capture with jobs of several connections due: hold every
        // conclusion until packets come back (live capture; replay sees it at the next packet).
        if let Some(last) = self.last_packet {
            if now > last && now - last >= self.cfg.capture_gap_us {
                let (jobs, flows) = self.jobs_due_in_silence(last, now);
                if flows >= 2 {
                    if !self.silence_reported && now - last >= 30_000_000 {
                        self.silence_reported = true;
                        self.out.push(Event::Alert(Box::new(Alert::sensor_health(
                            Timestamp(now),
                            Severity::High,
                            "sensor.capture_silent",
                            format!(
                                "No packet has been captured for {} while {jobs} job(s) on {flows} connection(s) are due: check the capture interface and the mirror port.",
                                text::duration(now - last)
                            ),
                        ))));
                    }
                    return;
                }
            }
        }
        let mut stopped: Vec<usize> = Vec::new();
        let mut retired: Vec<usize> = Vec::new();
        for (i, job) in self.jobs.iter_mut().enumerate() {
            if job.state == JobState::Retired {
                continue;
            }
            let idle = now.saturating_sub(job.last_seen.max(job.resync_at));
            let retire_after =
                self.cfg.retire_after_us.max(job.cadence().map_or(0, |c| c.period_us.saturating_mul(10)));
            if idle >= retire_after {
                retired.push(i);
                continue;
            }
            let (Some(c), Some(stop_after)) = (job.reference(), job.stop_after(self.cfg.stop_after_missed)) else {
                continue;
            };
            if job.state == JobState::Stopped {
                continue;
            }
            let overdue = job.tracker.overdue_polls(c, now);
            if overdue == 0 {
                continue;
            }
            // A request of the job's connection sent after its last known poll may be this
            // job's, still awaiting its answer.
            let awaited = inflight.pending_span(&job.flow).is_some_and(|(_, newest)| {
                newest.as_micros() > job.last_seen && now - newest.as_micros() < self.cfg.response_timeout_us
            });
            if awaited {
                continue;
            }
            if idle >= stop_after {
                stopped.push(i);
            } else if job.state != JobState::Late {
                job.state = JobState::Late;
                self.out.extend(job_event(job, now, self.cfg.job_events));
            }
        }
        for i in stopped {
            self.stop(i, now);
        }
        for i in retired {
            if let Some(job) = self.jobs.get_mut(i) {
                job.state = JobState::Retired;
                self.out.extend(job_event(job, now, self.cfg.job_events));
                // Memory goes with the job; its identity stays known.
                job.dist.release();
                job.replace_estimator(super::period::PeriodEstimator::new(PeriodConfig {
                    window: 8,
                    ..self.cfg.period
                }));
            }
        }
    }

    /// Declared jobs (rules) that have not run since the capture started, once they are
    /// overdue: a `job_stopped` alert each, with the rule's id.
    fn declared_absent(&mut self, now: u64) {
        let Some(start) = self.first_packet else { return };
        if self.declared_missing.is_empty() {
            return;
        }
        let stop_after_missed = self.cfg.stop_after_missed;
        let mut alerts = Vec::new();
        for d in self.rules.declared_jobs() {
            if !self.declared_missing.contains(&d.id) || self.declared_reported.contains(&d.id) {
                continue;
            }
            let stop = d.stop_after_us.unwrap_or(d.period_us.saturating_mul(stop_after_missed + 1) + d.tolerance_us);
            if now.saturating_sub(start) < stop {
                continue;
            }
            self.declared_reported.push(d.id.clone());
            let what = d.description.clone().unwrap_or_else(|| format!("{} job", d.protocol));
            let mut alert = Alert::sensor_health(
                Timestamp(now),
                d.severity.unwrap_or(Severity::High),
                "rules.declared_job_absent",
                format!(
                    "Declared job {} ({what}, every {}) has not run since the capture started {} ago.",
                    d.id,
                    text::duration(d.period_us),
                    text::duration(now.saturating_sub(start))
                ),
            );
            alert.kind = AlertKind::JobStopped;
            alert.anomaly = None;
            alert.app_proto = Some(d.protocol);
            alert.rule_id = Some(d.id.clone());
            alerts.push(Event::Alert(Box::new(alert)));
        }
        self.out.extend(alerts);
    }

    fn end_learning(&mut self) {
        self.learning = false;
        for job in &mut self.jobs {
            job.estimator.refresh();
        }
        for pair in self.pairs.values_mut() {
            pair.known = true;
        }
        let min = self.cfg.min_response_samples;
        for job in &mut self.jobs {
            job.known = true;
            job.learned_failure_ratio = Some(job.failure_ratio());
            job.learned_max_failure_run = Some(job.max_failure_run);
            job.set_response_limit_us(job.learned_response_limit(min));
            if job.reference().is_none() {
                if let Some(c) = job.learned_cadence() {
                    let c = job.with_overrides(c);
                    job.set_reference(Some(c));
                    job.tracker.reset();
                    job.tracker.observe(c, job.last_seen);
                }
            }
        }
        for i in 0..self.jobs.len() {
            if self.jobs.get(i).is_some_and(|j| j.reference().is_some() && j.cycle.is_none()) {
                self.recompute_cycles(i);
            }
        }
    }

    fn stop(&mut self, i: usize, now: u64) {
        let Some(job) = self.jobs.get(i) else { return };
        let pair_key = job.key.pair();
        let last_seen = job.last_seen;
        let period = job.reference().map_or(0, |c| c.period_us);
        // The pair is silent when none of its jobs made a request after this one's next was due.
        let pair_last = self.pair_mates(i).filter_map(|k| self.jobs.get(k)).map(|j| j.last_seen).max().unwrap_or(0);
        let pair_silent = pair_last <= last_seen.saturating_add(period);
        let already = self.pairs.get(&pair_key).is_some_and(|p| p.silent_incident);
        if let Some(job) = self.jobs.get_mut(i) {
            job.state = JobState::Stopped;
            job.incidents.late.close();
            job.incidents.missed.close();
            self.out.extend(job_event(job, now, self.cfg.job_events));
        }
        if already && pair_silent {
            return;
        }
        let Some(job) = self.jobs.get(i) else { return };
        let mut others: Vec<String> = Vec::new();
        if pair_silent {
            for other in self.pair_mates(i).filter_map(|k| self.jobs.get(k)) {
                if other.id != job.id
                    && other.reference().is_some()
                    && !matches!(other.state, JobState::Stopped | JobState::Retired)
                {
                    others.push(other.name());
                }
            }
        }
        let ago = text::duration(now.saturating_sub(last_seen));
        let message = if others.is_empty() {
            format!(
                "{} stopped {} {}: {}; last request {ago} ago.",
                job.master_name,
                job.verb(),
                job.outstation_name,
                job.name()
            )
        } else {
            format!(
                "{} stopped all {} of its jobs on {} (it went silent): {}; {}; last request {ago} ago.",
                job.master_name,
                others.len() + 1,
                job.outstation_name,
                job.name(),
                others.join("; ")
            )
        };
        let alert = job_alert(job, now, AlertKind::JobStopped, Severity::High, message);
        self.out.push(alert);
        if pair_silent {
            if let Some(p) = self.pairs.get_mut(&pair_key) {
                p.silent_incident = true;
            }
        }
    }

    /// One transaction: finds or creates its job, sets `job_id`, and judges it.
    pub fn on_transaction(&mut self, t: &mut Transaction, inflight: &dyn InFlight) {
        let Some(sig) = SigKey::of(t) else { return };
        let ts = t.timestamp().as_micros();
        let now = self.last_packet.unwrap_or(ts).max(ts);
        let enforcing = !self.learning;
        // The job: met lately on this connection, or looked up by its whole key.
        let met = Met::new(t.flow.flow_id, sig, t.flow.client.ip, t.flow.server.port);
        let jobs = &self.jobs;
        let index = match self.recent.get(&met, |i| jobs.get(i).map(|j| &j.met)) {
            Some(i) => i,
            None => match self.not_met_lately(t, sig, &met, ts, now, enforcing) {
                Some((i, false)) => i,
                Some((i, true)) => {
                    // A new job: created and overseen already.
                    self.judge(i, t, ts, now, enforcing, inflight);
                    return;
                }
                None => return,
            },
        };
        // Reads are overseen only when rules name some.
        if self.rules_have_commands || self.jobs.get(index).is_some_and(Job::is_command) {
            self.oversee(index, t, ts, false);
        }
        let steady = Steady {
            enforcing,
            timing_distributions: self.timing_distributions(),
            window: self.steady_window,
            clear_after: self.cfg.clear_after,
        };
        #[cfg(not(test))]
        let steady_path = true;
        #[cfg(test)]
        let steady_path = !self.steady_path_off;
        if steady_path && self.jobs.get_mut(index).is_some_and(|job| job.steady_poll(t, steady)) {
            #[cfg(test)]
            {
                self.steady_polls += 1;
            }
            return;
        }
        self.judge(index, t, ts, now, enforcing, inflight);
    }

    /// The job of `t` when the memo does not know it: looked up by its whole key, or created
    /// (then `true`); remembered either way. `None` when the job table is full. Out of line:
    /// one transaction in a few hundred comes here, and the steady path stays small in the
    /// instruction cache.
    #[cold]
    #[inline(never)]
    fn not_met_lately(
        &mut self,
        t: &Transaction,
        sig: SigKey,
        met: &Met,
        ts: u64,
        now: u64,
        enforcing: bool,
    ) -> Option<(usize, bool)> {
        let key = JobKey::with_sig(t, sig);
        let found = match self.find_job(&key) {
            Some(i) => (i, false),
            None => (self.first_of_job(key, t, ts, now, enforcing)?, true),
        };
        self.recent.put(met, found.0);
        Some(found)
    }

    /// Judges transaction `t` of job `index`: counts, response time, failure, timing. Every
    /// case; the common one, a steady poll, is [`Job::steady_poll`]'s (out of line, so that
    /// the steady path stays small in the instruction cache).
    #[inline(never)]
    fn judge(
        &mut self,
        index: usize,
        t: &mut Transaction,
        ts: u64,
        now: u64,
        enforcing: bool,
        inflight: &dyn InFlight,
    ) {
        let request_ts = t.request_ts.map(|r| r.as_micros());
        let lost_to_gap = t.status == Status::NoResponse && request_ts.is_some_and(|r| self.in_capture_gap(r, now));
        let timing_distributions = self.timing_distributions();
        let Some(job) = self.jobs.get_mut(index) else { return };
        t.job_id = Some(job.id);
        job.count += 1;
        if job.met.flow_id != t.flow.flow_id {
            job.met.flow_id = t.flow.flow_id;
            job.flow = t.flow.clone();
        }
        let failure = if t.status == Status::Ok && !matches!(t.detail, crate::transaction::ProtocolDetail::Dnp3(_)) {
            None
        } else {
            text::failure(t)
        };
        match (&failure, t.status) {
            (_, Status::Pending) => {}
            (Some(_), _) if !lost_to_gap => {
                job.failures += 1;
                job.failure_run += 1;
                job.max_failure_run = job.max_failure_run.max(job.failure_run);
            }
            (None, _) => {
                job.successes += 1;
                job.failure_run = 0;
            }
            _ => {}
        }
        // What this transaction concludes goes straight after what was written before it
        // (the buffer is taken, not copied).
        let mut events = std::mem::take(&mut self.out);
        // Response time.
        if let Some(rt) = t.response_time_us() {
            // Alerts read the response times only to learn the job's limit: once it has one,
            // they are kept only for job events and baselines.
            if timing_distributions || !enforcing || job.response_limit_us().is_none() {
                job.dist.record(Sample::Response, rt);
            }
            if enforcing && job.response_limit_us().is_none() {
                job.set_response_limit_us(job.learned_response_limit(self.cfg.min_response_samples * 3 / 2));
            }
            if enforcing {
                if let Some(limit) = job.response_limit_us() {
                    if rt > limit {
                        if job.incidents.slow.bad() {
                            events.push(slow_alert(job, ts, rt, limit));
                        }
                    } else {
                        job.incidents.slow.good(self.cfg.clear_after);
                    }
                }
            }
        }
        // Failure.
        if enforcing && !lost_to_gap && t.status != Status::Pending {
            let news = match &failure {
                Some(_) => failure_is_news(job),
                None => false,
            };
            match &failure {
                Some(why) if news => {
                    if job.incidents.failed.bad() {
                        events.push(failed_alert(job, ts, why));
                    }
                }
                Some(_) => {}
                None => job.incidents.failed.good(self.cfg.clear_after),
            }
        }
        // Timing: requests only, in order.
        if let Some(req) = request_ts {
            if req > job.last_seen || job.count == 1 {
                let previous = job.last_seen;
                job.prev_seen = previous;
                job.last_seen = job.last_seen.max(req);
                if job.count > 1 && timing_distributions {
                    job.dist.record(Sample::Interval, req - previous);
                }
                // Enforced jobs feed their estimator once the grid has placed the request.
                // While learning, a job whose cadence is already known is followed on a grid of
                // the learned cadence too, so that its steady polls cost a ring push rather than
                // an analysis (the grid restarts when enforcement begins).
                // The learned cadence, when feeding the estimator left it as it was (a steady
                // poll that caused no analysis): `timing` need not work it out again.
                let mut unchanged = None;
                if job.reference().is_none() || !enforcing {
                    let learned = job.learned_cadence();
                    match learned {
                        Some(c) if job.estimator.samples() >= self.cfg.period.window as u64 => {
                            if matches!(job.tracker.observe(c, req), Fit::OnTime { missed: 0 }) {
                                job.estimator.record_steady(req);
                                if !job.estimator.just_recomputed() {
                                    unchanged = Some(learned);
                                }
                            } else {
                                job.estimator.observe(req);
                            }
                        }
                        _ => {
                            job.estimator.observe(req);
                        }
                    }
                }
                self.timing(index, req, enforcing, inflight, &mut events, unchanged);
            }
        }
        self.out = events;
    }

    /// The first transaction of a job never seen: creates it (and its pair), oversees it and
    /// raises what is new. `None` when the job table is full. Out of line: the steady path
    /// of a known job stays small.
    #[cold]
    #[inline(never)]
    fn first_of_job(&mut self, key: JobKey, t: &Transaction, ts: u64, now: u64, enforcing: bool) -> Option<usize> {
        if self.jobs.len() >= self.cfg.max_jobs {
            self.jobs_limit(now);
            return None;
        }
        // Two hosts already talking with the roles the other way round (an S7 PLC sending
        // download blocks to the engineering station) are not new talkers.
        let reverse = PairKey { master: key.outstation, outstation: key.master, ..key.pair() };
        let reverse_known = self.pairs.iter().any(|(k, p)| {
            p.known
                && k.app_proto == reverse.app_proto
                && k.master == reverse.master
                && k.outstation == reverse.outstation
        });
        let pair = pair_mut(&mut self.pairs, key.pair());
        let new_pair = !pair.known && !reverse_known;
        if new_pair && !enforcing {
            pair.known = true;
        }
        let i = self.create_job(key, t, ts, now);
        let action = self.oversee(i, t, ts, true);
        if action != Some(Action::Ignore) {
            self.novelty(i, new_pair, now);
        }
        if let Some(pair) = self.pairs.get_mut(&key.pair()) {
            pair.known = true;
        }
        Some(i)
    }

    fn create_job(&mut self, key: JobKey, t: &Transaction, ts: u64, now: u64) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let text = signature::describe(t);
        let mut job = Job::new(id, key, text, t, ts, self.cfg.period);
        job.master_name = self.rules.describe(key.master);
        job.outstation_name = self.rules.describe(key.outstation);
        job.overrides = self.rules.thresholds(t);
        if let Some(declared) = self.rules.declared_job(t) {
            // A job the rules declare is expected, and held to the rules' cadence at once.
            job.known = true;
            job.declared = Some(declared.id.clone());
            job.declared_severity = declared.severity;
            job.state = JobState::Established;
            job.reported_periodic = Some(true);
            job.set_reference(Some(Cadence { period_us: declared.period_us, tolerance_us: declared.tolerance_us }));
            self.declared_missing.retain(|d| *d != declared.id);
        } else if let Some(k) = self.baseline_jobs.get(&(key.pair(), job.text.key.clone())) {
            job.known = true;
            job.state = JobState::Established;
            job.reported_periodic = Some(k.reference.is_some());
            job.set_reference(k.reference);
            job.stop_after_us = k.stop_after_us;
            job.set_response_limit_us(k.response_limit_us);
            job.learned_failure_ratio = Some(k.failure_ratio);
        } else if self.learning {
            job.known = true;
        }
        if let Some(stop) = job.overrides.stop_after_us {
            job.stop_after_us = Some(stop);
        }
        if let Some(limit) = job.overrides.response_limit_us {
            job.set_response_limit_us(Some(limit));
        }
        if let Some(c) = job.reference() {
            job.set_reference(Some(job.with_overrides(c)));
        }
        self.out.extend(job_event(&job, now.max(ts), self.cfg.job_events));
        let i = self.jobs.len();
        self.pair_of.push(pair_mut(&mut self.pairs, key.pair()).id);
        self.jobs.push(job);
        let (jobs, hasher) = (&self.jobs, &self.key_hasher);
        self.by_key.insert_unique(hasher.hash_one(key), i as u32, |&k| {
            jobs.get(k as usize).map_or(0, |j| hasher.hash_one(j.key))
        });
        i
    }

    /// Tests only: steady polls judged by `judge` like every other transaction.
    #[cfg(test)]
    pub(crate) fn without_steady_path(&mut self) {
        self.steady_path_off = true;
    }

    /// Tests only: how many transactions [`Job::steady_poll`] judged.
    #[cfg(test)]
    pub(crate) fn steady_polls(&self) -> u64 {
        self.steady_polls
    }

    /// The index of the job with this key.
    fn find_job(&self, key: &JobKey) -> Option<usize> {
        let jobs = &self.jobs;
        self.by_key
            .find(self.key_hasher.hash_one(key), |&k| jobs.get(k as usize).is_some_and(|j| j.key == *key))
            .map(|&k| k as usize)
    }

    /// A job seen for the first time: `new_talker`, `new_job`, or for a command
    /// `unexpected_command`.
    fn novelty(&mut self, i: usize, new_pair: bool, now: u64) {
        let Some(job) = self.jobs.get(i) else { return };
        if job.known && !job.is_command() {
            return;
        }
        let pair_key = job.key.pair();
        let mut alerts = Vec::new();
        if new_pair && !self.learning {
            let message = format!(
                "New talker: {} started {} {} ({}, port {}), a pair never seen before; first: {}.",
                job.master_name,
                if job.is_command() { "commanding" } else { "polling" },
                job.outstation_name,
                job.key.app_proto,
                job.key.port,
                job.text.signature
            );
            alerts.push(job_alert(job, now, AlertKind::NewTalker, Severity::Medium, message));
        }
        if job.is_command() {
            // Commands are judged by `oversee`.
        } else if !new_pair && !self.learning {
            let pair = pair_mut(&mut self.pairs, pair_key);
            let due = pair.last_new_job_alert.is_none_or(|t| now.saturating_sub(t) >= self.cfg.novelty_interval_us);
            if due {
                let folded = std::mem::take(&mut pair.new_jobs_folded);
                pair.last_new_job_alert = Some(now);
                let more = if folded > 0 {
                    format!(" ({folded} other new job(s) of this pair before it)")
                } else {
                    String::new()
                };
                if let Some(job) = self.jobs.get(i) {
                    let message = format!(
                        "New job: {} started {} {}: {}, not in the baseline{more}.",
                        job.master_name,
                        job.verb(),
                        job.outstation_name,
                        job.text.signature
                    );
                    alerts.push(job_alert(job, now, AlertKind::NewJob, Severity::Medium, message));
                }
            } else {
                pair.new_jobs_folded += 1;
            }
        }
        self.out.append(&mut alerts);
    }

    /// Whether intervals and jitters go into the jobs' distributions: only job events and
    /// baselines read them (see [`EngineConfig::job_events`]). Response times are kept while
    /// this holds, and otherwise until an enforced job has learned its limit (see `judge`).
    fn timing_distributions(&self) -> bool {
        self.cfg.job_events || self.mode_learn_only
    }

    /// Commands are judged from their first occurrence, even while learning: a learning window
    /// must not make the first PLC stop or program download of a capture normal.
    fn mode_learn_only_first_command(&self) -> bool {
        self.learning && !self.mode_learn_only
    }

    /// The `unexpected_command` alert for the first command of job `i`.
    fn unexpected_alert(&self, i: usize, now: u64) -> Option<Alert> {
        let job = self.jobs.get(i)?;
        let category = job.category;
        let message = format!(
            "Unexpected {} command: {} sent {} to {} ({}), never seen between them before.",
            category.as_str(),
            job.master_name,
            job.text.signature,
            job.outstation_name,
            job.key.app_proto
        );
        let Event::Alert(mut alert) =
            job_alert(job, now, AlertKind::UnexpectedCommand, crate::rules::category_severity(category), message)
        else {
            return None;
        };
        alert.category = Some(category);
        Some(*alert)
    }

    /// The `rule_match` alert for a command a rule flags.
    fn rule_alert(
        &self,
        i: usize,
        now: u64,
        rule_id: &str,
        severity: Severity,
        description: Option<&str>,
    ) -> Option<Alert> {
        let job = self.jobs.get(i)?;
        let why = description.map_or(String::new(), |d| format!(" ({d})"));
        let message = format!(
            "Rule {rule_id}{why}: {} sent {} to {} ({}).",
            job.master_name, job.text.signature, job.outstation_name, job.key.app_proto
        );
        let Event::Alert(mut alert) = job_alert(job, now, AlertKind::RuleMatch, severity, message) else {
            return None;
        };
        alert.category = Some(job.category);
        alert.rule_id = Some(rule_id.to_string());
        Some(*alert)
    }

    /// Command oversight for a transaction of job `i` (`created`: its first). The rules speak
    /// first: `allow` and `ignore` silence it, `alert` raises `rule_match`; with no rule, a
    /// command never seen before (not in the baseline, not learned) is `unexpected_command`.
    /// Either way the commands of one incident make one alert.
    fn oversee(&mut self, i: usize, t: &Transaction, ts: u64, created: bool) -> Option<crate::rules::Action> {
        let job = self.jobs.get(i)?;
        let sensitive = !job.is_command()
            && self.rules_have_commands
            && self.rules.sensitive_read(&crate::rules::CommandCtx { transaction: t, time_us: ts });
        if !job.is_command() && !sensitive {
            return None;
        }
        let hit = self
            .rules
            .command(&crate::rules::CommandCtx { transaction: t, time_us: ts })
            .map(|h| (h.rule_id.to_string(), h.action, h.severity, h.description.map(str::to_string)));
        let unexpected = created && (!job.known || self.mode_learn_only_first_command());
        // A periodic command job (a set-point written every few seconds) is routine: its
        // writes neither join nor prolong a command incident, which would otherwise stay open
        // for as long as the job runs and fold every timing alert of the pair into it.
        // Program and firmware transfers are never routine, however regular their blocks.
        let routine = !matches!(job.category, Category::Program | Category::Firmware)
            && (job.reference().is_some() || job.estimator.is_periodic());
        let events = match &hit {
            Some((_, crate::rules::Action::Allow | crate::rules::Action::Ignore, _, _)) => Vec::new(),
            Some((id, crate::rules::Action::Alert, severity, description)) => {
                let severity = severity.unwrap_or_else(|| crate::rules::category_severity(t.category));
                let alert = self.rule_alert(i, ts, id, severity, description.as_deref());
                match alert {
                    Some(a) => self.incidents.on_command(t, ts, || a),
                    None => Vec::new(),
                }
            }
            None if unexpected && !self.mode_learn_only => match self.unexpected_alert(i, ts) {
                Some(a) => self.incidents.on_command(t, ts, || a),
                None => Vec::new(),
            },
            None if routine => Vec::new(),
            None => self.incidents.on_activity(t, ts, None).unwrap_or_default(),
        };
        self.out.extend(events);
        hit.map(|h| h.1)
    }

    fn jobs_limit(&mut self, now: u64) {
        if !self.jobs_limit_reported {
            self.jobs_limit_reported = true;
            self.out.push(Event::Alert(Box::new(Alert::sensor_health(
                Timestamp(now),
                Severity::High,
                "sensor.job_table_full",
                format!("The job table is full ({} jobs): new operations are not tracked.", self.cfg.max_jobs),
            ))));
        }
    }

    /// Cadence learning and enforcement for one request at `req`.
    /// `learned`: the job's learned cadence, when the caller already knows it.
    fn timing(
        &mut self,
        i: usize,
        req: u64,
        enforcing: bool,
        inflight: &dyn InFlight,
        events: &mut Vec<Event>,
        learned: Option<Option<Cadence>>,
    ) {
        let Some(job) = self.jobs.get_mut(i) else { return };
        // Learning the cadence: a job is established once its cadence is trustworthy, or once
        // it is known to have none. An established job held to a cadence has nothing to learn
        // here (a new cadence is `enforce`'s business).
        if job.state != JobState::Learning && job.reference().is_some() {
            self.enforce(i, req, enforcing, inflight, events);
            return;
        }
        let learned = learned.unwrap_or_else(|| job.learned_cadence());
        // Calling a job aperiodic takes more requests than finding a cadence: a poll whose
        // first few intervals wander (a client starting up) must not be written off.
        let aperiodic = job.estimator.cadence() == super::period::Cadence::Aperiodic
            && job.estimator.samples() >= APERIODIC_AFTER_SAMPLES;
        let first_decision = job.state == JobState::Learning && (learned.is_some() || aperiodic);
        // A job already found aperiodic needs more than a regular stretch to be held to a
        // cadence: a confident estimate that its recent requests agree with.
        let newly_periodic = job.reference().is_none()
            && learned.is_some()
            && (enforcing || job.reported_periodic == Some(false))
            && (job.reported_periodic != Some(false) || job.settled_into_cadence());
        if first_decision || newly_periodic {
            self.establish(i, req, enforcing, learned, events);
        }
        self.enforce(i, req, enforcing, inflight, events);
    }

    /// Job `i` is established: periodic with the `learned` cadence, or aperiodic.
    #[cold]
    #[inline(never)]
    fn establish(&mut self, i: usize, req: u64, enforcing: bool, learned: Option<Cadence>, events: &mut Vec<Event>) {
        let relaxed = self.cfg.period.window * 16;
        let Some(job) = self.jobs.get_mut(i) else { return };
        job.state = JobState::Established;
        job.reported_periodic = Some(learned.is_some());
        if learned.is_some() {
            job.estimator.set_recompute_every(relaxed);
            if enforcing {
                // Held to it from now on (while learning, the end of the window does it).
                job.set_reference(learned.map(|c| job.with_overrides(c)));
                job.tracker.reset();
            }
        }
        if job.reference().is_some() {
            self.recompute_cycles(i);
        }
        if let Some(job) = self.jobs.get(i) {
            events.extend(job_event(job, req, self.cfg.job_events));
        }
    }

    /// Holds job `i` to its reference cadence for a request at `req`.
    fn enforce(&mut self, i: usize, req: u64, enforcing: bool, inflight: &dyn InFlight, events: &mut Vec<Event>) {
        let timing_distributions = self.timing_distributions();
        let cfg = &self.cfg;
        let Some(job) = self.jobs.get_mut(i) else { return };
        let Some(c) = job.reference() else { return };
        if req < job.resync_at {
            return;
        }
        if job.state == JobState::Stopped {
            self.resume(i, req, c, events);
            return;
        }
        let fit = job.tracker.observe(c, req);
        // Held to a cadence: a change of pace must be seen promptly.
        job.estimator.set_prompt_recent(true);
        // A steady poll costs the estimator a ring push; anything else is analysed at once.
        if matches!(fit, Fit::OnTime { missed: 0 }) {
            job.estimator.record_steady(req);
        } else {
            job.estimator.observe(req);
        }
        if matches!(fit, Fit::OnTime { .. }) && timing_distributions {
            job.dist.record(Sample::Jitter, job.tracker.last_deviation_us());
        }
        if !enforcing {
            return;
        }
        // A steady poll of a job in good standing, the common case: its incidents calm down.
        if matches!(fit, Fit::OnTime { missed: 0 })
            && !matches!(job.state, JobState::Late | JobState::Resumed)
            && !job.estimator.just_recomputed()
        {
            job.incidents.missed.good(cfg.clear_after);
            job.incidents.late.good(cfg.clear_after);
            return;
        }
        self.enforce_irregular(i, req, c, fit, inflight, events);
    }

    /// The rest of [`JobEngine::enforce`] for a poll that was not simply on time (or of a job
    /// that was late or resumed, or whose window was just re-analysed): missed and late polls,
    /// state changes, a change of pace. Out of line, so that a steady poll's path stays small
    /// in the instruction cache.
    #[cold]
    #[inline(never)]
    fn enforce_irregular(
        &mut self,
        i: usize,
        req: u64,
        c: Cadence,
        fit: Fit,
        inflight: &dyn InFlight,
        events: &mut Vec<Event>,
    ) {
        let cfg = &self.cfg;
        let Some(job) = self.jobs.get_mut(i) else { return };
        let (missed, late) = match fit {
            Fit::OnTime { missed } => (missed, None),
            Fit::Late { late_us, missed } => (missed, Some(late_us)),
            Fit::Early | Fit::Anchored | Fit::Stale => (0, None),
        };
        // Polls that may be in flight on the connection are not missed (yet).
        let in_flight =
            missed > 0 && inflight.pending_span(&job.flow).is_some_and(|(oldest, _)| oldest.as_micros() < req);
        let missed = if in_flight { 0 } else { missed };
        let mut timing_alerts: Vec<Event> = Vec::new();
        // Where the missed slots were: from one period after the previous request to one
        // window before this one.
        let substitute_window = (
            job.prev_seen.saturating_add(c.period_us).saturating_sub(c.window_us()),
            req.saturating_sub(c.window_us()),
        );
        if matches!(fit, Fit::OnTime { .. } | Fit::Late { .. } | Fit::Anchored)
            && matches!(job.state, JobState::Late | JobState::Resumed)
        {
            job.state = JobState::Established;
            events.extend(job_event(job, req, self.cfg.job_events));
        }
        if missed > 0 {
            if job.incidents.missed.bad() {
                timing_alerts.push(missed_alert(job, req, missed));
            }
        } else if matches!(fit, Fit::OnTime { .. }) {
            job.incidents.missed.good(cfg.clear_after);
        }
        if let Some(late_us) = late {
            if job.incidents.late.bad() {
                timing_alerts.push(late_alert(job, req, late_us, c));
            }
        } else if matches!(fit, Fit::OnTime { missed: 0 }) {
            job.incidents.late.good(cfg.clear_after);
        }
        // A sustained new cadence. The recent window's cadence only changes when it is
        // analysed, which a steady poll does not cause (except for the periodic full analysis).
        let analysed = !matches!(fit, Fit::OnTime { missed: 0 }) || job.estimator.just_recomputed();
        if let Some(recent) = analysed.then(|| job.estimator.period_changed_from(c.period_us)).flatten() {
            self.pace_changed(i, req, c, recent, events);
        }
        // Polls held up by a command incident between the same hosts (a program download
        // occupying the connection) are part of that incident, not a timing incident; and a
        // slot in which the master sent another request to the same outstation instead (an
        // integrity poll standing in for every tenth event poll) was not missed. A request
        // stands in for one slot: three slots missed around one integrity poll are still
        // missed polls.
        if timing_alerts.is_empty() {
            return;
        }
        let Some(pair_key) = self.jobs.get(i).map(|j| j.key.pair()) else { return };
        if self.command_incident_open(&pair_key, req) {
            return;
        }
        // A late poll with no slot missed is excused by one substitute.
        if self.substitutes(i, substitute_window) < missed.max(1) {
            events.append(&mut timing_alerts);
        }
    }

    /// A request of stopped job `i`: it resumed.
    #[cold]
    #[inline(never)]
    fn resume(&mut self, i: usize, req: u64, c: Cadence, events: &mut Vec<Event>) {
        let Some(job) = self.jobs.get_mut(i) else { return };
        job.estimator.observe(req);
        job.state = JobState::Resumed;
        if let Some(pair) = self.pairs.get_mut(&job.key.pair()) {
            pair.silent_incident = false;
        }
        job.tracker.reset();
        job.tracker.observe(c, req);
        events.extend(job_event(job, req, self.cfg.job_events));
    }

    /// The recent window of job `i` agrees on a cadence other than its reference `c`: once
    /// the change is sustained and large enough, `job_period_changed` and the new reference.
    #[cold]
    #[inline(never)]
    fn pace_changed(
        &mut self,
        i: usize,
        req: u64,
        c: Cadence,
        recent: super::period::PeriodEstimate,
        events: &mut Vec<Event>,
    ) {
        let ratio = self.cfg.period_change_ratio;
        let Some(job) = self.jobs.get_mut(i) else { return };
        let diff = recent.period_us.abs_diff(c.period_us) as f64;
        // Sustained: the new cadence must hold over at least three of the old periods (a
        // burst of quick requests is not a new pace).
        let sustained = job.estimator.recent_span_us() >= c.period_us.saturating_mul(3);
        if !(sustained && diff > c.period_us as f64 * ratio && diff > 2.0 * c.tolerance_us as f64) {
            return;
        }
        let message = format!(
            "{} changed the pace of {} on {}: every {} now, every {} before.",
            job.master_name,
            job.text.signature,
            job.outstation_name,
            text::duration(recent.period_us),
            text::duration(c.period_us)
        );
        events.push(job_alert(job, req, AlertKind::JobPeriodChanged, Severity::Medium, message));
        let next = job.with_overrides(super::job::enforceable(recent.period_us, recent.tolerance_us));
        job.set_reference(Some(next));
        job.stop_after_us = None;
        job.tracker.reset();
        job.tracker.observe(next, req);
        job.incidents.late.close();
        job.incidents.missed.close();
        self.recompute_cycles(i);
        if let Some(job) = self.jobs.get(i) {
            events.extend(job_event(job, req, self.cfg.job_events));
        }
    }

    /// The indices of the jobs of job `i`'s pair, `i` included.
    fn pair_mates(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let pair = self.pair_of.get(i).copied();
        self.pair_of.iter().enumerate().filter(move |(_, &p)| Some(p) == pair).map(|(k, _)| k)
    }

    /// How many requests other jobs of the same pair made in `window` that read everything
    /// job `i` reads (polls that may have stood in for its missed ones, one slot each). Each
    /// job's last two requests are known, so a job counts at most two.
    fn substitutes(&self, i: usize, window: (u64, u64)) -> u64 {
        let (from, to) = window;
        let Some(missed) = self.jobs.get(i) else { return 0 };
        if from >= to {
            return 0;
        }
        let within = |t: u64| u64::from(t >= from && t <= to);
        self.pair_mates(i)
            .filter(|&k| k != i)
            .filter_map(|k| self.jobs.get(k))
            .filter(|j| j.function_code == missed.function_code)
            // A job's first request is both its last and its previous one.
            .map(|j| (j, within(j.last_seen) + if j.prev_seen < j.last_seen { within(j.prev_seen) } else { 0 }))
            // The signature comparison parses both keys: only for requests in the window.
            .filter(|&(j, n)| n > 0 && signature::covers(&j.text.key, &missed.text.key))
            .map(|(_, n)| n)
            .sum()
    }

    /// Whether a command incident between the two hosts of `pair` (either way round) was
    /// active in the last minute.
    fn command_incident_open(&self, pair: &PairKey, now: u64) -> bool {
        self.incidents.active_between(pair.app_proto, pair.master, pair.outstation, now)
    }

    /// Poll cycles of the pair of job `i`: its periodic jobs grouped by period (within the
    /// larger of their tolerances); a group of two or more is a cycle named by its lowest id.
    /// Returns the indices whose cycle changed (their next job event shows it).
    fn recompute_cycles(&mut self, i: usize) {
        let members: Vec<(usize, u64, Cadence)> = self
            .pair_mates(i)
            .filter_map(|k| self.jobs.get(k).map(|j| (k, j)))
            .filter(|(_, j)| !matches!(j.state, JobState::Retired))
            .filter_map(|(k, j)| j.reference().map(|c| (k, j.id, c)))
            .collect();
        for &(k, _, c) in &members {
            let same: Vec<u64> = members
                .iter()
                .filter(|(_, _, o)| o.period_us.abs_diff(c.period_us) <= o.tolerance_us.max(c.tolerance_us))
                .map(|(_, id, _)| *id)
                .collect();
            let cycle = (same.len() >= 2).then(|| (same.iter().copied().min().unwrap_or(0), same.len()));
            if let Some(j) = self.jobs.get_mut(k) {
                j.cycle = cycle;
            }
        }
    }

    /// The capture ended: the estimates are brought up to date (steady jobs are re-analysed
    /// only every so many polls).
    pub fn finish(&mut self) {
        // What `jobwatch learn` writes is read from the estimates: bring them up to date.
        if self.mode_learn_only {
            for job in &mut self.jobs {
                job.estimator.refresh();
            }
        }
        let held = self.incidents.flush();
        self.out.extend(held);
    }

    /// What was learned, as a baseline (`jobwatch learn`).
    pub fn baseline(&self, captures: Vec<String>) -> Baseline {
        let mut per_pair: HashMap<PairKey, u64> = HashMap::new();
        for job in &self.jobs {
            *per_pair.entry(job.key.pair()).or_default() += job.count;
        }
        let mut talkers: Vec<TalkerEntry> = per_pair
            .into_iter()
            .map(|(k, transactions)| TalkerEntry {
                protocol: k.app_proto.to_string(),
                master: k.master,
                outstation: k.outstation,
                port: k.port,
                transactions,
            })
            .collect();
        talkers.sort_by(|a, b| {
            (&a.protocol, a.master, a.outstation, a.port).cmp(&(&b.protocol, b.master, b.outstation, b.port))
        });
        let mut jobs = Vec::new();
        let mut commands = Vec::new();
        for job in &self.jobs {
            let cadence = job.reference().or_else(|| job.learned_cadence());
            let entry = JobEntry {
                key: job.text.key.clone(),
                protocol: job.key.app_proto.to_string(),
                master: job.key.master,
                outstation: job.key.outstation,
                port: job.key.port,
                signature: job.text.signature.clone(),
                function_code: job.function_code,
                category: job.category.as_str().to_string(),
                periodic: cadence.is_some(),
                period_ms: cadence.map(|c| text::ms(c.period_us)),
                tolerance_ms: cadence.map(|c| text::ms(c.tolerance_us)),
                jitter_ms: cadence.and(job.jitter_us()).map(text::ms),
                stop_after_ms: cadence.map(|c| {
                    text::ms(c.period_us.saturating_mul(self.cfg.stop_after_missed + 1).saturating_add(c.tolerance_us))
                }),
                response_ms: job.learned_response_limit(self.cfg.min_response_samples).map(|limit| ResponseEntry {
                    p50: text::ms(job.response_percentile(0.5).unwrap_or(0)),
                    p99: text::ms(job.response_percentile(0.99).unwrap_or(0)),
                    max: text::ms(job.response_max()),
                    alert_above: text::ms(limit),
                }),
                failure_ratio: (job.failure_ratio() * 1000.0).round() / 1000.0,
                count: job.count,
            };
            if cadence.is_none() && job.is_command() {
                commands.push(entry);
            } else {
                jobs.push(entry);
            }
        }
        let learned = match (self.first_packet, self.last_packet) {
            (Some(a), Some(b)) => Some(LearnedFrom {
                from: Timestamp(a).to_string(),
                to: Timestamp(b).to_string(),
                captures,
                learning_window_s: None,
            }),
            _ => None,
        };
        Baseline { version: 1, learned, talkers, jobs, commands }
    }
}

/// Whether the job's current failure is news. A job that never failed while learning (under
/// [`HEALTHY_FAILURE_RATIO`]) alerts on its first failure. A job that already failed now and
/// then (a slave that times out under load) alerts only on a run of failures longer than twice
/// the longest it had while learning, plus two; one that always failed never does.
#[cold]
#[inline(never)]
fn failure_is_news(job: &Job) -> bool {
    let ratio = job.learned_failure_ratio.unwrap_or_else(|| {
        // A job first seen after learning judges itself by its own history so far.
        if job.successes >= 3 {
            job.failures.saturating_sub(u64::from(job.failure_run)) as f64 / (job.successes + job.failures) as f64
        } else {
            1.0
        }
    });
    if ratio < HEALTHY_FAILURE_RATIO {
        return true;
    }
    if ratio >= 0.95 {
        return false;
    }
    let longest = job.learned_max_failure_run.unwrap_or_else(|| {
        // From the baseline's ratio alone: the longest run expected among `count` polls.
        let n = (job.count.max(10)) as f64;
        (n.ln() / (1.0 / ratio).ln()).ceil() as u32
    });
    job.failure_run > 2 * longest + 2
}

/// A job that failed less often than this while learning counts as healthy.
const HEALTHY_FAILURE_RATIO: f64 = 0.05;

fn proto_name(name: &str) -> Option<&'static str> {
    ["modbus", "dnp3", "s7comm", "s7comm_plus"].into_iter().find(|p| *p == name)
}

/// `response_slow` for job `job`: answered in `rt` µs, limit `limit` µs.
#[cold]
#[inline(never)]
fn slow_alert(job: &Job, ts: u64, rt: u64, limit: u64) -> Event {
    let message = format!(
        "{} answered {}'s {} in {} (normally under {}).",
        job.outstation_name,
        job.master_name,
        job.name(),
        text::duration(rt),
        text::duration(limit)
    );
    job_alert(job, ts, AlertKind::ResponseSlow, Severity::Medium, message)
}

#[cold]
#[inline(never)]
fn failed_alert(job: &Job, ts: u64, why: &str) -> Event {
    let message = format!("{}'s {} on {} failed: {why}.", job.master_name, job.name(), job.outstation_name);
    job_alert(job, ts, AlertKind::JobFailed, Severity::High, message)
}

#[cold]
#[inline(never)]
fn missed_alert(job: &Job, req: u64, missed: u64) -> Event {
    let message = format!(
        "{} missed {missed} poll(s) of {}: {}; the next came {} after the previous one.",
        job.master_name,
        job.outstation_name,
        job.name(),
        text::duration(req.saturating_sub(job.prev_seen))
    );
    job_alert(job, req, AlertKind::JobMissed, Severity::Medium, message)
}

#[cold]
#[inline(never)]
fn late_alert(job: &Job, req: u64, late_us: u64, c: Cadence) -> Event {
    let message = format!(
        "{}'s poll of {} came {} late: {} (on-time window ±{}).",
        job.master_name,
        job.outstation_name,
        text::duration(late_us),
        job.name(),
        text::duration(c.tolerance_us)
    );
    job_alert(job, req, AlertKind::JobLate, Severity::Low, message)
}

#[cold]
#[inline(never)]
fn job_event(job: &Job, now: u64, wanted: bool) -> Option<Event> {
    wanted.then(|| {
        Event::Job(Box::new(JobEvent { timestamp: Timestamp(now), flow: Some(job.flow.clone()), body: job.body() }))
    })
}

/// An alert about a job. The alerts of a job the rules declare carry the declared job's id, and
/// its severity when the rules give one.
#[cold]
#[inline(never)]
fn job_alert(job: &Job, now: u64, kind: AlertKind, severity: Severity, message: String) -> Event {
    let declared = job.declared.is_some() && !matches!(kind, AlertKind::UnexpectedCommand | AlertKind::RuleMatch);
    let severity = if declared { job.declared_severity.unwrap_or(severity) } else { severity };
    Event::Alert(Box::new(Alert {
        timestamp: Timestamp(now),
        flow: Some(job.flow.clone()),
        app_proto: Some(job.key.app_proto),
        kind,
        severity,
        message,
        job_id: Some(job.id),
        category: None,
        rule_id: if declared { job.declared.clone() } else { None },
        anomaly: None,
        count: None,
    }))
}
