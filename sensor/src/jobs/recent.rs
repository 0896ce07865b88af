//! A memo of the jobs met lately, by connection and signature.
//!
//! Nearly every transaction belongs to a job already seen on the same connection. The job
//! table's key holds both addresses, the port and the protocol; hashing and comparing all of
//! that per transaction cost more than the rest of the lookup. A connection (flow id) already
//! fixes the two endpoints and the protocol; which end acts as the master is per transaction
//! (an S7 PLC may send requests to its engineering station on the station's connection), so
//! (flow id, master address, outstation port, signature) names the job: this set-associative
//! memo answers from a multiply-shift, a tag, and a comparison of those few fields with the
//! copy the job keeps in its first cache line (the one a transaction updates anyway); the job
//! table is asked only on a miss. The memo itself is 8 KiB of tags and job indices.

use super::signature::{ip_bits, SigKey};
use std::net::IpAddr;

/// Jobs remembered per set: the jobs whose hashes meet share their set instead of evicting
/// one another turn about (on the 385-job benchmark capture a direct-mapped table of 1024
/// slots missed one transaction in seven, four ways one in 35, eight ways one in 215 — about
/// the jobs' first transactions and reconnections).
const WAYS: usize = 8;
/// Sets (a power of two): room for a thousand jobs, 8 KiB.
const SETS: usize = 128;
const SHIFT: u32 = u64::BITS - SETS.trailing_zeros();

/// Who did what on which connection. The signature's fields are held flat, and the port in
/// the top bits of its function-and-unit word, so that the whole is 48 bytes of whole words
/// and leaves room in the job's first cache line for what every transaction reads and writes
/// beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Met {
    pub flow_id: u64,
    /// The master's address as two words (compared as integers; see [`Met::new`]).
    master: [u64; 2],
    a: u64,
    b: u64,
    /// [`SigKey::op`] (48 bits), the outstation's port above it.
    op_port: u64,
}

impl Met {
    /// `master` as [`ip_bits`]: the two ends of one connection are of one family, so this
    /// never makes two masters of a connection equal.
    #[inline]
    pub fn new(flow_id: u64, sig: SigKey, master: IpAddr, port: u16) -> Met {
        let bits = ip_bits(master);
        Met {
            flow_id,
            master: [(bits >> 64) as u64, bits as u64],
            a: sig.a,
            b: sig.b,
            op_port: sig.op | u64::from(port) << 48,
        }
    }

    /// Multiply-shift hash (the master's address is left to the comparison: the port and the
    /// signature spread the jobs of a connection well enough).
    #[inline]
    fn hash(&self) -> u64 {
        let word = self.flow_id ^ self.a.rotate_left(21) ^ self.b.rotate_left(42) ^ self.op_port;
        word.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// No job in this way.
const EMPTY: u32 = u32::MAX;

/// Bits per tag: the ways' tags are the 16-bit lanes of one `u128`, compared all at once.
const TAG_BITS: u32 = 16;
/// The lowest bit of every lane.
const LANES_LOW: u128 = u128::MAX / 0xffff;
/// The highest bit of every lane.
const LANES_HIGH: u128 = LANES_LOW << (TAG_BITS - 1);

/// One set: the tags (hash bits below the set's) and job indices of up to [`WAYS`] jobs,
/// newest first (way `w` in lane `w` of `tags`); one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Set {
    tags: u128,
    jobs: [u32; WAYS],
}

impl Set {
    /// The ways whose tag may be `tag`, as the high bit of their lane: every way whose tag is
    /// `tag`, and now and then one just above such a way (the borrow of the lane-wise
    /// subtraction: a word-wide compare in a few instructions, where eight compares of the
    /// ways took thirty). Each candidate is checked against the job, so an extra one costs a
    /// comparison, never a wrong answer.
    #[inline]
    fn candidates(&self, tag: u16) -> u128 {
        let x = self.tags ^ (LANES_LOW * u128::from(tag));
        x.wrapping_sub(LANES_LOW) & !x & LANES_HIGH
    }

    /// The tag of way `w`.
    fn tag(&self, w: usize) -> u16 {
        (self.tags >> (w as u32 * TAG_BITS)) as u16
    }

    /// `job` with `tag` goes first: an entry of the same tag goes (most likely this very
    /// connection and signature, gone stale while the job ran on another connection); else
    /// the oldest.
    fn remember(&mut self, tag: u16, job: u32) {
        let gone = (0..WAYS).position(|w| self.tag(w) == tag).unwrap_or(WAYS - 1);
        // Ways 0..gone move up one lane, way `gone` drops out, the rest stay.
        let moved = (1u128 << (gone as u32 * TAG_BITS)) - 1;
        let replaced = (moved << TAG_BITS) | 0xffff;
        self.tags = (self.tags & !replaced) | ((self.tags & moved) << TAG_BITS) | u128::from(tag);
        self.jobs.copy_within(0..gone, 1);
        if let Some(j) = self.jobs.first_mut() {
            *j = job;
        }
    }
}

/// [`Met`] → job index, set-associative. Job indices are stable (jobs are never removed from
/// the table), and every answer is checked against the job's own [`Met`], so a colliding tag
/// or a job gone to another connection is a miss, never a wrong job; the tags spare reading
/// the first cache line of a job that is not the one looked for.
#[derive(Debug)]
pub struct RecentJobs {
    sets: Box<[Set]>,
}

impl Default for RecentJobs {
    fn default() -> Self {
        RecentJobs { sets: vec![Set { tags: 0, jobs: [EMPTY; WAYS] }; SETS].into_boxed_slice() }
    }
}

impl RecentJobs {
    /// The set of `met` and its tag.
    #[inline]
    fn place(met: &Met) -> (usize, u16) {
        let h = met.hash();
        ((h >> SHIFT) as usize, (h >> (SHIFT - TAG_BITS)) as u16)
    }

    /// The job of `met`, if met lately: `met_of(i)` is job `i`'s own [`Met`].
    #[inline]
    pub fn get<'a>(&self, met: &Met, met_of: impl Fn(usize) -> Option<&'a Met>) -> Option<usize> {
        let (set, tag) = Self::place(met);
        let set = self.sets.get(set)?;
        let mut matches = set.candidates(tag);
        while matches != 0 {
            let w = (matches.trailing_zeros() / TAG_BITS) as usize;
            matches &= matches - 1;
            let i = *set.jobs.get(w)? as usize;
            if met_of(i).is_some_and(|m| m == met) {
                return Some(i);
            }
        }
        None
    }

    /// Remembers that `met` is job `job`: first in its set, the oldest entry making room.
    #[inline]
    pub fn put(&mut self, met: &Met, job: usize) {
        let Ok(job) = u32::try_from(job) else { return };
        let (set, tag) = Self::place(met);
        if let Some(set) = self.sets.get_mut(set) {
            set.remember(tag, job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sig(a: u64) -> SigKey {
        SigKey::new(3, 1, a, 0)
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
        let jobs: Vec<Met> = (0..(SETS * WAYS) as u64 * 4).map(|flow| met(flow, flow * 3)).collect();
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
        assert!(hits > 0 && hits <= SETS * WAYS, "{hits} entries kept in {} ways", SETS * WAYS);
    }

    /// The word-wide compare finds every way holding the tag (extra candidates are allowed:
    /// they are checked), and remembering a job moves the ways as an array of tags would.
    #[test]
    fn tag_lanes_behave_like_an_array_of_tags() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            // Few distinct tags, so that equal ones and borrows between lanes are common.
            let lanes: [u16; WAYS] = std::array::from_fn(|_| (next() % 4) as u16);
            let jobs: [u32; WAYS] = std::array::from_fn(|w| w as u32);
            let mut set = Set { tags: 0, jobs };
            for (w, &t) in lanes.iter().enumerate() {
                set.tags |= u128::from(t) << (w as u32 * TAG_BITS);
            }
            let tag = (next() % 4) as u16;
            let found = set.candidates(tag);
            assert_eq!(found & !LANES_HIGH, 0);
            for (w, &t) in lanes.iter().enumerate() {
                assert_eq!(set.tag(w), t);
                if t == tag {
                    assert_ne!(found & (1u128 << ((w as u32 + 1) * TAG_BITS - 1)), 0, "{lanes:?} {tag}: way {w}");
                }
            }
            let gone = lanes.iter().position(|&t| t == tag).unwrap_or(WAYS - 1);
            let (mut want_tags, mut want_jobs) = (lanes, jobs);
            want_tags.copy_within(0..gone, 1);
            want_jobs.copy_within(0..gone, 1);
            want_tags[0] = tag;
            want_jobs[0] = 99;
            set.remember(tag, 99);
            assert_eq!(std::array::from_fn(|w| set.tag(w)), want_tags, "{lanes:?} remember {tag}");
            assert_eq!(set.jobs, want_jobs);
        }
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
