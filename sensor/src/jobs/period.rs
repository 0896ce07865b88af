//! Period inference for one job, from the capture times of its requests alone.
//!
//! A [`PeriodEstimator`] is fed the request times (µs of capture time) of one job signature
//! (same master, outstation, function, addresses). With no configuration it tells whether the
//! job is periodic, its period and jitter, the window in which the next poll is on time, a
//! second cadence of the same signature, and whether a new cadence has become sustained.
//!
//! # Algorithm
//!
//! The estimator keeps the last [`PeriodConfig::window`] request times in a ring. Every few
//! requests it re-analyses the ring:
//!
//! 1. **Candidates.** The intervals between consecutive requests are sorted; the candidate
//!    periods are the median of the densest cluster (a sliding window of relative width 25 %),
//!    the medians of the three largest clusters, and the overall median.
//! 2. **Comb fit.** Each candidate `P` is laid as a grid over the request times: walking the
//!    requests, one that lands within a tolerance of `k·P` after the previous on-time request
//!    (`1 ≤ k ≤ 4`, the tolerance growing as `√k`) is *on time* (`k − 1` polls were missed; of
//!    several requests in the same slot's window the closest to the slot wins); one before
//!    `P − tolerance` is *early* (a retry, a second cadence, an operator request) and does not
//!    move the grid; one in between is *off grid*; one after more than four periods is a
//!    *gap* (the job paused) and restarts the grid. After an off-grid request, the next one is
//!    also tried against it, so a master that re-phases its schedule is followed. The score is
//!    `on time − missed − off grid − 4 × gaps`: a sub-multiple `P/2` pays for every empty
//!    slot, a multiple `2·P` explains only half the requests, retries and a second cadence
//!    cost nothing. This pass uses a tolerance of 15 % of the candidate.
//! 3. **Refinement.** The best candidate is refined to `Σ interval / Σ k` over its on-time
//!    requests, and the fit is run again with a tolerance learned from the data (five robust
//!    sigmas of the residuals, between 3 % and 25 % of the period), so that a precise job does
//!    not swallow a second cadence or delayed requests close to its grid. The final period is
//!    again `Σ interval / Σ k` (the period of the on-time chain), the jitter comes from the
//!    residuals `interval − k·P` of the on-time requests.
//! 4. **Classification.** Periodic when at least [`PeriodConfig::min_intervals`] requests came
//!    exactly one period after the previous one and
//!    - *coverage*, on-time requests / (on-time + missed slots + gaps), is ≥ 0.75 (missed polls),
//!    - *purity*, on-time requests / intervals, is ≥ 0.5 (retries, other cadences, noise),
//!    - the robust sigma of the residuals (1.4826 × median) is ≤ 15 % of the period, and
//!    - *quality*, coverage × purity × regularity (`1 − sigma / 25 % of the period`), is ≥ 0.4.
//!
//!    Once periodic, a job stays so down to 0.6, 0.4, 20 % and 0.3 (hysteresis, so its state
//!    does not flap). Random (exponential) requests reach a quality of at most 0.3: a grid laid
//!    on them explains about half of them, loosely. The short recent window and the second
//!    cadence, where chance alignments are likelier, need 0.75, 0.6, 10 % and 0.6.
//! 5. **Second cadence.** Requests that arrive early or off grid relative to the learned
//!    cadence are kept in a second ring (those less than half a period after the previous one
//!    are folded into it, so a burst counts once) and analysed the same way; a periodic result
//!    different from the main period is reported as [`PeriodEstimate::secondary_period_us`].
//!
//! # Cost and memory
//!
//! [`PeriodEstimator::observe`] is `O(1)` apart from re-analyses. The full one costs
//! `O(window · candidates)` (at most 6 candidates) and runs after every request while the ring
//! fills, then every [`PeriodConfig::recompute_every`] requests; the recent one costs
//! `O(recent_window · candidates)` and also runs after each request that was not exactly on
//! time. Amortised cost per request is therefore bounded by a constant
//! (`≈ 6 · (window / recompute_every + recent_window)` grid steps at worst, nothing extra for
//! a steady poll), independent of the job's length. Memory is fixed at construction: the
//! request ring (`window` × 8 bytes) and the off-grid ring (`window / 2` × 8 bytes), roughly
//! `12 × window` bytes — 768 bytes with the default window of 64. Nothing grows with the job's
//! length. The analysis works in one scratch per thread (about `window` × 32 bytes of the
//! largest window analysed), not one per estimator: only one analysis runs at a time, and a
//! scratch of its own per job would be 2 KiB of every job that is cold whenever it is used
//! (on the benchmark capture, 0.8 MB for 385 jobs; sharing one cut the misses of a simulated
//! 1 MiB cache by 67 k).
//!
//! # Cadence changes
//!
//! [`PeriodEstimator::estimate`] follows the whole window and moves to a new cadence once it
//! explains more of the window than the old one (for 1 s → 2 s, after about 25 requests of the
//! new cadence). [`PeriodEstimator::recent_estimate`] analyses only the last
//! [`PeriodConfig::recent_window`] requests; [`PeriodEstimator::period_changed_from`] compares
//! it with a reference period (the baseline's): it answers `Some` once the recent window
//! agrees on a different period, which is the definition of a *sustained* change (1 s → 2 s:
//! after 5 slow polls; 2 s → 0.5 s: after 15 fast ones, since the old slow intervals
//! count as missed fast polls).
//!
//! # Promise
//!
//! No input panics: timestamps that do not advance are ignored and counted, all arithmetic
//! saturates, and every configuration value is clamped to a sane range.

use super::compact::OptionU64;
use super::ring::Ring;
use std::cell::RefCell;

/// Most slots an on-time request may lie after the previous one (three missed polls in a row).
/// Beyond that, the job paused (or the capture has a hole) and the grid restarts.
const MAX_SLOTS: u64 = 4;
/// Gaussian sigma from a median absolute deviation.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Relative width of an interval cluster.
const CLUSTER_RATIO: f64 = 1.25;
/// Candidates closer than this ratio are the same candidate.
const SAME_CANDIDATE_RATIO: f64 = 0.03;
const MAX_CANDIDATES: usize = 6;
/// Tolerance of the first, candidate-scoring pass, as a fraction of the candidate.
const PASS1_TOL_RATIO: f64 = 0.15;
/// Tolerance of the refined pass: this many robust sigmas of the residuals...
const FIT_TOL_SIGMAS: f64 = 5.0;
/// ...at least this fraction of the period and this many µs...
const FIT_TOL_FLOOR_RATIO: f64 = 0.03;
const FIT_TOL_FLOOR_US: f64 = 100.0;
/// ...and at most this fraction of the period.
const FIT_TOL_CEIL_RATIO: f64 = 0.25;
/// A slot's window never reaches half-way to the next slot.
const SLOT_TOL_CEIL_RATIO: f64 = 0.45;

/// Thresholds of the periodic classification (see the module docs, step 4).
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    coverage: f64,
    purity: f64,
    sigma_ratio: f64,
    /// coverage × purity × regularity.
    quality: f64,
}

/// To become periodic.
const ENTER: Thresholds = Thresholds { coverage: 0.75, purity: 0.5, sigma_ratio: 0.15, quality: 0.4 };
/// For the short recent window and the second cadence, where fewer requests make a chance
/// alignment of random requests likelier.
const STRICT: Thresholds = Thresholds { coverage: 0.75, purity: 0.6, sigma_ratio: 0.1, quality: 0.6 };
/// To stay periodic.
const STAY: Thresholds = Thresholds { coverage: 0.6, purity: 0.4, sigma_ratio: 0.2, quality: 0.3 };

/// Tuning of a [`PeriodEstimator`]. The defaults need no changing for polls from 1 ms to hours;
/// out-of-range values are clamped (see each field).
/// `repr(C)`: the two fields a steady poll reads lead, so they share the estimator's grid line.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct PeriodConfig {
    /// Request times kept and analysed (8..=4096; default 64).
    pub window: usize,
    /// Once the ring is full, re-analyse every this many requests (1..=`window`; default 8).
    pub recompute_every: usize,
    /// Most recent requests analysed by [`PeriodEstimator::recent_estimate`]
    /// (`min_intervals + 1..=window`; default 16).
    pub recent_window: usize,
    /// On-time intervals of exactly one period needed before a period is claimed
    /// (2..`window`; default 5).
    pub min_intervals: usize,
    /// On-time tolerance: this many times the jitter (p95 deviation)... (finite, ≥ 0; default 3)
    pub tolerance_jitter_factor: f64,
    /// ...at least this fraction of the period... (0..=0.5; default 0.02)
    pub tolerance_floor_ratio: f64,
    /// ...and at least this many µs (default 5 ms); never more than half the period.
    pub tolerance_floor_us: u64,
    /// Two periods are the same cadence when they differ by at most this fraction of the
    /// reference, or by `tolerance_floor_us` (0..=1; default 0.05).
    pub change_ratio: f64,
}

impl Default for PeriodConfig {
    fn default() -> Self {
        PeriodConfig {
            window: 64,
            recent_window: 16,
            min_intervals: 5,
            recompute_every: 8,
            tolerance_jitter_factor: 3.0,
            tolerance_floor_ratio: 0.02,
            tolerance_floor_us: 5_000,
            change_ratio: 0.05,
        }
    }
}

impl PeriodConfig {
    /// The same configuration with every field inside its documented range.
    fn sanitized(self) -> PeriodConfig {
        let d = PeriodConfig::default();
        let window = self.window.clamp(8, 4096);
        let min_intervals = self.min_intervals.clamp(2, window - 1);
        let finite_in = |v: f64, lo: f64, hi: f64, default: f64| {
            if v.is_finite() && v >= lo && v <= hi {
                v
            } else {
                default
            }
        };
        PeriodConfig {
            window,
            recent_window: self.recent_window.clamp(min_intervals + 1, window),
            min_intervals,
            recompute_every: self.recompute_every.clamp(1, window),
            tolerance_jitter_factor: finite_in(self.tolerance_jitter_factor, 0.0, 1e6, d.tolerance_jitter_factor),
            tolerance_floor_ratio: finite_in(self.tolerance_floor_ratio, 0.0, 0.5, d.tolerance_floor_ratio),
            tolerance_floor_us: self.tolerance_floor_us,
            change_ratio: finite_in(self.change_ratio, 0.0, 1.0, d.change_ratio),
        }
    }
}

/// What the estimator has concluded about a job so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cadence {
    /// Fewer than `min_intervals + 1` requests seen: too early to tell.
    Learning,
    /// A cadence explains the requests: [`PeriodEstimator::estimate`] is `Some`.
    Periodic,
    /// Enough requests, no cadence: operator writes, one-off commands, irregular traffic.
    Aperiodic,
}

/// How one request fitted the cadence known when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Observation {
    /// Not later than the previous request: ignored.
    Ignored,
    /// No periodic cadence is known yet (learning, or aperiodic).
    NoCadence,
    /// On a slot of the grid, within the tolerance; `skipped` polls were missing before it.
    OnTime { skipped: u32 },
    /// Before the next slot's window: a retry, a second cadence, an extra request. The grid
    /// does not move.
    Early,
    /// Later than a slot's window but not on a later slot: a late poll, or a re-phased master
    /// (followed if the next request confirms the new phase).
    OffGrid,
    /// More than four periods after the previous on-time request: the job paused (or the
    /// capture has a hole); the grid restarts here.
    AfterGap,
}

/// A periodic job's learned cadence. Laid out in order (`repr(C)`): what a learning poll reads
/// of the estimate (see [`PeriodEstimator`]'s layout) comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct PeriodEstimate {
    /// The period, µs.
    pub period_us: u64,
    /// Jitter: the 95th percentile of |interval − k·period| over the on-time requests, µs.
    pub jitter_us: u64,
    /// Median of the same deviations, µs (a robust, typical jitter).
    pub mad_us: u64,
    /// Half-width of the on-time window around each expected poll, µs:
    /// `max(tolerance_jitter_factor × jitter, tolerance_floor_ratio × period,
    /// tolerance_floor_us)`, at most half the period.
    pub tolerance_us: u64,
    /// 0..=1: coverage × purity × regularity × maturity (module docs, step 4; maturity
    /// reaches 1 at `3 × min_intervals` on-time intervals).
    pub confidence: f64,
    /// Requests seen over the job's life (not only those in the window).
    pub samples: u64,
    /// A second cadence of the same signature, µs (e.g. a 10 s burst beside a 1 s poll).
    pub secondary_period_us: Option<u64>,
}

impl PeriodEstimate {
    /// `[earliest, latest]` capture time at which the poll after `last_ts_us` is on time:
    /// `last + period ∓ tolerance`, saturating.
    pub fn expected_next(&self, last_ts_us: u64) -> (u64, u64) {
        let due = last_ts_us.saturating_add(self.period_us);
        (due.saturating_sub(self.tolerance_us), due.saturating_add(self.tolerance_us))
    }
}

/// Infers the cadence of one job from its request times. See the module docs.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct PeriodEstimator {
    // What a steady poll touches, first: the ring, its counters and flags, in
    // [`PeriodEstimator::STEADY_BYTES`] (the job places them in its fourth cache line, see
    // [`super::job::Job`]'s layout); then the estimate (which a learning poll reads for the
    // learned cadence: its period, jitter, tolerance and confidence lead it).
    last_ts: OptionU64,
    samples: u64,
    /// Requests left until the whole window is re-analysed: `cfg.recompute_every` minus the
    /// requests since the last analysis (below zero when a smaller interval was set since),
    /// so that a steady record needs no field of `cfg` to tell whether one is due.
    until_recompute: i32,
    /// Analyses of the whole window so far (wrapping): the estimate changes only with one,
    /// so a caller may keep what it derived from the estimate until this moves on.
    analyses: u32,
    /// The last `cfg.window` accepted request times, oldest first (its capacity).
    times: Ring,
    /// Whether an irregular request re-analyses the recent window at once (see
    /// [`PeriodEstimator::set_prompt_recent`]; set on every enforced poll).
    prompt_recent: bool,
    /// The grid's anchor is the newest request (`last_ts`), and its off-grid request none:
    /// what a steady record leaves, noted here rather than written to `tracker` (another
    /// cache line), and settled before the tracker is read.
    anchored_at_last: bool,
    primary: Option<PeriodEstimate>,
    /// The online position on the primary grid.
    tracker: Tracker,
    cfg: PeriodConfig,
    cadence: Cadence,
    secondary_periodic: bool,
    ignored: u64,
    recent: Option<PeriodEstimate>,
    /// Early and off-grid requests (bursts folded), for the second cadence.
    off_grid: Ring,
}

impl PeriodEstimator {
    /// The leading bytes that hold all a steady record reads and writes (a test checks it).
    pub const STEADY_BYTES: usize = 50;
}

/// A re-analysis interval as a signed count (at most `16 × 4096` requests, so that 32 bits
/// hold it and the counts against it with room to spare).
fn interval(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

thread_local! {
    /// The analysis scratch of every estimator of this thread (module docs, "Cost and
    /// memory").
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::with_capacity(PeriodConfig::default().window));
}

/// Runs `f` with the thread's analysis scratch.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        // Analyses never nest; were one to, it gets a scratch of its own rather than a panic.
        Err(_) => f(&mut Scratch::with_capacity(PeriodConfig::default().window)),
    })
}

impl Default for PeriodEstimator {
    fn default() -> Self {
        PeriodEstimator::new(PeriodConfig::default())
    }
}

impl PeriodEstimator {
    /// A fresh estimator; all memory it will ever use is allocated here.
    pub fn new(config: PeriodConfig) -> Self {
        let cfg = config.sanitized();
        let off_grid_capacity = (cfg.window / 2).max(cfg.min_intervals + 2);
        PeriodEstimator {
            cfg,
            times: Ring::with_capacity(cfg.window),
            until_recompute: interval(cfg.recompute_every),
            anchored_at_last: false,
            analyses: 0,
            off_grid: Ring::with_capacity(off_grid_capacity),
            last_ts: OptionU64::NONE,
            samples: 0,
            ignored: 0,
            cadence: Cadence::Learning,
            primary: None,
            recent: None,
            secondary_periodic: false,
            tracker: Tracker::default(),
            prompt_recent: true,
        }
    }

    /// Re-analyse the full window every `n` requests from now on (1 to 16 windows). The job engine relaxes it once a job is steady: an
    /// irregular request still triggers the cheap recent analysis at once.
    pub fn set_recompute_every(&mut self, n: usize) {
        let old = interval(self.cfg.recompute_every);
        self.cfg.recompute_every = n.clamp(1, self.cfg.window.saturating_mul(16));
        // The requests counted since the last analysis count against the new interval.
        self.until_recompute = self.until_recompute.saturating_add(interval(self.cfg.recompute_every) - old);
    }

    /// Re-analyses the window now (before its estimate is read for good: the end of learning,
    /// a baseline being written), whatever `recompute_every` says.
    pub fn refresh(&mut self) {
        if self.times.len() > self.cfg.min_intervals {
            self.recompute();
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &PeriodConfig {
        &self.cfg
    }

    /// Feeds the capture time of one request of the job, and tells how it fitted the cadence
    /// known before it. Times must not go backwards; one that is not later than the previous
    /// request is ignored (and counted in [`PeriodEstimator::ignored`]).
    pub fn observe(&mut self, ts_us: u64) -> Observation {
        if self.last_ts.get().is_some_and(|last| ts_us <= last) {
            self.ignored = self.ignored.saturating_add(1);
            return Observation::Ignored;
        }
        self.settle_anchor();
        self.last_ts = OptionU64::some(ts_us);
        self.samples = self.samples.saturating_add(1);
        self.times.push(ts_us);

        let observation = match self.primary {
            Some(est) => {
                let grid = Grid::new(est.period_us as f64, est.tolerance_us as f64);
                let observation = match self.tracker.step(&grid, ts_us) {
                    Step::First => Observation::NoCadence,
                    Step::On { k, .. } | Step::Shift { k, .. } => {
                        Observation::OnTime { skipped: u32::try_from(k.saturating_sub(1)).unwrap_or(u32::MAX) }
                    }
                    Step::Early => Observation::Early,
                    Step::Off => Observation::OffGrid,
                    Step::Gap => Observation::AfterGap,
                };
                if matches!(observation, Observation::Early | Observation::OffGrid) {
                    self.push_off_grid(ts_us, est.period_us);
                }
                observation
            }
            None => Observation::NoCadence,
        };

        self.until_recompute = self.until_recompute.saturating_sub(1);
        // Until a cadence is found every request is analysed; after that, every
        // `recompute_every` requests, plus the cheap recent analysis for an irregular one.
        let filling = self.samples <= self.cfg.window as u64 && self.primary.is_none();
        if filling || self.until_recompute <= 0 {
            self.recompute();
        } else if self.prompt_recent
            && self.primary.is_some()
            && !matches!(observation, Observation::OnTime { skipped: 0 })
        {
            // Only an irregular request can start a new cadence: the cheap recent analysis
            // keeps `period_changed_from` prompt without re-analysing steady polls.
            self.recompute_recent();
        }
        observation
    }

    /// Records a request the caller already knows to be an on-time poll of a steady job: like
    /// [`PeriodEstimator::observe`], but without the recent-window analysis (the full window is
    /// still re-analysed every `recompute_every` requests). The job engine calls it for polls
    /// its enforcement grid found on time, which keeps a steady job's cost to a ring push.
    pub fn record_steady(&mut self, ts_us: u64) {
        if self.last_ts.get().is_some_and(|last| ts_us <= last) {
            self.ignored = self.ignored.saturating_add(1);
            return;
        }
        self.push_steady(ts_us);
        if self.until_recompute <= 0 {
            self.recompute();
        }
    }

    /// Whether [`PeriodEstimator::record_steady`] of a request at `ts_us` would only record
    /// it: a request newer than the last, and no re-analysis due with it.
    #[inline]
    pub fn records_steady_alone(&self, ts_us: u64) -> bool {
        self.last_ts.get().is_none_or(|last| ts_us > last) && self.until_recompute > 1
    }

    /// A steady request into the ring and the grid moved to it, nothing re-analysed: for a
    /// caller that [`PeriodEstimator::records_steady_alone`] told no re-analysis was due
    /// ([`PeriodEstimator::record_steady`] is the whole record).
    #[inline]
    pub fn push_steady(&mut self, ts_us: u64) {
        self.last_ts = OptionU64::some(ts_us);
        self.samples = self.samples.saturating_add(1);
        self.times.push(ts_us);
        // The caller vouches that it is on time: the grid moves to it, as an on-time step would.
        // (Without a primary cadence the grid is unused, and replaced by the analysis that
        // finds one: moving it regardless spares reading the estimate.)
        self.anchored_at_last = true;
        self.until_recompute = self.until_recompute.saturating_sub(1);
    }

    /// Writes to the grid what steady records noted in `anchored_at_last`.
    fn settle_anchor(&mut self) {
        if std::mem::take(&mut self.anchored_at_last) {
            self.tracker.anchor = self.last_ts.get();
            self.tracker.alt = None;
        }
    }

    /// Whether an irregular request re-analyses the recent window at once (the default), so
    /// that [`PeriodEstimator::period_changed_from`] answers promptly. A caller that does not
    /// ask yet (a job still being learned) saves those analyses; the recent window is then
    /// analysed with the whole window only.
    pub fn set_prompt_recent(&mut self, prompt: bool) {
        self.prompt_recent = prompt;
    }

    /// Whether the last request fed made the whole window be re-analysed.
    pub fn just_recomputed(&self) -> bool {
        self.until_recompute == interval(self.cfg.recompute_every)
    }

    /// The learned cadence over the whole window, when the job is periodic.
    pub fn estimate(&self) -> Option<PeriodEstimate> {
        self.primary.map(|e| self.current(e))
    }

    /// The cadence of the last [`PeriodConfig::recent_window`] requests alone, when they are
    /// periodic (no second cadence, no hysteresis). It reacts to a change of cadence within
    /// about `min_intervals + 1` requests of the new cadence.
    pub fn recent_estimate(&self) -> Option<PeriodEstimate> {
        self.recent.map(|e| self.current(e))
    }

    /// `Some(recent estimate)` when the recent requests agree on a period different from
    /// `reference_period_us` (by more than `change_ratio` of it, and more than
    /// `tolerance_floor_us`): a sustained change of cadence, faster or slower.
    pub fn period_changed_from(&self, reference_period_us: u64) -> Option<PeriodEstimate> {
        self.recent_estimate().filter(|recent| !self.same_cadence(reference_period_us, recent.period_us))
    }

    /// Capture time covered by the requests [`PeriodEstimator::recent_estimate`] analyses, µs.
    pub fn recent_span_us(&self) -> u64 {
        let n = self.cfg.recent_window.min(self.times.len());
        match (self.times.get(self.times.len() - n), self.times.back()) {
            (Some(first), Some(last)) if n > 0 => last.saturating_sub(first),
            _ => 0,
        }
    }

    /// Learning, periodic or aperiodic.
    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// Whether a cadence explains the job's requests.
    pub fn is_periodic(&self) -> bool {
        self.primary.is_some()
    }

    /// Requests accepted over the job's life.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// How many times the whole window was analysed (wrapping): [`PeriodEstimator::estimate`]
    /// changes only when this does (and with [`PeriodEstimator::samples`]).
    #[inline]
    pub fn analyses(&self) -> u32 {
        self.analyses
    }

    /// Requests ignored because their time did not advance.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// The latest accepted request time.
    pub fn last_seen(&self) -> Option<u64> {
        self.last_ts.get()
    }

    /// The latest request that was on the grid (retries and extra requests excluded), when
    /// periodic: the natural argument of [`PeriodEstimator::expected_next`].
    pub fn last_on_time(&self) -> Option<u64> {
        self.primary.and(if self.anchored_at_last { self.last_ts.get() } else { self.tracker.anchor })
    }

    /// `[earliest, latest]` capture time at which the poll after `last_ts_us` is on time,
    /// when periodic. See [`PeriodEstimate::expected_next`].
    pub fn expected_next(&self, last_ts_us: u64) -> Option<(u64, u64)> {
        self.primary.map(|est| est.expected_next(last_ts_us))
    }

    /// A cached estimate with the current sample count (estimates are recomputed only every
    /// few requests).
    fn current(&self, mut e: PeriodEstimate) -> PeriodEstimate {
        e.samples = self.samples;
        e
    }

    /// Whether `b` is the same cadence as the reference `a`.
    fn same_cadence(&self, a: u64, b: u64) -> bool {
        let allowed = (a as f64 * self.cfg.change_ratio).max(self.cfg.tolerance_floor_us as f64);
        (a.abs_diff(b) as f64) <= allowed
    }

    fn push_off_grid(&mut self, ts_us: u64, period_us: u64) {
        // A burst counts once: a second cadence is no faster than the dominant one.
        if self.off_grid.back().is_some_and(|prev| ts_us.saturating_sub(prev) < period_us / 2) {
            return;
        }
        self.off_grid.push(ts_us);
    }

    /// Re-analyses the recent window alone: `O(recent_window · candidates)`.
    fn recompute_recent(&mut self) {
        let cfg = self.cfg;
        let times: &[u64] = self.times.make_contiguous();
        let recent_from = times.len().saturating_sub(cfg.recent_window);
        let recent = with_scratch(|scratch| analyse(&times[recent_from..], &cfg, scratch, STRICT));
        self.recent = recent.filter(|a| a.periodic).map(|a| a.to_estimate(&cfg, self.samples, None));
    }

    /// Re-analyses the whole window, the recent window and the off-grid ring.
    fn recompute(&mut self) {
        self.analyses = self.analyses.wrapping_add(1);
        self.until_recompute = interval(self.cfg.recompute_every);
        self.recompute_recent();
        let cfg = self.cfg;
        let was_periodic = self.primary.is_some();
        let times: &[u64] = self.times.make_contiguous();
        let full = with_scratch(|scratch| analyse(times, &cfg, scratch, if was_periodic { STAY } else { ENTER }));

        let Some(full) = full else {
            self.cadence = Cadence::Learning;
            self.primary = None;
            return;
        };
        if !full.periodic {
            self.cadence = Cadence::Aperiodic;
            self.primary = None;
            self.off_grid.clear();
            self.secondary_periodic = false;
            return;
        }
        let period_us = full.period_us();
        if let Some(old) = self.primary {
            if !self.same_cadence(old.period_us, period_us) {
                // Early/off-grid relative to another grid: no evidence of a second cadence.
                self.off_grid.clear();
                self.secondary_periodic = false;
            }
        }
        self.tracker = full.tracker;
        self.anchored_at_last = false;

        let off: &[u64] = self.off_grid.make_contiguous();
        let threshold = if self.secondary_periodic { STAY } else { STRICT };
        let secondary = with_scratch(|scratch| analyse(off, &cfg, scratch, threshold))
            .filter(|a| a.periodic)
            .map(|a| a.period_us())
            .filter(|&p| !self.same_cadence(period_us, p));
        self.secondary_periodic = secondary.is_some();

        self.cadence = Cadence::Periodic;
        self.primary = Some(full.to_estimate(&cfg, self.samples, secondary));
    }
}

/// Scratch buffers of the analysis, sized once.
#[derive(Debug, Clone)]
struct Scratch {
    intervals: Vec<u64>,
    /// `(interval, slots)` of each on-time request of the current fit.
    hits: Vec<(u64, u64)>,
    /// The same, of a candidate being tried against the best so far.
    trial: Vec<(u64, u64)>,
    residuals: Vec<f64>,
    candidates: Vec<f64>,
}

impl Scratch {
    fn with_capacity(window: usize) -> Scratch {
        Scratch {
            intervals: Vec::with_capacity(window),
            hits: Vec::with_capacity(window),
            trial: Vec::with_capacity(window),
            residuals: Vec::with_capacity(window),
            candidates: Vec::with_capacity(MAX_CANDIDATES),
        }
    }
}

/// A cadence laid over time: slots every `period` µs, slot `k`'s window `tol · √k` µs wide on
/// either side (jitter adds up over `k` intervals), at most [`SLOT_TOL_CEIL_RATIO`] of the
/// period. The windows are computed once: a fit walks the grid many times.
#[derive(Debug, Clone, Copy)]
struct Grid {
    period: f64,
    inv_period: f64,
    /// Half-width of slot `k`'s window, for `k` in `0..=MAX_SLOTS`.
    tols: [f64; MAX_SLOTS as usize + 1],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    On(u64),
    Early,
    Off,
    Gap,
}

impl Grid {
    fn new(period: f64, tol: f64) -> Grid {
        let mut tols = [0.0; MAX_SLOTS as usize + 1];
        for (k, t) in tols.iter_mut().enumerate() {
            *t = (tol * (k as f64).sqrt()).min(SLOT_TOL_CEIL_RATIO * period);
        }
        Grid { period, inv_period: if period > 0.0 { 1.0 / period } else { 0.0 }, tols }
    }

    /// Half-width of slot `k`'s window (`k` in `1..=MAX_SLOTS`).
    fn tol_at(&self, k: u64) -> f64 {
        self.tols.get(k as usize).copied().unwrap_or(SLOT_TOL_CEIL_RATIO * self.period)
    }

    /// Where `t` falls relative to an on-time request at `anchor`, with its residual.
    fn slot(&self, anchor: u64, t: u64) -> (Slot, f64) {
        // Signed conversions: baseline x86-64 converts between f64 and i64 in one instruction,
        // but not unsigned ones (and `f64::round` is a library call). Intervals are far below
        // 2^63 µs.
        let d = i64::try_from(t.saturating_sub(anchor)).unwrap_or(i64::MAX) as f64;
        let p = self.period;
        // The nearest slot: `d / p` rounded, by truncation since it is never negative.
        let nearest = d * self.inv_period + 0.5;
        if nearest >= 1.0 && nearest < (MAX_SLOTS + 1) as f64 {
            let k = nearest as i64;
            let r = d - k as f64 * p;
            let k = k.unsigned_abs();
            if r.abs() <= self.tol_at(k) {
                return (Slot::On(k), r);
            }
        }
        if d < p - self.tol_at(1) {
            (Slot::Early, 0.0)
        } else if d > MAX_SLOTS as f64 * p + self.tol_at(MAX_SLOTS) {
            (Slot::Gap, 0.0)
        } else {
            (Slot::Off, 0.0)
        }
    }
}

/// The position on a grid while walking requests: the last on-time request, and the last
/// off-grid one (a possible new phase).
#[derive(Debug, Clone, Copy, Default)]
struct Tracker {
    anchor: Option<u64>,
    alt: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    First,
    On {
        k: u64,
        d: u64,
    },
    /// On time relative to the previous off-grid request: the schedule re-phased.
    Shift {
        k: u64,
        d: u64,
    },
    Early,
    Off,
    Gap,
}

impl Tracker {
    fn step(&mut self, grid: &Grid, t: u64) -> Step {
        self.step_in(grid, t, None)
    }

    /// [`Tracker::step`], with `t`'s slot relative to the anchor when the caller knows it.
    fn step_in(&mut self, grid: &Grid, t: u64, known: Option<Slot>) -> Step {
        let Some(anchor) = self.anchor else {
            self.anchor = Some(t);
            return Step::First;
        };
        let slot = known.unwrap_or_else(|| grid.slot(anchor, t).0);
        match slot {
            Slot::On(k) => {
                self.anchor = Some(t);
                self.alt = None;
                Step::On { k, d: t.saturating_sub(anchor) }
            }
            Slot::Gap => {
                self.anchor = Some(t);
                self.alt = None;
                Step::Gap
            }
            Slot::Early | Slot::Off => {
                if let Some(alt) = self.alt {
                    if let (Slot::On(k), _) = grid.slot(alt, t) {
                        self.anchor = Some(t);
                        self.alt = None;
                        return Step::Shift { k, d: t.saturating_sub(alt) };
                    }
                }
                self.alt = Some(t);
                if slot == Slot::Early {
                    Step::Early
                } else {
                    Step::Off
                }
            }
        }
    }
}

/// Counts of one comb fit.
#[derive(Debug, Clone, Copy, Default)]
struct Fit {
    hits: u64,
    direct: u64,
    missed: u64,
    off: u64,
    gaps: u64,
    sum_d: f64,
    sum_k: f64,
    tracker: Tracker,
}

impl Fit {
    fn score(&self) -> i64 {
        let s = self.hits as i128 - self.missed as i128 - self.off as i128 - (self.gaps as i128) * MAX_SLOTS as i128;
        i64::try_from(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX })
    }
}

/// Lays `grid` over `times`; records `(interval, slots)` of on-time requests into `hits`.
fn fit(times: &[u64], grid: &Grid, hits: &mut Vec<(u64, u64)>) -> Fit {
    hits.clear();
    let mut f = Fit::default();
    let mut i = 0;
    while i < times.len() {
        // Of several requests in the same slot's window, the closest to the slot is the poll
        // (the others are retries or delayed requests): look ahead for it.
        let mut known = None;
        if let (Some(anchor), Some(&ti)) = (f.tracker.anchor, times.get(i)) {
            let (slot, r) = grid.slot(anchor, ti);
            if let Slot::On(k) = slot {
                let mut best = (i, r.abs());
                for (j, &tj) in times.iter().enumerate().skip(i + 1) {
                    match grid.slot(anchor, tj) {
                        (Slot::On(kj), rj) if kj == k => {
                            if rj.abs() < best.1 {
                                best = (j, rj.abs());
                            }
                        }
                        _ => break,
                    }
                }
                i = best.0;
            }
            // The request chosen lies in the same slot either way.
            known = Some(slot);
        }
        let Some(&t) = times.get(i) else { break };
        i += 1;
        match f.tracker.step_in(grid, t, known) {
            Step::On { k, d } | Step::Shift { k, d } => {
                f.hits += 1;
                if k == 1 {
                    f.direct += 1;
                }
                f.missed += k - 1;
                f.sum_d += d as f64;
                f.sum_k += k as f64;
                hits.push((d, k));
            }
            Step::Off => f.off += 1,
            Step::Gap => f.gaps += 1,
            Step::First | Step::Early => {}
        }
    }
    f
}

/// The result of analysing a slice of request times.
#[derive(Debug, Clone, Copy)]
struct Analysis {
    period: f64,
    jitter_p95: f64,
    mad: f64,
    confidence: f64,
    periodic: bool,
    tracker: Tracker,
}

impl Analysis {
    fn period_us(&self) -> u64 {
        (self.period.round() as u64).max(1)
    }

    fn to_estimate(self, cfg: &PeriodConfig, samples: u64, secondary: Option<u64>) -> PeriodEstimate {
        let period_us = self.period_us();
        let tolerance = (cfg.tolerance_jitter_factor * self.jitter_p95)
            .max(cfg.tolerance_floor_ratio * self.period)
            .max(cfg.tolerance_floor_us as f64)
            .min(self.period / 2.0);
        PeriodEstimate {
            period_us,
            jitter_us: self.jitter_p95.round() as u64,
            mad_us: self.mad.round() as u64,
            tolerance_us: tolerance.round() as u64,
            confidence: if self.confidence.is_finite() { self.confidence.clamp(0.0, 1.0) } else { 0.0 },
            samples,
            secondary_period_us: secondary,
        }
    }
}

/// Analyses strictly increasing request times (module docs, steps 1–4). `None` when there are
/// too few intervals to tell.
fn analyse(times: &[u64], cfg: &PeriodConfig, scratch: &mut Scratch, th: Thresholds) -> Option<Analysis> {
    scratch.intervals.clear();
    scratch.intervals.extend(times.windows(2).map(|w| w[1].saturating_sub(w[0])).filter(|&d| d > 0));
    let n_intervals = scratch.intervals.len();
    if n_intervals < cfg.min_intervals {
        return None;
    }
    scratch.intervals.sort_unstable();
    candidates(&scratch.intervals, &mut scratch.candidates);

    let aperiodic = Analysis {
        period: 0.0,
        jitter_p95: 0.0,
        mad: 0.0,
        confidence: 0.0,
        periodic: false,
        tracker: Tracker::default(),
    };

    // Pass 1: score each candidate with a wide tolerance. The best one's on-time intervals
    // stay in `hits` (each candidate is fitted into `trial`, swapped in when it leads).
    let mut best: Option<(Fit, f64)> = None;
    for &c in &scratch.candidates {
        let grid = Grid::new(c, PASS1_TOL_RATIO * c);
        let f = fit(times, &grid, &mut scratch.trial);
        let better = match &best {
            None => true,
            Some((b, bc)) => f.score() > b.score() || (f.score() == b.score() && c > *bc),
        };
        if better {
            best = Some((f, c));
            std::mem::swap(&mut scratch.hits, &mut scratch.trial);
        }
    }
    let Some((first, _)) = best else {
        return Some(aperiodic);
    };
    if first.sum_k <= 0.0 {
        return Some(aperiodic);
    }
    let p1 = first.sum_d / first.sum_k;
    let sigma1 = MAD_TO_SIGMA * residual_quantiles(&scratch.hits, p1, &mut scratch.residuals).0;
    let tol2 =
        (FIT_TOL_SIGMAS * sigma1).max(FIT_TOL_FLOOR_RATIO * p1).max(FIT_TOL_FLOOR_US).min(FIT_TOL_CEIL_RATIO * p1);

    // Pass 2: the refined period with a tolerance learned from the data.
    let second = fit(times, &Grid::new(p1, tol2), &mut scratch.hits);
    if second.sum_k <= 0.0 {
        return Some(aperiodic);
    }
    let period = second.sum_d / second.sum_k;
    let (mad, jitter_p95) = residual_quantiles(&scratch.hits, period, &mut scratch.residuals);
    let sigma = MAD_TO_SIGMA * mad;

    let intervals = (times.len() - 1) as f64;
    let coverage = second.hits as f64 / (second.hits + second.missed + second.gaps).max(1) as f64;
    let purity = second.hits as f64 / intervals.max(1.0);
    let sigma_ratio = sigma / period;
    let regularity = (1.0 - sigma_ratio / FIT_TOL_CEIL_RATIO).clamp(0.0, 1.0);
    let quality = coverage * purity.min(1.0) * regularity;
    let maturity = (second.direct as f64 / (3 * cfg.min_intervals) as f64).min(1.0);
    let periodic = second.direct as usize >= cfg.min_intervals
        && coverage >= th.coverage
        && purity >= th.purity
        && sigma_ratio <= th.sigma_ratio
        && quality >= th.quality;
    Some(Analysis { period, jitter_p95, mad, confidence: quality * maturity, periodic, tracker: second.tracker })
}

/// The median and the 95th percentile (nearest rank) of |interval − k·period| over `hits`,
/// selected in `residuals` rather than sorted; `(0, 0)` when there are none.
fn residual_quantiles(hits: &[(u64, u64)], period: f64, residuals: &mut Vec<f64>) -> (f64, f64) {
    residuals.clear();
    residuals.extend(hits.iter().map(|&(d, k)| (d as f64 - k as f64 * period).abs()));
    let n = residuals.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    let (r50, r95) = (rank(0.5), rank(0.95));
    let (_, &mut median, above) = residuals.select_nth_unstable_by(r50, f64::total_cmp);
    // The 95th is the (r95 − r50)-th smallest of those above the median.
    let p95 = match r95.checked_sub(r50 + 1) {
        Some(i) if i < above.len() => *above.select_nth_unstable_by(i, f64::total_cmp).1,
        _ => median,
    };
    (median, p95)
}

/// Candidate periods from the sorted intervals (module docs, step 1).
fn candidates(sorted: &[u64], out: &mut Vec<f64>) {
    out.clear();
    let n = sorted.len();
    if n == 0 {
        return;
    }
    // The densest cluster first: it is the best candidate in nearly every job.
    let mut best = (0usize, 0usize);
    let mut j = 0usize;
    for i in 0..n {
        j = j.max(i);
        let limit = sorted[i] as f64 * CLUSTER_RATIO;
        while j < n && sorted[j] as f64 <= limit {
            j += 1;
        }
        if j - i > best.1 - best.0 {
            best = (i, j);
        }
    }
    push_candidate(out, median_of(&sorted[best.0..best.1]));

    // The three largest greedy clusters.
    let mut top: [(usize, f64); 3] = [(0, 0.0); 3];
    let mut start = 0usize;
    while start < n {
        let limit = sorted[start] as f64 * CLUSTER_RATIO;
        let mut end = start + 1;
        while end < n && sorted[end] as f64 <= limit {
            end += 1;
        }
        let size = end - start;
        if let Some(pos) = top.iter().position(|&(s, _)| size > s) {
            top[pos..].rotate_right(1);
            top[pos] = (size, median_of(&sorted[start..end]));
        }
        start = end;
    }
    for &(size, median) in &top {
        if size > 0 {
            push_candidate(out, median);
        }
    }
    push_candidate(out, median_of(sorted));
}

fn median_of(sorted: &[u64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => sorted[(n - 1) / 2] as f64,
    }
}

fn push_candidate(out: &mut Vec<f64>, c: f64) {
    if c >= 1.0 && out.len() < MAX_CANDIDATES && !out.iter().any(|&o| (o - c).abs() <= SAME_CANDIDATE_RATIO * o.max(c))
    {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(est: &mut PeriodEstimator, times: impl IntoIterator<Item = u64>) {
        for t in times {
            est.observe(t);
        }
    }

    fn exact(start: u64, period: u64, n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(move |i| start + i * period)
    }

    #[test]
    fn learning_until_min_intervals() {
        let mut est = PeriodEstimator::default();
        for (i, t) in exact(1_000_000, 1_000_000, 5).enumerate() {
            assert_eq!(est.observe(t), Observation::NoCadence, "sample {i}");
            assert_eq!(est.cadence(), Cadence::Learning);
        }
        est.observe(6_000_000);
        assert_eq!(est.cadence(), Cadence::Periodic);
        let e = est.estimate();
        assert_eq!(e.map(|e| e.period_us), Some(1_000_000));
    }

    #[test]
    fn exact_period() {
        for period in [100_000u64, 1_000_000, 10_000_000, 60_000_000, 3_600_000_000] {
            let mut est = PeriodEstimator::default();
            feed(&mut est, exact(42, period, 100));
            let Some(e) = est.estimate() else { panic!("{period}: not periodic") };
            assert_eq!(e.period_us, period);
            assert_eq!(e.jitter_us, 0);
            assert_eq!(e.samples, 100);
            assert_eq!(e.secondary_period_us, None);
            assert!(e.confidence > 0.99, "{e:?}");
            let tol = (period / 50).max(5_000);
            assert_eq!(e.tolerance_us, tol);
            let last = 42 + 99 * period;
            assert_eq!(est.last_on_time(), Some(last));
            assert_eq!(est.expected_next(last), Some((last + period - tol, last + period + tol)));
        }
    }

    #[test]
    fn observations() {
        let mut est = PeriodEstimator::default();
        feed(&mut est, exact(0, 1_000_000, 20));
        let last = 19_000_000;
        assert_eq!(est.observe(last), Observation::Ignored);
        assert_eq!(est.observe(last - 5), Observation::Ignored);
        assert_eq!(est.ignored(), 2);
        assert_eq!(est.observe(last + 1_000_300), Observation::OnTime { skipped: 0 });
        let last = last + 1_000_300;
        assert_eq!(est.observe(last + 40_000), Observation::Early); // a retry
        assert_eq!(est.observe(last + 2_000_100), Observation::OnTime { skipped: 1 });
        let last = last + 2_000_100;
        assert_eq!(est.observe(last + 1_300_000), Observation::OffGrid); // late
        assert_eq!(est.observe(last + 2_000_000), Observation::OnTime { skipped: 1 });
        let last = last + 2_000_000;
        assert_eq!(est.observe(last + 30_000_000), Observation::AfterGap);
        assert_eq!(est.last_on_time(), Some(last + 30_000_000));
    }

    #[test]
    fn follows_a_rephased_schedule() {
        let mut est = PeriodEstimator::default();
        feed(&mut est, exact(0, 1_000_000, 30));
        // The master restarts its timer 400 ms out of phase.
        let base = 29_000_000 + 1_400_000;
        assert_eq!(est.observe(base), Observation::OffGrid);
        assert_eq!(est.observe(base + 1_000_000), Observation::OnTime { skipped: 0 });
        assert_eq!(est.observe(base + 2_000_000), Observation::OnTime { skipped: 0 });
    }

    #[test]
    fn duplicates_and_backwards_are_ignored() {
        let mut est = PeriodEstimator::default();
        let mut n = 0;
        for t in exact(0, 500_000, 40) {
            est.observe(t);
            est.observe(t);
            est.observe(t.saturating_sub(100));
            n += 1;
        }
        assert_eq!(est.samples(), n);
        assert_eq!(est.estimate().map(|e| e.period_us), Some(500_000));
    }

    #[test]
    fn gap_does_not_break_periodicity() {
        let mut est = PeriodEstimator::default();
        feed(&mut est, exact(0, 1_000_000, 30));
        feed(&mut est, exact(100_000_000, 1_000_000, 30));
        assert_eq!(est.estimate().map(|e| e.period_us), Some(1_000_000));
    }

    #[test]
    fn random_pairs_are_not_a_period() {
        // Requests in pairs 50 ms apart at irregular times: no cadence.
        let mut est = PeriodEstimator::default();
        let mut t = 0u64;
        for i in 0..60u64 {
            t += 3_000_000 + (i * 7_919_000) % 11_000_000;
            est.observe(t);
            est.observe(t + 50_000);
        }
        assert_eq!(est.cadence(), Cadence::Aperiodic, "{:?}", est.estimate());
    }

    /// The selected quantiles are the nearest-rank ones of the sorted residuals, for every
    /// size (odd, even, one) and with ties.
    #[test]
    fn residual_quantiles_select_what_sorting_gives() {
        let mut residuals = Vec::new();
        for n in 1..=70u64 {
            let hits: Vec<(u64, u64)> = (0..n).map(|i| (1_000 + (i * 7_919) % 97 + (i % 3) * 500, 1 + i % 2)).collect();
            let period = 1_010.0;
            let mut sorted: Vec<f64> = hits.iter().map(|&(d, k)| (d as f64 - k as f64 * period).abs()).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let nearest = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n as usize) - 1];
            assert_eq!(residual_quantiles(&hits, period, &mut residuals), (nearest(0.5), nearest(0.95)), "n = {n}");
        }
        assert_eq!(residual_quantiles(&[], 1_000.0, &mut residuals), (0.0, 0.0));
    }

    #[test]
    fn candidates_dedupe_and_bound() {
        let mut out = Vec::new();
        candidates(&[10, 11, 12, 100, 101, 1_000, 5_000, 9_000], &mut out);
        assert!(out.len() <= MAX_CANDIDATES);
        assert!(out.iter().all(|&c| c >= 1.0));
        candidates(&[], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn config_is_clamped() {
        let cfg = PeriodConfig {
            window: 0,
            recent_window: 0,
            min_intervals: 0,
            recompute_every: 0,
            tolerance_jitter_factor: f64::NAN,
            tolerance_floor_ratio: -1.0,
            tolerance_floor_us: u64::MAX,
            change_ratio: f64::INFINITY,
        };
        let est = PeriodEstimator::new(cfg);
        let c = est.config();
        assert_eq!(c.window, 8);
        assert_eq!(c.min_intervals, 2);
        assert_eq!(c.recent_window, 3);
        assert_eq!(c.recompute_every, 1);
        assert_eq!(c.tolerance_jitter_factor, 3.0);
        assert_eq!(c.tolerance_floor_ratio, 0.02);
        assert_eq!(c.change_ratio, 0.05);
    }

    #[test]
    fn memory_is_bounded() {
        SCRATCH.with_borrow_mut(|scratch| *scratch = Scratch::with_capacity(8));
        let mut est = PeriodEstimator::default();
        feed(&mut est, exact(0, 1_000, 100_000));
        assert_eq!(est.times.capacity(), est.cfg.window);
        assert!(est.off_grid.capacity() <= est.cfg.window);
        // The thread's scratch holds one window, however long the job runs.
        SCRATCH.with_borrow(|scratch| {
            assert!(scratch.intervals.capacity() <= est.cfg.window);
            assert!(scratch.hits.capacity() <= est.cfg.window);
            assert!(scratch.residuals.capacity() <= est.cfg.window);
            assert!(scratch.trial.capacity() <= est.cfg.window);
        });
    }

    /// What a steady record reads and writes of the estimator lies in its first
    /// [`PeriodEstimator::STEADY_BYTES`] (the ring's own slot aside), which the job lays in
    /// one cache line (its own test checks where).
    #[test]
    fn a_steady_record_touches_the_leading_bytes() {
        use std::mem::{offset_of, size_of};
        for (start, len) in [
            (offset_of!(PeriodEstimator, last_ts), size_of::<OptionU64>()),
            (offset_of!(PeriodEstimator, samples), size_of::<u64>()),
            (offset_of!(PeriodEstimator, until_recompute), size_of::<i32>()),
            (offset_of!(PeriodEstimator, analyses), size_of::<u32>()),
            (offset_of!(PeriodEstimator, times), size_of::<Ring>()),
            (offset_of!(PeriodEstimator, prompt_recent), size_of::<bool>()),
            (offset_of!(PeriodEstimator, anchored_at_last), size_of::<bool>()),
        ] {
            assert!(start + len <= PeriodEstimator::STEADY_BYTES, "a field at {start}, {len} bytes");
        }
        assert!(offset_of!(PeriodEstimator, primary) >= PeriodEstimator::STEADY_BYTES);
    }

    /// A steady record notes the grid's move to the request and settles it when the grid is
    /// next read: the same as writing it at once (as steady records did before), whatever
    /// follows.
    #[test]
    fn noted_anchors_settle_as_written_ones() {
        let mut noted = PeriodEstimator::default();
        feed(&mut noted, exact(0, 1_000_000, 80));
        // An off-grid request leaves an alternative phase, which a steady record clears.
        noted.observe(80_400_000);
        let mut written = noted.clone();
        let mut state = 7_u64;
        let mut t = 80_400_000;
        for step in 0..2_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            t += 1_000_000 + (state >> 40) % 40_000 - 20_000 + if state.is_multiple_of(17) { 450_000 } else { 0 };
            if state.is_multiple_of(5) {
                assert_eq!(noted.observe(t), written.observe(t), "step {step}");
            } else {
                noted.record_steady(t);
                written.record_steady(t);
                written.settle_anchor();
            }
            assert_eq!(noted.last_on_time(), written.last_on_time(), "step {step}");
            assert_eq!(noted.estimate(), written.estimate(), "step {step}");
        }
        noted.settle_anchor();
        assert_eq!(noted.tracker.anchor, written.tracker.anchor);
        assert_eq!(noted.tracker.alt, written.tracker.alt);
    }
}
