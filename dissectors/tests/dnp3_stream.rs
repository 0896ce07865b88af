//! Stream tests: real DNP3 traffic (the TCP payloads of each direction of captures in
//! ../shared/pcaps/dnp3, named below), fed whole, split at every byte boundary, and byte by byte,
//! through a driver that buffers, frames link frames, reassembles transport segments per
//! (source, destination) and decodes application fragments, as the sensor does.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dissectors::dnp3::{self, application, link, FunctionCode, Iin, PointValue, TransportReassembler};
use dissectors::{Parse, Probe};
use std::collections::HashMap;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// (capture, master-to-outstation stream, outstation-to-master stream).
const FIXTURES: &[(&str, &str, &str)] = &[
    (
        // Class 0123 read; the response spans two link frames (transport seq 19, 20).
        "read_and_response.pcap",
        "056414c40a0001008fedc0c0013c02063c03063c04063c01068a51",
        "0564ff4401000a005aeb53c081000001020000090202020202022d3a0202020203020000090202020202020270da\
         02020214010000090200000000020000e30b000002000000000200000000020000004dba0002000000000200000000\
         02000000007eae02000000000200000000150100000902d3420000000002000000000200000000020069ce00000002\
         000000000200000000020000dd5e000002000000000200000000020000004dba001e0100000902000000000200000000\
         cd6302000000000200000000020000000002f0030000000002000000000200000000020069ce00000002000000000a02\
         00000902020217100202020202020228010000090200000058e400020000000002000000000200000000\
         7eae020000000002000000004e7205641a4401000a00af5d9402000000000200000000020000000066420200000000f3b9",
    ),
    (
        // Select then operate of one CROB (g12v1, qualifier 0x28), echoed.
        "select_operate_and_responses.pcap",
        "05641ac40a0001008a1cc0c0030c012801000000030164000000fd6b6400000000005b05641ac40a0001008a1cc1c1\
         040c012801000000030164000000b9f06400000000005b",
        "05641c4401000a007636c6c08100000c01280100000003016400c39600006400000000005b05641c4401000a007636\
         c7c18100000c0128010000000301640057b500006400000000005b",
    ),
    (
        // Unsolicited null response and its confirm.
        "unsolcited_response_and_confirm.pcap",
        "056408c40a000100fc42c0d0001b49",
        "05640a4401000a006e25c0f08200004466",
    ),
    (
        // Write g80v1 index 7 (clear device restart), null response.
        "write_iin_and_response.pcap",
        "05640ec40a0001002529c0c0025001000707002c49",
        "05640a4401000a006e25c4c08100008464",
    ),
    (
        // Open, read and close a file (g70v3, g70v5, g70v4 with qualifier 0x5B).
        "file_read.pcap",
        "056436c404000300f2c0e0c11946035b0128001a000e00000000b91c0000000000000000000000000001000047e604\
         04002e2f7465737466696c652e7478ea02741dee056416c4040003007031e1c20146055b010800785634120000009c\
         1f00ffff05641bc4040003002553e2c31a46045b010d0078563412000000dbf8000000050000a780",
        "05641d44030004008308e7c181000046045b010d007856341213cc360000000004040000344505642b440300040019ea\
         e8c281000046055b011b007856341200b1b9000080546869732069732061207465733810742066696c653eb105641d44\
         030004008308e9c381000046045b010d007856341200b6140000000000050000a780",
    ),
    (
        // Direct operate answered by a g120v1 challenge, then the g120v2 reply and the response.
        "auth_control_challenge_response.pcap",
        "05641ac404000300c2e6c7c6050c0128010001000301640000003b7f6400000000005b056424c404000300849ec8c6\
         2078025b01160003000000010006c295fae1911a2cce2dda8abfece1cac8c414f5",
        "05641c440300040064bdc7c683900078015b010c0003000000009287000401737465768d5c05641c440300040064bd\
         c8c68190000c01280100010003016400550a00006400000000005b",
    ),
    (
        // Record current time, then write g50v3 (last recorded time).
        "lan_time_sync.pcap",
        "056408c404000300b4b8c8c918cbd2056412c4040003001e7cc9ca02320307019f0d83524c01eb2c",
        "05640a44030004007caecac98100001ecc05640a44030004007caecbca81000059e5",
    ),
    (
        // Cold restart, response with IIN1 0x00 and IIN2 0x01 (function not supported).
        "cold_restart_and_response.pcap",
        "056408c40a000100fc42c0c00d9c86",
        "05640a4401000a006e25c0c0810001c2de",
    ),
    (
        // Link status exchanges and a class 1 read (dnp3_link_only.pcap, master side only).
        "dnp3_link_only.pcap",
        "0564058b01006400a0970564058b01006400a09705640bc40100640044eac4c7013c010683f40564058b01006400a097",
        "05640549640001007e5f05640549640001007e5f",
    ),
];

/// What the sensor sees of one link frame: link fields, and the fragment it completed, decoded.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Link { function: String, source: u16, destination: u16 },
    Fragment { function: u8, sequence: u8, iin: Option<u16>, objects: Vec<String>, anomalies: Vec<&'static str> },
    Anomaly(&'static str),
}

#[derive(Debug, Default, PartialEq)]
struct Output {
    events: Vec<Event>,
    leftover: usize,
}

fn drive<'c>(chunks: impl IntoIterator<Item = &'c [u8]>) -> Output {
    let mut buffer: Vec<u8> = Vec::new();
    let mut reassemblers: HashMap<(u16, u16), TransportReassembler> = HashMap::new();
    let mut out = Output::default();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match link::parse(&buffer) {
                Parse::Message { message, consumed } => {
                    assert!((1..=buffer.len()).contains(&consumed));
                    buffer.drain(..consumed);
                    out.events.push(Event::Link {
                        function: message.function().to_string(),
                        source: message.source,
                        destination: message.destination,
                    });
                    out.events.extend(message.anomalies.iter().map(|k| Event::Anomaly(k.id)));
                    if message.is_link_only() {
                        continue;
                    }
                    let reassembler = reassemblers.entry((message.source, message.destination)).or_default();
                    let segment = reassembler.push(message.user_data());
                    out.events.extend(segment.anomalies.iter().map(|k| Event::Anomaly(k.id)));
                    if let Some(fragment) = segment.fragment {
                        let app = application::parse(fragment).unwrap();
                        let objects = app
                            .objects()
                            .map(|o| {
                                let points = o.points().count();
                                format!(
                                    "g{}v{}/{:02X}x{}",
                                    o.header.group, o.header.variation, o.header.qualifier.0, points
                                )
                            })
                            .collect();
                        out.events.push(Event::Fragment {
                            function: app.function.0,
                            sequence: app.sequence(),
                            iin: app.iin.map(|i| i.0),
                            objects,
                            anomalies: app.anomalies.iter().map(|k| k.id).collect(),
                        });
                    }
                }
                Parse::Incomplete { needed } => {
                    assert!(needed >= 1);
                    break;
                }
                Parse::Skip { len, anomaly } => {
                    assert!((1..=buffer.len()).contains(&len));
                    out.events.push(Event::Anomaly(anomaly.id));
                    buffer.drain(..len);
                }
            }
        }
    }
    out.leftover = buffer.len();
    out
}

fn streams() -> Vec<(&'static str, Vec<u8>)> {
    FIXTURES.iter().flat_map(|(name, master, outstation)| [(*name, hex(master)), (*name, hex(outstation))]).collect()
}

fn fragments(out: &Output) -> Vec<(u8, &[String])> {
    out.events
        .iter()
        .filter_map(|e| match e {
            Event::Fragment { function, objects, .. } => Some((*function, &objects[..])),
            _ => None,
        })
        .collect()
}

#[test]
fn whole_streams_are_clean() {
    for (name, stream) in streams() {
        let out = drive([&stream[..]]);
        assert_eq!(out.leftover, 0, "{name}");
        let odd: Vec<_> = out
            .events
            .iter()
            .filter(|e| {
                matches!(e, Event::Anomaly(_))
                    || matches!(e, Event::Fragment { anomalies, .. } if !anomalies.is_empty())
            })
            .collect();
        assert!(odd.is_empty(), "{name}: {odd:?}");
        assert_eq!(dnp3::probe(&stream), Probe::Match, "{name}");
    }
}

#[test]
fn decoded_as_tshark_does() {
    let s = streams();
    let by_name = |name: &str, i: usize| drive([&s.iter().filter(|(n, _)| *n == name).nth(i).unwrap().1[..]]);
    // read_and_response: read of classes 1, 2, 3, 0; a two-segment response with ten points in
    // each of seven groups (tshark: g1v2, g3v2, g20v1, g21v1, g30v1, g10v2, g40v1, 0–9 each).
    let out = by_name("read_and_response.pcap", 0);
    assert_eq!(fragments(&out), [(1, &["g60v2/06x0", "g60v3/06x0", "g60v4/06x0", "g60v1/06x0"].map(String::from)[..])]);
    let out = by_name("read_and_response.pcap", 1);
    let expected = ["g1v2", "g3v2", "g20v1", "g21v1", "g30v1", "g10v2", "g40v1"].map(|g| format!("{g}/00x10"));
    assert_eq!(fragments(&out), [(129, &expected[..])]);
    // select_operate: function 3 then 4, each one CROB; the echo responses.
    let out = by_name("select_operate_and_responses.pcap", 0);
    let crob = ["g12v1/28x1".to_string()];
    assert_eq!(fragments(&out), [(3, &crob[..]), (4, &crob[..])]);
    // unsolicited: FC 130 with CON and UNS, confirmed by FC 0 with UNS.
    let out = by_name("unsolcited_response_and_confirm.pcap", 1);
    assert!(matches!(out.events[1], Event::Fragment { function: 130, iin: Some(0), .. }));
    let out = by_name("unsolcited_response_and_confirm.pcap", 0);
    assert!(matches!(out.events[1], Event::Fragment { function: 0, iin: None, .. }));
    // write_iin: g80v1 index 7, packed bit.
    let out = by_name("write_iin_and_response.pcap", 0);
    assert_eq!(fragments(&out), [(2, &["g80v1/00x1".to_string()][..])]);
    // file_read: g70v3 open, g70v5 read, g70v4 close (size-prefixed, no points).
    let out = by_name("file_read.pcap", 0);
    let functions: Vec<u8> = fragments(&out).iter().map(|f| f.0).collect();
    assert_eq!(functions, [25, 1, 26]);
    // auth: a direct operate answered by an authenticate response carrying g120v1.
    let out = by_name("auth_control_challenge_response.pcap", 1);
    assert_eq!(fragments(&out)[0], (131, &["g120v1/5Bx0".to_string()][..]));
    let out = by_name("auth_control_challenge_response.pcap", 0);
    assert_eq!(fragments(&out)[1], (32, &["g120v2/5Bx0".to_string()][..]));
    // lan_time_sync: record current time, then write of g50v3 (time category).
    let out = by_name("lan_time_sync.pcap", 0);
    assert_eq!(fragments(&out), [(24, &[][..]), (2, &["g50v3/07x1".to_string()][..])]);
    // cold restart answered with IIN2.0 (no function code support).
    let out = by_name("cold_restart_and_response.pcap", 1);
    let Event::Fragment { iin: Some(iin), .. } = out.events[1] else { panic!() };
    assert!(Iin(iin).has(Iin::NO_FUNC_CODE_SUPPORT));
    // Link-only frames: link status, request link status.
    let out = by_name("dnp3_link_only.pcap", 1);
    assert_eq!(out.events.len(), 2);
    assert!(
        matches!(&out.events[0], Event::Link { function, source: 1, destination: 100 } if function == "request_link_status")
    );
}

#[test]
fn point_values() {
    // The operate CROB: latch on, count 1, on 100 ms, off 100 ms.
    let stream = hex(FIXTURES[1].1);
    let Parse::Message { message, .. } = link::parse(&stream) else { panic!() };
    let mut reassembler = TransportReassembler::new();
    let fragment = reassembler.push(message.user_data()).fragment.unwrap();
    let app = application::parse(fragment).unwrap();
    assert_eq!(app.function, FunctionCode::SELECT);
    let point = app.objects().next().unwrap().points().next().unwrap();
    let PointValue::Crob(crob) = point.value else { panic!() };
    assert_eq!(
        (point.index, crob.op_type_name(), crob.count, crob.on_time, crob.off_time),
        (0, Some("latch_on"), 1, 100, 100)
    );
    // The write of g50v3: 0x014C52830D9F ms since the epoch.
    let stream = hex(FIXTURES[6].1);
    let Parse::Message { consumed, .. } = link::parse(&stream) else { panic!() };
    let Parse::Message { message, .. } = link::parse(&stream[consumed..]) else { panic!() };
    let fragment = reassembler.push(message.user_data()).fragment.unwrap().to_vec();
    let app = application::parse(&fragment).unwrap();
    assert_eq!(app.info().name, "write_time");
    let point = app.objects().next().unwrap().points().next().unwrap();
    assert_eq!(point.value, PointValue::Time { millis: 0x014C_5283_0D9F, interval: None, units: None });
}

#[test]
fn split_at_every_byte_boundary() {
    for (name, stream) in streams() {
        let whole = drive([&stream[..]]);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(drive([a, b]), whole, "{name}: cut at {cut}");
        }
        for cut in 1..stream.len() {
            let second = (cut + 7).min(stream.len());
            let chunks = [&stream[..cut], &stream[cut..second], &stream[second..]];
            assert_eq!(drive(chunks), whole, "{name}: cuts at {cut}, {second}");
        }
    }
}

#[test]
fn byte_by_byte() {
    for (name, stream) in streams() {
        assert_eq!(drive(stream.chunks(1)), drive([&stream[..]]), "{name}");
    }
}

#[test]
fn mid_stream_start_and_garbage() {
    for (name, stream) in streams() {
        let whole = drive([&stream[..]]);
        // Garbage in front: skipped, then the same events.
        let mut buf = b"\x00\x05\x05\x64junk".to_vec();
        buf.extend_from_slice(&stream);
        let out = drive([&buf[..]]);
        assert_eq!(out.events.iter().filter(|e| matches!(e, Event::Anomaly(_))).count(), 2, "{name}: {:?}", out.events);
        assert_eq!(out.events[2..], whole.events[..], "{name}");
        // A start in the middle of the first frame: resynchronised on the next 05 64; the
        // fragments after it are the whole stream's last ones (a continuation segment of the
        // lost first frame is reported out of sequence).
        let out = drive([&stream[3..]]);
        assert_eq!(out.leftover, 0, "{name}");
        assert_eq!(out.events[0], Event::Anomaly("dnp3.invalid_start"), "{name}");
        let (all, tail) = (fragments(&whole), fragments(&out));
        assert!(all.ends_with(&tail), "{name}: {:?}", out.events);
    }
}

#[test]
fn bad_crc_drops_one_frame() {
    // Corrupt a data byte of the select's first block: the frame goes, the operate stays.
    let mut stream = hex(FIXTURES[1].1);
    stream[14] ^= 0x01;
    let out = drive([&stream[..]]);
    assert_eq!(out.events[0], Event::Anomaly("dnp3.bad_link_crc"));
    assert_eq!(fragments(&out), [(4, &["g12v1/28x1".to_string()][..])]);
}

#[test]
fn classification_table_is_rendered() {
    let rendered = dissectors::classify::render_markdown();
    for (_, table) in dissectors::classify::dnp3::tables() {
        for info in table {
            assert!(rendered.contains(&format!("`{}`", info.name)), "{}", info.name);
        }
    }
    assert!(rendered.contains("| 2/50 | `write_time` | time |"));
}
