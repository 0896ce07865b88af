//! S7comm PDUs (TPKT + COTP DT + S7) cut by TCP segment boundaries at every byte offset, inside
//! the 4-byte TPKT header too, must give exactly the transactions of the unsplit conversation
//! and no protocol anomaly; a TSDU fragmented by COTP (EOT bit) and then cut by TCP as well; and a
//! genuinely invalid TPKT (version not 3) must still be reported, once, however it is cut.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jobwatch_scenario::s7comm::{self as s7, Area, Item, Rosctr};
use jobwatch_scenario::tcp::{Endpoint, Side, TcpConversation};
use jobwatch_scenario::Packet;
use sensor::config::Config;
use sensor::decode::LinkType;
use sensor::event::Event;
use sensor::pipeline::Pipeline;
use sensor::time::Timestamp;
use sensor::transaction::ProtocolDetail;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Capture time of the first message (after the handshake).
const T0: u64 = 1_700_000_000_000_000;
/// Time between the segments of a split message.
const GAP_US: u64 = 150;

/// One TCP message of the conversation: who sends it, when, and its bytes (one or more TPKTs).
#[derive(Clone, Debug)]
struct Msg {
    side: Side,
    at_us: u64,
    bytes: Vec<u8>,
}

/// A request/response exchange: its PDU reference and the indices of its two messages.
#[derive(Clone, Copy, Debug)]
struct Exchange {
    pdu_ref: u16,
    request: usize,
    response: usize,
    /// Where the request ends in its message when more follows it there (pipelined jobs).
    request_end: Option<usize>,
}

/// The segments a message was sent as: the end offset of each and its capture time.
type Segments = Vec<(usize, u64)>;

/// When the bytes of a message up to `end` (the whole message: `None`) had all arrived.
fn arrived(segments: &Segments, end: Option<usize>) -> u64 {
    let last = segments.last().map(|s| s.1).unwrap_or_default();
    end.and_then(|e| segments.iter().find(|s| s.0 >= e)).map_or(last, |s| s.1)
}

fn pdu(rosctr: Rosctr, pdu_ref: u16, p: &s7::Pdu) -> Vec<u8> {
    let mut out = Vec::new();
    s7::write_pdu(rosctr, pdu_ref, None, p, &mut out);
    out
}

/// COTP connect, setup communication, three read var jobs and a write var job, each answered.
fn conversation() -> (Vec<Msg>, Vec<Exchange>) {
    let db1 = Item { area: Area::DB, db: 1, address: 0, length: 64 };
    let odd = [
        Item { area: Area::DB, db: 10, address: 4, length: 3 },
        Item { area: Area::FLAGS, db: 0, address: 100, length: 2 },
    ];
    let inputs = Item { area: Area::INPUTS, db: 0, address: 0, length: 1 };
    let outputs = Item { area: Area::OUTPUTS, db: 0, address: 2, length: 4 };
    let value = |i: usize, b: u16| (i as u8).wrapping_mul(31).wrapping_add(b as u8);

    let mut msgs = Vec::new();
    let mut exchanges = Vec::new();
    let mut t = T0;
    let mut push = |msgs: &mut Vec<Msg>, side: Side, bytes: Vec<u8>, after_us: u64| {
        t += after_us;
        msgs.push(Msg { side, at_us: t, bytes });
        msgs.len() - 1
    };
    let mut cr = Vec::new();
    s7::write_cotp_cr(0x0007, 0x0100, s7::tsap(1, 0, 2), &mut cr);
    let mut cc = Vec::new();
    s7::write_cotp_cc(0x0007, 0x0003, 0x0100, s7::tsap(1, 0, 2), &mut cc);
    push(&mut msgs, Side::Client, cr, 0);
    push(&mut msgs, Side::Server, cc, 2_000);

    let jobs: Vec<(u16, s7::Pdu, s7::Pdu)> = vec![
        (0x0100, s7::setup_communication(480), s7::setup_communication(240)),
        (0x0101, s7::read_var(&[db1]), s7::read_var_response(&[db1], &mut |i, b| value(i, b))),
        (0x0102, s7::read_var(&odd), s7::read_var_response(&odd, &mut |i, b| value(i, b))),
        (0x0103, s7::write_var(&[outputs], &mut |i, b| value(i, b)), s7::write_var_response(1)),
        (0x0104, s7::read_var(&[inputs]), s7::read_var_response(&[inputs], &mut |i, b| value(i, b))),
    ];
    for (k, (pdu_ref, job, ack)) in jobs.iter().enumerate() {
        let request = push(&mut msgs, Side::Client, pdu(Rosctr::JOB, *pdu_ref, job), 20_000);
        let response = push(&mut msgs, Side::Server, pdu(Rosctr::ACK_DATA, *pdu_ref, ack), 3_000 + 700 * k as u64);
        exchanges.push(Exchange { pdu_ref: *pdu_ref, request, response, request_end: None });
    }
    (msgs, exchanges)
}

/// The conversation as frames: handshake, every message cut at `cuts(index, message)` (offsets
/// inside the message, the segments `GAP_US` apart), close. Also returns the segments of each
/// message.
fn capture(msgs: &[Msg], cuts: impl Fn(usize, &Msg) -> Vec<usize>) -> (Vec<Packet>, Vec<Segments>) {
    let client = Endpoint { mac: [2, 0, 0, 0, 0, 1], ip: Ipv4Addr::new(10, 0, 0, 1), port: 50_123 };
    let server = Endpoint { mac: [2, 0, 0, 0, 0, 2], ip: Ipv4Addr::new(10, 0, 0, 2), port: 102 };
    let mut tcp = TcpConversation::new(client, server, 1_000, 900_000);
    let mut out: Vec<Packet> = Vec::new();
    tcp.handshake(Duration::from_micros(T0 - 1_000), Duration::from_micros(400), &mut out).unwrap();
    let mut done = Vec::with_capacity(msgs.len());
    let mut last = T0;
    for (i, m) in msgs.iter().enumerate() {
        let mut points: Vec<usize> = cuts(i, m).into_iter().filter(|&p| p > 0 && p < m.bytes.len()).collect();
        points.sort_unstable();
        points.dedup();
        points.push(m.bytes.len());
        let (mut start, mut t) = (0, m.at_us);
        let mut segments = Vec::new();
        for (k, end) in points.into_iter().enumerate() {
            if k > 0 {
                t += GAP_US;
            }
            tcp.send(m.side, Duration::from_micros(t), &m.bytes[start..end], &mut out).unwrap();
            segments.push((end, t));
            start = end;
        }
        done.push(segments);
        last = t;
    }
    tcp.close(Side::Client, Duration::from_micros(last + 10_000), Duration::from_micros(400), &mut out).unwrap();
    (out, done)
}

fn run(packets: &[Packet]) -> Vec<Event> {
    let mut pipeline = Pipeline::new(Config { stats_interval_us: 0, ..Config::default() });
    let mut events = Vec::new();
    for p in packets {
        pipeline.process(Timestamp(p.ts.as_micros() as u64), LinkType::Ethernet, &p.frame);
        events.extend(pipeline.drain_events());
    }
    pipeline.finish();
    events.extend(pipeline.drain_events());
    events
}

/// What must not change whatever the segmentation.
#[derive(Clone, Debug, PartialEq)]
struct Tx {
    function: &'static str,
    function_code: u16,
    status: &'static str,
    pdu_ref: u16,
    request_ts: Option<u64>,
    response_ts: Option<u64>,
    /// The whole S7 detail (items, data, rack/slot and TSAPs from the COTP connect, errors).
    detail: serde_json::Value,
}

fn transactions(events: &[Event]) -> Vec<Tx> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Transaction(t) => {
                let ProtocolDetail::S7comm(d) = &t.detail else { panic!("not S7comm: {t:?}") };
                Some(Tx {
                    function: t.function,
                    function_code: t.function_code,
                    status: t.status.as_str(),
                    pdu_ref: d.pdu_ref,
                    request_ts: t.request_ts.map(|ts| ts.0),
                    response_ts: t.response_ts.map(|ts| ts.0),
                    detail: serde_json::to_value(d).unwrap(),
                })
            }
            _ => None,
        })
        .collect()
}

/// The protocol anomalies raised (`protocol_anomaly` alerts), by id.
fn anomalies(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Alert(a) => a.anomaly,
            _ => None,
        })
        .collect()
}

/// The unsplit conversation's transactions, checked for sense.
fn reference(msgs: &[Msg], exchanges: &[Exchange]) -> Vec<Tx> {
    let events = run(&capture(msgs, |_, _| Vec::new()).0);
    assert_eq!(anomalies(&events), Vec::<&str>::new(), "unsplit conversation");
    let txs = transactions(&events);
    let functions: Vec<_> = txs.iter().map(|t| t.function).collect();
    assert_eq!(functions, ["setup_communication", "read_var", "read_var", "write_var", "read_var"]);
    for (t, x) in txs.iter().zip(exchanges) {
        assert_eq!(t.status, "ok", "{t:?}");
        assert_eq!(t.pdu_ref, x.pdu_ref);
        assert_eq!(t.request_ts, Some(msgs[x.request].at_us));
        assert_eq!(t.response_ts, Some(msgs[x.response].at_us));
        assert_eq!((t.detail["rack"].as_u64(), t.detail["slot"].as_u64()), (Some(0), Some(2)), "{t:?}");
        if t.function != "setup_communication" {
            assert!(!t.detail["items"].as_array().unwrap().is_empty(), "{t:?}");
        }
    }
    assert_eq!(txs[2].detail["items"].as_array().unwrap().len(), 2);
    assert_eq!(txs[2].detail["data"].as_array().unwrap().len(), 2);
    txs
}

/// The reference transactions as a segmentation must give them: each PDU is taken when its last
/// byte arrives, so request and response times move to the time of that segment.
fn expected(reference: &[Tx], exchanges: &[Exchange], segments: &[Segments]) -> Vec<Tx> {
    reference
        .iter()
        .zip(exchanges)
        .map(|(t, x)| Tx {
            request_ts: Some(arrived(&segments[x.request], x.request_end)),
            response_ts: Some(arrived(&segments[x.response], None)),
            ..t.clone()
        })
        .collect()
}

fn check(msgs: &[Msg], exchanges: &[Exchange], reference: &[Tx], cuts: impl Fn(usize, &Msg) -> Vec<usize>, what: &str) {
    let (packets, done) = capture(msgs, cuts);
    let events = run(&packets);
    assert_eq!(anomalies(&events), Vec::<&str>::new(), "{what}: protocol anomalies");
    let got = transactions(&events);
    let want = expected(reference, exchanges, &done);
    assert_eq!(got.len(), want.len(), "{what}: {got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{what}");
        assert_eq!(
            g.response_ts.zip(g.request_ts).map(|(b, a)| b - a),
            w.response_ts.zip(w.request_ts).map(|(b, a)| b - a),
            "{what}: response time"
        );
    }
}

#[test]
fn every_pdu_split_at_every_offset() {
    let (msgs, exchanges) = conversation();
    let reference = reference(&msgs, &exchanges);
    let longest = msgs.iter().map(|m| m.bytes.len()).max().unwrap();
    assert!(longest > 80, "a read var response long enough to be cut in its data");
    // Every message longer than `at` is cut at `at`: offsets 1 to 3 fall inside the TPKT header,
    // 4 right after it, 5 and 6 inside the COTP header, 7 on the S7 header's first byte.
    for at in 1..longest {
        check(&msgs, &exchanges, &reference, |_, _| vec![at], &format!("cut at {at}"));
    }
    // The same cut in one message at a time (its peer and neighbours whole), from the end too.
    for (i, m) in msgs.iter().enumerate() {
        for at in [1, 2, 3, 4, 5, 7, m.bytes.len() / 2, m.bytes.len() - 1] {
            check(
                &msgs,
                &exchanges,
                &reference,
                |k, _| if k == i { vec![at] } else { vec![] },
                &format!("msg {i} at {at}"),
            );
        }
    }
}

#[test]
fn header_bytes_one_per_segment_and_whole_pdus_one_byte_at_a_time() {
    let (msgs, exchanges) = conversation();
    let reference = reference(&msgs, &exchanges);
    // The TPKT header in four segments, then the rest.
    check(&msgs, &exchanges, &reference, |_, _| vec![1, 2, 3, 4], "header byte by byte");
    // The TPKT and COTP headers split apart, and a cut inside the S7 header.
    check(&msgs, &exchanges, &reference, |_, _| vec![2, 5, 9], "three cuts");
    // Every byte its own segment.
    check(&msgs, &exchanges, &reference, |_, m| (1..m.bytes.len()).collect(), "one byte per segment");
}

/// Two pipelined jobs in one message, the cut falling anywhere in either (the second one's TPKT
/// header too).
#[test]
fn coalesced_pdus_split_anywhere() {
    let (msgs, exchanges) = conversation();
    let reference = reference(&msgs, &exchanges);
    // Job 5 leaves with job 4, before response 4.
    let (a, b) = (exchanges[3], exchanges[4]);
    let mut joined_msgs = msgs.clone();
    let joined = [msgs[a.request].bytes.clone(), msgs[b.request].bytes.clone()].concat();
    joined_msgs[a.request].bytes = joined.clone();
    joined_msgs.remove(b.request);
    let moved = |k: usize| if k > b.request { k - 1 } else { k };
    let joined_exchanges: Vec<Exchange> = exchanges
        .iter()
        .map(|x| Exchange {
            pdu_ref: x.pdu_ref,
            request: if x.request == b.request { a.request } else { moved(x.request) },
            response: moved(x.response),
            request_end: (x.request == a.request).then_some(msgs[a.request].bytes.len()),
        })
        .collect();
    for at in 0..joined.len() {
        let cut = |k: usize, _: &Msg| if k == a.request { vec![at] } else { vec![] };
        check(&joined_msgs, &joined_exchanges, &reference, cut, &format!("coalesced, cut at {at}"));
    }
}

/// Wraps `tsdu` in TPKT + COTP DT with the given end-of-TSDU bit.
fn dt(tsdu: &[u8], eot: bool) -> Vec<u8> {
    let len = u16::try_from(s7::TPKT_COTP_DT_LEN + tsdu.len()).unwrap();
    let mut out = vec![0x03, 0x00];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0x02, 0xF0, if eot { 0x80 } else { 0x00 }]);
    out.extend_from_slice(tsdu);
    out
}

/// A response fragmented by COTP (first DT without EOT) and then cut by TCP anywhere: the COTP
/// reassembly and the TCP split are independent.
#[test]
fn cotp_fragments_cut_by_tcp() {
    let (msgs, exchanges) = conversation();
    let reference = reference(&msgs, &exchanges);
    let x = exchanges[1];
    let whole = &msgs[x.response].bytes;
    let tsdu = &whole[s7::TPKT_COTP_DT_LEN..];
    for split in [1, 10, tsdu.len() / 2, tsdu.len() - 1] {
        let fragmented = [dt(&tsdu[..split], false), dt(&tsdu[split..], true)].concat();
        let mut msgs2 = msgs.clone();
        msgs2[x.response].bytes = fragmented.clone();
        check(&msgs2, &exchanges, &reference, |_, _| vec![], &format!("fragments at {split}, one segment"));
        for at in 1..fragmented.len() {
            let cut = |k: usize, _: &Msg| if k == x.response { vec![at] } else { vec![] };
            check(&msgs2, &exchanges, &reference, cut, &format!("fragments at {split}, cut at {at}"));
        }
    }
}

/// A packet whose version byte is not 3 is not TPKT: one `s7comm.invalid_tpkt`, however the
/// bytes are cut, and the conversation around it is unaffected.
#[test]
fn invalid_tpkt_is_still_reported_once() {
    let (msgs, exchanges) = conversation();
    let reference = reference(&msgs, &exchanges);
    let db1 = Item { area: Area::DB, db: 1, address: 0, length: 64 };
    let mut bad = pdu(Rosctr::JOB, 0x0177, &s7::read_var(&[db1]));
    bad[0] = 0x02;
    // Sent by the client between the setup ack and the first read var job, never answered.
    let after = exchanges[0].response;
    let mut msgs2 = msgs.clone();
    msgs2.insert(after + 1, Msg { side: Side::Client, at_us: msgs[after].at_us + 5_000, bytes: bad.clone() });
    let shift = |k: usize| if k > after { k + 1 } else { k };
    let ex2: Vec<Exchange> =
        exchanges.iter().map(|x| Exchange { request: shift(x.request), response: shift(x.response), ..*x }).collect();
    let bad_index = after + 1;
    for at in [0, 1, 2, 3, 4, 5, 7, bad.len() / 2, bad.len() - 1] {
        let (packets, done) = capture(&msgs2, |k, _| if k == bad_index { vec![at] } else { vec![] });
        let events = run(&packets);
        assert_eq!(anomalies(&events), ["s7comm.invalid_tpkt"], "cut at {at}");
        assert_eq!(transactions(&events), expected(&reference, &ex2, &done), "cut at {at}");
    }
    // Every PDU cut as well: still exactly one.
    let (packets, _) = capture(&msgs2, |_, m| vec![1, m.bytes.len() / 2]);
    assert_eq!(anomalies(&run(&packets)), ["s7comm.invalid_tpkt"], "everything cut");
}
