//! End-to-end pipeline throughput (packets/s): decode → flows → reassembly → Modbus → sessions
//! → events, over a real capture and over a generated plant capture, each read into memory once
//! outside the timed loop. Events are drained and dropped, or serialised to `io::sink()` to
//! include the JSON output's cost.
//!
//! Quick run: `cargo bench -p jobwatch-sensor --bench pipeline`; CI smoke test:
//! `cargo bench -p jobwatch-sensor --bench pipeline -- --test`; longer measurement:
//! `... -- --measurement-time 20 --sample-size 100`. The whole-binary replay benchmark against
//! tshark is `scripts/bench-replay` (docs/BENCHMARKS.md).

// A benchmark whose setup fails is broken, and should stop loudly, as a test does.
#![allow(clippy::unwrap_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jobwatch_scenario::{Limit, Plant, PlantConfig};
use pcap_file::pcap::PcapReader;
use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::event::{Event, EventFilter};
use sensor::jobs::engine::{EngineConfig, Mode};
use sensor::monitor::Monitor;
use sensor::output::JsonLinesWriter;
use sensor::pipeline::Pipeline;
use sensor::time::Timestamp;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// A capture in memory: (capture time, frame).
type Packets = Vec<(Timestamp, Vec<u8>)>;

fn read_pcap(path: &Path) -> Packets {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::ETHERNET);
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let ts = Timestamp::from_micros(packet.timestamp.as_micros() as u64);
        out.push((ts, packet.data.into_owned()));
    }
    out
}

/// 50 000 packets of a 10-master plant (about 18 000 Modbus transactions), checked against the
/// generator's ground truth: every request becomes one transaction, and clean TCP raises nothing.
fn generated() -> Packets {
    let plant = Plant::new(PlantConfig { exception_probability: 0.0, ..PlantConfig::with_masters(10, 1) });
    let (packets, summary) = plant.packets(Limit { packets: 50_000, duration: None }).unwrap();
    let packets: Packets =
        packets.into_iter().map(|p| (Timestamp::from_micros(p.ts.as_micros() as u64), p.frame)).collect();
    let mut pipeline = Pipeline::new(Config::default());
    let (mut transactions, mut alerts) = (0u64, 0u64);
    let mut count = |pipeline: &mut Pipeline| {
        for event in pipeline.drain_events() {
            match event {
                Event::Transaction(_) => transactions += 1,
                Event::Alert(alert) => {
                    eprintln!("unexpected alert on the generated capture: {alert:?}");
                    alerts += 1;
                }
                Event::Stats(_) | Event::Job(_) => {}
            }
        }
    };
    for (ts, frame) in &packets {
        pipeline.process(*ts, LinkType::Ethernet, frame);
        count(&mut pipeline);
    }
    pipeline.finish();
    count(&mut pipeline);
    let stats = pipeline.stats();
    assert_eq!(transactions, summary.requests, "one transaction per generated request");
    assert_eq!(alerts, 0);
    assert_eq!((stats.tcp_gaps, stats.tcp_retransmissions, stats.tcp_out_of_order), (0, 0, 0));
    packets
}

/// Runs the capture through a fresh pipeline, dropping events; returns how many there were.
fn run_drop(packets: &Packets) -> usize {
    let mut pipeline = Pipeline::new(Config::default());
    let mut events = 0;
    for (ts, frame) in packets {
        pipeline.process(*ts, LinkType::Ethernet, frame);
        events += pipeline.drain_events().map(black_box::<Event>).count();
    }
    pipeline.finish();
    events + pipeline.drain_events().count()
}

/// The same through the job engine as well (the whole sensor, learning then enforcing).
fn run_drop_with_jobs(packets: &Packets) -> usize {
    let engine = EngineConfig { learn_window_us: 2_000_000, ..EngineConfig::default() };
    let mut monitor =
        Monitor::new(Config::default(), engine, Mode::Auto, std::sync::Arc::new(sensor::rules::RuleSet::defaults()));
    let mut events = 0;
    for (ts, frame) in packets {
        monitor.process(*ts, LinkType::Ethernet, frame);
        events += monitor.drain_events().map(black_box::<Event>).count();
    }
    monitor.finish();
    events + monitor.drain_events().count()
}

/// The same, serialising every event as JSON Lines to `io::sink()`.
fn run_json(packets: &Packets) -> usize {
    let mut pipeline = Pipeline::new(Config::default());
    let filter = EventFilter::parse("transaction,job,alert,stats").unwrap();
    let mut writer = JsonLinesWriter::new(Box::new(std::io::sink()), filter);
    for (ts, frame) in packets {
        pipeline.process(*ts, LinkType::Ethernet, frame);
        for event in pipeline.drain_events() {
            writer.write(&event).unwrap();
        }
    }
    pipeline.finish();
    for event in pipeline.drain_events() {
        writer.write(&event).unwrap();
    }
    writer.flush().unwrap();
    writer.written().values().sum::<u64>() as usize
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let captures =
        [("plant1", read_pcap(&root.join("pcaps/modbus/ModbusTCP_Plant1.pcap"))), ("generated", generated())];
    let mut group = c.benchmark_group("pipeline");
    for (name, packets) in &captures {
        // The capture must exercise the Modbus path, or the number means little.
        assert!(run_drop(packets) > 1000, "{name}: too few events");
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_function(format!("{name}/drop_events"), |b| b.iter(|| run_drop(packets)));
        group.bench_function(format!("{name}/with_jobs"), |b| b.iter(|| run_drop_with_jobs(packets)));
        group.bench_function(format!("{name}/json_to_sink"), |b| b.iter(|| run_json(packets)));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
