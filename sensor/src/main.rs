//! The `jobwatch` binary: parse the command line, run the pipeline, map failures to exit 2.

use clap::Parser;
use sensor::capture::{self, LiveOptions};
use sensor::cli::Cli;
use sensor::output::JsonLinesWriter;
use sensor::pipeline::Pipeline;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
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

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let mut writer = JsonLinesWriter::open(&cli.output, cli.events)
        .map_err(|e| anyhow::anyhow!("{}: cannot write events: {e}", cli.output.display()))?;
    let mut pipeline = Pipeline::new(cli.config());
    if let Some(interface) = &cli.interface {
        let stop = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
        signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
        let options = LiveOptions {
            interface: interface.clone(),
            filter: cli.filter.clone(),
            promiscuous: !cli.no_promisc,
            snaplen: cli.snaplen,
            buffer_size: cli.buffer_size,
        };
        capture::live(&options, &mut pipeline, &mut writer, &stop)?;
        return Ok(ExitCode::SUCCESS);
    }
    let problems = capture::replay(&cli.read, &mut pipeline, &mut writer)?;
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("jobwatch: {}", p.0);
        }
        Ok(ExitCode::from(2))
    }
}
