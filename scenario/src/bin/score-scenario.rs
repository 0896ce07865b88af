//! score-scenario: scores jobwatch's alerts on a labelled scenario (the matching rule is in
//! `scenario/src/score.rs` and `scenario/README.md`).
//!
//! ```text
//! score-scenario --labels DIR/labels.json --test-events test.jsonl [--train-events train.jsonl] [--json]
//! score-scenario --aggregate DIR... [--json]
//! ```
//!
//! The first form prints one run's report: the per-family table, each label's outcome and the
//! false alerts. `--aggregate` reads `labels.json`, `test.jsonl` and (when present) `train.jsonl`
//! from each DIR and prints the family table summed over them. Exit status: 0 when the inputs
//! parse, 2 when they do not; with `--min` or `--max-fph`, 1 when a row of the table (a family
//! or the total) has recall or precision below `--min` or false alerts per hour above `--max-fph`.

use anyhow::Result;
use clap::Parser;
use jobwatch_scenario::score::{self, Report};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Scores jobwatch's alerts on a labelled scenario (gen-scenario) against its labels.json.
#[derive(Debug, Parser)]
#[command(name = "score-scenario", version, about)]
struct Args {
    /// The scenario's labels.json.
    #[arg(long, required_unless_present = "aggregate", requires = "test_events")]
    labels: Option<PathBuf>,
    /// jobwatch's JSON Lines events on test.pcap.
    #[arg(long, value_name = "JSONL", requires = "labels")]
    test_events: Option<PathBuf>,
    /// jobwatch's events on the clean train.pcap (every alert there is false).
    #[arg(long, value_name = "JSONL", requires = "labels")]
    train_events: Option<PathBuf>,
    /// Sum the family tables of several scenario directories, each holding labels.json,
    /// test.jsonl and optionally train.jsonl.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with = "labels")]
    aggregate: Vec<PathBuf>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// Exit 1 when a recall or precision is below this (e.g. 0.98).
    #[arg(long, value_name = "RATIO")]
    min: Option<f64>,
    /// Exit 1 when false alerts per clean hour exceed this (e.g. 0.1).
    #[arg(long, value_name = "PER_HOUR")]
    max_fph: Option<f64>,
}

fn score_one(labels: &Path, test: &Path, train: Option<&Path>) -> Result<Report> {
    let labels = score::load_labels(labels)?;
    let test = score::load_alerts(test, "test")?;
    let train = train.map(|t| score::load_alerts(t, "train")).transpose()?;
    Ok(score::score(&labels, &test, train.as_deref()))
}

fn report(args: &Args) -> Result<(Report, bool)> {
    if args.aggregate.is_empty() {
        let (Some(labels), Some(test)) = (&args.labels, &args.test_events) else {
            anyhow::bail!("--labels and --test-events are required (or --aggregate DIR...)");
        };
        return Ok((score_one(labels, test, args.train_events.as_deref())?, true));
    }
    let mut reports = Vec::new();
    for dir in &args.aggregate {
        let train = dir.join("train.jsonl");
        let train = train.exists().then_some(train);
        reports.push(score_one(&dir.join("labels.json"), &dir.join("test.jsonl"), train.as_deref())?);
    }
    Ok((Report::merge(&reports), false))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (report, detail) = match report(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("score-scenario: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("score-scenario: cannot write JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report.to_markdown(detail));
    }
    if args.min.is_none() && args.max_fph.is_none() {
        return ExitCode::SUCCESS;
    }
    let failures = report.failures(args.min.unwrap_or(0.0), args.max_fph.unwrap_or(f64::INFINITY));
    for f in &failures {
        eprintln!("score-scenario: FAIL {f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
