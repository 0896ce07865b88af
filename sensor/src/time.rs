//! Capture time. Every timer in jobwatch runs on packet timestamps, never the wall clock, so a
//! replay at any speed behaves like the live capture it came from.

use serde::{Serialize, Serializer};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, taken from a packet's capture time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From the seconds and microseconds of a pcap header (negative values clamp to the epoch).
    pub fn from_timeval(sec: i64, usec: i64) -> Timestamp {
        let us = sec.saturating_mul(1_000_000).saturating_add(usec);
        Timestamp(u64::try_from(us).unwrap_or(0))
    }

    pub fn from_micros(us: u64) -> Timestamp {
        Timestamp(us)
    }

    pub fn as_micros(self) -> u64 {
        self.0
    }

    /// `self + us`, saturating.
    pub fn plus_micros(self, us: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(us))
    }

    /// Microseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn micros_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The latest instant RFC 3339 can write: 9999-12-31T23:59:59.999999Z.
    pub const MAX_RFC3339: Timestamp = Timestamp(253_402_300_799_999_999);

    fn system_time(self) -> SystemTime {
        // A capture may claim any time (pcapng has 64-bit timestamps); beyond year 9999 RFC 3339
        // cannot write it, so it is shown clamped rather than failing the whole event.
        UNIX_EPOCH + Duration::from_micros(self.0.min(Self::MAX_RFC3339.0))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, UTC, microseconds: `2024-05-01T12:00:00.000123Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_micros(self.system_time()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_micros() {
        let ts = Timestamp::from_timeval(1_700_000_000, 42);
        assert_eq!(ts.to_string(), "2023-11-14T22:13:20.000042Z");
    }

    #[test]
    fn far_future_is_clamped_not_an_error() {
        // Found by the pipeline fuzz target: a pcapng timestamp past year 9999 made the
        // formatter fail, and serde_json panics on a Display error.
        assert_eq!(Timestamp(u64::MAX).to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(serde_json::to_string(&Timestamp(u64::MAX)).unwrap(), "\"9999-12-31T23:59:59.999999Z\"");
    }

    #[test]
    fn negative_timeval_clamps() {
        assert_eq!(Timestamp::from_timeval(-5, 0), Timestamp(0));
    }
}
