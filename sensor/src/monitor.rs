//! The whole sensor: the packet [`Pipeline`] (capture to transactions) followed by the
//! [`JobEngine`] (transactions to jobs, job events and alerts). Capture drives this type; the
//! pipeline stays usable alone for benchmarks and tests of the lower layers.

use crate::config::Config;
use crate::decode::LinkType;
use crate::event::Event;
use crate::flow::FlowInfo;
use crate::jobs::engine::{EngineConfig, InFlight, JobEngine, Mode};
use crate::pipeline::Pipeline;
use crate::rules::RuleSet;
use crate::stats::StatsSnapshot;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// How often, in capture time, the engine's deadlines are judged.
const CLOCK_INTERVAL_US: u64 = 1_000_000;

impl InFlight for Pipeline {
    fn pending_span(&self, flow: &FlowInfo) -> Option<(Timestamp, Timestamp)> {
        Pipeline::pending_span(self, flow)
    }
}

/// Pipeline plus job engine, single-threaded and deterministic.
#[derive(Debug)]
pub struct Monitor {
    pipeline: Pipeline,
    engine: JobEngine,
    out: Vec<Event>,
    /// When the engine's deadlines are next judged (0: at the first packet).
    next_clock: Timestamp,
    /// `--no-jobs`: transactions only, the engine never runs (dissection-only use, and the
    /// reference of the engine's overhead benchmark).
    jobs_enabled: bool,
    response_timeout_us: u64,
    rules: Arc<RuleSet>,
    /// Suppression state per key: start of the current window, alerts let through in it, and
    /// alerts held back since the last one let through.
    suppressed: HashMap<String, (u64, u32, u64)>,
}

impl Monitor {
    pub fn new(config: Config, engine: EngineConfig, mode: Mode, rules: Arc<RuleSet>) -> Monitor {
        let response_timeout_us = config.response_timeout_us;
        Monitor {
            response_timeout_us,
            suppressed: HashMap::new(),
            pipeline: Pipeline::new(config),
            engine: JobEngine::new(engine, mode, Arc::clone(&rules)),
            rules,
            out: Vec::new(),
            next_clock: Timestamp(0),
            jobs_enabled: true,
        }
    }

    /// Transactions only: the job engine is switched off.
    pub fn without_jobs(mut self) -> Monitor {
        self.jobs_enabled = false;
        self
    }

    /// One captured frame.
    pub fn process(&mut self, ts: Timestamp, link: LinkType, frame: &[u8]) {
        // Gaps are judged before the packet's own timers run, so that requests whose answers
        // the gap swallowed are known to be lost to it.
        if !self.jobs_enabled {
            self.pipeline.process(ts, link, frame);
            self.pipeline.take_events_into(&mut self.out);
            return;
        }
        if self.engine.on_packet(ts) {
            if let Some(end) = self.engine.take_new_gap() {
                self.pipeline.excuse_capture_gap(end);
            }
            self.out.extend(self.engine.drain());
        }
        self.pipeline.process(ts, link, frame);
        if self.pipeline.has_events() {
            self.absorb();
        }
        // The capture time is the newest packet's: it reaches the next tick with a packet at
        // or after it (the pipeline's clock is then at that packet's time).
        if ts >= self.next_clock {
            self.clock();
        }
    }

    /// Capture time moved on without a packet (live capture idle).
    pub fn tick(&mut self, ts: Timestamp) {
        self.pipeline.tick(ts);
        self.absorb();
        self.clock();
    }

    /// The capture ended: flush every connection. Nothing is judged after the last packet:
    /// the end of a capture is not every job stopping.
    pub fn finish(&mut self) {
        self.pipeline.finish();
        self.absorb();
        if self.jobs_enabled {
            self.engine.finish();
            self.out.extend(self.engine.drain());
        }
    }

    /// Events ready to write, after the rules' suppression.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        if !self.rules.suppressions().is_empty() {
            // One pass, in place (taking the buffer out allocates nothing).
            let mut events = std::mem::take(&mut self.out);
            events.retain_mut(|event| self.let_through(event));
            self.out = events;
        }
        self.out.drain(..)
    }

    /// Swaps the rules (hot reload): every later event is judged by the new ones.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.engine.set_rules(Arc::clone(&rules));
        self.rules = rules;
    }

    /// An alert from outside the packet path (a rules reload that failed).
    pub fn raise(&mut self, alert: crate::event::Alert) {
        self.out.push(Event::Alert(Box::new(alert)));
    }

    /// Rate limits of the rules' `suppress:` entries: at most `max` alerts per `per` for each
    /// key; the one let through after a hold-back carries the count of those held back.
    fn let_through(&mut self, event: &mut Event) -> bool {
        let Event::Alert(alert) = event else { return true };
        let Some(rule) = self.rules.suppression(alert) else { return true };
        let key = format!("{}|{}", rule.id, rule.key(alert));
        let now = alert.timestamp.as_micros();
        let state = self.suppressed.entry(key).or_insert((now, 0, 0));
        if now.saturating_sub(state.0) >= rule.per_us {
            *state = (now, 0, state.2);
        }
        if state.1 >= rule.max {
            state.2 += 1;
            return false;
        }
        state.1 += 1;
        let held = std::mem::take(&mut state.2);
        if held > 0 {
            alert.count = Some(alert.count.unwrap_or(1) + held);
        }
        true
    }

    pub fn now(&self) -> Option<Timestamp> {
        self.pipeline.now()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.pipeline.stats()
    }

    pub fn set_capture_drops(&mut self, capture_drops: u64, interface_drops: u64) {
        self.pipeline.set_capture_drops(capture_drops, interface_drops);
        self.absorb();
    }

    pub fn engine(&self) -> &JobEngine {
        &self.engine
    }

    #[cfg(test)]
    pub(crate) fn engine_mut(&mut self) -> &mut JobEngine {
        &mut self.engine
    }

    /// Hands the pipeline's new events to the engine, transactions first and then what the
    /// engine concluded from each. The events are judged where they land in the output
    /// buffer: a transaction is not moved once more on its way out, and the engine's
    /// conclusions (rare) are spliced in behind it.
    fn absorb(&mut self) {
        let start = self.out.len();
        self.pipeline.take_events_into(&mut self.out);
        if !self.jobs_enabled {
            return;
        }
        let excuse_until = self.engine.last_gap_end().map(|end| end.plus_micros(self.response_timeout_us));
        let mut i = start;
        while let Some(event) = self.out.get_mut(i) {
            match event {
                Event::Transaction(t) => {
                    self.engine.on_transaction(t, &self.pipeline);
                    i += 1;
                    if self.engine.has_output() {
                        i = self.splice_engine_output(i);
                    }
                }
                // Answers to requests the capture gap swallowed come back unmatched: part of
                // the gap's `sensor_health` incident (still counted in `stats`).
                Event::Alert(a)
                    if excuse_until.is_some_and(|until| a.timestamp <= until)
                        && a.anomaly.is_some_and(|id| id.ends_with(".unmatched_response")) =>
                {
                    self.excuse(i);
                }
                _ => i += 1,
            }
        }
    }

    /// Puts what the engine concluded from a transaction at `at`, right behind it; returns
    /// the index after it. Out of line (as is [`Monitor::excuse`]): most transactions
    /// conclude nothing, and the loop that hands them over stays small in the instruction
    /// cache.
    #[cold]
    #[inline(never)]
    fn splice_engine_output(&mut self, at: usize) -> usize {
        let before = self.out.len();
        self.out.splice(at..at, self.engine.drain());
        at + self.out.len() - before
    }

    /// Drops event `i`: an answer the capture gap's incident accounts for.
    #[cold]
    #[inline(never)]
    fn excuse(&mut self, i: usize) {
        self.out.remove(i);
    }

    #[inline]
    fn clock(&mut self) {
        if !self.jobs_enabled {
            return;
        }
        let Some(now) = self.pipeline.now() else { return };
        if now < self.next_clock {
            return;
        }
        self.next_clock = now.plus_micros(CLOCK_INTERVAL_US);
        self.engine.on_clock(now, &self.pipeline);
        if self.engine.has_output() {
            self.out.extend(self.engine.drain());
        }
    }
}
