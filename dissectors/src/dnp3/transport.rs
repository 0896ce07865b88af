//! The DNP3 transport function (IEEE 1815-2012 clause 8): a one-octet header (FIN, FIR, a 6-bit
//! sequence number) on each link frame's user data, and the reassembly of segments into
//! application fragments.
//!
//! ```text
//!   7     6     5..0
//! +-----+-----+----------+------------------------+
//! | FIN | FIR | sequence | segment payload (<=249) |
//! +-----+-----+----------+------------------------+
//! ```
//!
//! A fragment is one segment with FIR and FIN, or a FIR segment, middle segments and a FIN
//! segment whose sequence numbers each follow the previous one modulo 64 (8.2.1.2). The caller
//! keeps one [`TransportReassembler`] per direction and link address pair (source, destination).
//! It owns a buffer bounded by its maximum fragment size (per flow, not per packet); a
//! single-segment fragment is handed back borrowed from the segment, without a copy. No function
//! here panics, whatever the input.

use super::anomalies::{INCOMPLETE_FRAGMENT, INVALID_LENGTH, TOO_LONG_REASSEMBLY, TRANSPORT_OUT_OF_SEQUENCE};
use crate::anomaly::AnomalyList;

/// The transport header octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportHeader(pub u8);

impl TransportHeader {
    /// FIN: the last segment of a fragment.
    pub fn fin(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// FIR: the first segment of a fragment.
    pub fn fir(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// The 6-bit sequence number.
    pub fn sequence(self) -> u8 {
        self.0 & 0x3F
    }
}

/// Splits a link frame's user data into its transport header and payload; `None` when empty.
pub fn split(user_data: &[u8]) -> Option<(TransportHeader, &[u8])> {
    let (&header, payload) = user_data.split_first()?;
    Some((TransportHeader(header), payload))
}

/// What one segment did to the reassembly.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The segment's header (`None` for empty user data).
    pub header: Option<TransportHeader>,
    /// A complete application fragment, when this segment finished one.
    pub fragment: Option<&'a [u8]>,
    /// Out of sequence, over-long, restarted, empty.
    pub anomalies: AnomalyList,
}

/// Reassembles transport segments into application fragments for one direction of one link
/// address pair.
#[derive(Debug, Clone)]
pub struct TransportReassembler {
    buffer: Vec<u8>,
    max_fragment: usize,
    /// The sequence number the next segment must carry, while a fragment is open.
    expected: Option<u8>,
    /// The last fragment was handed out of `buffer`; clear it on the next push.
    delivered: bool,
    /// A fragment was dropped as too long: ignore its remaining segments until FIN or FIR.
    discarding: bool,
}

impl Default for TransportReassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl TransportReassembler {
    /// Default bound on a reassembled fragment: 2048 bytes, the application fragment size IEEE
    /// 1815-2012 recommends as the default (and that most devices use). Suricata bounds by the
    /// sequence space instead (63 full segments, about 15.7 KB); a sensor that sees devices
    /// configured for larger fragments should raise the bound with
    /// [`with_max_fragment`](Self::with_max_fragment).
    pub const DEFAULT_MAX_FRAGMENT: usize = 2048;

    /// A reassembler with [`DEFAULT_MAX_FRAGMENT`](Self::DEFAULT_MAX_FRAGMENT).
    pub fn new() -> Self {
        Self::with_max_fragment(Self::DEFAULT_MAX_FRAGMENT)
    }

    /// A reassembler whose fragments may be at most `max_fragment` bytes. The buffer grows as
    /// segments arrive and never beyond that bound.
    pub fn with_max_fragment(max_fragment: usize) -> Self {
        TransportReassembler { buffer: Vec::new(), max_fragment, expected: None, delivered: false, discarding: false }
    }

    /// The configured bound.
    pub fn max_fragment(&self) -> usize {
        self.max_fragment
    }

    /// True while a fragment is partly reassembled.
    pub fn in_progress(&self) -> bool {
        self.expected.is_some()
    }

    /// Bytes of the partial fragment held.
    pub fn pending_len(&self) -> usize {
        if self.delivered {
            0
        } else {
            self.buffer.len()
        }
    }

    /// Forgets any partial fragment (a TCP gap, a flow reset).
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.expected = None;
        self.delivered = false;
        self.discarding = false;
    }

    /// Takes one link frame's user data (transport header and payload).
    ///
    /// - FIR and FIN with nothing pending: the payload is the fragment, borrowed.
    /// - FIR: starts a fragment (a partial one is dropped with [`INCOMPLETE_FRAGMENT`]).
    /// - No FIR: continues the open fragment if its sequence is the expected one; otherwise (or
    ///   with no fragment open, as after a mid-stream start) [`TRANSPORT_OUT_OF_SEQUENCE`] and
    ///   the partial fragment and the segment are dropped.
    /// - A fragment growing past the bound: [`TOO_LONG_REASSEMBLY`], dropped, and later segments
    ///   are ignored until the next FIR.
    /// - FIN: the fragment is returned, borrowed from the reassembler until the next push.
    pub fn push<'a>(&'a mut self, user_data: &'a [u8]) -> Segment<'a> {
        let mut anomalies = AnomalyList::new();
        if self.delivered {
            self.buffer.clear();
            self.delivered = false;
        }
        let Some((header, payload)) = split(user_data) else {
            anomalies.push(&INVALID_LENGTH);
            return Segment { header: None, fragment: None, anomalies };
        };
        let sequence = header.sequence();
        if header.fir() {
            self.discarding = false;
            if self.expected.is_some() {
                anomalies.push(&INCOMPLETE_FRAGMENT);
            }
            self.buffer.clear();
            self.expected = None;
            if header.fin() {
                if payload.len() > self.max_fragment {
                    anomalies.push(&TOO_LONG_REASSEMBLY);
                    return Segment { header: Some(header), fragment: None, anomalies };
                }
                return Segment { header: Some(header), fragment: Some(payload), anomalies };
            }
        } else if self.discarding {
            // The rest of a fragment already reported as too long.
            self.discarding = !header.fin();
            return Segment { header: Some(header), fragment: None, anomalies };
        } else if self.expected != Some(sequence) {
            // Also a middle or final segment with no fragment open (a mid-stream start).
            anomalies.push(&TRANSPORT_OUT_OF_SEQUENCE);
            self.reset();
            return Segment { header: Some(header), fragment: None, anomalies };
        }
        if self.buffer.len() + payload.len() > self.max_fragment {
            anomalies.push(&TOO_LONG_REASSEMBLY);
            self.reset();
            self.discarding = !header.fin();
            return Segment { header: Some(header), fragment: None, anomalies };
        }
        self.buffer.extend_from_slice(payload);
        if header.fin() {
            self.expected = None;
            self.delivered = true;
            return Segment { header: Some(header), fragment: Some(&self.buffer), anomalies };
        }
        self.expected = Some((sequence + 1) & 0x3F);
        Segment { header: Some(header), fragment: None, anomalies }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(fir: bool, fin: bool, seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | u8::from(fir) << 6 | (seq & 0x3F)];
        out.extend_from_slice(payload);
        out
    }

    /// Pushes one segment and returns owned results.
    fn feed(reassembler: &mut TransportReassembler, fir: bool, fin: bool, seq: u8, payload: &[u8]) -> Fed {
        let bytes = segment(fir, fin, seq, payload);
        let out = reassembler.push(&bytes);
        Fed { fragment: out.fragment.map(<[u8]>::to_vec), anomalies: out.anomalies }
    }

    struct Fed {
        fragment: Option<Vec<u8>>,
        anomalies: AnomalyList,
    }

    #[test]
    fn deconstruct() {
        let header = TransportHeader(0xC5); // FIN, FIR, seq 5
        assert!(header.fin() && header.fir());
        assert_eq!(header.sequence(), 5);
        let header = TransportHeader(0x3F);
        assert!(!header.fin() && !header.fir());
        assert_eq!(header.sequence(), 63);
        assert_eq!(split(&[0x40, 1, 2]), Some((TransportHeader(0x40), &[1u8, 2][..])));
        assert_eq!(split(&[]), None);
    }

    #[test]
    fn parse() {
        let mut reassembler = TransportReassembler::new();
        let single = segment(true, true, 0, &[0xC0, 0x01]);
        let out = reassembler.push(&single);
        assert_eq!(out.fragment, Some(&[0xC0, 0x01][..]));
        assert!(out.anomalies.is_empty());
        // Three segments, sequence wrapping from 63 to 0.
        assert!(feed(&mut reassembler, true, false, 62, &[1, 2]).fragment.is_none());
        assert!(reassembler.in_progress());
        assert!(feed(&mut reassembler, false, false, 63, &[3]).fragment.is_none());
        assert_eq!(reassembler.pending_len(), 3);
        let out = feed(&mut reassembler, false, true, 0, &[4, 5]);
        assert_eq!(out.fragment.as_deref(), Some(&[1, 2, 3, 4, 5][..]));
        assert!(out.anomalies.is_empty());
        assert!(!reassembler.in_progress());
        // The next fragment starts clean.
        let out = feed(&mut reassembler, true, true, 1, &[9]);
        assert_eq!(out.fragment.as_deref(), Some(&[9][..]));
        assert_eq!(reassembler.pending_len(), 0);
    }

    #[test]
    fn truncated() {
        let mut reassembler = TransportReassembler::new();
        let out = reassembler.push(&[]);
        assert!(out.header.is_none());
        assert!(out.anomalies.contains(&INVALID_LENGTH));
        // A header alone is an empty fragment.
        assert_eq!(reassembler.push(&[0xC0]).fragment, Some(&[][..]));
    }

    #[test]
    fn impossible_len() {
        let mut reassembler = TransportReassembler::with_max_fragment(4);
        assert!(feed(&mut reassembler, true, false, 0, &[1, 2, 3]).anomalies.is_empty());
        let out = feed(&mut reassembler, false, false, 1, &[4, 5]);
        assert!(out.anomalies.contains(&TOO_LONG_REASSEMBLY));
        // The rest of the dropped fragment is ignored quietly; the next FIR starts over.
        let out = feed(&mut reassembler, false, true, 2, &[6]);
        assert!(out.fragment.is_none() && out.anomalies.is_empty());
        let out = feed(&mut reassembler, true, true, 3, &[1, 2, 3, 4, 5]);
        assert!(out.anomalies.contains(&TOO_LONG_REASSEMBLY));
        assert_eq!(feed(&mut reassembler, true, true, 4, &[1, 2, 3, 4]).fragment.as_deref(), Some(&[1, 2, 3, 4][..]));
        assert_eq!(reassembler.max_fragment(), 4);
    }

    #[test]
    fn anomalies() {
        let mut reassembler = TransportReassembler::new();
        // Mid-stream start: a middle segment with nothing open.
        let out = feed(&mut reassembler, false, false, 7, &[1]);
        assert!(out.anomalies.contains(&TRANSPORT_OUT_OF_SEQUENCE));
        // A skipped sequence number drops the partial fragment.
        feed(&mut reassembler, true, false, 0, &[1]);
        let out = feed(&mut reassembler, false, true, 2, &[2]);
        assert!(out.anomalies.contains(&TRANSPORT_OUT_OF_SEQUENCE));
        assert!(out.fragment.is_none());
        assert!(!reassembler.in_progress());
        // FIR while a fragment is open restarts it.
        feed(&mut reassembler, true, false, 10, &[1]);
        let out = feed(&mut reassembler, true, false, 20, &[2]);
        assert!(out.anomalies.contains(&INCOMPLETE_FRAGMENT));
        let out = feed(&mut reassembler, false, true, 21, &[3]);
        assert_eq!(out.fragment.as_deref(), Some(&[2, 3][..]));
        feed(&mut reassembler, true, false, 0, &[1]);
        reassembler.reset();
        assert!(!reassembler.in_progress());
    }
}
