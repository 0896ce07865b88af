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
    /// the grid of its learned cadence: the period configuration's window, and at least
    /// [`super::job::MATURE_SAMPLES`] (the mature cadence is the learned one from there).
    pub window: u64,
    /// Good observations in a row that close an incident.
    pub clear_after: u32,
}

impl Job {
    /// Judges `t`, a transaction of this job, exactly as `JobEngine::judge` would, when it is a
    /// steady poll: answered without error
    /// (not DNP3, whose answers carry IIN bits to read), newer than the job's last request, in
    /// the next slot of the job's grid, and changing nothing but counts, the grid and the
    /// estimator's ring (no re-analysis due, the job established, held to its reference
    /// cadence with a response limit the answer keeps to, or still learning with a learned
    /// cadence). Returns `false`, having changed nothing, for anything else.
    #[inline]
    pub fn steady_poll(&mut self, t: &mut Transaction, s: Steady) -> bool {
        if t.status != Status::Ok || matches!(t.detail, ProtocolDetail::Dnp3(_)) {
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
        if self.met.flow_id != t.flow.flow_id {
            // A master that connects anew for each poll, or reconnected.
            self.met.flow_id = t.flow.flow_id;
            self.flow = t.flow.clone();
        }
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
    fn steady_cadence(&mut self, req: u64, rt: u64, s: Steady) -> Option<Cadence> {
        if self.state != JobState::Established {
            return None;
        }
        if s.enforcing {
            let cadence = self.reference()?;
            let limit = self.response_limit_us()?;
            return (req >= self.resync_at && rt <= limit).then_some(cadence);
        }
        if self.reference().is_some() || self.reported_periodic != Some(true) || self.estimator.samples() < s.window {
            return None;
        }
        self.mature_learned_cadence()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::capture;
    use crate::config::Config;
    use crate::event::EventFilter;
    use crate::jobs::baseline::Baseline;
    use crate::jobs::engine::{EngineConfig, Mode};
    use crate::monitor::Monitor;
    use crate::output::JsonLinesWriter;
    use crate::rules::RuleSet;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    fn capture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps").join(name)
    }

    /// Replays `files`; returns the events written (every kind but `stats`, whose timings
    /// vary), the baseline the engine would write, and how many steady polls took the path.
    fn replay(files: &[PathBuf], engine: EngineConfig, mode: Mode, steady_path: bool) -> (String, String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events.jsonl");
        let filter = EventFilter { stats: false, ..EventFilter::default() };
        let mut writer = JsonLinesWriter::open(&events, filter).unwrap();
        let mut monitor = Monitor::new(Config::default(), engine, mode, Arc::new(RuleSet::defaults()));
        if !steady_path {
            monitor.engine_mut().without_steady_path();
        }
        let problems = capture::replay(files, &mut monitor, &mut writer).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        drop(writer);
        let baseline = monitor.engine().baseline(vec!["test".to_string()]).to_yaml();
        (std::fs::read_to_string(&events).unwrap(), baseline, monitor.engine().steady_polls())
    }

    /// The steady path and `judge` agree on every transaction, job event, alert and baseline:
    /// each capture is replayed with the path and without it (every transaction through
    /// `judge`), learning for part of the capture and then enforcing, with and without job
    /// events (which decide whether intervals, jitters and response times are kept), learning
    /// only, and enforcing a baseline from the start; the path must also have been taken by
    /// most transactions, or the comparison would prove little.
    #[test]
    fn judges_exactly_as_judge_does() {
        let demo = [capture("demo/plant-train.pcap"), capture("demo/plant-test.pcap")];
        // With the share of transactions that must be steady polls: modbus_test_2's jobs are
        // irregular and often unanswered (none is); many of ModbusTCP_Plant1's are aperiodic or
        // poll too slowly to fill the estimator's window while learning; the others poll
        // steadily.
        let cases: Vec<(&str, Vec<PathBuf>, f64)> = vec![
            ("demo plant", demo.to_vec(), 0.5),
            ("modbus_test_2", vec![capture("modbus/modbus_test_2.pcap")], 0.0),
            ("s7comm_clean", vec![capture("s7comm/s7comm_clean.pcap")], 0.5),
            ("ModbusTCP_Plant1", vec![capture("modbus/ModbusTCP_Plant1.pcap")], 0.1),
        ];
        for (name, files, share) in &cases {
            for learn_s in [40, 600] {
                for job_events in [true, false] {
                    let engine =
                        EngineConfig { learn_window_us: learn_s * 1_000_000, job_events, ..EngineConfig::default() };
                    let (events, baseline, steady) = replay(files, engine.clone(), Mode::Auto, true);
                    let (judged, judged_baseline, none) = replay(files, engine, Mode::Auto, false);
                    assert_eq!(none, 0);
                    assert!(events == judged, "{name}, learning {learn_s} s, job events {job_events}: events differ");
                    assert!(baseline == judged_baseline, "{name}, learning {learn_s} s: baselines differ");
                    let transactions = events.lines().filter(|l| l.contains(r#""event_type":"transaction""#)).count();
                    println!("{name}, learning {learn_s} s: {steady} of {transactions} transactions steady polls");
                    assert!(
                        steady as f64 >= share * transactions as f64,
                        "{name}: only {steady} of {transactions} transactions were steady polls"
                    );
                }
            }
            let learn = EngineConfig { job_events: false, ..EngineConfig::default() };
            let (_, learned, _) = replay(files, learn.clone(), Mode::Learn, true);
            let (_, judged_learned, _) = replay(files, learn, Mode::Learn, false);
            assert!(learned == judged_learned, "{name}: learned baselines differ");
            // Enforcing what was learned from the start: every steady poll held to a cadence.
            let baseline = Baseline::from_str("learned", &learned).unwrap();
            let enforce = EngineConfig::default();
            let (events, _, steady) = replay(files, enforce.clone(), Mode::Enforce(Box::new(baseline.clone())), true);
            let (judged, _, _) = replay(files, enforce, Mode::Enforce(Box::new(baseline)), false);
            assert!(events == judged, "{name}, enforcing a baseline: events differ");
            assert!(*share == 0.0 || steady > 0, "{name}: no steady poll while enforcing a baseline");
        }
    }
}
