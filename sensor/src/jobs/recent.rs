//! A memo of the jobs met lately, by connection and signature.
//!
//! Nearly every transaction belongs to a job already seen on the same connection. The job
//! table's key holds both addresses, the port and the protocol; hashing and comparing all of
//! that per transaction cost more than the rest of the lookup. A connection (flow id) already
//! fixes the two endpoints and the protocol; which end acts as the master is per transaction
//! (an S7 PLC may send requests to its engineering station on the station's connection), so
//! (flow id, master address, outstation port, signature) names the job: this direct-mapped
//! memo answers from a multiply-shift, and a comparison of those few fields with the copy the
//! job keeps in its first cache line (the one a transaction updates anyway); the job table is
//! asked only on a miss. The memo itself is 4 KiB of job indices: it stays in the L1 cache.

use super::signature::{ip_bits, SigKey};
use std::net::IpAddr;

/// Slots (a power of two): a few hundred jobs fit with few collisions.
const SLOTS: usize = 1024;
const SHIFT: u32 = u64::BITS - SLOTS.trailing_zeros();

/// Who did what on which connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Met {
    pub flow_id: u64,
    pub sig: SigKey,
    /// The master's address as two words (compared as integers; see [`Met::new`]).
    master: [u64; 2],
    pub port: u16,
}

impl Met {
    /// `master` as [`ip_bits`]: the two ends of one connection are of one family, so this
    /// never makes two masters of a connection equal.
    #[inline]
    pub fn new(flow_id: u64, sig: SigKey, master: IpAddr, port: u16) -> Met {
        let bits = ip_bits(master);
        Met { flow_id, sig, master: [(bits >> 64) as u64, bits as u64], port }
    }
}

/// No job in this slot.
const EMPTY: u32 = u32::MAX;

/// [`Met`] → job index. Job indices are stable (jobs are never removed from the table), and
/// every answer is checked against the job's own [`Met`], so a colliding pair or a job gone to
/// another connection is a miss, never a wrong job.
#[derive(Debug)]
pub struct RecentJobs {
    slots: Box<[u32]>,
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

    /// The job of `met`, if met lately: `met_of(i)` is job `i`'s own [`Met`].
    #[inline]
    pub fn get<'a>(&self, met: &Met, met_of: impl Fn(usize) -> Option<&'a Met>) -> Option<usize> {
        let i = *self.slots.get(Self::slot(met))? as usize;
        met_of(i).is_some_and(|m| m == met).then_some(i)
    }

    #[inline]
    pub fn put(&mut self, met: &Met, job: usize) {
        let Ok(job) = u32::try_from(job) else { return };
        if let Some(slot) = self.slots.get_mut(Self::slot(met)) {
            *slot = job;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sig(a: u64) -> SigKey {
        SigKey { function: 3, unit: 1, a, b: 0 }
    }

    fn met(flow_id: u64, a: u64) -> Met {
        Met::new(flow_id, sig(a), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 502)
    }

    #[test]
    fn remembers_by_connection_and_signature() {
        let jobs = [met(7, 1)];
        let of = |i: usize| jobs.get(i);
        let mut recent = RecentJobs::default();
        assert_eq!(recent.get(&met(7, 1), of), None);
        recent.put(&met(7, 1), 0);
        assert_eq!(recent.get(&met(7, 1), of), Some(0));
        // Same signature on another connection, another signature, or the same connection
        // with the roles the other way round: not this job.
        assert_eq!(recent.get(&met(8, 1), of), None);
        assert_eq!(recent.get(&met(7, 2), of), None);
        let reversed = Met::new(7, sig(1), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 49152);
        assert_eq!(recent.get(&reversed, of), None);
        let other_master = Met::new(7, sig(1), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 502);
        assert_eq!(recent.get(&other_master, of), None);
        let v6 = Met::new(7, sig(1), "2001:db8::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), 502);
        assert_eq!(recent.get(&v6, of), None);
        assert_eq!(recent.get(&other_master, of), None);
    }

    #[test]
    fn a_colliding_pair_replaces_the_entry_and_is_never_confused_with_it() {
        let jobs: Vec<Met> = (0..SLOTS as u64 * 4).map(|flow| met(flow, flow * 3)).collect();
        let of = |i: usize| jobs.get(i);
        let mut recent = RecentJobs::default();
        for (i, m) in jobs.iter().enumerate() {
            recent.put(m, i);
        }
        // Whatever survived answers with its own job; what was replaced is a miss, not a wrong job.
        let mut hits = 0;
        for (i, m) in jobs.iter().enumerate() {
            if let Some(job) = recent.get(m, of) {
                assert_eq!(job, i);
                hits += 1;
            }
        }
        assert!(hits > 0 && hits <= SLOTS, "{hits} entries kept in {SLOTS} slots");
    }

    #[test]
    fn a_job_gone_to_another_connection_is_a_miss_there_no_more() {
        let mut jobs = [met(7, 1)];
        let mut recent = RecentJobs::default();
        recent.put(&met(7, 1), 0);
        // The job moved to connection 9 (a reconnect): the old entry no longer answers.
        jobs[0].flow_id = 9;
        assert_eq!(recent.get(&met(7, 1), |i| jobs.get(i)), None);
    }
}
