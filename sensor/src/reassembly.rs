//! TCP reassembly, one [`TcpDirection`] per direction of a flow.
//!
//! Delivers bytes in order to the protocol layer and tells it about gaps (bytes that will never
//! be seen) so it can resynchronise on the next PDU boundary. It starts from the handshake or
//! mid-stream (a mirror port drops packets, and the first packet seen may be a response), buffers
//! out-of-order segments within bounds, drops exact retransmissions and flags overlapping
//! retransmissions whose bytes differ (a classic IDS-evasion trick).
//!
//! A hole is declared a gap when the out-of-order buffer reaches its bound, when the flow ends, or
//! when the peer acknowledged bytes we never saw (they were sent and received, so no
//! retransmission will come) and they still have not shown up: a mirror port merging both
//! directions often captures an ACK just before the segment it acknowledges, so the ACK alone
//! proves nothing. An acknowledged hole becomes a gap as soon as the capture has data of the same
//! direction after it (held out of order, or arriving later: the merge does not reorder a
//! direction's segments among themselves, so the hole's bytes were lost), or
//! [`ACK_REORDER_WINDOW_US`] of capture time after the acknowledgement, or at the flow's end.

/// Bytes of recently delivered data kept to check retransmissions against.
const HISTORY_BYTES: usize = 512;
/// A segment further ahead than this is not plausible out-of-order data.
const MAX_AHEAD: u32 = 1 << 30;
/// Implausible segments in a row after which the stream is resynchronised on the new sequence.
const RESYNC_AFTER: u8 = 3;
/// Capture time during which bytes the peer acknowledged may still arrive (a mirror port
/// reorders the two directions by far less) before they are declared a gap.
pub const ACK_REORDER_WINDOW_US: u64 = 250_000;

/// What the protocol layer receives.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// The next bytes of the stream, in order, from the segment being processed.
    Data(&'a [u8]),
    /// The next bytes of the stream, in order, from a segment held out of order: `ts_us` is the
    /// capture time of the packet that carried them (events are stamped with it, not with the
    /// time of the packet that released them).
    Buffered(&'a [u8], u64),
    /// `len` bytes of the stream are missing (0 when the amount is unknown).
    Gap(u32),
}

/// What happened to one segment, for stats and anomalies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The segment repeated bytes already delivered.
    pub retransmission: bool,
    /// ... and some of those bytes differed from what was delivered.
    pub overlap_mismatch: bool,
    /// The segment was buffered out of order.
    pub out_of_order: bool,
    /// A bound on buffered bytes forced a hole to be declared a gap.
    pub buffer_limit: bool,
    /// The direction started without a handshake.
    pub midstream_start: bool,
    /// The segment was implausibly far from the expected sequence and was ignored.
    pub implausible: bool,
}

/// The shared budget of out-of-order bytes over all flows.
#[derive(Debug)]
pub struct Budget {
    pub used: usize,
    pub limit: usize,
    /// Times the global limit was hit.
    pub exhausted: u64,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget { used: 0, limit, exhausted: 0 }
    }
}

#[derive(Debug)]
struct Segment {
    seq: u32,
    ts_us: u64,
    data: Vec<u8>,
}

/// Bytes the peer acknowledged that were not seen yet: not a gap until proven lost.
#[derive(Clone, Copy, Debug)]
struct AckedHole {
    /// The stream is known to have been sent up to here (exclusive).
    upto: u32,
    /// Capture time since which the first missing byte (`from`) has been acknowledged.
    since: u64,
    /// `next_seq` when `since` was set.
    from: u32,
    /// Capture time of the acknowledgement that last moved `upto`.
    upto_ts: u64,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct TcpDirection {
    next_seq: u32,
    initialized: bool,
    fin_seq: Option<u32>,
    ooo: Vec<Segment>,
    ooo_bytes: usize,
    /// The last bytes delivered, a ring: appending never shifts what stays.
    history: std::collections::VecDeque<u8>,
    implausible_run: u8,
    handshake: bool,
    acked_hole: Option<AckedHole>,
}

/// Signed distance from `b` to `a` in sequence space.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl TcpDirection {
    /// True once a SYN or the first data segment fixed the sequence numbers.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// True when this direction began with a SYN we saw (its first byte is the stream's first).
    pub fn started_with_handshake(&self) -> bool {
        self.handshake
    }

    /// True when a FIN was seen in this direction.
    pub fn fin_seen(&self) -> bool {
        self.fin_seq.is_some()
    }

    /// Bytes held out of order.
    pub fn buffered(&self) -> usize {
        self.ooo_bytes
    }

    /// A SYN (or SYN-ACK) from this side: the stream starts at `seq + 1`.
    pub fn on_syn(&mut self, seq: u32, budget: &mut Budget) {
        if self.initialized && self.next_seq == seq.wrapping_add(1) {
            return; // retransmitted SYN
        }
        self.release(budget);
        *self = TcpDirection {
            next_seq: seq.wrapping_add(1),
            initialized: true,
            handshake: true,
            ..TcpDirection::default()
        };
    }

    /// A FIN from this side, carried by a segment at `seq` with `len` payload bytes.
    pub fn on_fin(&mut self, seq: u32, len: u32) {
        self.fin_seq = Some(seq.wrapping_add(len));
    }

    /// A data segment from this side.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        ts_us: u64,
        seq: u32,
        payload: &[u8],
        missing: u32,
        max_buffered: usize,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Delivery<'_>),
    ) -> Outcome {
        if let Some(hole) = self.acked_hole {
            // Data after the start of an acknowledged hole: what comes before it was lost (a
            // direction's segments are captured in the order they were sent). Declared here
            // rather than after buffering the segment, which would need room for it.
            let rel = seq_diff(seq, self.next_seq);
            if rel > 0 && rel <= i64::from(MAX_AHEAD) {
                let to = if seq_diff(seq, hole.upto) < 0 { seq } else { hole.upto };
                self.skip_acked(to, true, budget, sink);
            }
        }
        let outcome = self.segment(ts_us, seq, payload, missing, max_buffered, budget, sink);
        self.settle_acked_hole(ts_us, budget, sink);
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        ts_us: u64,
        seq: u32,
        payload: &[u8],
        missing: u32,
        max_buffered: usize,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Delivery<'_>),
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let total = payload.len() as u64 + u64::from(missing);
        if total == 0 {
            return outcome;
        }
        if !self.initialized {
            self.initialized = true;
            self.next_seq = seq;
            outcome.midstream_start = true;
        }
        let rel = seq_diff(seq, self.next_seq);
        if rel < 0 {
            let back = rel.unsigned_abs();
            if back > u64::from(MAX_AHEAD) {
                return self.implausible(seq, payload, missing, budget, sink, outcome);
            }
            self.implausible_run = 0;
            outcome.retransmission = true;
            let old_len = back.min(payload.len() as u64) as usize;
            let (old, new) = payload.split_at(old_len);
            if !self.matches_history(back, old) {
                outcome.overlap_mismatch = true;
            }
            if back >= total {
                return outcome;
            }
            let new_missing = if (back as usize) > payload.len() {
                missing - (back as usize - payload.len()) as u32
            } else {
                missing
            };
            self.deliver(new, new_missing, sink);
            self.drain(budget, sink);
            return outcome;
        }
        if rel > 0 {
            if rel > i64::from(MAX_AHEAD) {
                return self.implausible(seq, payload, missing, budget, sink, outcome);
            }
            self.implausible_run = 0;
            outcome.out_of_order = true;
            // A truncated segment's cut tail (`missing`) simply becomes part of the next hole.
            if self.ooo.iter().any(|s| s.seq == seq && s.data.len() >= payload.len()) {
                outcome.retransmission = true;
                return outcome;
            }
            let fits_flow = self.ooo_bytes + payload.len() <= max_buffered;
            let fits_total = budget.used + payload.len() <= budget.limit;
            if !fits_total {
                budget.exhausted += 1;
            }
            if fits_flow && fits_total {
                let at = self.ooo.partition_point(|s| seq_diff(s.seq, seq) <= 0);
                self.ooo.insert(at, Segment { seq, ts_us, data: payload.to_vec() });
                self.ooo_bytes += payload.len();
                budget.used += payload.len();
            } else {
                // Out of room: declare the hole before the earliest held data a gap.
                outcome.buffer_limit = true;
                let first = self.ooo.first().map_or(seq, |s| if seq_diff(s.seq, seq) < 0 { s.seq } else { seq });
                self.skip_to(first, sink);
                self.drain(budget, sink);
                // Still ahead: its hole is a gap too. Overlapping what was just drained: only
                // its new tail is delivered.
                let rel = seq_diff(seq, self.next_seq);
                if rel > 0 {
                    self.skip_to(seq, sink);
                    self.deliver(payload, missing, sink);
                } else if let Some(tail) = payload.get(rel.unsigned_abs() as usize..) {
                    self.deliver(tail, missing, sink);
                }
                self.drain(budget, sink);
            }
            return outcome;
        }
        self.implausible_run = 0;
        self.deliver(payload, missing, sink);
        self.drain(budget, sink);
        outcome
    }

    /// The peer acknowledged up to `ack` (in a packet captured at `ts_us`): bytes before it that
    /// we never saw are remembered as an acknowledged hole, declared a gap only once they are
    /// proven lost (see the module documentation). Returns true when a gap was declared.
    pub fn on_peer_ack(
        &mut self,
        ts_us: u64,
        ack: u32,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Delivery<'_>),
    ) -> bool {
        if !self.initialized {
            return false;
        }
        let ahead = seq_diff(ack, self.next_seq);
        if ahead <= 0 || ahead > i64::from(MAX_AHEAD) {
            return self.settle_acked_hole(ts_us, budget, sink);
        }
        let mut target = ack;
        if let Some(fin) = self.fin_seq {
            // The FIN occupies one sequence number.
            if ack == fin.wrapping_add(1) {
                target = fin;
            }
        }
        if seq_diff(target, self.next_seq) > 0 {
            self.acked_hole = Some(match self.acked_hole {
                Some(h) if seq_diff(target, h.upto) > 0 => AckedHole { upto: target, upto_ts: ts_us, ..h },
                Some(h) => h,
                None => AckedHole { upto: target, since: ts_us, from: self.next_seq, upto_ts: ts_us },
            });
        }
        self.settle_acked_hole(ts_us, budget, sink)
    }

    /// Declares the parts of the acknowledged hole proven lost a gap: those followed by data of
    /// this direction the capture already has (held out of order, whether it came before or
    /// after the acknowledgement: a direction's segments are captured in the order they were
    /// sent), and all of it once it has waited [`ACK_REORDER_WINDOW_US`]. Forgets it once
    /// filled. True when a gap was declared.
    fn settle_acked_hole(&mut self, ts_us: u64, budget: &mut Budget, sink: &mut dyn FnMut(Delivery<'_>)) -> bool {
        let Some(hole) = self.acked_hole.map(|h| self.refresh_acked_hole(h)) else { return false };
        if self.acked_hole.is_none() {
            return false;
        }
        let expired = ts_us >= hole.since.saturating_add(ACK_REORDER_WINDOW_US);
        let data_beyond = self.ooo.last().is_some_and(|s| seq_diff(s.seq, hole.upto) >= 0);
        let gap = if expired || data_beyond {
            self.skip_acked(hole.upto, true, budget, sink)
        } else if !self.ooo.is_empty() {
            self.skip_acked(hole.upto, false, budget, sink)
        } else {
            false
        };
        if let Some(hole) = self.acked_hole {
            self.refresh_acked_hole(hole);
        }
        gap
    }

    /// Forgets the acknowledged hole once filled; when partly filled, what is still missing may
    /// have been acknowledged only by the latest acknowledgement, so it waits from then.
    fn refresh_acked_hole(&mut self, mut hole: AckedHole) -> AckedHole {
        if seq_diff(hole.upto, self.next_seq) <= 0 {
            self.acked_hole = None;
            return hole;
        }
        if hole.from != self.next_seq {
            hole.since = hole.since.max(hole.upto_ts);
            hole.from = self.next_seq;
        }
        self.acked_hole = Some(hole);
        hole
    }

    /// Everything before `upto` was sent: the holes before held data up to there are gaps, the
    /// held data between them is delivered, and with `tail` so is the hole after the last held
    /// data before `upto`. True when a gap was declared.
    fn skip_acked(&mut self, upto: u32, tail: bool, budget: &mut Budget, sink: &mut dyn FnMut(Delivery<'_>)) -> bool {
        let mut gap = false;
        while let Some(first) = self.ooo.first().map(|s| s.seq) {
            if seq_diff(first, upto) > 0 {
                break;
            }
            if seq_diff(first, self.next_seq) > 0 {
                gap = true;
                self.skip_to(first, sink);
            }
            self.drain(budget, sink);
            if self.ooo.first().map(|s| s.seq) == Some(first) {
                break; // nothing drained; avoid spinning
            }
        }
        if tail && seq_diff(upto, self.next_seq) > 0 {
            gap = true;
            self.skip_to(upto, sink);
            self.drain(budget, sink);
        }
        gap
    }

    /// The flow ends: whatever is still held is delivered, with gaps for the holes.
    pub fn flush(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Delivery<'_>)) {
        if let Some(hole) = self.acked_hole.take() {
            if seq_diff(hole.upto, self.next_seq) > 0 {
                self.skip_acked(hole.upto, true, budget, sink);
            }
        }
        while let Some(first) = self.ooo.first().map(|s| s.seq) {
            if seq_diff(first, self.next_seq) > 0 {
                self.skip_to(first, sink);
            }
            let before = self.ooo.len();
            self.drain(budget, sink);
            if self.ooo.len() == before {
                // Should not happen; drop the head rather than loop.
                let seg = self.ooo.remove(0);
                self.ooo_bytes -= seg.data.len();
                budget.used = budget.used.saturating_sub(seg.data.len());
            }
        }
    }

    /// Returns every buffered byte to the budget (the flow is being dropped).
    pub fn release(&mut self, budget: &mut Budget) {
        budget.used = budget.used.saturating_sub(self.ooo_bytes);
        self.ooo.clear();
        self.ooo_bytes = 0;
    }

    fn implausible(
        &mut self,
        seq: u32,
        payload: &[u8],
        missing: u32,
        budget: &mut Budget,
        sink: &mut dyn FnMut(Delivery<'_>),
        mut outcome: Outcome,
    ) -> Outcome {
        self.implausible_run += 1;
        if self.implausible_run < RESYNC_AFTER {
            outcome.implausible = true;
            return outcome;
        }
        // The peer really moved on (port reuse without a handshake seen, say): start again.
        self.implausible_run = 0;
        self.release(budget);
        self.history.clear();
        self.acked_hole = None;
        sink(Delivery::Gap(0));
        self.next_seq = seq;
        self.deliver(payload, missing, sink);
        outcome
    }

    fn deliver(&mut self, data: &[u8], missing: u32, sink: &mut dyn FnMut(Delivery<'_>)) {
        if !data.is_empty() {
            sink(Delivery::Data(data));
            self.remember(data);
        }
        self.next_seq = self.next_seq.wrapping_add(data.len() as u32);
        if missing > 0 {
            sink(Delivery::Gap(missing));
            self.history.clear();
            self.next_seq = self.next_seq.wrapping_add(missing);
        }
    }

    fn skip_to(&mut self, seq: u32, sink: &mut dyn FnMut(Delivery<'_>)) {
        let len = seq.wrapping_sub(self.next_seq);
        if len == 0 {
            return;
        }
        sink(Delivery::Gap(len));
        self.history.clear();
        self.next_seq = seq;
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, budget: &mut Budget, sink: &mut dyn FnMut(Delivery<'_>)) {
        while let Some(first) = self.ooo.first() {
            let rel = seq_diff(first.seq, self.next_seq);
            if rel > 0 {
                break;
            }
            let seg = self.ooo.remove(0);
            self.ooo_bytes -= seg.data.len();
            budget.used = budget.used.saturating_sub(seg.data.len());
            let skip = rel.unsigned_abs() as usize;
            if let Some(new) = seg.data.get(skip..).filter(|n| !n.is_empty()) {
                sink(Delivery::Buffered(new, seg.ts_us));
                self.remember(new);
                self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
            }
        }
    }

    fn remember(&mut self, data: &[u8]) {
        let keep = data.get(data.len().saturating_sub(HISTORY_BYTES)..).unwrap_or(data);
        let overflow = (self.history.len() + keep.len()).saturating_sub(HISTORY_BYTES);
        self.history.drain(..overflow);
        self.history.extend(keep);
    }

    /// Compares `old`, which starts `back` bytes before `next_seq`, with what was delivered.
    fn matches_history(&self, back: u64, old: &[u8]) -> bool {
        let hist_len = self.history.len() as u64;
        // Offsets (from the start of history) of the overlap between `old` and the history.
        let old_start = hist_len as i64 - back as i64;
        let mut matches = true;
        for (i, byte) in old.iter().enumerate() {
            let pos = old_start + i as i64;
            if pos < 0 {
                continue;
            }
            match self.history.get(pos as usize) {
                Some(h) if h != byte => {
                    matches = false;
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Out {
        D(Vec<u8>),
        G(u32),
    }

    fn run(dir: &mut TcpDirection, budget: &mut Budget, seq: u32, data: &[u8]) -> (Vec<Out>, Outcome) {
        let mut out = Vec::new();
        let o = dir.on_segment(0, seq, data, 0, 1 << 16, budget, &mut |d| match d {
            Delivery::Data(b) | Delivery::Buffered(b, _) => out.push(Out::D(b.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        (out, o)
    }

    #[test]
    fn in_order_after_syn() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(999, &mut b);
        let (out, o) = run(&mut d, &mut b, 1000, b"abc");
        assert_eq!(out, vec![Out::D(b"abc".to_vec())]);
        assert!(!o.midstream_start);
        let (out, _) = run(&mut d, &mut b, 1003, b"de");
        assert_eq!(out, vec![Out::D(b"de".to_vec())]);
    }

    #[test]
    fn midstream_start_and_wraparound() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        let (out, o) = run(&mut d, &mut b, u32::MAX - 1, b"abcd");
        assert!(o.midstream_start);
        assert_eq!(out.len(), 1);
        let (out, _) = run(&mut d, &mut b, 2, b"ef");
        assert_eq!(out, vec![Out::D(b"ef".to_vec())]);
    }

    #[test]
    fn out_of_order_is_reordered() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        let (out, o) = run(&mut d, &mut b, 4, b"def");
        assert!(out.is_empty() && o.out_of_order);
        assert_eq!(b.used, 3);
        let (out, _) = run(&mut d, &mut b, 1, b"abc");
        assert_eq!(out, vec![Out::D(b"abc".to_vec()), Out::D(b"def".to_vec())]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn exact_retransmission_dropped_and_mismatch_flagged() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abcdef");
        let (out, o) = run(&mut d, &mut b, 1, b"abcdef");
        assert!(out.is_empty());
        assert!(o.retransmission && !o.overlap_mismatch);
        let (out, o) = run(&mut d, &mut b, 3, b"XdefGH");
        assert!(o.retransmission && o.overlap_mismatch);
        assert_eq!(out, vec![Out::D(b"GH".to_vec())]);
    }

    fn ack(dir: &mut TcpDirection, budget: &mut Budget, ts: u64, ack: u32) -> (Vec<Out>, bool) {
        let mut out = Vec::new();
        let gap = dir.on_peer_ack(ts, ack, budget, &mut |dl| match dl {
            Delivery::Data(x) | Delivery::Buffered(x, _) => out.push(Out::D(x.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        (out, gap)
    }

    fn run_at(dir: &mut TcpDirection, budget: &mut Budget, ts: u64, seq: u32, data: &[u8]) -> Vec<(Out, u64)> {
        let mut out = Vec::new();
        dir.on_segment(ts, seq, data, 0, 1 << 16, budget, &mut |d| match d {
            Delivery::Data(b) => out.push((Out::D(b.to_vec()), ts)),
            Delivery::Buffered(b, t) => out.push((Out::D(b.to_vec()), t)),
            Delivery::Gap(n) => out.push((Out::G(n), ts)),
        });
        out
    }

    #[test]
    fn peer_ack_of_a_hole_before_held_data_is_a_gap() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        // bytes 4..10 lost by the mirror port, then 10.. arrive
        run(&mut d, &mut b, 10, b"xyz");
        // Acknowledged, and data sent after them was captured: they will not come.
        assert_eq!(ack(&mut d, &mut b, 0, 13), (vec![Out::G(6), Out::D(b"xyz".to_vec())], true));
        assert_eq!(b.used, 0);
    }

    #[test]
    fn acked_hole_is_a_gap_once_later_data_arrives() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        // The ACK alone proves nothing: the bytes may be just behind it in the capture.
        assert_eq!(ack(&mut d, &mut b, 0, 13), (vec![], false));
        // Data beyond the acknowledged point: 4..13 were lost.
        let out: Vec<Out> = run_at(&mut d, &mut b, 1, 13, b"!").into_iter().map(|(o, _)| o).collect();
        assert_eq!(out, vec![Out::G(9), Out::D(b"!".to_vec())]);
        // Data inside the acknowledged hole: what comes before it was lost, the rest may come.
        assert_eq!(ack(&mut d, &mut b, 2, 30), (vec![], false));
        let out: Vec<Out> = run_at(&mut d, &mut b, 3, 20, b"uvw").into_iter().map(|(o, _)| o).collect();
        assert_eq!(out, vec![Out::G(6), Out::D(b"uvw".to_vec())]);
        let out: Vec<Out> = run_at(&mut d, &mut b, 3, 23, b"1234567").into_iter().map(|(o, _)| o).collect();
        assert_eq!(out, vec![Out::D(b"1234567".to_vec())]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn acked_hole_becomes_a_gap_after_the_reorder_window() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        // a lost tail with nothing after it
        assert_eq!(ack(&mut d, &mut b, 1_000, 11), (vec![], false));
        assert_eq!(ack(&mut d, &mut b, 1_000 + ACK_REORDER_WINDOW_US - 1, 11), (vec![], false));
        assert_eq!(ack(&mut d, &mut b, 1_000 + ACK_REORDER_WINDOW_US, 11), (vec![Out::G(7)], true));
        // the bytes, far too late, are an old retransmission
        let (out, o) = run(&mut d, &mut b, 4, b"defghij");
        assert!(out.is_empty() && o.retransmission);
    }

    #[test]
    fn data_just_after_its_ack_is_delivered_with_its_own_time() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        assert_eq!(ack(&mut d, &mut b, 100, 10), (vec![], false));
        // The acknowledged bytes, in two segments captured after the ACK.
        assert_eq!(run_at(&mut d, &mut b, 100, 4, b"def"), vec![(Out::D(b"def".to_vec()), 100)]);
        assert_eq!(ack(&mut d, &mut b, 150, 10), (vec![], false));
        assert_eq!(run_at(&mut d, &mut b, 200, 7, b"ghi"), vec![(Out::D(b"ghi".to_vec()), 200)]);
        // Filled: a much later ACK of the same point declares nothing.
        assert_eq!(ack(&mut d, &mut b, 10_000_000, 10), (vec![], false));
        assert_eq!(b.used, 0);
    }

    #[test]
    fn partly_filled_acked_hole_waits_for_the_later_acknowledgement() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        assert_eq!(ack(&mut d, &mut b, 0, 4), (vec![], false));
        assert_eq!(ack(&mut d, &mut b, 200_000, 7), (vec![], false));
        run_at(&mut d, &mut b, 200_000, 1, b"abc");
        // 4..7 were acknowledged only at 200 ms: not yet a gap at 300 ms.
        assert_eq!(ack(&mut d, &mut b, 300_000, 7), (vec![], false));
        assert_eq!(ack(&mut d, &mut b, 200_000 + ACK_REORDER_WINDOW_US, 7), (vec![Out::G(3)], true));
    }

    #[test]
    fn acked_hole_is_a_gap_at_flow_end() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        assert_eq!(ack(&mut d, &mut b, 0, 8), (vec![], false));
        let mut out = Vec::new();
        d.flush(&mut b, &mut |dl| match dl {
            Delivery::Data(x) | Delivery::Buffered(x, _) => out.push(Out::D(x.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        assert_eq!(out, vec![Out::G(4)]);
        assert_eq!(b.used, 0);
    }

    #[test]
    fn fin_ack_is_not_a_gap() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 1, b"abc");
        d.on_fin(4, 0);
        assert!(!d.on_peer_ack(0, 5, &mut b, &mut |_| panic!("no delivery expected")));
        assert!(!d.on_peer_ack(ACK_REORDER_WINDOW_US * 10, 5, &mut b, &mut |_| panic!("no delivery expected")));
    }

    #[test]
    fn buffer_limit_forces_gap() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        let mut out = Vec::new();
        let o = d.on_segment(0, 100, &[1; 8], 0, 10, &mut b, &mut |_| {});
        assert!(o.out_of_order);
        let o = d.on_segment(0, 200, &[2; 8], 0, 10, &mut b, &mut |dl| match dl {
            Delivery::Data(x) | Delivery::Buffered(x, _) => out.push(Out::D(x.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        assert!(o.buffer_limit);
        assert_eq!(out[0], Out::G(99));
        assert_eq!(out[1], Out::D(vec![1; 8]));
        assert_eq!(out[2], Out::G(92));
        assert_eq!(out[3], Out::D(vec![2; 8]));
        assert_eq!(b.used, 0);
    }

    #[test]
    fn truncated_segment_reports_missing_tail() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        let mut out = Vec::new();
        d.on_segment(0, 1, b"ab", 5, 1 << 16, &mut b, &mut |dl| match dl {
            Delivery::Data(x) | Delivery::Buffered(x, _) => out.push(Out::D(x.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        assert_eq!(out, vec![Out::D(b"ab".to_vec()), Out::G(5)]);
        let (out, _) = run(&mut d, &mut b, 8, b"c");
        assert_eq!(out, vec![Out::D(b"c".to_vec())]);
    }

    #[test]
    fn flush_delivers_held_data_with_gaps() {
        let mut b = Budget::new(1 << 20);
        let mut d = TcpDirection::default();
        d.on_syn(0, &mut b);
        run(&mut d, &mut b, 5, b"x");
        let mut out = Vec::new();
        d.flush(&mut b, &mut |dl| match dl {
            Delivery::Data(x) | Delivery::Buffered(x, _) => out.push(Out::D(x.to_vec())),
            Delivery::Gap(n) => out.push(Out::G(n)),
        });
        assert_eq!(out, vec![Out::G(4), Out::D(b"x".to_vec())]);
        assert_eq!(b.used, 0);
    }
}
