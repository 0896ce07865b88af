//! TCP reassembly throughput: one `TcpDirection` fed a stream of segments in order, and the same
//! segments with every two swapped (each pair buffered once, then drained).
//!
//! Quick run (what CI's `cargo bench -- --test` checks, and the defaults below keep short):
//! `cargo bench -p jobwatch-sensor --bench reassembly`; a longer, steadier measurement:
//! `cargo bench -p jobwatch-sensor --bench reassembly -- --measurement-time 20 --sample-size 100`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sensor::reassembly::{Budget, Delivery, TcpDirection};
use std::time::Duration;

/// Initial sequence number, close to the wrap so the bench crosses it.
const ISN: u32 = u32::MAX - 10_000;
/// Bytes of stream per iteration (a few hundred KiB keeps an iteration in the microseconds).
const STREAM_BYTES: usize = 256 * 1024;

/// Segments of `size` bytes covering `STREAM_BYTES`, in order: (sequence number, payload).
fn segments(size: usize) -> Vec<(u32, Vec<u8>)> {
    let count = STREAM_BYTES / size;
    (0..count)
        .map(|i| {
            let seq = ISN.wrapping_add(1).wrapping_add((i * size) as u32);
            (seq, (0..size).map(|b| (i + b) as u8).collect())
        })
        .collect()
}

/// The same segments with every two swapped: 2, 1, 4, 3, ...
fn swapped(mut segs: Vec<(u32, Vec<u8>)>) -> Vec<(u32, Vec<u8>)> {
    for pair in segs.chunks_mut(2) {
        pair.reverse();
    }
    segs
}

/// Feeds one direction from its SYN; returns the bytes delivered.
fn feed(segs: &[(u32, Vec<u8>)]) -> u64 {
    let mut budget = Budget::new(16 * 1024 * 1024);
    let mut dir = TcpDirection::default();
    dir.on_syn(ISN, &mut budget);
    let mut delivered = 0u64;
    let mut sink = |d: Delivery<'_>| {
        if let Delivery::Data(bytes) | Delivery::Buffered(bytes, _) = d {
            delivered += bytes.len() as u64;
        }
    };
    for (seq, payload) in segs {
        black_box(dir.on_segment(0, *seq, payload, 0, 64 * 1024, &mut budget, &mut sink));
    }
    dir.flush(&mut budget, &mut sink);
    dir.release(&mut budget);
    delivered
}

fn bench(c: &mut Criterion) {
    // Modbus-sized segments (a 12-byte FC 3 request) and full-sized ones, counted in bytes and in
    // segments.
    for (name, throughput_of) in [("bytes", true), ("segments", false)] {
        let mut group = c.benchmark_group(format!("reassembly/{name}"));
        for size in [12usize, 1460] {
            let in_order = segments(size);
            let out_of_order = swapped(in_order.clone());
            let total = (in_order.len() * size) as u64;
            assert_eq!(feed(&in_order), total);
            assert_eq!(feed(&out_of_order), total);
            group.throughput(if throughput_of {
                Throughput::Bytes(total)
            } else {
                Throughput::Elements(in_order.len() as u64)
            });
            group.bench_with_input(BenchmarkId::new("in_order", size), &in_order, |b, s| b.iter(|| feed(s)));
            group.bench_with_input(BenchmarkId::new("out_of_order_pairs", size), &out_of_order, |b, s| {
                b.iter(|| feed(s))
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
