//! A memo of the jobs met lately, by connection and signature.
//!
//! Nearly every transaction belongs to a job already seen on the same connection. The job
//! table's key holds both addresses, the port and the protocol; hashing and comparing all of
//! that per transaction cost more than the rest of the lookup. A connection (flow id) already
//! fixes the two endpoints and the protocol; which end acts as the master is per transaction
//! (an S7 PLC may send requests to its engineering station on the station's connection), so
//! (flow id, master address, outstation port, signature) names the job: this direct-mapped
//! memo answers from a multiply-shift and a comparison of those few fields, and the job table
//! is asked only on a miss.

use super::signature::SigKey;
use std::net::{IpAddr, Ipv4Addr};

/// Slots (a power of two): a few hundred jobs fit with few collisions, in 64 KiB.
const SLOTS: usize = 1024;
const SHIFT: u32 = u64::BITS - SLOTS.trailing_zeros();

/// Who did what on which connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Met {
    pub flow_id: u64,
    pub master: IpAddr,
    pub port: u16,
    pub sig: SigKey,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    met: Met,
    /// Index in the engine's job table (`u32::MAX`: empty).
    job: u32,
}

const EMPTY: Slot = Slot {
    met: Met {
        flow_id: 0,
        master: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 0,
        sig: SigKey { function: 0, unit: 0, a: 0, b: 0 },
    },
    job: u32::MAX,
};

/// [`Met`] → job index. Job indices are stable (jobs are never removed from the
/// table), so an entry never goes stale; a colliding pair just replaces it.
#[derive(Debug)]
pub struct RecentJobs {
    slots: Box<[Slot]>,
}

impl Default for RecentJobs {
    fn default() -> Self {
        RecentJobs { slots: vec![EMPTY; SLOTS].into_boxed_slice() }
    }
}

impl RecentJobs {
    /// The slot of `met` (the master's address is left to the comparison: the port and the
    /// signature spread the jobs of a connection well enough).
    #[inline]
    fn slot(met: &Met) -> usize {
        let sig = &met.sig;
        let word = met.flow_id
            ^ sig.a.rotate_left(21)
            ^ sig.b.rotate_left(42)
            ^ u64::from(sig.unit) << 16
            ^ u64::from(sig.function)
            ^ u64::from(met.port) << 48;
        (word.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> SHIFT) as usize
    }

    /// The job of `met`, if met lately.
    #[inline]
    pub fn get(&self, met: &Met) -> Option<usize> {
        let slot = self.slots.get(Self::slot(met))?;
        (slot.job != u32::MAX && slot.met == *met).then_some(slot.job as usize)
    }

    #[inline]
    pub fn put(&mut self, met: Met, job: usize) {
        let Ok(job) = u32::try_from(job) else { return };
        if let Some(slot) = self.slots.get_mut(Self::slot(&met)) {
            *slot = Slot { met, job };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn met(flow_id: u64, a: u64) -> Met {
        Met {
            flow_id,
            master: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 502,
            sig: SigKey { function: 3, unit: 1, a, b: 0 },
        }
    }

    #[test]
    fn remembers_by_connection_and_signature() {
        let mut recent = RecentJobs::default();
        assert_eq!(recent.get(&met(7, 1)), None);
        recent.put(met(7, 1), 4);
        assert_eq!(recent.get(&met(7, 1)), Some(4));
        // Same signature on another connection, another signature, or the same connection
        // with the roles the other way round: not this job.
        assert_eq!(recent.get(&met(8, 1)), None);
        assert_eq!(recent.get(&met(7, 2)), None);
        let reversed = Met { master: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port: 49152, ..met(7, 1) };
        assert_eq!(recent.get(&reversed), None);
        let other_master = Met { master: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), ..met(7, 1) };
        assert_eq!(recent.get(&other_master), None);
    }

    #[test]
    fn a_colliding_pair_replaces_the_entry_and_is_never_confused_with_it() {
        let mut recent = RecentJobs::default();
        let mut entries = Vec::new();
        for flow in 0..(SLOTS as u64 * 4) {
            recent.put(met(flow, flow * 3), flow as usize);
            entries.push(flow);
        }
        // Whatever survived answers with its own job; what was replaced is a miss, not a wrong job.
        let mut hits = 0;
        for flow in entries {
            if let Some(job) = recent.get(&met(flow, flow * 3)) {
                assert_eq!(job, flow as usize);
                hits += 1;
            }
        }
        assert!(hits > 0 && hits <= SLOTS, "{hits} entries kept in {SLOTS} slots");
    }
}
