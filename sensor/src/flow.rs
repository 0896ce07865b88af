//! Flows: conversations keyed by their unordered 5-tuple, oriented requester → responder.

use ahash::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

/// Transport protocol of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// One end of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// The direction-free key of a flow: the two endpoints in sorted order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub transport: Transport,
    pub lo: Endpoint,
    pub hi: Endpoint,
}

impl FlowKey {
    /// The key of a packet from `a` to `b`, and whether `a` is the key's `lo` end.
    pub fn of(transport: Transport, a: Endpoint, b: Endpoint) -> (FlowKey, bool) {
        if a <= b {
            (FlowKey { transport, lo: a, hi: b }, true)
        } else {
            (FlowKey { transport, lo: b, hi: a }, false)
        }
    }
}

/// The identity of a flow as events show it: requester is `client` (`src_*` in events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowInfo {
    pub flow_id: u64,
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
}

/// Fixed seeds so that flow ids are the same on every run over the same capture.
const FLOW_ID_SEEDS: (u64, u64, u64, u64) =
    (0x6a6f_6277_6174_6368, 0x5f66_6c6f_775f_6964, 0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321);

/// A deterministic flow id: a hash of the key and the flow's first capture time, kept within
/// 2^53 so that JSON consumers that read numbers as doubles keep it exact.
pub fn flow_id(key: &FlowKey, first_seen_us: u64) -> u64 {
    let state = RandomState::with_seeds(FLOW_ID_SEEDS.0, FLOW_ID_SEEDS.1, FLOW_ID_SEEDS.2, FLOW_ID_SEEDS.3);
    let mut h = state.build_hasher();
    key.hash(&mut h);
    first_seen_us.hash(&mut h);
    h.finish() & ((1u64 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port }
    }

    #[test]
    fn key_is_symmetric() {
        let (k1, a_lo) = FlowKey::of(Transport::Tcp, ep(1, 40000), ep(2, 502));
        let (k2, b_lo) = FlowKey::of(Transport::Tcp, ep(2, 502), ep(1, 40000));
        assert_eq!(k1, k2);
        assert_ne!(a_lo, b_lo);
    }

    #[test]
    fn flow_id_is_deterministic_and_json_safe() {
        let (k, _) = FlowKey::of(Transport::Tcp, ep(1, 40000), ep(2, 502));
        assert_eq!(flow_id(&k, 7), flow_id(&k, 7));
        assert_ne!(flow_id(&k, 7), flow_id(&k, 8));
        assert!(flow_id(&k, 7) < (1 << 53));
    }
}
