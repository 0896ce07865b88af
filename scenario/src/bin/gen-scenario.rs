//! gen-scenario: writes a labelled scenario (a clean train capture, a test capture with injected
//! anomalies, and their ground truth) for evaluating jobwatch's job engine and command rules.
//!
//! `gen-scenario --seed 7 --train 15m --test 15m --anomalies all -o /tmp/scenario`
//! writes `/tmp/scenario/{train.pcap,test.pcap,labels.json}`; the schema of `labels.json` is in
//! `scenario/README.md`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use jobwatch_scenario::{AnomalyKind, Scenario, ScenarioConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Writes DIR/train.pcap, DIR/test.pcap and DIR/labels.json, deterministic for a seed.
#[derive(Debug, Parser)]
#[command(name = "gen-scenario", version, about)]
struct Args {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length of the clean train capture (e.g. 900, 900s, 15m, 1h).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    train: Duration,
    /// Length of the test capture.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    test: Duration,
    /// Anomalies to inject in the test capture: all, none, or a comma-separated list of
    /// job_stopped, job_late, job_missed, job_period_changed, response_slow, failure_exception,
    /// failure_no_response, failure_dnp3_iin, failure_s7_error, new_job, new_talker,
    /// modbus_write, dnp3_direct_operate, dnp3_cold_restart, s7_plc_stop, s7_program_download,
    /// capture_gap.
    #[arg(long, default_value = "all")]
    anomalies: String,
    /// Masters per protocol.
    #[arg(long, default_value_t = 2)]
    masters: usize,
    /// PLCs (outstations) per protocol.
    #[arg(long, default_value_t = 3)]
    plcs: usize,
    /// Capture time of the train capture's start, in seconds since the Unix epoch.
    #[arg(long, value_name = "EPOCH_SECONDS")]
    start: Option<u64>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

/// Seconds, or a number with a unit: ms, s, m, h.
fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().with_context(|| format!("{text:?} is not a duration (try 900, 15m or 1h)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => bail!("unknown unit {other:?} in {text:?}: use ms, s, m or h"),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        bail!("{text:?} is not a positive duration");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn run(args: &Args) -> Result<()> {
    let mut config = ScenarioConfig {
        seed: args.seed,
        train: args.train,
        test: args.test,
        anomalies: AnomalyKind::parse_list(&args.anomalies)?,
        masters_per_protocol: args.masters,
        plcs_per_protocol: args.plcs,
        ..ScenarioConfig::default()
    };
    if let Some(start) = args.start {
        config.start = Duration::from_secs(start);
    }
    let scenario = Scenario::new(config)?;
    let labels = scenario.write_to_dir(&args.output)?;
    eprintln!(
        "gen-scenario: {}: train.pcap {} packets, test.pcap {} packets, {} jobs, {} anomalies labelled",
        args.output.display(),
        labels.train.packets,
        labels.test.packets,
        labels.jobs.len(),
        labels.anomalies.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-scenario: {e:#}");
            ExitCode::from(2)
        }
    }
}
