//! Tunables of the sensor, with defaults documented in the README. All durations are capture time.

/// Resource bounds and timeouts for one pipeline.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a request waits for its response before it is `no_response` (µs).
    pub response_timeout_us: u64,
    /// A TCP flow without packets for this long is closed (µs).
    pub tcp_idle_timeout_us: u64,
    /// A UDP flow without packets for this long is closed (µs).
    pub udp_idle_timeout_us: u64,
    /// Most flows tracked at once; new flows beyond it are not tracked (and counted).
    pub max_flows: usize,
    /// Most out-of-order bytes buffered per TCP direction before the hole is declared a gap.
    pub max_ooo_bytes_per_direction: usize,
    /// Most out-of-order bytes buffered over all flows.
    pub max_ooo_bytes_total: usize,
    /// Most requests awaiting a response per connection.
    pub max_outstanding_per_flow: usize,
    /// Most values (registers, coils, points) copied into one transaction event.
    pub max_values_per_transaction: usize,
    /// Interval between periodic `stats` events (µs); 0 disables them (the final one remains).
    pub stats_interval_us: u64,
    /// Verify TCP checksums and drop bad segments (off by default: offload makes them wrong).
    pub verify_checksums: bool,
    /// Most object headers decoded in one DNP3 message before `dnp3.too_many_objects`.
    pub max_objects_per_message: usize,
    /// Most points in one DNP3 message before `dnp3.too_many_points`.
    pub max_points_per_message: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            response_timeout_us: 5_000_000,
            tcp_idle_timeout_us: 300_000_000,
            udp_idle_timeout_us: 120_000_000,
            max_flows: 65_536,
            max_ooo_bytes_per_direction: 64 * 1024,
            max_ooo_bytes_total: 16 * 1024 * 1024,
            max_outstanding_per_flow: 256,
            max_values_per_transaction: 64,
            stats_interval_us: 60_000_000,
            verify_checksums: false,
            max_objects_per_message: 2048,
            max_points_per_message: 16384,
        }
    }
}
