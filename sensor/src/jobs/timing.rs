//! Enforcement of a job's cadence: given a reference period and tolerance (learned or from the
//! baseline), tells for each request whether it was on time, late, early or came after missed
//! polls, and at any capture time how many polls are overdue.
//!
//! The [`PeriodEstimator`](super::period::PeriodEstimator) *learns* a cadence; this tracker
//! *holds a job to* one. It keeps a grid anchored on the last on-time poll:
//!
//! - a request within the slot window of a later slot `k` is on time, and `k − 1` polls were
//!   missed (a slot filled by a late poll does not count as missed). The slot window is the
//!   tolerance, but at least a quarter of the period: a master serving several jobs over one
//!   connection queues a poll behind other answers, or sends one a little early, without
//!   anything being wrong, and the next poll must be judged from where this one really was;
//! - a request after a slot's window but before the next slot's window is late for that slot;
//!   the grid keeps its phase, so a single late poll costs nothing afterwards;
//! - a second late request one period after the first means the master re-phased: the grid
//!   follows it;
//! - a request before the next slot's window is early (a retry, an operator's extra read, a
//!   second cadence): it does not move the grid.

use super::compact::OptionU64;

/// How one request fitted the reference cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The first request after (re-)anchoring.
    Anchored,
    /// On a slot; `missed` polls were absent before it.
    OnTime { missed: u64 },
    /// Later than its slot's window by `late_us`; `missed` slots before that slot were absent.
    Late { late_us: u64, missed: u64 },
    /// Before the next slot's window.
    Early,
    /// Older than the anchor (an answer that came late out of order): ignored for timing.
    Stale,
}

/// A reference cadence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub period_us: u64,
    pub tolerance_us: u64,
}

impl Cadence {
    /// Half-width of a slot's window: the tolerance, at least a quarter of the period, at most
    /// just under half of it.
    pub fn window_us(&self) -> u64 {
        self.tolerance_us.max(self.period_us / 4).min(self.period_us / 2).min(self.period_us.saturating_sub(1) / 2)
    }
}

/// The grid of one job. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// The last on-time request (or the start of the grid). The two times in 8 bytes each: the
    /// tracker shares the job's third cache line (see [`super::job::Job`]).
    anchor: OptionU64,
    /// Slots after the anchor already filled by a late poll.
    filled: u64,
    /// The last late request, to detect a re-phased master.
    last_late: OptionU64,
    /// How far the last on-time request was from its slot, µs (the jitter sample).
    last_deviation_us: u64,
}

impl Tracker {
    /// Forgets the grid: the next request anchors it again (after a capture gap, a change of
    /// cadence, a stop).
    pub fn reset(&mut self) {
        *self = Tracker::default();
    }

    pub fn anchor(&self) -> Option<u64> {
        self.anchor.get()
    }

    /// How far the last on-time request was from its slot, µs.
    pub fn last_deviation_us(&self) -> u64 {
        self.last_deviation_us
    }

    /// The capture time by which the next poll is due at the latest (its window's end).
    pub fn due_by(&self, c: Cadence) -> Option<u64> {
        let next = self.anchor.get()?.saturating_add(c.period_us.saturating_mul(1 + self.filled));
        Some(next.saturating_add(c.window_us()))
    }

    /// Polls absent at capture time `now`: the slots whose window closed with no request.
    pub fn overdue_polls(&self, c: Cadence, now: u64) -> u64 {
        match self.due_by(c) {
            Some(due) if now > due && c.period_us > 0 => 1 + (now - due) / c.period_us,
            _ => 0,
        }
    }

    /// An on-time request `deviation_us` from its slot, after `missed` absent polls: the grid
    /// moves to it.
    fn on_time(&mut self, ts: u64, deviation_us: u64, missed: u64) -> Fit {
        self.last_deviation_us = deviation_us;
        self.anchor = OptionU64::some(ts);
        self.filled = 0;
        self.last_late = OptionU64::NONE;
        Fit::OnTime { missed }
    }

    /// How far a request at `ts` is from the next slot, when it falls in that slot's window:
    /// nearly every request does, and is judged without a division (the window being under
    /// half the period, that slot is the nearest, as [`Tracker::observe`] finds it otherwise).
    /// `None` for anything else, including a grid not yet anchored.
    #[inline]
    pub fn next_slot_deviation(&self, c: Cadence, ts: u64) -> Option<u64> {
        let anchor = self.anchor.get().filter(|&anchor| ts > anchor)?;
        let deviation = (ts - anchor).abs_diff(c.period_us.max(1));
        (deviation <= c.window_us()).then_some(deviation)
    }

    /// Records a request that [`Tracker::next_slot_deviation`] placed in the next slot, as
    /// [`Tracker::observe`] would (it is on time, and missed nothing).
    #[inline]
    pub fn take_next_slot(&mut self, ts: u64, deviation_us: u64) {
        self.on_time(ts, deviation_us, 0);
    }

    /// Places one request on the grid.
    pub fn observe(&mut self, c: Cadence, ts: u64) -> Fit {
        let Some(anchor) = self.anchor.get() else {
            self.anchor = OptionU64::some(ts);
            return Fit::Anchored;
        };
        if ts <= anchor {
            return Fit::Stale;
        }
        if let Some(deviation) = self.next_slot_deviation(c, ts) {
            return self.on_time(ts, deviation, 0);
        }
        let p = c.period_us.max(1);
        let tol = c.window_us();
        let dt = ts - anchor;
        // The nearest slot, and the slot the request came after.
        let nearest = (dt + p / 2) / p;
        let residual = dt.abs_diff(nearest * p);
        if nearest >= 1 && residual <= tol {
            return self.on_time(ts, residual, (nearest - 1).saturating_sub(self.filled));
        }
        let after = dt / p;
        if after == 0 {
            return Fit::Early;
        }
        if after <= self.filled {
            // Between slots already filled by late polls: an extra request.
            return Fit::Early;
        }
        let late_us = dt - after * p;
        let missed = (after - 1).saturating_sub(self.filled);
        if let Some(prev) = self.last_late.get() {
            if (ts.saturating_sub(prev)).abs_diff(p) <= tol {
                // Two late polls a period apart: the master re-phased; follow it.
                self.anchor = OptionU64::some(ts);
                self.filled = 0;
                self.last_late = OptionU64::NONE;
                return Fit::Late { late_us, missed };
            }
        }
        self.filled = after;
        self.last_late = OptionU64::some(ts);
        Fit::Late { late_us, missed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Cadence = Cadence { period_us: 1_000_000, tolerance_us: 50_000 };
    const SLOT: u64 = 250_000;

    fn run(times: &[u64]) -> Vec<Fit> {
        let mut t = Tracker::default();
        times.iter().map(|&ts| t.observe(C, ts)).collect()
    }

    #[test]
    fn steady_polls_are_on_time() {
        let fits = run(&[0, 1_010_000, 1_990_000, 3_000_000, 4_200_000, 4_980_000]);
        assert_eq!(fits[0], Fit::Anchored);
        assert!(fits[1..].iter().all(|f| *f == Fit::OnTime { missed: 0 }), "{fits:?}");
    }

    #[test]
    fn missed_polls_are_counted_on_the_next_one() {
        let fits = run(&[0, 1_000_000, 4_000_000]);
        assert_eq!(fits[2], Fit::OnTime { missed: 2 });
    }

    #[test]
    fn a_late_poll_keeps_the_phase_and_fills_its_slot() {
        let fits = run(&[0, 1_000_000, 2_500_000, 3_000_000, 4_000_000]);
        assert_eq!(fits[2], Fit::Late { late_us: 500_000, missed: 0 });
        assert_eq!(fits[3], Fit::OnTime { missed: 0 }, "the late poll filled slot 2");
        assert_eq!(fits[4], Fit::OnTime { missed: 0 });
    }

    #[test]
    fn a_rephased_master_is_followed() {
        let fits = run(&[0, 1_000_000, 2_400_000, 3_400_000, 4_400_000]);
        assert!(matches!(fits[2], Fit::Late { .. }));
        assert!(matches!(fits[3], Fit::Late { .. }), "{fits:?}");
        assert_eq!(fits[4], Fit::OnTime { missed: 0 });
    }

    #[test]
    fn a_slightly_early_poll_moves_the_grid() {
        // 770 ms after the previous one (23 % early): on time, and the next is judged from it.
        let fits = run(&[0, 770_000, 1_770_000]);
        assert_eq!(fits[1], Fit::OnTime { missed: 0 });
        assert_eq!(fits[2], Fit::OnTime { missed: 0 });
    }

    #[test]
    fn early_requests_do_not_move_the_grid() {
        let fits = run(&[0, 300_000, 1_000_000]);
        assert_eq!(fits[1], Fit::Early);
        assert_eq!(fits[2], Fit::OnTime { missed: 0 });
    }

    /// The next slot's shortcut gives what the nearest-slot rule gives, edges of the window
    /// included, for periods odd and even and windows narrow and wide.
    #[test]
    fn the_next_slot_shortcut_agrees_with_the_nearest_slot_rule() {
        for (period_us, tolerance_us) in [(1, 0), (2, 1), (7, 3), (1_000, 10), (1_001, 600), (999_999, 50_000)] {
            let c = Cadence { period_us, tolerance_us };
            let (p, tol) = (period_us, c.window_us());
            for dt in (1..=3 * p).filter(|&dt| dt < 40 || dt.abs_diff(p) <= tol + 2 || dt % 997 == 0) {
                let mut t = Tracker::default();
                t.observe(c, 1_000);
                let fit = t.observe(c, 1_000 + dt);
                let nearest = (dt + p / 2) / p;
                let residual = dt.abs_diff(nearest * p);
                if nearest >= 1 && residual <= tol {
                    assert_eq!(fit, Fit::OnTime { missed: nearest - 1 }, "period {p}, dt {dt}");
                    assert_eq!(t.last_deviation_us(), residual);
                } else {
                    assert_ne!(fit, Fit::OnTime { missed: 0 }, "period {p}, dt {dt}");
                }
            }
        }
    }

    #[test]
    fn overdue_counts_closed_windows() {
        let mut t = Tracker::default();
        t.observe(C, 0);
        assert_eq!(t.overdue_polls(C, 1_000_000 + SLOT - 10), 0);
        assert_eq!(t.overdue_polls(C, 1_000_000 + SLOT + 10), 1);
        assert_eq!(t.overdue_polls(C, 3_000_000 + SLOT + 10), 3);
        assert_eq!(t.due_by(C), Some(1_000_000 + SLOT));
    }
}
