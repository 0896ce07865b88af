//! Stream tests at the TCP level: the same Modbus captures, re-segmented in hostile ways (one byte
//! per segment, pieces out of order, every piece retransmitted, PDUs split across segments), must
//! give exactly the same transactions; retransmissions with different bytes and lost segments must
//! be reported, and the rest of the stream must still parse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::event::Event;
use sensor::pipeline::Pipeline;
use sensor::time::Timestamp;
use sensor::transaction::ProtocolDetail;
use std::fs::File;
use std::path::Path;

#[derive(Clone, Debug)]
struct Frame {
    ts: u64,
    data: Vec<u8>,
}

fn read_frames(path: &str) -> Vec<Frame> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let mut reader = PcapReader::new(File::open(full).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        frames.push(Frame { ts: pkt.timestamp.as_micros() as u64, data: pkt.data.into_owned() });
    }
    frames
}

/// A TCP data segment, decomposed so that it can be rebuilt in pieces.
struct Segment {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    window: u16,
    payload: Vec<u8>,
}

fn as_segment(frame: &Frame) -> Option<Segment> {
    let p = SlicedPacket::from_ethernet(&frame.data).ok()?;
    let eth = match p.link? {
        etherparse::LinkSlice::Ethernet2(e) => e,
        _ => return None,
    };
    let ip = match p.net? {
        NetSlice::Ipv4(ip) => ip,
        _ => return None,
    };
    let tcp = match p.transport? {
        TransportSlice::Tcp(t) => t,
        _ => return None,
    };
    if tcp.payload().is_empty() || tcp.syn() || tcp.fin() || tcp.rst() {
        return None;
    }
    Some(Segment {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        src: ip.header().source(),
        dst: ip.header().destination(),
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        window: tcp.window_size(),
        payload: tcp.payload().to_vec(),
    })
}

fn build(seg: &Segment, offset: usize, bytes: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(seg.src_mac, seg.dst_mac)
        .ipv4(seg.src, seg.dst, 64)
        .tcp(seg.sport, seg.dport, seg.seq.wrapping_add(offset as u32), seg.window)
        .ack(seg.ack)
        .psh();
    let mut out = Vec::with_capacity(builder.size(bytes.len()));
    builder.write(&mut out, bytes).unwrap();
    out
}

/// Rewrites every data segment into the frames `plan` makes of it; `plan` also learns whether the
/// segment is the first data of its direction (a capture that starts mid-stream takes its first
/// segment as the stream's start, so reordering that one would be loss, not reordering).
fn resegment(frames: &[Frame], plan: impl Fn(&Segment, bool) -> Vec<(usize, usize)>) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in frames {
        match as_segment(f) {
            Some(seg) => {
                let first = seen.insert((seg.src, seg.sport, seg.dst, seg.dport));
                for (k, (start, end)) in plan(&seg, first).into_iter().enumerate() {
                    out.push(Frame { ts: f.ts + k as u64, data: build(&seg, start, &seg.payload[start..end]) });
                }
            }
            None => out.push(f.clone()),
        }
    }
    out
}

fn run(frames: &[Frame]) -> Vec<Event> {
    let mut pipeline = Pipeline::new(Config { stats_interval_us: 0, ..Config::default() });
    let mut events = Vec::new();
    for f in frames {
        pipeline.process(Timestamp(f.ts), LinkType::Ethernet, &f.data);
        events.extend(pipeline.drain_events());
    }
    pipeline.finish();
    events.extend(pipeline.drain_events());
    events
}

/// What must not change whatever the segmentation: the decoded transactions.
fn transactions(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(t) => {
                let ProtocolDetail::Modbus(m) = &t.detail else { return None };
                Some(format!(
                    "{}:{}>{}:{} fc={} {} {} tid={} unit={} addr={:?} qty={:?} regs={:?} coils={:?} exc={:?}",
                    t.flow.client.ip,
                    t.flow.client.port,
                    t.flow.server.ip,
                    t.flow.server.port,
                    t.function_code,
                    t.function,
                    t.status.as_str(),
                    m.transaction_id,
                    m.unit_id,
                    m.address,
                    m.quantity,
                    m.registers,
                    m.coils,
                    m.exception_code
                ))
            }
            _ => None,
        })
        .collect()
}

fn anomalies(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(a) => a.anomaly,
            _ => None,
        })
        .collect()
}

/// Compares transaction lists, reporting the first difference rather than both lists.
fn assert_same(got: &[String], expected: &[String], context: &str) {
    if got == expected {
        return;
    }
    let first = got.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(got.len().min(expected.len()));
    panic!(
        "{context}: {} transactions, expected {}; first difference at {first}:\n got      {:?}\n expected {:?}",
        got.len(),
        expected.len(),
        got.get(first),
        expected.get(first)
    );
}

const CAPTURES: &[&str] =
    &["pcaps/modbus/modbus_example.pcap", "pcaps/modbus/modicon_test.pcap", "pcaps/modbus/modbus_test_data_part2.pcap"];

#[test]
fn one_byte_segments_give_the_same_transactions() {
    for capture in CAPTURES {
        let frames = read_frames(capture);
        let expected = transactions(&run(&frames));
        assert!(expected.len() > 10, "{capture}: too few transactions to be a test");
        let split = resegment(&frames, |s, _| (0..s.payload.len()).map(|i| (i, i + 1)).collect());
        assert_same(&transactions(&run(&split)), &expected, capture);
    }
}

#[test]
fn out_of_order_pieces_are_reordered() {
    for capture in CAPTURES {
        let frames = read_frames(capture);
        let expected = transactions(&run(&frames));
        // Three pieces, sent last first.
        let reordered = resegment(&frames, |s, first| {
            let n = s.payload.len();
            if first {
                return vec![(0, n)];
            }
            let (a, b) = (n / 3, 2 * n / 3);
            let mut pieces = vec![(0, a), (a, b), (b, n)];
            pieces.retain(|(x, y)| x < y);
            pieces.reverse();
            pieces
        });
        let events = run(&reordered);
        assert_same(&transactions(&events), &expected, capture);
        assert!(!anomalies(&events).contains(&"tcp.gap"), "{capture}: reordering is not loss");
    }
}

#[test]
fn exact_retransmissions_are_dropped() {
    for capture in CAPTURES {
        let frames = read_frames(capture);
        let expected = transactions(&run(&frames));
        let doubled = resegment(&frames, |s, _| {
            let n = s.payload.len();
            vec![(0, n / 2), (0, n / 2), (n / 2, n), (n / 2, n)].into_iter().filter(|(x, y)| x < y).collect()
        });
        let events = run(&doubled);
        assert_same(&transactions(&events), &expected, capture);
        assert!(!anomalies(&events).contains(&"tcp.overlap_mismatch"), "{capture}");
    }
}

#[test]
fn retransmission_with_different_bytes_is_flagged() {
    let frames = read_frames("pcaps/modbus/modbus_example.pcap");
    let mut out = Vec::new();
    let mut tampered = false;
    for f in &frames {
        out.push(f.clone());
        if let (Some(seg), false) = (as_segment(f), tampered) {
            let mut evil = seg.payload.clone();
            let last = evil.len() - 1;
            evil[last] ^= 0xFF;
            out.push(Frame { ts: f.ts + 1, data: build(&seg, 0, &evil) });
            tampered = true;
        }
    }
    let events = run(&out);
    assert!(anomalies(&events).contains(&"tcp.overlap_mismatch"));
    // The original bytes won: the transactions are unchanged.
    assert_eq!(transactions(&events), transactions(&run(&frames)));
}

#[test]
fn a_lost_request_is_a_gap_and_the_stream_goes_on() {
    let frames = read_frames("pcaps/modbus/modbus_example.pcap");
    let all = transactions(&run(&frames));
    // Drop the third client→server data segment (a request), as a mirror port would.
    let mut dropped = 0;
    let mut kept = Vec::new();
    for f in &frames {
        if let Some(seg) = as_segment(f) {
            if seg.dport == 502 {
                dropped += 1;
                if dropped == 3 {
                    continue;
                }
            }
        }
        kept.push(f.clone());
    }
    let events = run(&kept);
    let got = transactions(&events);
    assert_eq!(got.len(), all.len() - 1, "exactly the lost request is missing");
    assert!(anomalies(&events).contains(&"tcp.gap"));
    assert!(got.iter().all(|t| all.contains(t)));
}

#[test]
fn pdus_split_across_segments_give_the_same_transactions() {
    for capture in CAPTURES {
        let frames = read_frames(capture);
        let expected = transactions(&run(&frames));
        let split = resegment(&frames, |s, _| {
            let n = s.payload.len();
            if n >= 2 {
                vec![(0, n - 1), (n - 1, n)]
            } else {
                vec![(0, n)]
            }
        });
        assert_same(&transactions(&run(&split)), &expected, capture);
    }
}

fn run_with(frames: &[Frame], config: Config) -> Vec<Event> {
    let mut pipeline = Pipeline::new(config);
    let mut events = Vec::new();
    for f in frames {
        pipeline.process(Timestamp(f.ts), LinkType::Ethernet, &f.data);
        events.extend(pipeline.drain_events());
    }
    pipeline.finish();
    events.extend(pipeline.drain_events());
    events
}

#[test]
fn non_modbus_bytes_on_port_502_are_not_parsed_as_modbus() {
    let events = run(&read_frames("pcaps/modbus/modbus-and-non-modbus-p502.pcap"));
    let mut alerted: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(a) if a.anomaly == Some("modbus.non_modbus_traffic") => {
                a.flow.as_ref().map(|f| f.client.ip.to_string())
            }
            _ => None,
        })
        .collect();
    alerted.sort();
    // DCE/RPC, NFS, TLS, HTTP, a scanner banner and an RDP cookie (tshark's view of the capture).
    assert_eq!(
        alerted,
        ["159.203.208.13", "198.74.56.135", "62.122.184.123", "66.175.213.4", "87.236.176.106", "87.236.176.96"]
    );
    let txs = transactions(&events);
    assert_eq!(txs.len(), 6, "{txs:#?}");
    assert!(txs.iter().all(|t| t.starts_with("10.0.0.9:3082>10.0.0.3:502")));
    assert!(!anomalies(&events).iter().any(|a| a.starts_with("modbus.") && *a != "modbus.non_modbus_traffic"));
}

#[test]
fn modbus_on_another_port_is_recognised() {
    let frames = read_frames("pcaps/modbus/modbus_example.pcap");
    let expected: Vec<String> = transactions(&run(&frames)).iter().map(|t| t.replace(":502 ", ":5020 ")).collect();
    // Every segment rebuilt with port 5020 instead of 502 (handshakes and ACKs are dropped, so the
    // flows start mid-stream, as on a mirror port that joined late).
    let moved: Vec<Frame> = frames
        .iter()
        .filter_map(|f| {
            let mut seg = as_segment(f)?;
            if seg.sport == 502 {
                seg.sport = 5020;
            }
            if seg.dport == 502 {
                seg.dport = 5020;
            }
            let payload = seg.payload.clone();
            Some(Frame { ts: f.ts, data: build(&seg, 0, &payload) })
        })
        .collect();
    assert_same(&transactions(&run(&moved)), &expected, "port 5020");
}

#[test]
fn a_lost_response_is_no_response_and_the_capture_end_is_pending() {
    let frames = read_frames("pcaps/modbus/ndpi_modbus.pcap");
    // Drop the 5th server→client data segment: its request stays unanswered until the timeout.
    let mut seen = 0;
    let kept: Vec<Frame> = frames
        .iter()
        .filter(|f| {
            if let Some(seg) = as_segment(f) {
                if seg.sport == 502 {
                    seen += 1;
                    return seen != 5;
                }
            }
            true
        })
        .cloned()
        .collect();
    let events = run(&kept);
    let txs = transactions(&events);
    let no_response: Vec<&String> = txs.iter().filter(|t| t.contains(" no_response ")).collect();
    assert!(no_response.iter().any(|t| t.contains("tid=213")), "{no_response:#?}");
    // The last request of the capture had no time to be answered: pending, not no_response.
    let last = txs.iter().filter(|t| t.contains(" pending ")).count();
    assert_eq!(last, 1, "{txs:#?}");
    // With a 10 ms timeout the capture's end is long after every request's timeout.
    let events = run_with(&kept, Config { response_timeout_us: 10, stats_interval_us: 0, ..Config::default() });
    assert_eq!(transactions(&events).iter().filter(|t| t.contains(" pending ")).count(), 0);
}

#[test]
fn a_full_flow_table_is_a_sensor_health_alert_not_growth() {
    let frames = read_frames("pcaps/modbus/modbus_test.pcap");
    let config = Config { max_flows: 2, stats_interval_us: 0, ..Config::default() };
    let mut pipeline = Pipeline::new(config);
    let mut events = Vec::new();
    for f in &frames {
        pipeline.process(Timestamp(f.ts), LinkType::Ethernet, &f.data);
        assert!(pipeline.stats().flows_active <= 2);
        events.extend(pipeline.drain_events());
    }
    assert!(pipeline.stats().flows_untracked > 0);
    assert!(events.iter().any(|e| matches!(e, Event::Alert(a) if a.anomaly == Some("sensor.flow_table_full"))));
}

#[test]
fn the_reassembly_memory_bound_holds() {
    let frames = read_frames("pcaps/modbus/modbus_example.pcap");
    // Every data segment's pieces sent in reverse order, with room for only 4 bytes out of order.
    let reordered = resegment(&frames, |s, first| {
        let n = s.payload.len();
        if first {
            return vec![(0, n)];
        }
        let mut pieces: Vec<(usize, usize)> = (0..n).map(|i| (i, i + 1)).collect();
        pieces.reverse();
        pieces
    });
    let config = Config { max_ooo_bytes_per_direction: 4, stats_interval_us: 0, ..Config::default() };
    let mut pipeline = Pipeline::new(config);
    let mut events = Vec::new();
    for f in &reordered {
        pipeline.process(Timestamp(f.ts), LinkType::Ethernet, &f.data);
        assert!(pipeline.stats().tcp_buffered_bytes <= 4 * 2 * 8, "bounded per direction");
        events.extend(pipeline.drain_events());
    }
    pipeline.finish();
    events.extend(pipeline.drain_events());
    assert!(anomalies(&events).contains(&"tcp.reassembly_limit"));
    assert_eq!(pipeline.stats().tcp_buffered_bytes, 0);
}

/// A pure ACK from the receiver of `seg` acknowledging all of it.
fn ack_of(seg: &Segment) -> Vec<u8> {
    let end = seg.seq.wrapping_add(seg.payload.len() as u32);
    let builder = PacketBuilder::ethernet2(seg.dst_mac, seg.src_mac)
        .ipv4(seg.dst, seg.src, 64)
        .tcp(seg.dport, seg.sport, seg.ack, seg.window)
        .ack(end);
    let mut out = Vec::with_capacity(builder.size(0));
    builder.write(&mut out, &[]).unwrap();
    out
}

fn transaction_statuses(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(t) => Some(t.status.as_str()),
            _ => None,
        })
        .collect()
}

/// A mirror port merging both directions captures the receiver's ACK of a segment before the
/// segment itself (s7comm_clean frames 2001/2002): the ACK is no proof that the bytes were lost,
/// and the segment that follows is delivered, with its own capture time.
#[test]
fn data_captured_just_after_its_ack_is_not_a_gap() {
    for capture in CAPTURES {
        let frames = read_frames(capture);
        let expected = transactions(&run(&frames));
        let mut reordered = Vec::new();
        let mut moved = 0;
        for f in &frames {
            if let Some(seg) = as_segment(f) {
                reordered.push(Frame { ts: f.ts, data: ack_of(&seg) });
                moved += 1;
            }
            reordered.push(f.clone());
        }
        assert!(moved > 10, "{capture}");
        let events = run(&reordered);
        assert_same(&transactions(&events), &expected, capture);
        assert!(!anomalies(&events).contains(&"tcp.gap"), "{capture}: an early ACK is not loss");
        let stats = events.iter().rev().find_map(|e| match e {
            Event::Stats(s) => Some(s.1.clone()),
            _ => None,
        });
        assert_eq!(stats.map(|s| s.tcp_gaps), Some(0), "{capture}");
    }
}

/// The same early ACK, but the segment it acknowledges never shows up: once later data of that
/// direction is captured the hole is a gap, and the stream goes on.
#[test]
fn acked_segment_that_never_comes_is_a_gap() {
    let frames = read_frames("pcaps/modbus/modbus_example.pcap");
    let all = transactions(&run(&frames));
    let mut kept = Vec::new();
    let mut responses = 0;
    for f in &frames {
        if let Some(seg) = as_segment(f) {
            if seg.sport == 502 {
                responses += 1;
                if responses == 3 {
                    // The client's ACK of the third response is captured, the response is not.
                    kept.push(Frame { ts: f.ts, data: ack_of(&seg) });
                    continue;
                }
            }
        }
        kept.push(f.clone());
    }
    let events = run(&kept);
    let got = transactions(&events);
    assert_eq!(got.len(), all.len(), "the request of the lost response is still reported");
    assert_eq!(got.iter().filter(|t| t.contains(" no_response ") || t.contains(" pending ")).count(), 1, "{got:#?}");
    assert!(anomalies(&events).contains(&"tcp.gap"));
}

/// s7comm_clean: 12 times the PLC's response is captured just after the master's segment that
/// acknowledges it (tshark: "ACKed unseen segment"). Every request is answered (tshark, with
/// sequence analysis off so that it dissects those responses, pairs all 2637 requests).
#[test]
fn s7comm_clean_early_acks_lose_nothing() {
    let events = run(&read_frames("pcaps/s7comm/s7comm_clean.pcap"));
    let statuses = transaction_statuses(&events);
    assert_eq!(statuses.len(), 2637);
    assert!(statuses.iter().all(|s| *s == "ok"), "{:?}", statuses.iter().filter(|s| **s != "ok").count());
    assert!(!anomalies(&events).contains(&"tcp.gap"));
}

/// modbus_test.pcap frames 68-72: three FC6 requests with transaction id 504 (register 4,
/// register 4, register 5; the last two in one segment) answered in order by frames 70-72.
#[test]
fn repeated_transaction_ids_are_answered_in_order() {
    let events = run(&read_frames("pcaps/modbus/modbus_test.pcap"));
    let txs: Vec<String> = transactions(&events)
        .into_iter()
        .filter(|t| t.starts_with("192.168.0.156:53842>") && t.contains(" tid=504 "))
        .collect();
    assert_eq!(txs.len(), 4, "{txs:#?}");
    let first_three: Vec<(&str, &str)> = txs[..3]
        .iter()
        .map(|t| {
            let status = if t.contains(" ok ") { "ok" } else { "not ok" };
            let addr = t.split(" addr=").nth(1).unwrap().split(' ').next().unwrap();
            (status, addr)
        })
        .collect();
    assert_eq!(first_three, [("ok", "Some(4)"), ("ok", "Some(4)"), ("ok", "Some(5)")], "{txs:#?}");
    assert!(txs[0].contains("regs=Some([2500])") && txs[1].contains("regs=Some([0])"), "{txs:#?}");
    let anomalies = anomalies(&events);
    assert!(!anomalies.contains(&"modbus.unmatched_response"));
    assert!(anomalies.contains(&"modbus.duplicate_transaction_id"));
}
