//! The `jobwatch` binary: parse the command line, run the sensor, map failures to exit 2.

use anyhow::Context;
use clap::Parser;
use sensor::capture::{self, LiveOptions};
use sensor::cli::{Cli, Command, LearnArgs, RulesCommand, SensorArgs};
use sensor::event::EventFilter;
use sensor::jobs::baseline::Baseline;
use sensor::jobs::engine::{EngineConfig, Mode};
use sensor::monitor::Monitor;
use sensor::output::JsonLinesWriter;
use sensor::reload::RulesReloader;
use sensor::rules::RuleSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Learn(args)) => learn(args),
        Some(Command::Rules(RulesCommand::Check { path })) => Ok(rules_check(path)),
        None => run(&cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                // `jobwatch ... | head`: the reader went away; not an error of ours.
                return ExitCode::SUCCESS;
            }
            eprintln!("jobwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn live_options(interface: &str, filter: &Option<String>, sensor: &SensorArgs) -> LiveOptions {
    LiveOptions {
        interface: interface.to_string(),
        filter: filter.clone(),
        promiscuous: !sensor.no_promisc,
        snaplen: sensor.snaplen,
        buffer_size: sensor.buffer_size,
    }
}

/// SIGINT/SIGTERM set the returned flag: the capture stops cleanly and flushes everything.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    Ok(stop)
}

/// Replay problems go to stderr and make the exit status 2; the events are all written.
fn problems_exit(problems: &[capture::InputProblem]) -> ExitCode {
    for p in problems {
        eprintln!("jobwatch: {}", p.0);
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `jobwatch rules check PATH`: every problem as `file:line:col: message`, exit status 2.
fn rules_check(path: &std::path::Path) -> ExitCode {
    match RuleSet::load(path) {
        Ok(rules) => {
            println!(
                "{}: ok ({} file(s), {} command rule(s), {} declared job(s), {} suppression(s))",
                path.display(),
                rules.files().len(),
                rules.commands().len(),
                rules.declared_jobs().len(),
                rules.suppressions().len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            ExitCode::from(2)
        }
    }
}

/// The rules in force: the user's file or folder over the shipped defaults, or the defaults.
fn load_rules(path: Option<&std::path::Path>) -> anyhow::Result<Arc<RuleSet>> {
    match path {
        None => Ok(Arc::new(RuleSet::defaults())),
        Some(path) => RuleSet::load_with_defaults(path).map(Arc::new).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\njobwatch: "))
        }),
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let rules = load_rules(cli.rules.as_deref())?;
    let mode = match &cli.baseline {
        Some(path) => Mode::Enforce(Box::new(Baseline::load(path).map_err(anyhow::Error::msg)?)),
        None => Mode::Auto,
    };
    let mut writer = JsonLinesWriter::open(&cli.output, cli.events)
        .map_err(|e| anyhow::anyhow!("{}: cannot write events: {e}", cli.output.display()))?;
    let engine = EngineConfig { job_events: cli.events.job, ..cli.sensor.engine_config(cli.learn_window) };
    let mut monitor = Monitor::new(cli.sensor.config(), engine, mode, Arc::clone(&rules));
    if cli.no_jobs {
        monitor = monitor.without_jobs();
    }
    if let Some(interface) = &cli.interface {
        let stop = stop_flag()?;
        let hangup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))?;
        let mut reloader = RulesReloader::new(cli.rules.clone(), hangup);
        capture::live(
            &live_options(interface, &cli.filter, &cli.sensor),
            &mut monitor,
            &mut writer,
            &stop,
            |monitor| reloader.poll(monitor),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let problems = capture::replay(&cli.read, &mut monitor, &mut writer)?;
    Ok(problems_exit(&problems))
}

/// `jobwatch learn`: runs the sensor in learning mode (no events written) and writes what it
/// learned as a YAML baseline.
fn learn(args: &LearnArgs) -> anyhow::Result<ExitCode> {
    let mut writer = JsonLinesWriter::new(
        Box::new(std::io::sink()),
        EventFilter { transaction: false, job: false, alert: false, stats: false },
    );
    let mut monitor = Monitor::new(
        args.sensor.config(),
        // Nothing is written while learning: no `job` event is built.
        EngineConfig { job_events: false, ..args.sensor.engine_config(Duration::ZERO) },
        Mode::Learn,
        Arc::new(RuleSet::defaults()),
    );
    let (captures, code) = if let Some(interface) = &args.interface {
        let stop = stop_flag()?;
        if let Some(d) = args.duration {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                std::thread::sleep(d);
                stop.store(true, Ordering::Relaxed);
            });
        }
        capture::live(&live_options(interface, &args.filter, &args.sensor), &mut monitor, &mut writer, &stop, |_| {})?;
        (vec![format!("live:{interface}")], ExitCode::SUCCESS)
    } else {
        let problems = capture::replay(&args.read, &mut monitor, &mut writer)?;
        let names = args.read.iter().map(|p: &PathBuf| p.display().to_string()).collect();
        (names, problems_exit(&problems))
    };
    let baseline = monitor.engine().baseline(captures);
    baseline.write(&args.output).with_context(|| format!("{}: cannot write the baseline", args.output.display()))?;
    eprintln!(
        "jobwatch: learned {} job(s), {} command(s) and {} talker(s) into {}",
        baseline.jobs.len(),
        baseline.commands.len(),
        baseline.talkers.len(),
        args.output.display()
    );
    Ok(code)
}
