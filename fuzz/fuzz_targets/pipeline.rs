//! The whole pipeline fed raw capture-file bytes: libpcap reads them (pcap or pcapng, any link
//! type), then decoding, flows, reassembly, dispatch, the Modbus session and JSON serialisation
//! the job engine run exactly as `jobwatch -r` runs them. Nothing may panic, and every event must serialise.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sensor::capture;
use sensor::config::Config;
use sensor::event::EventFilter;
use sensor::output::JsonLinesWriter;
use sensor::jobs::engine::{EngineConfig, Mode};
use sensor::monitor::Monitor;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    // libpcap reads files; a RAM-backed temp file keeps that fast.
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let Ok(mut file) = tempfile::Builder::new().prefix("jobwatch-fuzz").tempfile_in(dir) else { return };
    if file.write_all(data).is_err() || file.flush().is_err() {
        return;
    }
    let config = Config { response_timeout_us: 1_000_000, stats_interval_us: 10_000_000, ..Config::default() };
    let engine = EngineConfig { learn_window_us: 5_000_000, ..EngineConfig::default() };
    let mut pipeline = Monitor::new(config, engine, Mode::Auto, std::sync::Arc::new(sensor::rules::RuleSet::defaults()));
    let mut writer = JsonLinesWriter::new(Box::new(std::io::sink()), EventFilter::default());
    let _ = capture::replay(&[file.path().to_path_buf()], &mut pipeline, &mut writer);
});
