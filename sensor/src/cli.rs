//! The command line (INTERFACE.md), parsed with clap.

use crate::config::Config;
use crate::event::EventFilter;
use crate::jobs::engine::EngineConfig;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// jobwatch: a passive monitor of the jobs industrial control systems run over the network.
#[derive(Debug, Parser)]
#[command(name = "jobwatch", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["read", "interface"])))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Replay a capture (pcap or pcapng); repeat to read several files in order as one timeline.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,

    /// Capture live on an interface (a mirror/SPAN port). jobwatch never transmits.
    #[arg(short = 'i', long = "interface", value_name = "IFACE", conflicts_with = "read")]
    pub interface: Option<String>,

    /// BPF capture filter (live capture).
    #[arg(short = 'f', long = "filter", value_name = "BPF", requires = "interface")]
    pub filter: Option<String>,

    /// Where to write events as JSON Lines; `-` is stdout.
    #[arg(short = 'o', long = "output", value_name = "PATH", default_value = "-")]
    pub output: PathBuf,

    /// Event types to write, comma-separated: transaction,job,alert,stats.
    #[arg(long = "events", value_name = "LIST", default_value = "transaction,job,alert,stats", value_parser = EventFilter::parse)]
    pub events: EventFilter,

    /// A learned baseline (`jobwatch learn`) to enforce from the first packet. Without it,
    /// jobwatch learns for --learn-window of capture time, then enforces what it learned.
    #[arg(long = "baseline", value_name = "BASELINE.yaml")]
    pub baseline: Option<PathBuf>,

    /// Learning window without --baseline, in capture time from the first packet.
    #[arg(long = "learn-window", value_name = "DURATION", default_value = "10m", value_parser = parse_duration, conflicts_with = "baseline")]
    pub learn_window: Duration,

    /// A YAML rules file or a folder of them (with the shipped defaults); without it the
    /// shipped defaults alone apply. Checked at start like `jobwatch rules check`.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Option<PathBuf>,

    /// Transactions only: do not run the job engine (no `job` events, no job alerts).
    #[arg(long = "no-jobs", conflicts_with = "baseline")]
    pub no_jobs: bool,

    #[command(flatten)]
    pub sensor: SensorArgs,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Learn the jobs, talkers and commands of a capture and write them as a YAML baseline.
    Learn(Box<LearnArgs>),
    /// Rules files: `jobwatch rules check PATH`.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// `jobwatch rules ...`
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file or folder: exit 0, or 2 with one `file:line:col: message` per problem.
    Check {
        /// A YAML rules file or a folder of them.
        path: PathBuf,
    },
}

/// `jobwatch learn (-r FILE ... | -i IFACE --for DURATION) -o BASELINE.yaml`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("learn_source").required(true).args(["read", "interface"])))]
pub struct LearnArgs {
    /// Captures to learn from, in order, as one timeline.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,

    /// Learn live on an interface for --for.
    #[arg(short = 'i', long = "interface", value_name = "IFACE", conflicts_with = "read", requires = "duration")]
    pub interface: Option<String>,

    /// BPF capture filter (live capture).
    #[arg(short = 'f', long = "filter", value_name = "BPF", requires = "interface")]
    pub filter: Option<String>,

    /// How long to learn live (wall-clock time).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// The baseline file to write.
    #[arg(short = 'o', long = "output", value_name = "BASELINE.yaml")]
    pub output: PathBuf,

    #[command(flatten)]
    pub sensor: SensorArgs,
}

/// Options of the packet pipeline, shared by every way of running it.
#[derive(Debug, clap::Args)]
pub struct SensorArgs {
    /// Do not put the interface in promiscuous mode.
    #[arg(long = "no-promisc")]
    pub no_promisc: bool,

    /// Bytes captured per packet (live capture).
    #[arg(long = "snaplen", value_name = "BYTES", default_value_t = 65535)]
    pub snaplen: i32,

    /// Kernel capture buffer size in bytes (live capture).
    #[arg(long = "buffer-size", value_name = "BYTES", default_value_t = 32 * 1024 * 1024)]
    pub buffer_size: i32,

    /// How long a request waits for its response before it is `no_response` (e.g. 5s, 500ms).
    #[arg(long = "response-timeout", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub response_timeout: Duration,

    /// A TCP connection without packets for this long is closed.
    #[arg(long = "tcp-idle-timeout", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub tcp_idle_timeout: Duration,

    /// A UDP conversation without packets for this long is closed.
    #[arg(long = "udp-idle-timeout", value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub udp_idle_timeout: Duration,

    /// Interval between `stats` events, in capture time (0 = only the final one).
    #[arg(long = "stats-interval", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub stats_interval: Duration,

    /// Most conversations tracked at once.
    #[arg(long = "max-flows", value_name = "N", default_value_t = 65_536)]
    pub max_flows: usize,

    /// Most out-of-order bytes buffered per TCP direction.
    #[arg(long = "max-reassembly-per-flow", value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_reassembly_per_flow: usize,

    /// Most out-of-order bytes buffered over all flows.
    #[arg(long = "max-reassembly", value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_reassembly: usize,

    /// Most values (registers, coils) copied into one transaction event.
    #[arg(long = "max-values", value_name = "N", default_value_t = 64)]
    pub max_values: usize,

    /// Verify TCP checksums and drop bad segments (off by default: offload makes them wrong).
    #[arg(long = "verify-checksums")]
    pub verify_checksums: bool,

    /// Most object headers in one DNP3 message before a `dnp3.too_many_objects` anomaly.
    #[arg(long = "max-objects", value_name = "N", default_value_t = 2048)]
    pub max_objects: usize,

    /// Most points in one DNP3 message before a `dnp3.too_many_points` anomaly.
    #[arg(long = "max-points", value_name = "N", default_value_t = 16384)]
    pub max_points: u32,

    /// A job is stopped when this many polls in a row are missed and the next is not on time
    /// either (no request for POLLS + 1 periods plus the slot window).
    #[arg(long = "stop-after", value_name = "POLLS", default_value_t = 4)]
    pub stop_after: u64,

    /// Most jobs tracked at once.
    #[arg(long = "max-jobs", value_name = "N", default_value_t = 100_000)]
    pub max_jobs: usize,
}

/// `5s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("`{text}` is not a duration"));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration: {e}"))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SensorArgs {
    /// The job engine's configuration these options ask for.
    pub fn engine_config(&self, learn_window: Duration) -> EngineConfig {
        EngineConfig {
            learn_window_us: micros(learn_window),
            stop_after_missed: self.stop_after.max(1),
            response_timeout_us: micros(self.response_timeout),
            max_jobs: self.max_jobs,
            ..EngineConfig::default()
        }
    }

    /// The pipeline configuration these options ask for.
    pub fn config(&self) -> Config {
        Config {
            response_timeout_us: micros(self.response_timeout),
            tcp_idle_timeout_us: micros(self.tcp_idle_timeout),
            udp_idle_timeout_us: micros(self.udp_idle_timeout),
            max_flows: self.max_flows,
            max_ooo_bytes_per_direction: self.max_reassembly_per_flow,
            max_ooo_bytes_total: self.max_reassembly,
            max_outstanding_per_flow: Config::default().max_outstanding_per_flow,
            max_values_per_transaction: self.max_values,
            stats_interval_us: micros(self.stats_interval),
            verify_checksums: self.verify_checksums,
            max_objects_per_message: self.max_objects,
            max_points_per_message: self.max_points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn needs_a_source() {
        assert!(Cli::try_parse_from(["jobwatch"]).is_err());
        assert!(Cli::try_parse_from(["jobwatch", "-r", "a.pcap", "-r", "b.pcap"]).is_ok());
        assert!(Cli::try_parse_from(["jobwatch", "-r", "a.pcap", "-i", "lo"]).is_err());
        assert!(Cli::try_parse_from(["jobwatch", "-r", "a.pcap", "--events", "alert,bogus"]).is_err());
    }

    #[test]
    fn learn_subcommand() {
        let cli = Cli::try_parse_from(["jobwatch", "learn", "-r", "a.pcap", "-o", "b.yaml"]);
        assert!(matches!(cli, Ok(Cli { command: Some(Command::Learn(_)), .. })));
        assert!(Cli::try_parse_from(["jobwatch", "learn", "-r", "a.pcap"]).is_err(), "needs -o");
        assert!(Cli::try_parse_from(["jobwatch", "learn", "-i", "eth0", "-o", "b.yaml"]).is_err(), "needs --for");
        assert!(Cli::try_parse_from(["jobwatch", "learn", "-i", "eth0", "--for", "1m", "-o", "b.yaml"]).is_ok());
        assert!(
            Cli::try_parse_from(["jobwatch", "-r", "a.pcap", "--baseline", "b.yaml", "--learn-window", "1m"]).is_err()
        );
    }
}
