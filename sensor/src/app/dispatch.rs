//! Per-flow protocol dispatch: which dissector, if any, gets a flow's bytes.
//!
//! A flow on a protocol's well-known port is still probed, so that other bytes on port 502 are
//! not parsed as Modbus; a flow on any other port is probed strictly by every protocol, so that
//! Modbus on port 5020 is still recognised. Bytes seen while probing are held (bounded) and
//! replayed into the session once a protocol matches, so nothing is lost.

use super::{dir_index as idx, ProtocolSpec, PROTOCOLS};
use dissectors::{Direction, Probe};

/// Most bytes held while probing one flow.
const MAX_HELD: usize = 2048;
/// Failed probes after which a flow on a protocol's port is declared something else.
const MAX_REJECTIONS_ON_PORT: u8 = 4;
/// Failed probes after which a flow on another port is ignored.
const MAX_REJECTIONS_ELSEWHERE: u8 = 2;

/// The outcome of feeding bytes to a [`Prober`].
#[derive(Debug)]
pub enum Verdict {
    /// Not decided yet: feed more bytes.
    Undecided,
    /// `spec` matched; replay `held` (in arrival order) into a new session.
    Matched { spec: &'static ProtocolSpec, held: Vec<(Direction, Vec<u8>)> },
    /// No protocol matched. `port_spec` is the protocol whose port the flow used, if any.
    Rejected { port_spec: Option<&'static ProtocolSpec> },
}

/// Probing state of one flow.
#[derive(Debug)]
pub struct Prober {
    port_spec: Option<&'static ProtocolSpec>,
    held: Vec<(Direction, Vec<u8>)>,
    held_bytes: usize,
    rejections: u8,
    /// Bytes of that direction were lost while probing: its start is no longer known.
    gapped: [bool; 2],
}

impl Prober {
    pub fn new(port_spec: Option<&'static ProtocolSpec>) -> Prober {
        Prober { port_spec, held: Vec::new(), held_bytes: 0, rejections: 0, gapped: [false; 2] }
    }

    /// The next in-order bytes of `dir`. `from_handshake` says the direction began with a TCP
    /// handshake, so the held bytes are the true start of the stream: when no protocol matches
    /// them, the verdict is final at once. Without a handshake we may have joined mid-PDU, and
    /// later bytes get a few more tries.
    pub fn feed(&mut self, dir: Direction, data: &[u8], from_handshake: bool) -> Verdict {
        let room = MAX_HELD.saturating_sub(self.held_bytes);
        let take = data.len().min(room);
        if take > 0 {
            match self.held.last_mut() {
                Some((d, bytes)) if *d == dir => bytes.extend_from_slice(&data[..take]),
                _ => self.held.push((dir, data[..take].to_vec())),
            }
            self.held_bytes += take;
        }
        let stream: Vec<u8> =
            self.held.iter().filter(|(d, _)| *d == dir).flat_map(|(_, b)| b.iter().copied()).collect();
        let full = self.held_bytes >= MAX_HELD;

        let mut undecided = false;
        if let Some(spec) = self.port_spec {
            match (spec.probe_on_port)(&stream) {
                Probe::Match => return self.matched(spec),
                Probe::NeedMore if !full => undecided = true,
                _ => {}
            }
        }
        for spec in PROTOCOLS.iter().copied() {
            if self.port_spec.is_some_and(|p| std::ptr::eq(p, spec)) {
                continue;
            }
            match (spec.probe_elsewhere)(&stream) {
                Probe::Match => return self.matched(spec),
                Probe::NeedMore if !full => undecided = true,
                _ => {}
            }
        }
        if undecided {
            return Verdict::Undecided;
        }
        // Every protocol said no to this start of `dir`: perhaps we joined mid-PDU. Forget it
        // and try the next bytes, a few times.
        let certain = from_handshake && !self.gapped[idx(dir)];
        self.forget(dir);
        self.rejections += 1;
        let limit = if self.port_spec.is_some() { MAX_REJECTIONS_ON_PORT } else { MAX_REJECTIONS_ELSEWHERE };
        if certain || self.rejections >= limit {
            Verdict::Rejected { port_spec: self.port_spec }
        } else {
            Verdict::Undecided
        }
    }

    /// Bytes of `dir` were lost: what is held for it no longer starts a PDU.
    pub fn gap(&mut self, dir: Direction) {
        self.gapped[idx(dir)] = true;
        self.forget(dir);
    }

    /// The flow ends while still undecided: if its bytes were already refused by the protocol
    /// of its port, that protocol (so the flow is reported as not being it).
    pub fn refused_by_port_protocol(&self) -> Option<&'static ProtocolSpec> {
        if self.rejections > 0 {
            self.port_spec
        } else {
            None
        }
    }

    fn forget(&mut self, dir: Direction) {
        self.held.retain(|(d, _)| *d != dir);
        self.held_bytes = self.held.iter().map(|(_, b)| b.len()).sum();
    }

    fn matched(&mut self, spec: &'static ProtocolSpec) -> Verdict {
        self.held_bytes = 0;
        Verdict::Matched { spec, held: std::mem::take(&mut self.held) }
    }
}
