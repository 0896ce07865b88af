//! One tracked job: its identity, what was learned of it (cadence, period, jitter and response
//! time distributions), the grid it is held to, and its open incidents.

use super::compact::{OptionCadence, OptionU64};
use super::period::{PeriodConfig, PeriodEstimate, PeriodEstimator};
use super::recent::Met;
use super::signature::{Describe, JobKey};
use super::text;
use super::timing::{Cadence, Tracker};
use crate::event::{JobBody, JobState};
use crate::flow::FlowInfo;
use dissectors::Category;
use hdrhistogram::Histogram;
use std::cell::{Cell, RefCell};

/// Largest value the distributions hold: one hour in µs (larger values are clamped).
const HIST_MAX_US: u64 = 3_600_000_000;
/// A histogram's first size: this many times the largest of its first batch of samples (one
/// more power of two, 512 bytes at two significant digits), so that the spread of a job's
/// values after its first minutes seldom outgrows it. (On the benchmark capture, in a simulated
/// 1 MiB cache, 2 missed least: 1 left more growing, 4 more zeroing.)
const HIST_HEADROOM: u64 = 2;
/// Two significant digits: 1 % resolution, 512 bytes per power of two of range with 32-bit
/// counts.
const HIST_SIGFIG: u8 = 2;

/// The on-time window is at least this share of the period either side. Masters that serve
/// several jobs over one connection queue their requests behind each other's answers, so polls
/// wander by a few percent without anything being wrong; an engineer calls a poll late when it
/// is off by a tenth of its period, not by three jitters of a quiet lab.
pub const MIN_TOLERANCE_RATIO: f64 = MIN_TOLERANCE_PERCENT as f64 / 100.0;
/// [`MIN_TOLERANCE_RATIO`] in percent (integer arithmetic on the hot path; divides 100).
const MIN_TOLERANCE_PERCENT: u64 = 10;

/// Least estimator confidence (coverage × purity × regularity × maturity, maturity reaching 1
/// after 15 on-time intervals) for a cadence to be enforced.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// A cadence to hold a job to: `tolerance_us` widened to the floor, at most half the period.
pub fn enforceable(period_us: u64, tolerance_us: u64) -> Cadence {
    let floor = period_us / (100 / MIN_TOLERANCE_PERCENT);
    // Under half the period (a baseline requires it): 45 % at most.
    Cadence { period_us, tolerance_us: tolerance_us.max(floor).max(5_000).min(period_us * 45 / 100) }
}

/// Requests after which a clockwork estimate is trusted whatever its confidence (see
/// [`Job::learned_cadence`]).
pub const MATURE_SAMPLES: u64 = 8;

/// `e` as [`Job::learned_cadence`] holds a job to, were the job to have seen `samples`
/// requests: see there.
fn trusted_cadence(e: &PeriodEstimate, samples: u64) -> Option<Cadence> {
    let trusted =
        e.confidence >= MIN_CONFIDENCE || (samples >= MATURE_SAMPLES && e.jitter_us.saturating_mul(50) <= e.period_us);
    trusted.then(|| enforceable(e.period_us, e.tolerance_us))
}

/// [`Job::learned_cadence`] of a job whose estimator `e` holds [`MATURE_SAMPLES`] requests or
/// more: the count no longer decides whether a clockwork estimate is trusted.
fn mature_cadence(e: &PeriodEstimator) -> Option<Cadence> {
    e.estimate().and_then(|est| trusted_cadence(&est, est.samples.max(MATURE_SAMPLES)))
}

/// Which distribution a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// Between consecutive requests.
    Interval = 0,
    /// Of an on-time poll from its slot.
    Jitter = 1,
    Response = 2,
}

/// The three histograms of a job.
#[derive(Debug, Clone)]
pub struct Histograms {
    pub interval: Histogram<u32>,
    pub jitter: Histogram<u32>,
    pub response: Histogram<u32>,
}

impl Histograms {
    fn new() -> Option<Histograms> {
        // Sized by the first batch of samples (to `HIST_HEADROOM` times its largest value),
        // then grown to the largest value recorded (at most `HIST_MAX_US`: 13 KiB), not
        // allocated for the whole range up front: a 1 s poll's histograms take half that, and
        // a thousand jobs do not fault in megabytes of zeros before their first poll. Growing
        // from nothing a bucket at a time instead reallocated, copied and zeroed each
        // histogram two or three times while its first values arrived (3 002 times for the
        // 1 155 histograms of the benchmark capture).
        // The buckets of a value do not depend on the size, so neither does any percentile.
        let h = || Histogram::<u32>::new(HIST_SIGFIG).ok();
        Some(Histograms { interval: h()?, jitter: h()?, response: h()? })
    }

    fn of(&mut self, kind: Sample) -> &mut Histogram<u32> {
        match kind {
            Sample::Interval => &mut self.interval,
            Sample::Jitter => &mut self.jitter,
            Sample::Response => &mut self.response,
        }
    }
}

/// Samples of each kind held before they go into the histograms (see [`Distributions`]).
const PENDING: usize = 256;

/// A sample as the bucket it falls in: its value with all but the eight most significant bits
/// cleared, coded as (bits cleared, top bits) in 16 bits. Two significant digits make
/// HdrHistogram keep exactly those eight bits (256 sub-buckets), so the cleared value is the
/// lowest of the sample's own bucket: counts, percentiles, minimum and maximum come out as
/// if the sample itself had been recorded (a test holds the crate to it), from a buffer half
/// the size.
fn bucket_code(v: u32) -> u16 {
    let cleared = (u32::BITS - v.leading_zeros()).saturating_sub(8);
    // `cleared` ≤ 24 and the top bits < 256: fits in 16 bits.
    ((cleared << 8) | (v >> cleared)) as u16
}

/// The lowest value of the bucket [`bucket_code`] coded.
fn bucket_floor(code: u16) -> u64 {
    u64::from(code & 0xff) << (code >> 8)
}

#[derive(Debug, Clone)]
#[repr(C)]
struct Pending {
    /// The `i`-th interval and response of the job ([`bucket_code`]) side by side: every
    /// transaction records both (sixteen transactions to a cache line, and a flush of either
    /// reads the lines the other's flush, one transaction apart, reads too).
    pair: [[u16; 2]; PENDING],
    /// Jitters (on-time polls of an enforced job only).
    jitter: [u16; PENDING],
}

impl Default for Pending {
    fn default() -> Self {
        Pending { pair: [[0; 2]; PENDING], jitter: [0; PENDING] }
    }
}

impl Pending {
    /// Where the `i`-th pending sample of `kind` goes.
    fn slot(&mut self, kind: Sample, i: usize) -> Option<&mut u16> {
        match kind {
            Sample::Interval => self.pair.get_mut(i).map(|p| &mut p[0]),
            Sample::Response => self.pair.get_mut(i).map(|p| &mut p[1]),
            Sample::Jitter => self.jitter.get_mut(i),
        }
    }

    /// The first `len` pending samples of `kind`.
    fn codes(&self, kind: Sample, len: usize) -> impl Iterator<Item = u16> + '_ {
        let (pairs, jitters) = if kind == Sample::Jitter { (0, len) } else { (len, 0) };
        let column = usize::from(kind == Sample::Response);
        self.pair.iter().take(pairs).map(move |p| p[column]).chain(self.jitter.iter().take(jitters).copied())
    }
}

/// A job's histograms and the samples waiting to go into them: one allocation, apart from
/// the job's per-poll state (a record writes one line of it).
#[derive(Debug, Clone)]
struct Store {
    hists: Histograms,
    pending: Pending,
}

/// Moves the `len[kind]` pending samples of `kind` in `store` into its histogram.
#[inline(never)]
fn flush_kind(len: &mut [u16; 3], store: Option<&mut Store>, kind: Sample) {
    let k = kind as usize;
    let pending_len = len.get(k).map_or(0, |&l| usize::from(l));
    if let Some(l) = len.get_mut(k) {
        *l = 0;
    }
    let Some(Store { hists, pending }) = store else { return };
    let h = hists.of(kind);
    if h.is_empty() {
        // Sized once, by the first batch, with room to spare (see `Histograms::new`).
        if let Some(max) = pending.codes(kind, pending_len).max() {
            let high = bucket_floor(max).saturating_mul(HIST_HEADROOM).clamp(2, HIST_MAX_US);
            if let Ok(mut sized) = Histogram::new_with_max(high, HIST_SIGFIG) {
                sized.auto(true);
                *h = sized;
            }
        }
    }
    for code in pending.codes(kind, pending_len) {
        // In range already (clamped when buffered); saturating counts never fail.
        let _ = h.record(bucket_floor(code));
    }
}

/// Distributions in HdrHistogram: the interval between consecutive requests, the deviation
/// of on-time polls from their slot (jitter), and the response time, all in µs.
///
/// Recording is batched: a transaction writes its samples to a buffer (in one allocation with
/// the histograms, apart from the job; the job keeps the counts), and the histograms (a few
/// KiB per job, cold in the cache by the time a job polls again) are updated 256 samples of a
/// kind at a time: a steady job's samples fall in a few dozen cache lines of its histograms,
/// and the larger the batch, the more samples share each of those lines per visit (on the
/// benchmark capture, in a simulated 1 MiB
/// cache, batches of 128 instead of 16 cut the misses of recording by a third; buffering
/// 16-bit bucket codes instead of 32-bit values cut the engine's misses by another sixth; 256
/// with the interval and response side by side and the jitters apart, instead of 128 with all
/// three side by side, cut the engine's read misses by another seventh — 512 undid it, the
/// buffer's own lines falling out of the cache before a flush reads them).
/// Reading flushes the buffer first, so readers see every sample; hence the interior
/// mutability, kept out of the job's line (the counts in a `Cell`, the store's borrow flag
/// in its own allocation): 16 bytes there.
#[derive(Debug, Clone)]
pub struct Distributions {
    /// How many samples wait, per [`Sample`] kind.
    len: Cell<[u16; 3]>,
    /// `None` once the job is retired (its memory goes with it).
    store: Option<Box<RefCell<Store>>>,
}

impl Distributions {
    fn new() -> Distributions {
        let store = Histograms::new().map(|hists| Box::new(RefCell::new(Store { hists, pending: Pending::default() })));
        Distributions { len: Cell::new([0; 3]), store }
    }

    /// Records `v` µs (clamped into the histograms' range). Inlined: each caller's `kind` is
    /// a constant, which picks the buffer at compile time (the flush stays out of line).
    #[inline(always)]
    pub fn record(&mut self, kind: Sample, v: u64) {
        // 1 µs to an hour: fits in 32 bits.
        let code = bucket_code(u32::try_from(v.clamp(1, HIST_MAX_US)).unwrap_or(u32::MAX));
        if !self.buffer(kind, code) {
            self.record_after_flush(kind, code);
        }
    }

    /// Buffers `code` as a sample of `kind`; false when its buffer is full (or the job
    /// retired).
    #[inline(always)]
    fn buffer(&mut self, kind: Sample, code: u16) -> bool {
        let (Some(len), Some(store)) = (self.len.get_mut().get_mut(kind as usize), self.store.as_deref_mut()) else {
            return false;
        };
        let Some(slot) = store.get_mut().pending.slot(kind, usize::from(*len)) else { return false };
        *slot = code;
        *len += 1;
        true
    }

    /// The buffer of `kind` is full: moves it into the histogram, then buffers `code`.
    #[cold]
    #[inline(never)]
    fn record_after_flush(&mut self, kind: Sample, code: u16) {
        flush_kind(self.len.get_mut(), self.store.as_deref_mut().map(RefCell::get_mut), kind);
        self.buffer(kind, code);
    }

    /// Frees the histograms (a retired job).
    pub fn release(&mut self) {
        self.len.set([0; 3]);
        self.store = None;
    }

    /// `f` of the histograms with every sample recorded, if they are still held.
    pub fn read<T>(&self, f: impl FnOnce(&Histograms) -> T) -> Option<T> {
        let cell = self.store.as_deref()?;
        // Single-threaded and never re-entered; should a borrow be taken anyway, read what is
        // already in the histograms rather than fail.
        if let Ok(mut store) = cell.try_borrow_mut() {
            let mut len = self.len.get();
            for kind in [Sample::Interval, Sample::Jitter, Sample::Response] {
                flush_kind(&mut len, Some(&mut store), kind);
            }
            self.len.set(len);
        }
        cell.try_borrow().ok().map(|store| f(&store.hists))
    }
}

/// An incident: opened by the first bad observation (which alerts), kept open by further ones
/// (folded into it), closed after enough good ones in a row. One alert per incident.
///
/// Two bytes: whether it is open (the top bit) and the good observations in a row while open
/// (the other fifteen, saturating: an incident that must see more than 32 767 of them never
/// closes, where the engine asks for three). The four incidents of a job share its third
/// cache line with the grid (see [`Job`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Incident(u16);

impl Incident {
    const OPEN: u16 = 1 << 15;

    pub fn is_open(self) -> bool {
        self.0 & Incident::OPEN != 0
    }

    /// A bad observation; true when it opens the incident (raise the alert).
    pub fn bad(&mut self) -> bool {
        let opens = !self.is_open();
        // Open, and no good observation since.
        self.0 = Incident::OPEN;
        opens
    }

    /// A good observation; the incident closes after `clear_after` of them in a row.
    #[inline]
    pub fn good(&mut self, clear_after: u32) {
        if self.is_open() {
            let calm = ((self.0 & !Incident::OPEN) + 1).min(!Incident::OPEN);
            self.0 = if u32::from(calm) >= clear_after { 0 } else { Incident::OPEN | calm };
        }
    }

    pub fn close(&mut self) {
        *self = Incident::default();
    }
}

/// The open incidents of one job.
#[derive(Debug, Clone, Copy, Default)]
pub struct Incidents {
    pub late: Incident,
    pub missed: Incident,
    pub failed: Incident,
    pub slow: Incident,
}

/// [`Job::mature_learned_cadence`] as of one analysis of the estimator: 16 bytes, between the
/// grid and the estimator's ring header, which a learning poll reads and writes anyway.
#[derive(Debug, Clone, Copy)]
struct MatureCadence {
    /// 0: no cadence (an enforceable period is never 0).
    period_us: u64,
    /// Up to 71 minutes (a cadence with a wider tolerance is not kept, see
    /// [`MatureCadence::derive`]).
    tolerance_us: u32,
    /// [`PeriodEstimator::analyses`] when it was derived; [`MatureCadence::STALE`] matches
    /// none until the estimator's count wraps, four billion analyses on.
    analyses: u32,
}

impl MatureCadence {
    /// Derived from no analysis yet.
    const STALE: MatureCadence = MatureCadence { period_us: 0, tolerance_us: 0, analyses: u32::MAX };

    /// The learned cadence of a job whose estimator `e` holds [`MATURE_SAMPLES`] requests or
    /// more, derived again only when `e` has analysed its window since.
    #[inline]
    fn of(&mut self, e: &PeriodEstimator) -> Option<Cadence> {
        let analyses = e.analyses();
        if self.analyses != analyses {
            return self.derive(e, analyses);
        }
        (self.period_us > 0)
            .then_some(Cadence { period_us: self.period_us, tolerance_us: u64::from(self.tolerance_us) })
    }

    #[cold]
    #[inline(never)]
    fn derive(&mut self, e: &PeriodEstimator, analyses: u32) -> Option<Cadence> {
        let c = mature_cadence(e);
        *self = match c {
            // An estimate's period is at least 1 µs, so 0 is free to mean "none".
            None => MatureCadence { period_us: 0, tolerance_us: 0, analyses },
            Some(c) => match u32::try_from(c.tolerance_us) {
                Ok(tolerance_us) => MatureCadence { period_us: c.period_us, tolerance_us, analyses },
                // A job polled every few hours: derived anew at each poll, which costs nothing
                // that matters at that pace.
                Err(_) => MatureCadence::STALE,
            },
        };
        c
    }
}

/// One tracked job.
///
/// Laid out hot first (`repr(C)` keeps the order): by the time a job polls again, hundreds of
/// other jobs' transactions and a stream of packets have gone through the cache, so what a
/// steady poll reads and writes is kept together in the first four cache lines, and what only
/// alerts, events and baselines need comes after. Four, not five: the optional times, limits
/// and cadences there take the room of their values alone ([`super::compact`]), the
/// incidents two bytes each, the distributions' interior mutability lives outside the line;
/// one line fewer a transaction is one miss fewer once the jobs outgrow the cache
/// (docs/BENCHMARKS.md, twelfth session). Aligned to a cache line so that those lines are the
/// job's own: the job table is one large allocation, which the allocator places 16 bytes past
/// a page boundary, so that unaligned every "line" of every job straddled two.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Job {
    // Line 1: who does what on which connection (what the memo of recent jobs checks), the
    // count every transaction updates and the id it stamps on each.
    pub met: Met,
    pub count: u64,
    pub id: u64,
    // Line 2: when it ran, and what it is held to.
    pub last_seen: u64,
    /// The request before the latest one (for messages).
    pub prev_seen: u64,
    pub successes: u64,
    /// The end of the last capture gap: requests from before it are not placed on the grid
    /// (their answers, lost in the gap, come out late), and silence is counted from it.
    pub resync_at: u64,
    /// The cadence it is held to (learned, or from the baseline); `None`: not enforced. See
    /// [`Job::reference`].
    reference: OptionCadence,
    /// Failures in a row now.
    pub failure_run: u32,
    pub state: JobState,
    pub category: Category,
    /// In the baseline, or seen while learning.
    pub known: bool,
    /// The cadence classification last reported in a job event.
    pub reported_periodic: Option<bool>,
    /// Response times above this raise `response_slow`. See [`Job::response_limit_us`].
    response_limit_us: OptionU64,
    // Line 3: the grid a poll is placed on, the open incidents (read by enforced polls only),
    // the sample counts and the pointer to the samples and histograms, and (straddling into
    // line 4, which every steady poll reads too) the learned cadence a learning job's steady
    // polls are placed on (so that they do not read the estimate, a line further on).
    pub tracker: Tracker,
    pub incidents: Incidents,
    pub dist: Distributions,
    mature_cadence: MatureCadence,
    // Line 4: the estimator's ring and counters (its first `STEADY_BYTES`); its estimate
    // follows in line 5.
    pub estimator: PeriodEstimator,
    // What only failures, alerts, events and baselines read.
    /// The longest run of failures so far.
    pub max_failure_run: u32,
    pub function_code: u16,
    /// Silence after which it is stopped, from the baseline (else derived from the period).
    pub stop_after_us: Option<u64>,
    pub failures: u64,
    /// The connection it was last seen on.
    pub flow: FlowInfo,
    // Alerts, events, baselines (and the job table's lookup, when the memo misses).
    pub key: JobKey,
    pub text: Describe,
    pub first_seen: u64,
    /// Share of failed transactions while learning (a job that always fails is not news).
    pub learned_failure_ratio: Option<f64>,
    pub cycle: Option<(u64, usize)>,
    /// The longest run of failures while learning.
    pub learned_max_failure_run: Option<u32>,
    /// The declared job (rules) it is, and the rules' threshold overrides.
    pub declared: Option<String>,
    pub declared_severity: Option<dissectors::Severity>,
    pub overrides: crate::rules::Thresholds,
    /// Master and outstation as alert messages name them (`10.0.1.10 (hmi-1, HMI)`).
    pub master_name: String,
    pub outstation_name: String,
}

impl Job {
    pub fn new(
        id: u64,
        key: JobKey,
        text: Describe,
        t: &crate::transaction::Transaction,
        ts: u64,
        period: PeriodConfig,
    ) -> Job {
        Job {
            met: Met::new(t.flow.flow_id, key.sig, key.master, key.port),
            id,
            key,
            text,
            function_code: t.function_code,
            category: t.category,
            flow: t.flow.clone(),
            first_seen: ts,
            last_seen: ts,
            count: 0,
            failures: 0,
            successes: 0,
            // Until it is held to a cadence, nothing asks whether its pace changed.
            estimator: {
                let mut e = PeriodEstimator::new(period);
                e.set_prompt_recent(false);
                e
            },
            dist: Distributions::new(),
            mature_cadence: MatureCadence::STALE,
            state: JobState::Learning,
            reported_periodic: None,
            reference: OptionCadence::default(),
            stop_after_us: None,
            tracker: Tracker::default(),
            known: false,
            response_limit_us: OptionU64::NONE,
            learned_failure_ratio: None,
            incidents: Incidents::default(),
            cycle: None,
            prev_seen: ts,
            failure_run: 0,
            max_failure_run: 0,
            learned_max_failure_run: None,
            resync_at: 0,
            declared: None,
            declared_severity: None,
            overrides: crate::rules::Thresholds::default(),
            master_name: key.master.to_string(),
            outstation_name: key.outstation.to_string(),
        }
    }

    /// The cadence it is held to (learned, or from the baseline); `None`: not enforced.
    #[inline]
    pub fn reference(&self) -> Option<Cadence> {
        self.reference.get()
    }

    pub fn set_reference(&mut self, c: Option<Cadence>) {
        self.reference = OptionCadence::new(c);
    }

    /// Response times above this raise `response_slow`; `None` until one is learned or given.
    #[inline]
    pub fn response_limit_us(&self) -> Option<u64> {
        self.response_limit_us.get()
    }

    pub fn set_response_limit_us(&mut self, limit: Option<u64>) {
        self.response_limit_us = OptionU64::new(limit);
    }

    /// The cadence it is held to, or else what the estimator has learned so far.
    pub fn cadence(&self) -> Option<Cadence> {
        self.reference().or_else(|| self.learned_cadence())
    }

    /// `c` with the rules' tolerance override, if any.
    pub fn with_overrides(&self, c: Cadence) -> Cadence {
        match self.overrides.tolerance_us {
            Some(t) => Cadence { period_us: c.period_us, tolerance_us: t.min(c.period_us * 45 / 100) },
            None => c,
        }
    }

    /// The estimator's current cadence, with the on-time window widened to at least
    /// [`MIN_TOLERANCE_RATIO`] of the period, once it is trustworthy enough to hold the job to:
    /// a confidence of at least [`MIN_CONFIDENCE`], or [`MATURE_SAMPLES`] requests or more whose jitter is
    /// within 2 % of the period. A handful of random operator writes can look periodic by
    /// chance, loosely; a dozen regular polls, or a few clockwork ones, cannot.
    pub fn learned_cadence(&self) -> Option<Cadence> {
        self.estimator.estimate().and_then(|e| trusted_cadence(&e, e.samples))
    }

    /// [`Job::learned_cadence`] of a job whose estimator holds [`MATURE_SAMPLES`] requests or more (as a
    /// learning job's steady poll requires), kept from one analysis of the estimator to the
    /// next: only an analysis changes it.
    #[inline]
    pub fn mature_learned_cadence(&mut self) -> Option<Cadence> {
        self.mature_cadence.of(&self.estimator)
    }

    /// A new estimator (retiring a job frees the old one's memory): what was derived from the
    /// old one's estimate goes with it.
    pub fn replace_estimator(&mut self, estimator: PeriodEstimator) {
        self.estimator = estimator;
        self.mature_cadence = MatureCadence::STALE;
    }

    /// Whether a job once found aperiodic has settled into a cadence: the whole window's
    /// estimate is confident (the eight-clockwork-requests shortcut of
    /// [`Job::learned_cadence`] is for young jobs) and the recent requests agree with it.
    /// A master whose polls run regularly for a while between irregular stretches is not
    /// held to that while.
    pub fn settled_into_cadence(&self) -> bool {
        let (Some(full), Some(recent)) = (self.estimator.estimate(), self.estimator.recent_estimate()) else {
            return false;
        };
        full.confidence >= MIN_CONFIDENCE && recent.period_us.abs_diff(full.period_us) <= full.tolerance_us
    }

    /// Silence after which the job counts as stopped: `stop_after_missed + 1` periods plus the
    /// tolerance, unless the baseline says otherwise.
    pub fn stop_after(&self, stop_after_missed: u64) -> Option<u64> {
        let c = self.reference()?;
        Some(
            self.stop_after_us
                .unwrap_or_else(|| c.period_us.saturating_mul(stop_after_missed + 1).saturating_add(c.tolerance_us)),
        )
    }

    /// A response-time percentile, µs.
    pub fn response_percentile(&self, q: f64) -> Option<u64> {
        self.dist.read(|d| (!d.response.is_empty()).then(|| d.response.value_at_quantile(q)))?
    }

    /// A percentile of the interval between consecutive requests, µs.
    pub fn interval_percentile(&self, q: f64) -> Option<u64> {
        self.dist.read(|d| (!d.interval.is_empty()).then(|| d.interval.value_at_quantile(q)))?
    }

    /// The largest response time seen, µs.
    pub fn response_max(&self) -> u64 {
        self.dist.read(|d| d.response.max()).unwrap_or(0)
    }

    /// The `response_slow` threshold learned from the distribution: twice its 99th percentile,
    /// at least 20 ms above it and 20 % above the largest value seen, so that a job's normal
    /// tail never alerts. Needs `min_samples` responses.
    #[inline(never)]
    pub fn learned_response_limit(&self, min_samples: u64) -> Option<u64> {
        self.dist.read(|d| {
            if d.response.len() < min_samples {
                return None;
            }
            let p99 = d.response.value_at_quantile(0.99);
            let max = d.response.max();
            Some((2 * p99).max(p99 + 20_000).max(max + max / 5))
        })?
    }

    pub fn failure_ratio(&self) -> f64 {
        let answered = self.failures + self.successes;
        if answered == 0 {
            0.0
        } else {
            self.failures as f64 / answered as f64
        }
    }

    /// Jitter: the 95th percentile of on-time polls' deviation from their slot, µs.
    pub fn jitter_us(&self) -> Option<u64> {
        match self.dist.read(|d| (!d.jitter.is_empty()).then(|| d.jitter.value_at_quantile(0.95))) {
            Some(Some(p95)) => Some(p95),
            _ => self.estimator.estimate().map(|e| e.jitter_us),
        }
    }

    /// The job event body in its current state.
    pub fn body(&self) -> JobBody {
        let cadence = self.cadence();
        JobBody {
            id: self.id,
            state: self.state,
            app_proto: self.key.app_proto,
            master: self.key.master,
            outstation: self.key.outstation,
            port: self.key.port,
            signature: self.text.signature.clone(),
            key: self.text.key.clone(),
            function_code: self.function_code,
            category: self.category.as_str(),
            periodic: cadence.is_some(),
            period_ms: cadence.map(|c| text::ms(c.period_us)),
            jitter_ms: cadence.and(self.jitter_us()).map(text::ms),
            tolerance_ms: cadence.map(|c| text::ms(c.tolerance_us)),
            interval_p50_ms: self.interval_percentile(0.5).map(text::ms),
            interval_p99_ms: self.interval_percentile(0.99).map(text::ms),
            response_p50_ms: self.response_percentile(0.5).map(text::ms),
            response_p99_ms: self.response_percentile(0.99).map(text::ms),
            count: self.count,
            failures: self.failures,
            cycle_id: self.cycle.map(|c| c.0),
            cycle_size: self.cycle.map(|c| c.1),
            known: self.known,
        }
    }

    /// "unit 1 FC3 read holding registers 0–9, every 1.0 s" — the job named for an alert.
    pub fn name(&self) -> String {
        match self.cadence() {
            Some(c) => format!("{}, every {}", self.text.signature, text::duration(c.period_us)),
            None => self.text.signature.clone(),
        }
    }

    /// Whether it is a command: an operation that changes something (write, program,
    /// firmware, control, diagnostic, file, time, config, security). Reads, and protocol
    /// plumbing such as S7's setup communication (`other`), are not.
    pub fn is_command(&self) -> bool {
        !matches!(self.category, Category::Read | Category::Other)
    }

    /// The verb that fits: masters *poll* with reads and *run* other jobs.
    pub fn verb(&self) -> &'static str {
        if !self.is_command() {
            "polling"
        } else {
            "running"
        }
    }
}
#[cfg(test)]
mod layout {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The memo of recent jobs checks `met`, and every transaction counts: one cache line.
    #[test]
    fn what_every_transaction_checks_and_counts_shares_the_first_cache_line() {
        assert_eq!(offset_of!(Job, met), 0);
        assert!(offset_of!(Job, count) + size_of::<u64>() <= 64, "count at {}", offset_of!(Job, count));
    }

    /// A steady poll's own state: the id in the first line; when it ran, what it is held to
    /// and its response limit in the second; the grid, the incidents, the sample counts and
    /// the kept cadence from the third; what a steady record touches of the estimator in the
    /// fourth, and nothing a steady poll touches beyond (the estimate, read when the kept
    /// cadence is derived anew, comes after).
    #[test]
    fn a_steady_poll_reads_three_more_lines() {
        let line = |offset: usize, size: usize| (offset / 64, (offset + size - 1) / 64);
        assert_eq!(line(offset_of!(Job, id), size_of::<u64>()), (0, 0));
        for (offset, size) in [
            (offset_of!(Job, last_seen), size_of::<u64>()),
            (offset_of!(Job, prev_seen), size_of::<u64>()),
            (offset_of!(Job, successes), size_of::<u64>()),
            (offset_of!(Job, resync_at), size_of::<u64>()),
            (offset_of!(Job, reference), size_of::<OptionCadence>()),
            (offset_of!(Job, failure_run), size_of::<u32>()),
            (offset_of!(Job, state), size_of::<JobState>()),
            (offset_of!(Job, reported_periodic), size_of::<Option<bool>>()),
            (offset_of!(Job, response_limit_us), size_of::<OptionU64>()),
        ] {
            assert_eq!(line(offset, size), (1, 1), "field at {offset}");
        }
        // The rest follows at once; each steady poll reads the grid (line 3) and the
        // estimator (line 4), so a field may straddle the two.
        assert_eq!(line(offset_of!(Job, tracker), size_of::<Tracker>()), (2, 2));
        assert_eq!(offset_of!(Job, tracker), 2 * 64);
        let mut end = 0;
        for (offset, size) in [
            (offset_of!(Job, tracker), size_of::<Tracker>()),
            (offset_of!(Job, incidents), size_of::<Incidents>()),
            (offset_of!(Job, dist), size_of::<Distributions>()),
            (offset_of!(Job, mature_cadence), size_of::<MatureCadence>()),
            (offset_of!(Job, estimator), PeriodEstimator::STEADY_BYTES),
        ] {
            assert!(offset >= end, "field at {offset} overlaps");
            end = offset + size;
        }
        assert_eq!(line(offset_of!(Job, estimator), PeriodEstimator::STEADY_BYTES), (3, 3));
        assert!(end <= 4 * 64, "the steady lines end at {end}");
    }

    /// The packed incident opens, stays open and closes as a flag and a count would.
    #[test]
    fn a_packed_incident_behaves_as_flag_and_count() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for clear_after in [0, 1, 3, 7] {
            let mut packed = Incident::default();
            let (mut open, mut calm) = (false, 0u32);
            for step in 0..10_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 5 {
                    0 => {
                        assert_eq!(packed.bad(), !open, "step {step}");
                        (open, calm) = (true, 0);
                    }
                    1 if step % 97 == 0 => {
                        packed.close();
                        (open, calm) = (false, 0);
                    }
                    _ => {
                        packed.good(clear_after);
                        if open {
                            calm += 1;
                            if calm >= clear_after {
                                (open, calm) = (false, 0);
                            }
                        }
                    }
                }
                assert_eq!(packed.is_open(), open, "clear after {clear_after}, step {step}");
            }
        }
        // The count saturates rather than wrapping into the flag.
        let mut long = Incident::default();
        long.bad();
        for _ in 0..40_000 {
            long.good(u32::MAX);
        }
        assert!(long.is_open());
    }

    /// The job table is one allocation, which the allocator places 16 bytes past a page
    /// boundary: without the alignment every line above would straddle two.
    #[test]
    fn jobs_start_on_a_cache_line() {
        assert_eq!(std::mem::align_of::<Job>(), 64);
    }

    /// The kept cadence follows the estimator's analyses: polls every second, then every two,
    /// asked after each request, always what the estimate gives at that moment.
    #[test]
    fn the_kept_cadence_follows_each_analysis() {
        let mut e = PeriodEstimator::new(PeriodConfig::default());
        let mut kept = MatureCadence::STALE;
        let mut ts = 0;
        let mut seen = Vec::new();
        for i in 0..400u64 {
            ts += if i < 150 { 1_000_000 } else { 2_000_000 };
            e.observe(ts);
            let fresh = mature_cadence(&e);
            assert_eq!(kept.of(&e), fresh, "request {i}");
            seen.extend(fresh.map(|c| c.period_us));
        }
        assert!(seen.contains(&1_000_000) && seen.contains(&2_000_000), "{seen:?}");
    }

    /// What only alerts, events and baselines read comes after what a steady poll touches.
    #[test]
    fn cold_fields_come_after_the_per_poll_state() {
        for hot in
            [offset_of!(Job, tracker), offset_of!(Job, incidents), offset_of!(Job, dist), offset_of!(Job, estimator)]
        {
            assert!(hot < offset_of!(Job, key) && hot < offset_of!(Job, text), "hot field at {hot}");
        }
    }
}

#[cfg(test)]
mod bucket_codes {
    use super::*;

    /// Values across the whole range: every small one, both sides of each power of two, and
    /// a pseudo-random spread.
    fn values() -> Vec<u32> {
        let mut vs: Vec<u32> = (1..=600).collect();
        for bit in 8..32 {
            let p = 1u64 << bit;
            vs.extend([p - 1, p, p + 1, p + p / 3].into_iter().filter(|&v| v <= HIST_MAX_US).map(|v| v as u32));
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            vs.push((1 + x % HIST_MAX_US) as u32);
        }
        vs
    }

    #[test]
    fn a_code_stands_for_the_lowest_value_of_the_samples_bucket() {
        let Some(h) = Histograms::new() else { panic!("histograms") };
        for v in values() {
            let floor = bucket_floor(bucket_code(v));
            assert_eq!(floor, h.response.lowest_equivalent(u64::from(v)), "value {v}");
            assert!(h.response.equivalent(floor, u64::from(v)), "value {v}");
        }
    }

    /// The three kinds share a buffer (intervals and responses side by side, jitters apart):
    /// each histogram gets its own kind's samples, across flushes, and no other's.
    #[test]
    fn each_kind_keeps_its_own_samples() {
        let mut dist = Distributions::new();
        for i in 0..600u64 {
            dist.record(Sample::Interval, 1_000_000 + i);
            dist.record(Sample::Response, 5_000 + i);
            if i % 3 == 0 {
                dist.record(Sample::Jitter, 100 + i);
            }
        }
        let Some(kinds) = dist.read(|d| [&d.interval, &d.response, &d.jitter].map(|h| (h.len(), h.min(), h.max())))
        else {
            panic!("histograms released")
        };
        let Some(h) = Histograms::new() else { panic!("histograms") };
        let expect =
            |n: u64, lo: u64, hi: u64| (n, h.response.lowest_equivalent(lo), h.response.highest_equivalent(hi));
        assert_eq!(kinds, [expect(600, 1_000_000, 1_000_599), expect(600, 5_000, 5_599), expect(200, 100, 697)]);
    }

    #[test]
    fn recording_codes_gives_the_histogram_recording_values_gives() {
        let Some(mut exact) = Histograms::new() else { panic!("histograms") };
        let mut dist = Distributions::new();
        for v in values() {
            let _ = exact.response.record(u64::from(v));
            dist.record(Sample::Response, u64::from(v));
        }
        // Everything a reader can ask: size, extremes, quantiles, and every recorded bucket.
        let summary = |h: &Histogram<u32>| {
            let quantiles: Vec<u64> =
                [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0].iter().map(|&q| h.value_at_quantile(q)).collect();
            let buckets: Vec<(u64, u64)> =
                h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value().into())).collect();
            (h.len(), h.min(), h.max(), quantiles, buckets)
        };
        let Some(coded) = dist.read(|d| summary(&d.response)) else { panic!("histograms released") };
        assert_eq!(coded, summary(&exact.response));
    }
}
