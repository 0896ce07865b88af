//! S7comm dissector throughput over ISO-on-TCP streams as the sensor parses them (TPKT, COTP,
//! S7comm): an HMI polling DB areas with read var (the bulk of real S7 captures) and the PLC's
//! answers, plus S7comm-plus V3 requests.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dissectors::s7comm::{Event, S7Stream};
use dissectors::Parse;
use std::time::Duration;

fn dt(tsdu: &[u8]) -> Vec<u8> {
    let mut out = vec![0x03, 0x00];
    out.extend_from_slice(&(tsdu.len() as u16 + 7).to_be_bytes());
    out.extend_from_slice(&[0x02, 0xF0, 0x80]);
    out.extend_from_slice(tsdu);
    out
}

/// Read var jobs of 4 S7ANY items (DB1..DB4, 16 bytes each) and their ack_data.
fn read_var_streams() -> (Vec<u8>, Vec<u8>) {
    let (mut jobs, mut answers) = (Vec::new(), Vec::new());
    for reference in 0..1000u16 {
        let mut job = vec![0x32, 0x01, 0x00, 0x00];
        job.extend_from_slice(&reference.to_be_bytes());
        job.extend_from_slice(&[0x00, 0x32, 0x00, 0x00, 0x04, 0x04]);
        for db in 1..=4u16 {
            job.extend_from_slice(&[0x12, 0x0A, 0x10, 0x02, 0x00, 0x10]);
            job.extend_from_slice(&db.to_be_bytes());
            job.extend_from_slice(&[0x84, 0x00, 0x00, 0x00]);
        }
        jobs.extend(dt(&job));
        let mut answer = vec![0x32, 0x03, 0x00, 0x00];
        answer.extend_from_slice(&reference.to_be_bytes());
        answer.extend_from_slice(&[0x00, 0x02, 0x00, 0x50, 0x00, 0x00, 0x04, 0x04]);
        for _ in 0..4 {
            answer.extend_from_slice(&[0xFF, 0x04, 0x00, 0x80]);
            answer.extend_from_slice(&[0x5A; 16]);
        }
        answers.extend(dt(&answer));
    }
    (jobs, answers)
}

/// S7comm-plus V3 SetVariable requests (s7comm_plus.pcap's layout).
fn plus_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for sequence in 0..1000u16 {
        let mut tsdu = vec![0x72, 0x03, 0x00, 0x00, 0x20];
        tsdu.extend_from_slice(&[0xAB; 32]);
        tsdu.extend_from_slice(&[0x31, 0x00, 0x00, 0x04, 0xF2, 0x00, 0x00]);
        tsdu.extend_from_slice(&sequence.to_be_bytes());
        tsdu.extend_from_slice(&[0x70, 0x00, 0x0E, 0x4D, 0x74]);
        tsdu.extend_from_slice(&[0x00; 24]);
        let len = (tsdu.len() - 4) as u16;
        tsdu[2..4].copy_from_slice(&len.to_be_bytes());
        tsdu.extend_from_slice(&[0x72, 0x03, 0x00, 0x00]);
        out.extend(dt(&tsdu));
    }
    out
}

/// Parses `input` to exhaustion, returning how many PDUs came out.
fn drain(input: &[u8]) -> usize {
    let mut stream = S7Stream::default();
    let (mut offset, mut pdus) = (0, 0);
    while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
        match stream.parse(rest) {
            Parse::Message { message, consumed } => {
                match message {
                    Event::S7 { message, .. } => {
                        black_box(message.items().iter().count() + message.data_items().iter().count());
                    }
                    Event::S7Plus { message, .. } => {
                        black_box(message.function);
                    }
                    _ => {}
                }
                pdus += 1;
                offset += consumed;
            }
            Parse::Skip { len, .. } => offset += len,
            Parse::Incomplete { .. } => break,
        }
    }
    pdus
}

fn bench(c: &mut Criterion) {
    let (jobs, answers) = read_var_streams();
    let plus = plus_stream();
    let mut group = c.benchmark_group("s7comm");
    group.throughput(Throughput::Bytes(jobs.len() as u64));
    group.bench_function("read_var_jobs", |b| b.iter(|| drain(black_box(&jobs))));
    group.throughput(Throughput::Bytes(answers.len() as u64));
    group.bench_function("read_var_ack_data", |b| b.iter(|| drain(black_box(&answers))));
    group.throughput(Throughput::Bytes(plus.len() as u64));
    group.bench_function("s7commplus_v3_requests", |b| b.iter(|| drain(black_box(&plus))));
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
