//! The common case, judged in place: a steady poll of a job whose cadence is known.
//!
//! Nearly every transaction on a plant network is one: a read, answered in time, in the next
//! slot of its job's grid. `JobEngine::judge` handles every case, and reaches that conclusion
//! through the response, failure, learning and enforcement steps in turn; this path checks
//! first that a transaction is such a poll (changing nothing), then does only what `judge`
//! would do for it. Anything else goes to `judge`, so the two cannot disagree on what they
//! share, and the engine's instructions, code and data on a steady poll stay few
//! (docs/BENCHMARKS.md, eighth session).

use super::job::{Job, Sample};
use super::timing::Cadence;
use crate::event::JobState;
use crate::transaction::{ProtocolDetail, Status, Transaction};

/// What a steady poll needs of the engine's state and configuration.
#[derive(Clone, Copy, Debug)]
pub struct Steady {
    /// Past the learning window: jobs are held to their reference cadence.
    pub enforcing: bool,
    /// Intervals and jitters go into the distributions (see `JobEngine::timing_distributions`).
    pub timing_distributions: bool,
    /// Requests a learning job's estimator must hold before its steady polls are followed on
    /// the grid of its learned cadence (the period configuration's window).
    pub window: u64,
    /// Good observations in a row that close an incident.
    pub clear_after: u32,
}

impl Job {
    /// Judges `t`, a transaction of this job seen on the connection this job was last seen on,
    /// exactly as `JobEngine::judge` would, when it is a steady poll: answered without error
    /// (not DNP3, whose answers carry IIN bits to read), newer than the job's last request, in
    /// the next slot of the job's grid, and changing nothing but counts, the grid and the
    /// estimator's ring (no re-analysis due, the job established, held to its reference
    /// cadence with a response limit the answer keeps to, or still learning with a learned
    /// cadence). Returns `false`, having changed nothing, for anything else.
    #[inline]
    pub fn steady_poll(&mut self, t: &mut Transaction, s: Steady) -> bool {
        if t.status != Status::Ok || matches!(t.detail, ProtocolDetail::Dnp3(_)) || self.met.flow_id != t.flow.flow_id {
            return false;
        }
        let (Some(request), Some(response)) = (t.request_ts, t.response_ts) else { return false };
        let req = request.as_micros();
        if self.count == 0 || req <= self.last_seen {
            return false;
        }
        let rt = response.micros_since(request);
        let Some(cadence) = self.steady_cadence(req, rt, s) else { return false };
        let Some(deviation) = self.tracker.next_slot_deviation(cadence, req) else { return false };
        if !self.estimator.records_steady_alone(req) {
            return false;
        }
        // A steady poll: what `judge` does with it, in its order.
        t.job_id = Some(self.id);
        self.count += 1;
        self.successes += 1;
        self.failure_run = 0;
        // An enforced job here has its response limit: alerts no longer need its response
        // times, only job events and baselines do.
        if s.timing_distributions || !s.enforcing {
            self.dist.record(Sample::Response, rt);
        }
        let previous = self.last_seen;
        self.prev_seen = previous;
        self.last_seen = req;
        if s.timing_distributions {
            self.dist.record(Sample::Interval, req - previous);
        }
        self.tracker.take_next_slot(req, deviation);
        if s.enforcing {
            self.estimator.set_prompt_recent(true);
        }
        self.estimator.push_steady(req);
        if s.enforcing {
            if s.timing_distributions {
                self.dist.record(Sample::Jitter, deviation);
            }
            self.incidents.slow.good(s.clear_after);
            self.incidents.failed.good(s.clear_after);
            self.incidents.missed.good(s.clear_after);
            self.incidents.late.good(s.clear_after);
        }
        true
    }

    /// The cadence a steady poll at `req`, answered in `rt` µs, is placed against; `None` when
    /// the poll needs `judge` whatever its timing: a job not established, or stopped, late or
    /// resumed; an enforced job without a response limit yet (it is learning one), whose
    /// answer broke it, or whose grid restarts after a capture gap; a learning job whose
    /// cadence is not (or not yet) learned, or that the rules or the baseline hold to one
    /// already.
    #[inline]
    fn steady_cadence(&self, req: u64, rt: u64, s: Steady) -> Option<Cadence> {
        if self.state != JobState::Established {
            return None;
        }
        if s.enforcing {
            let cadence = self.reference?;
            let limit = self.response_limit_us?;
            return (req >= self.resync_at && rt <= limit).then_some(cadence);
        }
        if self.reference.is_some() || self.reported_periodic != Some(true) || self.estimator.samples() < s.window {
            return None;
        }
        self.learned_cadence()
    }
}
