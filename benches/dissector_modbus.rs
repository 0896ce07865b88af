//! Modbus/TCP dissector throughput: back-to-back FC 3 polling traffic (the bulk of real Modbus
//! captures) and a mixed set of function codes, parsed to exhaustion as the sensor does.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dissectors::modbus;
use dissectors::{Direction, Parse};
use std::time::Duration;

fn adu(transaction_id: u16, pdu: &[u8]) -> Vec<u8> {
    let mut out = transaction_id.to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    out.push(1);
    out.extend_from_slice(pdu);
    out
}

/// A polling master reading 10 holding registers from a few blocks, and the PLC's answers.
fn fc3_streams() -> (Vec<u8>, Vec<u8>) {
    let (mut requests, mut responses) = (Vec::new(), Vec::new());
    for tid in 0..1000u16 {
        let address = (tid % 4) * 100;
        let mut request = vec![0x03];
        request.extend_from_slice(&address.to_be_bytes());
        request.extend_from_slice(&10u16.to_be_bytes());
        requests.extend(adu(tid, &request));
        let mut response = vec![0x03, 20];
        for i in 0..10u16 {
            response.extend_from_slice(&(tid.wrapping_mul(7).wrapping_add(i)).to_be_bytes());
        }
        responses.extend(adu(tid, &response));
    }
    (requests, responses)
}

/// Requests of many function codes, as an engineering session mixes them.
fn mixed_requests() -> Vec<u8> {
    let pdus: [&[u8]; 12] = [
        &[0x01, 0x00, 0x13, 0x00, 0x13],
        &[0x04, 0x00, 0x08, 0x00, 0x01],
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
        &[0x06, 0x00, 0x01, 0x00, 0x03],
        &[0x08, 0x00, 0x00, 0xA5, 0x37],
        &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
        &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
        &[0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02],
        &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25],
        &[0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x01, 0x02, 0x00, 0xFF],
        &[0x2B, 0x0E, 0x01, 0x00],
        &[0x5A, 0x00, 0x02],
    ];
    let mut out = Vec::new();
    for tid in 0..1200u16 {
        out.extend(adu(tid, pdus[usize::from(tid) % pdus.len()]));
    }
    out
}

/// Parses `input` to exhaustion, returning how many messages came out.
fn drain(input: &[u8], direction: Direction) -> usize {
    let (mut offset, mut messages) = (0, 0);
    while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
        match modbus::parse(rest, direction) {
            Parse::Message { message, consumed } => {
                black_box(message.address());
                messages += 1;
                offset += consumed;
            }
            Parse::Skip { len, .. } => offset += len,
            Parse::Incomplete { .. } => break,
        }
    }
    messages
}

fn bench(c: &mut Criterion) {
    let (requests, responses) = fc3_streams();
    let mixed = mixed_requests();
    let mut group = c.benchmark_group("modbus");
    group.throughput(Throughput::Bytes(requests.len() as u64));
    group.bench_function("fc3_requests", |b| b.iter(|| drain(black_box(&requests), Direction::ToServer)));
    group.throughput(Throughput::Bytes(responses.len() as u64));
    group.bench_function("fc3_responses", |b| b.iter(|| drain(black_box(&responses), Direction::ToClient)));
    group.throughput(Throughput::Bytes(mixed.len() as u64));
    group.bench_function("mixed_requests", |b| b.iter(|| drain(black_box(&mixed), Direction::ToServer)));
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
