//! Sensor health counters, written as `stats` events periodically and at the end.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Counters by a static name (protocol, event type), cheap to bump on the hot path: a short
/// list searched by pointer first (the names are `&'static str` constants), written as a JSON
/// object with sorted keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(Vec<(&'static str, u64)>);

impl Counters {
    pub fn bump(&mut self, key: &'static str) {
        self.add(key, 1);
    }

    pub fn add(&mut self, key: &'static str, n: u64) {
        let found = self.0.iter().position(|(k, _)| std::ptr::eq(*k, key) || *k == key);
        match found.and_then(|i| self.0.get_mut(i)) {
            Some((_, v)) => *v += n,
            None => self.0.push((key, n)),
        }
    }

    /// The counts, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().map(|(_, v)| *v)
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v)
    }
}

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let mut map = serializer.serialize_map(Some(sorted.len()))?;
        for (k, v) in sorted {
            map.serialize_entry(k, &v)?;
        }
        map.end()
    }
}

/// Counters of one pipeline. Cheap to bump on the hot path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatsSnapshot {
    /// Packets read from the capture.
    pub packets: u64,
    /// Bytes captured (as stored, after snaplen).
    pub bytes: u64,
    /// Packets the kernel dropped (live capture: pcap `ps_drop`).
    pub capture_drops: u64,
    /// Packets the interface or driver dropped (live capture: pcap `ps_ifdrop`).
    pub interface_drops: u64,
    /// Frames that were not IP, or IP but neither TCP nor UDP.
    pub non_ip: u64,
    pub other_transport: u64,
    /// IP fragments (not reassembled).
    pub ip_fragments: u64,
    /// Frames whose headers were cut short or invalid.
    pub malformed: u64,
    /// Segments dropped for a bad checksum (`--verify-checksums` only).
    pub bad_checksums: u64,
    /// Flows created in all, and open now.
    pub flows: u64,
    pub flows_active: u64,
    /// New flows not tracked because `max_flows` was reached.
    pub flows_untracked: u64,
    /// Flows ended by FIN/RST, by idle timeout.
    pub flows_closed: u64,
    pub flows_timed_out: u64,
    /// TCP streams picked up without a handshake.
    pub tcp_midstream: u64,
    pub tcp_retransmissions: u64,
    pub tcp_out_of_order: u64,
    pub tcp_overlap_mismatches: u64,
    /// Holes in TCP streams, and the bytes they missed.
    pub tcp_gaps: u64,
    pub tcp_gap_bytes: u64,
    /// Times a reassembly buffer bound forced a gap.
    pub tcp_buffer_limit: u64,
    /// Out-of-order bytes held now.
    pub tcp_buffered_bytes: u64,
    /// Application PDUs parsed, per protocol.
    pub pdus: Counters,
    /// Transactions logged, per protocol.
    pub transactions: Counters,
    /// Protocol anomalies found (including those not alerted because of rate limits).
    pub anomalies: u64,
    /// Flows on a protocol's port whose bytes were not that protocol.
    pub unrecognised_flows: u64,
    /// Events written, per type.
    pub events: Counters,
}
