//! Per-flow rate limiting of anomaly alerts: a hostile or broken peer must not turn every bad
//! PDU into an alert. The first occurrence of an anomaly on a flow alerts at once; repeats within
//! the interval are counted and reported with the next alert for that anomaly.

use crate::time::Timestamp;
use dissectors::AnomalyKind;

/// Capture time between two alerts for the same anomaly on the same flow.
pub const INTERVAL_US: u64 = 60_000_000;

#[derive(Debug)]
struct Entry {
    id: &'static str,
    last_alert: Timestamp,
    suppressed: u64,
}

/// Decides which anomaly occurrences become alerts.
#[derive(Debug, Default)]
pub struct AnomalyLimiter {
    entries: Vec<Entry>,
}

impl AnomalyLimiter {
    /// Records one occurrence; returns `Some(n)` when it should alert, `n` being the number of
    /// occurrences the alert stands for (1 + those suppressed since the last alert).
    pub fn admit(&mut self, kind: &'static AnomalyKind, now: Timestamp) -> Option<u64> {
        match self.entries.iter_mut().find(|e| e.id == kind.id) {
            None => {
                self.entries.push(Entry { id: kind.id, last_alert: now, suppressed: 0 });
                Some(1)
            }
            Some(e) if now.micros_since(e.last_alert) >= INTERVAL_US => {
                let n = e.suppressed + 1;
                e.suppressed = 0;
                e.last_alert = now;
                Some(n)
            }
            Some(e) => {
                e.suppressed += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dissectors::Severity;

    static K: AnomalyKind = AnomalyKind { id: "x.y", severity: Severity::Low, description: "d" };

    #[test]
    fn first_alerts_repeats_are_counted() {
        let mut l = AnomalyLimiter::default();
        assert_eq!(l.admit(&K, Timestamp(0)), Some(1));
        assert_eq!(l.admit(&K, Timestamp(1)), None);
        assert_eq!(l.admit(&K, Timestamp(2)), None);
        assert_eq!(l.admit(&K, Timestamp(INTERVAL_US + 5)), Some(3));
    }
}
