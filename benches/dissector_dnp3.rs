//! DNP3 dissector throughput: class polls and their multi-frame responses (the bulk of real DNP3
//! captures, from pcaps read_and_response.pcap), and select/operate traffic, parsed to exhaustion
//! through the link, transport and application layers as the sensor does.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dissectors::dnp3::{application, link, TransportReassembler};
use dissectors::Parse;
use std::time::Duration;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
}

/// Class 0123 read (read_and_response.pcap).
const READ: &str = "056414c40a0001008fedc0c0013c02063c03063c04063c01068a51";
/// Its response: 70 points in seven groups over two link frames.
const RESPONSE: &str = "0564ff4401000a005aeb53c081000001020000090202020202022d3a0202020203020000090202020202020270da\
02020214010000090200000000020000e30b000002000000000200000000020000004dba0002000000000200000000\
02000000007eae02000000000200000000150100000902d3420000000002000000000200000000020069ce00000002\
000000000200000000020000dd5e000002000000000200000000020000004dba001e0100000902000000000200000000\
cd6302000000000200000000020000000002f0030000000002000000000200000000020069ce00000002000000000a02\
00000902020217100202020202020228010000090200000058e400020000000002000000000200000000\
7eae020000000002000000004e7205641a4401000a00af5d9402000000000200000000020000000066420200000000f3b9";
/// Select and operate of a CROB (select_operate_and_responses.pcap).
const SELECT_OPERATE: &str =
    "05641ac40a0001008a1cc0c0030c012801000000030164000000fd6b6400000000005b05641ac40a0001008a1cc1c1\
040c012801000000030164000000b9f06400000000005b";

fn repeat(s: &str, n: usize) -> Vec<u8> {
    hex(&s.replace(char::is_whitespace, "")).repeat(n)
}

/// Parses `input` to exhaustion through all layers, returning how many points came out.
fn drain(input: &[u8]) -> usize {
    let mut reassembler = TransportReassembler::new();
    let (mut offset, mut points) = (0, 0);
    while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
        match link::parse(rest) {
            Parse::Message { message, consumed } => {
                offset += consumed;
                if let Some(fragment) = reassembler.push(message.user_data()).fragment {
                    if let Ok(app) = application::parse(fragment) {
                        for object in app.objects() {
                            for point in object.points() {
                                black_box(point.value);
                                points += 1;
                            }
                        }
                    }
                }
            }
            Parse::Skip { len, .. } => offset += len,
            Parse::Incomplete { .. } => break,
        }
    }
    points
}

fn bench(c: &mut Criterion) {
    let reads = repeat(READ, 1000);
    let responses = repeat(RESPONSE, 300);
    let operates = repeat(SELECT_OPERATE, 500);
    let mut group = c.benchmark_group("dnp3");
    group.throughput(Throughput::Bytes(reads.len() as u64));
    group.bench_function("class_poll_requests", |b| b.iter(|| drain(black_box(&reads))));
    group.throughput(Throughput::Bytes(responses.len() as u64));
    group.bench_function("class_poll_responses", |b| b.iter(|| drain(black_box(&responses))));
    group.throughput(Throughput::Bytes(operates.len() as u64));
    group.bench_function("select_operate", |b| b.iter(|| drain(black_box(&operates))));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
