//! The incremental parsing contract shared by every dissector (after Suricata's
//! `AppLayerResult::incomplete(consumed, needed)` and SAWP's `Needed`).

use crate::anomaly::AnomalyKind;

/// Which way a PDU travels, relative to the conversation's requester (client, master,
/// engineering station) and responder (server, outstation, PLC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the requester to the responder.
    ToServer,
    /// From the responder back to the requester.
    ToClient,
}

impl Direction {
    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// The outcome of one parse step over the front of a byte stream.
///
/// Invariants every parser upholds (and property tests check): `consumed` and `len` are at least 1
/// and never exceed the input length; `needed` is the number of *additional* bytes wanted and is
/// at least 1.
#[derive(Debug)]
pub enum Parse<M> {
    /// A whole PDU was framed and decoded; it occupied the first `consumed` bytes.
    Message { message: M, consumed: usize },
    /// The front of the input is a plausible but incomplete PDU; at least `needed` more bytes are
    /// required before parsing can go on.
    Incomplete { needed: usize },
    /// The first `len` bytes cannot be framed; drop them and report `anomaly`.
    Skip { len: usize, anomaly: &'static AnomalyKind },
}

/// The verdict of a protocol probe on the first bytes of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The bytes look like this protocol.
    Match,
    /// The bytes are not this protocol.
    NoMatch,
    /// Too few bytes to decide.
    NeedMore,
}
