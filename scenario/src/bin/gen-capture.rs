//! gen-capture: writes a synthetic Modbus/TCP plant capture (pcap) for tests and benchmarks.
//!
//! `gen-capture --packets 2000000 --masters 50 --seed 1 -o bench-data/modbus-2m.pcap`

use anyhow::{Context, Result};
use clap::Parser;
use jobwatch_scenario::{Limit, PcapSink, Plant, PlantConfig};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Writes a capture of masters polling PLCs over Modbus/TCP, deterministic for a seed.
#[derive(Debug, Parser)]
#[command(name = "gen-capture", version, about)]
struct Args {
    /// Stop after about this many packets (the connections are then closed).
    #[arg(long, default_value_t = 100_000)]
    packets: u64,
    /// Stop after this much capture time instead, in seconds (whichever comes first).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Masters (HMIs, SCADA servers), each polling a few PLCs.
    #[arg(long, default_value_t = 4)]
    masters: usize,
    /// PLCs in the plant (default: twice the masters).
    #[arg(long)]
    plcs: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Capture time of the first packet, in seconds since the Unix epoch.
    #[arg(long, value_name = "EPOCH_SECONDS")]
    start: Option<u64>,
    /// Chance that a request or response is split across two segments.
    #[arg(long, default_value_t = 0.01)]
    split: f64,
    /// Chance that a poll pipelines two requests in one segment.
    #[arg(long, default_value_t = 0.01)]
    coalesce: f64,
    /// Chance that a request is retransmitted (tshark flags these).
    #[arg(long, default_value_t = 0.0)]
    retransmit: f64,
    /// Chance that a PLC answers with an exception.
    #[arg(long, default_value_t = 0.001)]
    exception: f64,
    /// Output pcap file.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

fn probability(name: &str, p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        anyhow::bail!("--{name} must be between 0 and 1, not {p}")
    }
}

fn run(args: &Args) -> Result<()> {
    let mut config = PlantConfig::with_masters(args.masters, args.seed);
    if let Some(plcs) = args.plcs {
        config.plcs = plcs;
    }
    if let Some(start) = args.start {
        config.start = Duration::from_secs(start);
    }
    config.split_probability = probability("split", args.split)?;
    config.coalesce_probability = probability("coalesce", args.coalesce)?;
    config.retransmit_probability = probability("retransmit", args.retransmit)?;
    config.exception_probability = probability("exception", args.exception)?;
    let duration = match args.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("--duration must be a positive number of seconds, not {s}"),
        None => None,
    };
    let plant = Plant::new(config);
    let file = File::create(&args.output).with_context(|| format!("{}: cannot create", args.output.display()))?;
    let mut sink = PcapSink::new(BufWriter::with_capacity(1 << 20, file))?;
    let summary = plant.run(Limit { packets: args.packets, duration }, &mut sink)?;
    sink.into_inner().flush().with_context(|| format!("{}: cannot write", args.output.display()))?;
    let span = summary.last_ts.saturating_sub(summary.first_ts).as_secs_f64();
    eprintln!(
        "gen-capture: {}: {} packets over {:.1} s, {} connections, {} jobs; {} requests, {} responses \
         ({} exceptions), {} split and {} coalesced segments, {} retransmissions",
        args.output.display(),
        summary.packets,
        span,
        plant.connections().len(),
        plant.jobs().len(),
        summary.requests,
        summary.responses,
        summary.exceptions,
        summary.split_segments,
        summary.coalesced_segments,
        summary.retransmissions,
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-capture: {e:#}");
            ExitCode::from(2)
        }
    }
}
