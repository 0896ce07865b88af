//! Optional values in the space of the value alone.
//!
//! `Option<u64>` takes 16 bytes, twice its value's. A steady poll reads and writes a job's
//! first four cache lines, and only that: every line more is one more miss per transaction
//! once the jobs outgrow the cache (docs/BENCHMARKS.md, twelfth session). The times, limits
//! and cadences a poll reads there are optional, and kept in 8 bytes by these types.

use super::timing::Cadence;
use std::num::NonZeroU64;

/// An `Option<u64>` in 8 bytes: the value plus one, so that `None` is zero. The one value it
/// cannot hold, `u64::MAX` (half a million years in µs), is held as `u64::MAX - 1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionU64(Option<NonZeroU64>);

impl OptionU64 {
    pub const NONE: OptionU64 = OptionU64(None);

    #[inline]
    pub fn new(v: Option<u64>) -> OptionU64 {
        OptionU64(v.and_then(|v| NonZeroU64::new(v.saturating_add(1))))
    }

    /// `Some(v)`.
    #[inline]
    pub fn some(v: u64) -> OptionU64 {
        OptionU64::new(Some(v))
    }

    #[inline]
    pub fn get(self) -> Option<u64> {
        self.0.map(|n| n.get() - 1)
    }
}

/// An `Option<Cadence>` in 16 bytes instead of 24.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionCadence {
    period_us: OptionU64,
    tolerance_us: u64,
}

impl OptionCadence {
    #[inline]
    pub fn new(c: Option<Cadence>) -> OptionCadence {
        match c {
            Some(c) => OptionCadence { period_us: OptionU64::some(c.period_us), tolerance_us: c.tolerance_us },
            None => OptionCadence::default(),
        }
    }

    #[inline]
    pub fn get(self) -> Option<Cadence> {
        self.period_us.get().map(|period_us| Cadence { period_us, tolerance_us: self.tolerance_us })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn hold_what_an_option_holds_in_less_room() {
        assert_eq!(size_of::<OptionU64>(), 8);
        assert_eq!(size_of::<OptionCadence>(), 16);
        for v in [None, Some(0), Some(1), Some(1_700_000_000_000_000), Some(u64::MAX - 1)] {
            assert_eq!(OptionU64::new(v).get(), v);
        }
        assert_eq!(OptionU64::some(u64::MAX).get(), Some(u64::MAX - 1));
        assert_eq!(OptionU64::default().get(), None);
        for c in [
            None,
            Some(Cadence { period_us: 0, tolerance_us: 0 }),
            Some(Cadence { period_us: 1_000_000, tolerance_us: 100_000 }),
            Some(Cadence { period_us: u64::MAX - 1, tolerance_us: u64::MAX }),
        ] {
            assert_eq!(OptionCadence::new(c).get(), c);
        }
    }
}
