use super::*;
use crate::capture::Packet;
use crate::plant::tests::check_tcp;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::collections::HashMap;

fn config(seed: u64, anomalies: Vec<AnomalyKind>) -> ScenarioConfig {
    let test = MIN_SLOT * (anomalies.len() as u32 + 1);
    ScenarioConfig {
        seed,
        train: Duration::from_secs(120),
        test: test.max(Duration::from_secs(60)),
        anomalies,
        ..ScenarioConfig::default()
    }
}

fn generate(s: &Scenario) -> (Vec<Packet>, Vec<Packet>, Labels) {
    let mut train = Vec::new();
    let mut test = Vec::new();
    let a = s.run(Phase::Train, &mut train).unwrap();
    let b = s.run(Phase::Test, &mut test).unwrap();
    (train, test, s.labels(&a, &b))
}

/// One application PDU seen on the wire.
#[derive(Debug)]
struct Seen {
    ts: Duration,
    client: Ipv4Addr,
    server: Ipv4Addr,
    to_server: bool,
    port: u16,
    bytes: Vec<u8>,
}

fn pdu_len(port: u16, b: &[u8]) -> Option<usize> {
    match port {
        502 => (b.len() >= 6).then(|| 6 + usize::from(u16::from_be_bytes([b[4], b[5]]))),
        20000 => dnp3::frame_len(b),
        _ => s7comm::tpkt_len(b),
    }
}

/// Reassembles every direction into PDUs stamped with the time of their first segment; a
/// sequence jump (the capture gap) restarts the direction's buffer.
fn pdus(packets: &[Packet]) -> Vec<Seen> {
    // Per direction: next sequence number, unparsed bytes, time of their first segment.
    type Dir = (u32, Vec<u8>, Duration);
    let mut dirs: HashMap<(Ipv4Addr, u16, Ipv4Addr, u16), Dir> = HashMap::new();
    let mut out = Vec::new();
    for p in packets {
        let sliced = SlicedPacket::from_ethernet(&p.frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else { panic!("not IPv4") };
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { panic!("not TCP") };
        let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
        let key = (src, tcp.source_port(), dst, tcp.destination_port());
        let to_server = [502, 20000, 102].contains(&tcp.destination_port());
        let port = if to_server { tcp.destination_port() } else { tcp.source_port() };
        let payload = tcp.payload();
        let dir = dirs.entry(key).or_insert((tcp.sequence_number(), Vec::new(), p.ts));
        if tcp.syn() {
            dir.0 = tcp.sequence_number().wrapping_add(1);
            continue;
        }
        if tcp.sequence_number() != dir.0 {
            dir.1.clear();
        }
        dir.0 = tcp.sequence_number().wrapping_add(payload.len() as u32 + u32::from(tcp.fin()));
        if payload.is_empty() {
            continue;
        }
        if dir.1.is_empty() {
            dir.2 = p.ts;
        }
        dir.1.extend_from_slice(payload);
        while let Some(len) = pdu_len(port, &dir.1).filter(|&l| l <= dir.1.len() && l > 0) {
            let bytes: Vec<u8> = dir.1.drain(..len).collect();
            let (client, server) = if to_server { (src, dst) } else { (dst, src) };
            out.push(Seen { ts: dir.2, client, server, to_server, port, bytes });
            dir.2 = p.ts;
        }
    }
    out
}

/// DNP3 user data without the link header and block CRCs.
fn dnp3_user(frame: &[u8]) -> Vec<u8> {
    frame[10..].chunks(18).flat_map(|c| c[..c.len() - 2].to_vec()).collect()
}

/// What identifies a request, without its sequence numbers.
fn key(port: u16, b: &[u8]) -> Vec<u8> {
    if port == 502 {
        // Modbus: unit, function, address (and quantity for reads).
        let end = if b[7] <= 4 { 12 } else { 10 };
        return b[6..end.min(b.len())].to_vec();
    }
    if port == 20000 {
        return dnp3_user(b)[2..].to_vec();
    }
    // S7: ROSCTR and the parameters (COTP connection TPDUs as they are).
    if b.len() < 17 || b[5..7] != [0xF0, 0x80] {
        return b.to_vec();
    }
    let params = if b.get(8) == Some(&3) { 19 } else { 17 };
    let len = usize::from(u16::from_be_bytes([b[13], b[14]]));
    let mut k = vec![b[8]];
    k.extend_from_slice(&b[params..params + len]);
    k
}

/// The request bytes a job sends, as the generator builds them (sequence numbers zero).
fn request(s: &Scenario, job: &JobDef) -> Vec<u8> {
    let conn = &s.conns[job.conn];
    let mut out = Vec::new();
    match &job.op {
        Op::Modbus(r) => modbus::write_adu(0, conn.unit, &mut out, |o| r.write_pdu(o)),
        Op::Dnp3(r) => {
            let mut apdu = Vec::new();
            r.write_apdu(0, &mut apdu);
            let link =
                dnp3::LinkHeader { from_master: true, destination: conn.dnp3_outstation, source: conn.dnp3_master };
            dnp3::write_frame(link, 0, &apdu, &mut out);
        }
        Op::S7Read(items) => s7comm::write_pdu(s7comm::Rosctr::JOB, 0, None, &s7comm::read_var(items), &mut out),
        _ => unreachable!("jobs are reads or writes"),
    }
    out
}

fn us(label_us: u64) -> Duration {
    Duration::from_micros(label_us)
}

#[test]
fn clean_scenario_has_no_labels_valid_tcp_and_is_deterministic() {
    let s = Scenario::new(config(4, Vec::new())).unwrap();
    let (train, test, labels) = generate(&s);
    assert!(labels.anomalies.is_empty());
    assert!(train.len() > 1000 && test.len() > 500);
    for packets in [&train, &test] {
        assert!(packets.windows(2).all(|w| w[0].ts <= w[1].ts), "timeline in order");
        check_tcp(packets, false);
    }
    // Every protocol is there, and every train job polls.
    let seen = pdus(&train);
    for proto in Protocol::ALL {
        assert!(seen
            .iter()
            .any(|p| p.to_server && s.conns.iter().any(|c| c.server.ip == p.server && c.protocol == proto)));
    }
    for job in s.jobs.iter().filter(|j| j.in_train) {
        let k = key(s.conns[job.conn].protocol.port(), &request(&s, job));
        let conn = &s.conns[job.conn];
        let polls = seen
            .iter()
            .filter(|p| {
                p.to_server && p.server == conn.server.ip && p.client == conn.client.ip && key(p.port, &p.bytes) == k
            })
            .count() as f64;
        let expected = 120.0 / job.period.as_secs_f64();
        assert!((polls - expected).abs() <= expected * 0.1 + 2.0, "{polls} polls, {expected} expected");
    }
    // Same seed, same bytes and labels; another seed, another capture.
    let again = generate(&Scenario::new(config(4, Vec::new())).unwrap());
    assert!(again.0 == train && again.1 == test && again.2 == labels);
    let other = generate(&Scenario::new(config(5, Vec::new())).unwrap());
    assert!(other.0 != train);
}

#[test]
fn every_anomaly_is_labelled_and_visible() {
    for seed in [7, 21, 1234] {
        check_every_anomaly(seed);
    }
}

fn check_every_anomaly(seed: u64) {
    let s = Scenario::new(config(seed, AnomalyKind::ALL.to_vec())).unwrap();
    let (train, test, labels) = generate(&s);
    // Deterministic with anomalies too.
    assert!(generate(&Scenario::new(config(seed, AnomalyKind::ALL.to_vec())).unwrap()).2 == labels);
    let mut kinds: Vec<AnomalyKind> = labels.anomalies.iter().map(|l| l.anomaly).collect();
    kinds.sort();
    assert_eq!(kinds, AnomalyKind::ALL.to_vec());
    let interface = [
        "job_late",
        "job_missed",
        "job_stopped",
        "job_period_changed",
        "response_slow",
        "job_failed",
        "new_job",
        "new_talker",
        "unexpected_command",
        "sensor_health",
    ];
    let train_pdus = pdus(&train);
    let test_pdus = pdus(&test);
    for label in &labels.anomalies {
        assert!(interface.contains(&label.kind.as_str()));
        assert!(label.start_us <= label.end_us && label.start_us >= labels.test.start_us, "{label:?}");
        assert_eq!(label.category.is_some(), label.kind == "unexpected_command");
        let (start, end) = (us(label.start_us), us(label.end_us));
        let on_pair = |p: &&Seen| Some(p.client) == label.master && Some(p.server) == label.outstation;
        let job = label.job_id.map(|j| &s.jobs[j]);
        let job_key = job.map(|j| key(s.conns[j.conn].protocol.port(), &request(&s, j)));
        let polls: Vec<&Seen> = test_pdus
            .iter()
            .filter(on_pair)
            .filter(|p| p.to_server && Some(key(p.port, &p.bytes)) == job_key)
            .collect();
        let period = job.map_or(Duration::ZERO, |j| j.period);
        let answer = |req: &Seen| -> Option<&Seen> {
            test_pdus
                .iter()
                .find(|p| !p.to_server && p.ts >= req.ts && p.client == req.client && p.server == req.server)
        };
        let msg = format!("{label:?}");
        match label.anomaly {
            AnomalyKind::JobStopped => {
                assert!(polls.iter().any(|p| p.ts < start), "{msg}");
                assert!(polls.iter().all(|p| p.ts < start), "{msg}");
            }
            AnomalyKind::JobLate | AnomalyKind::JobMissed => {
                let i = polls.iter().position(|p| p.ts == end).expect("the poll ending the window");
                let gap = polls[i].ts - polls[i - 1].ts;
                let least = match job.and_then(|j| j.test_mod) {
                    Some((_, JobMod::Miss { count }, _)) => period.mul_f64(f64::from(count) + 0.5),
                    _ => period.mul_f64(1.4),
                };
                assert!(gap >= least, "{msg}: gap {gap:?}");
            }
            AnomalyKind::JobPeriodChanged => {
                let Some((_, JobMod::Period { period: new }, _)) = job.and_then(|j| j.test_mod) else { panic!() };
                let after: Vec<Duration> =
                    polls.windows(2).filter(|w| w[0].ts >= start).map(|w| w[1].ts - w[0].ts).collect();
                assert!(after.len() >= 3, "{msg}");
                let mut sorted = after.clone();
                sorted.sort();
                let median = sorted[sorted.len() / 2].as_secs_f64();
                assert!((median / new.as_secs_f64() - 1.0).abs() < 0.05, "{msg}: median {median}");
                let before: Vec<&Seen> = polls.iter().copied().filter(|p| p.ts < start).collect();
                let old = (before[before.len() - 1].ts - before[before.len() - 2].ts).as_secs_f64();
                assert!((old / period.as_secs_f64() - 1.0).abs() < 0.05);
            }
            AnomalyKind::ResponseSlow
            | AnomalyKind::FailureException
            | AnomalyKind::FailureNoResponse
            | AnomalyKind::FailureDnp3Iin
            | AnomalyKind::FailureS7Error => {
                let conn = &s.conns[job.unwrap().conn];
                let affected: Vec<&&Seen> = polls.iter().filter(|p| p.ts >= start && p.ts <= end).collect();
                let Some((_, JobMod::Slow { count } | JobMod::Fail { count, .. }, _)) = job.and_then(|j| j.test_mod)
                else {
                    panic!("{msg}")
                };
                assert_eq!(affected.len() as u32, count, "{msg}");
                assert!(count >= 2);
                for req in affected {
                    let resp = answer(req);
                    match label.anomaly {
                        AnomalyKind::ResponseSlow => {
                            let rt = resp.unwrap().ts - req.ts;
                            assert!(rt >= conn.response_time * 3, "{msg}: {rt:?}");
                        }
                        AnomalyKind::FailureException => {
                            assert_eq!(resp.unwrap().bytes[7], req.bytes[7] | 0x80, "{msg}")
                        }
                        AnomalyKind::FailureNoResponse => {
                            assert!(resp.is_none_or(|r| r.ts > req.ts + period / 2), "{msg}")
                        }
                        AnomalyKind::FailureDnp3Iin => {
                            let user = dnp3_user(&resp.unwrap().bytes);
                            assert!(dnp3::Iin(u16::from_be_bytes([user[3], user[4]])).is_error(), "{msg}");
                        }
                        _ => assert_eq!(resp.unwrap().bytes[17..19], [0x81, 0x04], "{msg}"),
                    }
                }
                // Before and after the window the job answers normally.
                let normal = polls.iter().find(|p| p.ts < start).and_then(|p| answer(p)).unwrap();
                assert!(normal.bytes.len() > 12 || label.anomaly == AnomalyKind::ResponseSlow);
            }
            AnomalyKind::NewJob | AnomalyKind::NewTalker => {
                if label.anomaly == AnomalyKind::NewJob {
                    assert_eq!(polls.first().map(|p| p.ts), Some(start), "{msg}");
                } else {
                    // From the connection's opening, before the first poll.
                    assert!(polls.first().is_some_and(|p| p.ts >= start), "{msg}");
                    assert!(test.iter().any(|p| p.ts == start), "{msg}: a packet opens the label");
                }
                let in_train = |p: &&Seen| {
                    on_pair(p) && (label.anomaly == AnomalyKind::NewTalker || Some(key(p.port, &p.bytes)) == job_key)
                };
                assert!(!train_pdus.iter().any(|p| in_train(&p)), "{msg}");
                assert!(!test_pdus
                    .iter()
                    .any(|p| in_train(&p) && p.ts < start && p.to_server && Some(key(p.port, &p.bytes)) == job_key));
            }
            AnomalyKind::CaptureGap => {
                assert!(!test.iter().any(|p| p.ts >= start && p.ts < end), "{msg}");
                assert!(test.iter().any(|p| p.ts < start) && test.iter().any(|p| p.ts >= end));
            }
            _ => {
                let window: Vec<&Seen> =
                    test_pdus.iter().filter(on_pair).filter(|p| p.ts >= start && p.ts <= end).collect();
                let first = window.first().expect("the command's packets");
                assert!(first.to_server && first.ts == start, "{msg}");
                let (proto, fc) = match label.anomaly {
                    AnomalyKind::ModbusWrite => (Protocol::Modbus, 16),
                    AnomalyKind::Dnp3DirectOperate => (Protocol::Dnp3, 5),
                    AnomalyKind::Dnp3ColdRestart => (Protocol::Dnp3, 13),
                    AnomalyKind::S7PlcStop => (Protocol::S7comm, 0x29),
                    _ => (Protocol::S7comm, 0x1A),
                };
                assert_eq!(label.protocol, Some(proto));
                let k = key(first.port, &first.bytes);
                let function = if proto == Protocol::S7comm { k[1] } else { k[usize::from(proto == Protocol::Modbus)] };
                assert_eq!(function, fc, "{msg}");
                if label.anomaly == AnomalyKind::S7ProgramDownload {
                    // Request download, 2 × download block, download ended, PI _INSE; jobs and acks.
                    let functions: Vec<(u8, u8)> =
                        window.iter().map(|p| (p.bytes[8], key(p.port, &p.bytes)[1])).collect();
                    let jobs: Vec<u8> = functions.iter().filter(|f| f.0 == 1).map(|f| f.1).collect();
                    assert_eq!(jobs, [0x1A, 0x1B, 0x1B, 0x1C, 0x28], "{msg}");
                    assert_eq!(functions.len(), 10);
                }
                // Never sent in the train phase on that pair.
                assert!(!train_pdus.iter().any(|p| on_pair(&p) && key(p.port, &p.bytes) == k));
            }
        }
    }
    // The test capture is valid TCP when no packets are dropped.
    let no_gap: Vec<AnomalyKind> = AnomalyKind::ALL.into_iter().filter(|k| *k != AnomalyKind::CaptureGap).collect();
    let s = Scenario::new(config(seed, no_gap)).unwrap();
    let (_, test, _) = generate(&s);
    check_tcp(&test, false);
}

#[test]
fn anomaly_lists() {
    assert_eq!(AnomalyKind::parse_list("all").unwrap().len(), 17);
    assert!(AnomalyKind::parse_list("none").unwrap().is_empty());
    assert_eq!(
        AnomalyKind::parse_list("job_late, capture_gap,job_late").unwrap(),
        [AnomalyKind::JobLate, AnomalyKind::CaptureGap]
    );
    let e = AnomalyKind::parse_list("job_lat").unwrap_err().to_string();
    assert!(e.starts_with("unknown anomaly \"job_lat\""), "{e}");
    for kind in AnomalyKind::ALL {
        assert_eq!(AnomalyKind::from_name(kind.name()), Some(kind));
    }
    let short = ScenarioConfig {
        test: Duration::from_secs(30),
        anomalies: AnomalyKind::ALL.to_vec(),
        ..ScenarioConfig::default()
    };
    assert!(Scenario::new(short).unwrap_err().to_string().contains("too short"));
}

#[test]
fn timestamps() {
    assert_eq!(rfc3339(Duration::from_micros(1_704_067_200_000_001)), "2024-01-01T00:00:00.000001Z");
    assert_eq!(rfc3339(Duration::from_secs(951_782_400 + 86_399)), "2000-02-29T23:59:59.000000Z");
    assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000000Z");
}

#[test]
fn labels_round_trip_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario::new(config(9, vec![AnomalyKind::JobStopped, AnomalyKind::S7PlcStop])).unwrap();
    let labels = s.write_to_dir(dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("labels.json")).unwrap();
    let back: Labels = serde_json::from_str(&text).unwrap();
    assert_eq!(back, labels);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["anomalies"][1]["category"], "control");
    assert!(value["anomalies"][0].get("category").is_none(), "absent, not null");
    // The pcap files hold what the run produced.
    let (_, test, _) = generate(&s);
    let bytes = std::fs::read(dir.path().join("test.pcap")).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        assert_eq!(p.unwrap().data.as_ref(), &test[n].frame[..]);
        n += 1;
    }
    assert_eq!(n, test.len());
    assert_eq!(labels.test.packets, n as u64);
}

/// tshark dissects a clean scenario without malformed packets or warnings, and a scenario with
/// anomalies with only the warnings its failures and gap explain. Skipped without tshark.
#[test]
fn tshark_finds_nothing_malformed() {
    if std::process::Command::new("tshark").arg("-v").output().is_err() {
        eprintln!("tshark not found: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario::new(config(11, AnomalyKind::ALL.to_vec())).unwrap();
    s.write_to_dir(dir.path()).unwrap();
    for (file, allowed) in
        [("train.pcap", &[][..]), ("test.pcap", &["IIN Abnormality", "not captured", "wasn't captured"][..])]
    {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(dir.path().join(file))
            .args([
                "-Y",
                "_ws.malformed || _ws.expert.severity >= warning",
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "_ws.expert.message",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            assert!(allowed.iter().any(|a| line.contains(a)), "{file}: {line}");
        }
    }
}
