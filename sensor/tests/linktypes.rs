//! Every link type jobwatch promises to read, in pcap and pcapng, through the real binary.
//!
//! `pcaps/modbus/modbus_example.pcap` (Ethernet) is rewritten in a temporary directory into each
//! framing (802.1Q, QinQ, Linux cooked v1 and v2, raw IP, LINKTYPE_IPV4/IPV6, BSD loopback in both
//! byte orders, pcapng, big-endian and nanosecond pcap) and into IPv6; the transaction events must
//! be the same for every variant. The samples in `pcaps/linktypes/` carry protocols jobwatch does
//! not dissect yet, so for them the final `stats` record is checked. Bad input (an unsupported
//! link type, a file cut mid-packet, files that are not captures at all) must give exit status 2
//! and one clear line on stderr, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, TsResolution};
use serde_json::Value;
use std::borrow::Cow;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const SOURCE: &str = "pcaps/modbus/modbus_example.pcap";

/// One captured frame: capture time and bytes.
#[derive(Clone, Debug)]
struct Frame {
    ts: Duration,
    data: Vec<u8>,
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read_pcap(path: &Path) -> (DataLink, Vec<Frame>) {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let datalink = reader.header().datalink;
    let mut frames = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        frames.push(Frame { ts: pkt.timestamp, data: pkt.data.into_owned() });
    }
    (datalink, frames)
}

fn write_pcap(path: &Path, linktype: u32, frames: &[Frame], endianness: Endianness, ts_resolution: TsResolution) {
    let header = PcapHeader { datalink: DataLink::from(linktype), endianness, ts_resolution, ..PcapHeader::default() };
    let mut writer = PcapWriter::with_header(File::create(path).unwrap(), header).unwrap();
    for f in frames {
        let len = u32::try_from(f.data.len()).unwrap();
        writer.write_packet(&PcapPacket::new(f.ts, len, &f.data)).unwrap();
    }
}

fn write_pcapng(path: &Path, linktype: u32, frames: &[Frame]) {
    let mut writer = PcapNgWriter::new(File::create(path).unwrap()).unwrap();
    // pcap-file writes Enhanced Packet timestamps in nanoseconds: say so (if_tsresol = 10^-9).
    let mut idb = InterfaceDescriptionBlock::new(DataLink::from(linktype), 65535);
    idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
    writer.write_pcapng_block(idb).unwrap();
    for f in frames {
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: f.ts,
            original_len: u32::try_from(f.data.len()).unwrap(),
            data: Cow::Borrowed(&f.data),
            options: vec![],
        };
        writer.write_pcapng_block(epb).unwrap();
    }
}

// ---- Rewriting an Ethernet/IPv4 frame into other framings ----

const ETH_HEADER: usize = 14;

/// The IPv4 packet of an Ethernet frame, without Ethernet padding.
fn ip_packet(frame: &[u8]) -> Vec<u8> {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "sample frames are Ethernet II / IPv4");
    let ip = &frame[ETH_HEADER..];
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    ip[..total.min(ip.len())].to_vec()
}

/// Inserts tags (TPID, TCI) after the MAC addresses.
fn tagged(frame: &[u8], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for (tpid, tci) in tags {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&tci.to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

/// Linux cooked capture v1: packet type, ARPHRD type, address length, address (8), protocol.
fn sll(frame: &[u8], ether_type: u16, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + ip.len());
    out.extend_from_slice(&0u16.to_be_bytes()); // LINUX_SLL_HOST
    out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    out.extend_from_slice(&6u16.to_be_bytes());
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(ip);
    out
}

/// Linux cooked capture v2: protocol, reserved, interface index, ARPHRD type, packet type,
/// address length, address (8).
fn sll2(frame: &[u8], ether_type: u16, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + ip.len());
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&3u32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    out.push(0); // LINUX_SLL_HOST
    out.push(6);
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(ip);
    out
}

/// BSD loopback: a 4-byte address family in the capturing host's byte order.
fn null(family: u32, little_endian: bool, ip: &[u8]) -> Vec<u8> {
    let mut out = if little_endian { family.to_le_bytes().to_vec() } else { family.to_be_bytes().to_vec() };
    out.extend_from_slice(ip);
    out
}

fn ethernet(frame: &[u8], ether_type: u16, ip: &[u8]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(ip);
    out
}

/// 2001:db8::a.b.c.d for the IPv4 address a.b.c.d.
fn v6_of(v4: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[12..].copy_from_slice(v4);
    a
}

/// The IPv6 address [`v6_of`] makes of an IPv4 address, as jobwatch writes it.
fn v6_text(v4: &str) -> String {
    let v4: std::net::Ipv4Addr = v4.parse().unwrap();
    std::net::Ipv6Addr::from(v6_of(&v4.octets())).to_string()
}

fn checksum_add(sum: &mut u32, bytes: &[u8]) {
    for chunk in bytes.chunks(2) {
        let word = if chunk.len() == 2 { u16::from_be_bytes([chunk[0], chunk[1]]) } else { u16::from(chunk[0]) << 8 };
        *sum += u32::from(word);
    }
}

fn checksum_fold(mut sum: u32) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Rewrites an IPv4 packet (no options are expected, none are kept) into IPv6 with the same
/// transport segment, its checksum recomputed over the IPv6 pseudo-header.
fn to_ipv6(ip: &[u8]) -> Vec<u8> {
    assert_eq!(ip[0] >> 4, 4);
    let ihl = usize::from(ip[0] & 0x0F) * 4;
    let protocol = ip[9];
    let (src, dst) = (v6_of(&ip[12..16]), v6_of(&ip[16..20]));
    let mut segment = ip[ihl..].to_vec();
    let len = u16::try_from(segment.len()).unwrap();
    let checksum_at = match protocol {
        6 => Some(16),
        17 => Some(6),
        _ => None,
    };
    if let Some(at) = checksum_at.filter(|&at| segment.len() >= at + 2) {
        segment[at] = 0;
        segment[at + 1] = 0;
        let mut sum = 0;
        checksum_add(&mut sum, &src);
        checksum_add(&mut sum, &dst);
        checksum_add(&mut sum, &u32::from(len).to_be_bytes());
        checksum_add(&mut sum, &[0, 0, 0, protocol]);
        checksum_add(&mut sum, &segment);
        segment[at..at + 2].copy_from_slice(&checksum_fold(sum).to_be_bytes());
    }
    let mut out = vec![0x60, 0, 0, 0];
    out.extend_from_slice(&len.to_be_bytes());
    out.push(protocol);
    out.push(ip[8]); // hop limit = TTL
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(&segment);
    out
}

fn map(frames: &[Frame], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Frame> {
    frames.iter().map(|fr| Frame { ts: fr.ts, data: f(&fr.data) }).collect()
}

// ---- Running jobwatch ----

fn jobwatch(path: &Path, events: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jobwatch")).arg("-r").arg(path).args(["--events", events]).output().unwrap()
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
}

/// Transactions of a capture that must read cleanly.
fn transactions(path: &Path) -> Vec<Value> {
    let out = jobwatch(path, "transaction");
    assert!(out.status.success(), "{path:?}: exit {:?}, stderr {:?}", out.status.code(), stderr_lines(&out));
    let tx = events(&out);
    assert!(tx.iter().all(|e| e["event_type"] == "transaction"));
    tx
}

/// Exit status 2 with exactly one stderr line that names the file and contains every `words`.
fn assert_input_error(out: &Output, path: &Path, words: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(2), "{path:?}: stderr {:?}", stderr_lines(out));
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), 1, "{path:?}: one stderr line expected, got {lines:?}");
    let line = &lines[0];
    assert!(!line.contains("panicked"), "{line}");
    assert!(line.contains(&path.display().to_string()), "stderr does not name the file: {line}");
    for w in words {
        assert!(line.to_lowercase().contains(&w.to_lowercase()), "stderr lacks `{w}`: {line}");
    }
    line.clone()
}

fn without(mut events: Vec<Value>, fields: &[&str]) -> Vec<Value> {
    for e in &mut events {
        if let Some(obj) = e.as_object_mut() {
            for f in fields {
                obj.remove(*f);
            }
        }
    }
    events
}

#[test]
fn every_link_type_gives_the_same_transactions() {
    let (datalink, frames) = read_pcap(&repo(SOURCE));
    assert_eq!(datalink, DataLink::ETHERNET);
    let baseline = transactions(&repo(SOURCE));
    assert_eq!(baseline.len(), 24, "modbus_example.pcap has 24 requests");

    let dir = tempfile::tempdir().unwrap();
    let ip = |f: &[u8]| ip_packet(f);
    let v4: Vec<(&str, u32, Vec<Frame>)> = vec![
        ("ethernet", 1, frames.clone()),
        ("vlan-8021q", 1, map(&frames, |f| tagged(f, &[(0x8100, 0x0064)]))),
        ("qinq", 1, map(&frames, |f| tagged(f, &[(0x88a8, 0x00c8), (0x8100, 0x0064)]))),
        ("qinq-9100", 1, map(&frames, |f| tagged(f, &[(0x9100, 0x00c8), (0x8100, 0x0064)]))),
        ("sll", 113, map(&frames, |f| sll(f, 0x0800, &ip(f)))),
        ("sll2", 276, map(&frames, |f| sll2(f, 0x0800, &ip(f)))),
        ("raw-101", 101, map(&frames, ip)),
        ("raw-12", 12, map(&frames, ip)),
        ("ipv4-228", 228, map(&frames, ip)),
        ("null-le", 0, map(&frames, |f| null(2, true, &ip(f)))),
        ("null-be", 0, map(&frames, |f| null(2, false, &ip(f)))),
        ("loop-108", 108, map(&frames, |f| null(2, false, &ip(f)))),
    ];
    let mut files = Vec::new();
    for (name, linktype, fr) in &v4 {
        let path = dir.path().join(format!("{name}.pcap"));
        write_pcap(&path, *linktype, fr, Endianness::Little, TsResolution::MicroSecond);
        files.push(path);
        let path = dir.path().join(format!("{name}.pcapng"));
        write_pcapng(&path, *linktype, fr);
        files.push(path);
    }
    // The pcap header's own variants: big-endian, nanosecond timestamps.
    let path = dir.path().join("ethernet-be-nsec.pcap");
    write_pcap(&path, 1, &frames, Endianness::Big, TsResolution::NanoSecond);
    files.push(path);

    for path in &files {
        assert_eq!(transactions(path), baseline, "{path:?} differs from the Ethernet original");
    }

    // IPv6: flow ids and addresses change, nothing else may.
    let ip6 = |f: &[u8]| to_ipv6(&ip_packet(f));
    let v6: Vec<(&str, u32, Vec<Frame>)> = vec![
        ("ipv6-ethernet", 1, map(&frames, |f| ethernet(f, 0x86dd, &ip6(f)))),
        ("ipv6-vlan", 1, map(&frames, |f| tagged(&ethernet(f, 0x86dd, &ip6(f)), &[(0x8100, 0x0064)]))),
        ("ipv6-sll", 113, map(&frames, |f| sll(f, 0x86dd, &ip6(f)))),
        ("ipv6-sll2", 276, map(&frames, |f| sll2(f, 0x86dd, &ip6(f)))),
        ("ipv6-raw-101", 101, map(&frames, ip6)),
        ("ipv6-229", 229, map(&frames, ip6)),
        // AF_INET6 is 24, 28 or 30 depending on the BSD.
        ("ipv6-null-24", 0, map(&frames, |f| null(24, true, &ip6(f)))),
        ("ipv6-null-28", 0, map(&frames, |f| null(28, true, &ip6(f)))),
        ("ipv6-null-30", 0, map(&frames, |f| null(30, false, &ip6(f)))),
    ];
    let stripped = without(baseline.clone(), &["flow_id", "src_ip", "dest_ip"]);
    for (name, linktype, fr) in &v6 {
        for ext in ["pcap", "pcapng"] {
            let path = dir.path().join(format!("{name}.{ext}"));
            if ext == "pcap" {
                write_pcap(&path, *linktype, fr, Endianness::Little, TsResolution::MicroSecond);
            } else {
                write_pcapng(&path, *linktype, fr);
            }
            let tx = transactions(&path);
            for (e, b) in tx.iter().zip(&baseline) {
                for field in ["src_ip", "dest_ip"] {
                    assert_eq!(e[field].as_str().unwrap(), v6_text(b[field].as_str().unwrap()), "{path:?}: {e}");
                }
            }
            assert_eq!(
                without(tx, &["flow_id", "src_ip", "dest_ip"]),
                stripped,
                "{path:?} differs from the IPv4 original"
            );
        }
    }

    // With TCP checksums verified, the rewritten IPv6 segments must still be accepted.
    let path = dir.path().join("ipv6-raw-101.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
        .arg("-r")
        .arg(&path)
        .args(["--events", "stats", "--verify-checksums"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stats = events(&out).pop().unwrap();
    assert_eq!(stats["stats"]["bad_checksums"], 0, "{stats}");
}

/// The samples of other link types carry DNP3 and S7comm-plus: every packet must be decoded to a
/// flow, none counted as non-IP or malformed.
#[test]
fn sample_link_types_decode() {
    for (file, linktype) in [
        ("pcaps/linktypes/null-opendnp3-6.1.2.pcap", DataLink::NULL),
        ("pcaps/linktypes/sll-s7comm_plus.pcap", DataLink::LINUX_SLL),
        ("pcaps/linktypes/rawip-dnp3-flood.pcap", DataLink::IPV4),
    ] {
        let path = repo(file);
        let (datalink, frames) = read_pcap(&path);
        assert_eq!(datalink, linktype, "{file}");
        let out = jobwatch(&path, "stats");
        assert!(out.status.success(), "{file}: {:?}", stderr_lines(&out));
        let last = events(&out).pop().unwrap();
        let s = &last["stats"];
        assert_eq!(s["packets"], frames.len(), "{file}: {s}");
        assert_eq!(s["non_ip"], 0, "{file}: {s}");
        assert_eq!(s["malformed"], 0, "{file}: {s}");
        assert!(s["flows"].as_u64().unwrap() > 0, "{file}: {s}");
    }
}

#[test]
fn unsupported_link_type_is_an_input_error() {
    let (_, frames) = read_pcap(&repo(SOURCE));
    let dir = tempfile::tempdir().unwrap();
    for (linktype, ext) in [(105, "pcap"), (105, "pcapng"), (147, "pcap")] {
        let path = dir.path().join(format!("linktype-{linktype}.{ext}"));
        if ext == "pcap" {
            write_pcap(&path, linktype, &frames, Endianness::Little, TsResolution::MicroSecond);
        } else {
            write_pcapng(&path, linktype, &frames);
        }
        let out = jobwatch(&path, "transaction");
        assert_input_error(&out, &path, &["link type", &linktype.to_string()]);
        assert!(events(&out).is_empty());
    }
}

/// Byte offset of each packet record in a little- or big-endian pcap file.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let big = bytes[..4] == [0xa1, 0xb2, 0xc3, 0xd4] || bytes[..4] == [0xa1, 0xb2, 0x3c, 0x4d];
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let field = [bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]];
        let incl = if big { u32::from_be_bytes(field) } else { u32::from_le_bytes(field) };
        at += 16 + usize::try_from(incl).unwrap();
    }
    offsets
}

#[test]
fn damaged_capture_keeps_what_came_before() {
    let source = repo(SOURCE);
    let bytes = fs::read(&source).unwrap();
    let (_, frames) = read_pcap(&source);
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), frames.len());
    let dir = tempfile::tempdir().unwrap();

    // Cut inside packet k's data, or inside its record header; the last packet too.
    for (k, cut_into_header) in [(57, false), (30, true), (99, false)] {
        let cut = if cut_into_header { offsets[k] + 7 } else { offsets[k] + 16 + frames[k].data.len() / 2 };
        let damaged = dir.path().join(format!("cut-{k}.pcap"));
        fs::write(&damaged, &bytes[..cut]).unwrap();
        let intact = dir.path().join(format!("first-{k}.pcap"));
        write_pcap(&intact, 1, &frames[..k], Endianness::Little, TsResolution::MicroSecond);

        let out = jobwatch(&damaged, "transaction");
        assert_input_error(&out, &damaged, &["damaged"]);
        assert_eq!(events(&out), transactions(&intact), "cut at packet {k}: the transactions before the damage");
        assert!(!events(&out).is_empty());

        // The damage is also an alert in the event stream.
        let out = jobwatch(&damaged, "alert");
        assert!(
            events(&out).iter().any(|e| e["alert"]["kind"] == "sensor_health"),
            "no sensor_health alert for the damaged file"
        );
    }

    // pcapng cut mid-block.
    let ng = dir.path().join("whole.pcapng");
    write_pcapng(&ng, 1, &frames);
    let ng_bytes = fs::read(&ng).unwrap();
    let damaged = dir.path().join("cut.pcapng");
    fs::write(&damaged, &ng_bytes[..ng_bytes.len() * 2 / 3]).unwrap();
    let out = jobwatch(&damaged, "transaction");
    assert_input_error(&out, &damaged, &[]);
    assert!(!events(&out).is_empty(), "the transactions before the damage");
}

#[test]
fn files_that_are_not_captures_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Deterministic noise (xorshift), so that a failure can be reproduced.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let header = fs::read(repo(SOURCE)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pcap", vec![]),
        ("random.bin", noise),
        ("text.pcap", b"this is not a capture file\n".to_vec()),
        ("short-header.pcap", header[..12].to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).unwrap();
        let out = jobwatch(&path, "transaction");
        assert_input_error(&out, &path, &[]);
        assert!(events(&out).is_empty(), "{name}");
    }
    // A missing file, and a second file that is bad after a good one: the good one's events stay.
    let missing = dir.path().join("missing.pcap");
    assert_input_error(&jobwatch(&missing, "transaction"), &missing, &[]);
    let bad = dir.path().join("empty.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
        .arg("-r")
        .arg(repo(SOURCE))
        .arg("-r")
        .arg(&bad)
        .args(["--events", "transaction"])
        .output()
        .unwrap();
    assert_input_error(&out, &bad, &[]);
    assert_eq!(events(&out).len(), 24);
}
