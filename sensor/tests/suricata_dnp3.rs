//! Suricata's DNP3 expectations (OISF/suricata-verify `tests/dnp3/*`, copied under
//! `pcaps/suricata-verify/dnp3-*`: the capture and `test.yaml`) reproduced on jobwatch's output.
//! Suricata logs one EVE `dnp3` record per application fragment and raises app-layer events;
//! jobwatch logs one `transaction` per request/response pair (confirms folded, unsolicited
//! responses on their own) and raises `protocol_anomaly` alerts. The mapping:
//!
//! | case | what Suricata expects | jobwatch's check |
//! |---|---|---|
//! | dnp3-del-measure, dnp3-en-spon, dnp3-file-del, dnp3-file-read, dnp3-file-write, dnp3-select-operate, dnp3-write, dnp3-eve | EVE `dnp3` records (request / response / unsolicited_response): function code, sequence, link src/dst, object group, variation, qualifier, count, start/stop, point values; a `flow` record with `app_proto: dnp3` (dnp3-eve also has a refused connection Suricata does not take for DNP3: skipped); dnp3-eve: 55 records | every `dnp3` filter of test.yaml is read and checked generically ([`check_eve_filter`]): a request ↔ the transaction with that function code, sequence and link addresses; a response ↔ the paired response of the transaction with that sequence (objects found as a run inside `response_objects`, which joins fragments); an unsolicited response ↔ a `status: unsolicited` transaction. Objects: group, variation, qualifier, count, and start/stop where jobwatch has a range. Points: index, `state`, `value`, `delay_ms`, CROB `count`/`ontime`/`offtime`/`status_code`, and the flag bits `online`, `restart`, `comm_lost`, `remote_forced`, `local_forced`. The record count of a filter must equal jobwatch's (where Suricata names the record by `pcap_cnt`, jobwatch, which has no frame numbers and whose sequences wrap at 16, must have it among those that fit). Suricata logs g2v1's whole flag octet as `state`; jobwatch's is bit 7. Not mapped (jobwatch has no such field): link-layer control bits (`dnp3.control.*`), the application control bits, `complete`, `prefix`/`prefix_code`/`range_code`, other point flags, file-transfer fields (g70 is kept as raw hex), `timestamp`, `size`. The `flow` filters map to "jobwatch logged DNP3 for that 4-tuple". |
//! | dnp3-dnp3_func-alert | rule `dnp3_func:21`: 1 alert both ways (sid 1), 1 to-server (sid 2) | rules are Suricata keywords; the fact behind them: exactly 1 transaction with function code 21, requested by the TCP client |
//! | dnp3-dnp3_obj-alert | rule `dnp3_obj:22,01`: 4 alerts; `dnp3_obj:29,01`: 0 | transactions with object g22v1 (request, response or unsolicited): 4; with g29v1: 0 |
//! | dnp3-ind-keyword | `dnp3.ind:device_restart` (and `0x8000`, `device_restart,!need_time`): 2; `dnp3.ind:!0`: 2; `need_time`: 0 | transactions whose `iin_flags` hold `device_restart`: 2; with non-zero `iin`: 2; with `need_time`: 0 |
//! | dnp3-dnp3_data-alert | `dnp3_data; content:"\|02 01 28 01 00\|"`: 4 (to client, in unsolicited responses); `"\|3c 04 06 3c\|"` to server: 1; others 0 | jobwatch keeps no raw application bytes, so content matches do not map; the objects those bytes encode do: unsolicited responses with one g2v1 qualifier 0x28 object of count 1: 4; requests with g60v4 qualifier 6 followed by another g60 header: 1 |
//! | dnp3-flood | 33 request records; event `dnp3.flooded` (more than 32 requests unanswered) | 33 Select transactions, all `no_response`, and one `dnp3.flooded` alert: jobwatch bounds outstanding DNP3 requests at 32 per connection, as Suricata does ([`flood_raises_flooded`]) |
//! | dnp3-max-objects | event `dnp3.too_many_objects` with `max-objects: 7` set in its suricata.yaml | with the same limit (`--max-objects 7`) one `dnp3.too_many_objects`; at the default (2048, Suricata's default too) none ([`max_objects_with_suricatas_configured_limit`]) |
//! | dnp3-max-points | 1 request record (a Write fragment of 33 transport segments, ~8 KiB) and event `dnp3.too_many_points` | one Write transaction (`pending`: the capture ends first) and `dnp3.too_many_points`; jobwatch reassembles fragments up to 63 × 255 bytes as Suricata does, and flags the over-limit header before reading its data (it is also `dnp3.truncated_object`) ([`max_points_raises_too_many_points`]) |
//! | dnp3-too-long-reassembly-request, -response | event `dnp3.too_long_reassembly` once (65 max-size segments beyond Suricata's 63 × 255 bound) | `dnp3.too_long_reassembly` alert once, `app_proto: dnp3`, no transaction |
//! | dnp3-toclient-start | capture starts with the outstation's packets (unsolicited response, response, then the master's confirm); the flow is DNP3 with dest_port 20000 | jobwatch takes the flow as DNP3 though it starts mid-stream to-client: the unsolicited response is a transaction (outstation as requester, src_port 20000), the response whose request was not captured raises `dnp3.unmatched_response` on the flow oriented to port 20000, the confirm is folded (no transaction) |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn case_dir(case: &str) -> PathBuf {
    root().join("pcaps").join("suricata-verify").join(case)
}

/// The capture of a case: its own, or the one its test.yaml names (`pcap: ../dnp3-eve/...`).
fn capture_of(case: &str) -> PathBuf {
    let dir = case_dir(case);
    let yaml = fs::read_to_string(dir.join("test.yaml")).unwrap();
    if let Some(line) = yaml.lines().find(|l| l.starts_with("pcap:")) {
        return dir.join(line["pcap:".len()..].trim());
    }
    fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pcap"))
        .unwrap_or_else(|| panic!("no capture in {dir:?}"))
}

/// jobwatch's events for a case (every point value kept).
fn events(case: &str) -> Vec<Value> {
    events_with(case, &[])
}

/// The events of a case's capture, with extra command-line options (Suricata's case config).
fn events_with(case: &str, options: &[&str]) -> Vec<Value> {
    let capture = capture_of(case);
    let out = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
        .arg("-r")
        .arg(&capture)
        .args(["--events", "transaction,alert", "--max-values", "100000"])
        .args(options)
        .output()
        .unwrap();
    assert!(out.status.success(), "{capture:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn transactions(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event_type"] == "transaction" && e["app_proto"] == "dnp3").collect()
}

fn anomalies<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == "alert" && e["alert"]["anomaly"] == id).collect()
}

/// One `- filter:` of a test.yaml: its count and its `match:` keys, in order.
#[derive(Debug)]
struct Filter {
    count: usize,
    matches: Vec<(String, String)>,
}

impl Filter {
    fn get(&self, key: &str) -> Option<&str> {
        self.matches.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn num(&self, key: &str) -> Option<u64> {
        self.get(key).map(|v| v.parse().unwrap_or_else(|_| panic!("{key}: {v} is not a number")))
    }
}

/// Reads the `checks:` of a suricata-verify test.yaml: a small subset of YAML (block maps,
/// `- filter:` items, scalars, plain scalars folded over continuation lines), all these files use.
fn read_filters(case: &str) -> Vec<Filter> {
    let text = fs::read_to_string(case_dir(case).join("test.yaml")).unwrap();
    let mut filters: Vec<Filter> = Vec::new();
    // Indentation of the current filter's keys and of its match keys.
    let (mut key_indent, mut match_indent, mut in_match) = (None::<usize>, None::<usize>, false);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if trimmed == "- filter:" {
            filters.push(Filter { count: 1, matches: Vec::new() });
            (key_indent, match_indent, in_match) = (None, None, false);
            continue;
        }
        let Some(filter) = filters.last_mut() else { continue };
        let key_indent = *key_indent.get_or_insert(indent);
        if indent < key_indent {
            in_match = false;
            continue;
        }
        if indent == key_indent {
            in_match = trimmed == "match:";
            match_indent = None;
            if let Some(n) = trimmed.strip_prefix("count:") {
                filter.count = n.trim().parse().unwrap();
            }
            continue;
        }
        if !in_match {
            continue;
        }
        let mi = *match_indent.get_or_insert(indent);
        match trimmed.split_once(": ").or_else(|| trimmed.strip_suffix(':').map(|k| (k, ""))) {
            Some((k, v)) if indent == mi => filter.matches.push((k.to_string(), v.trim().to_string())),
            // A plain scalar folded onto the next line.
            _ => {
                let last = filter.matches.last_mut().unwrap();
                last.1 = format!("{} {}", last.1, trimmed);
            }
        }
    }
    filters
}

/// Object headers of a jobwatch object list as (group, variation, qualifier, count, start, stop).
type Header = (u64, u64, u64, Option<u64>, Option<u64>, Option<u64>);

fn headers(list: &Value) -> Vec<Header> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["group"].as_u64().unwrap(),
                        o["variation"].as_u64().unwrap(),
                        o["qualifier"].as_u64().unwrap(),
                        o["count"].as_u64(),
                        o["start"].as_u64(),
                        o["stop"].as_u64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Suricata's `dnp3.application.objects[i].*` of a filter, as far as it has them.
fn filter_objects(f: &Filter) -> Vec<Header> {
    (0..)
        .map_while(|i| {
            let key = |field: &str| format!("dnp3.application.objects[{i}].{field}");
            let group = f.num(&key("group"))?;
            Some((
                group,
                f.num(&key("variation")).unwrap(),
                f.num(&key("qualifier")).unwrap(),
                f.num(&key("count")),
                f.num(&key("start")),
                f.num(&key("stop")),
            ))
        })
        .collect()
}

/// A Suricata header agrees with jobwatch's: group, variation, qualifier; count where both have
/// one; start/stop where jobwatch has a range (Suricata writes 0 when the qualifier has none).
fn header_agrees(s: &Header, j: &Header) -> bool {
    s.0 == j.0
        && s.1 == j.1
        && s.2 == j.2
        && (s.3.is_none() || j.3.is_none() || s.3 == j.3)
        && (j.4.is_none() || s.4 == j.4)
        && (j.5.is_none() || s.5 == j.5)
}

/// Suricata's objects as a run inside jobwatch's list (a response's fragments are joined).
fn objects_found(theirs: &[Header], ours: &[Header]) -> bool {
    theirs.is_empty() || ours.windows(theirs.len()).any(|w| w.iter().zip(theirs).all(|(j, s)| header_agrees(s, j)))
}

/// Groups whose point values jobwatch decodes (issue 3: inputs and outputs, counters, analogs;
/// CROB, time, delay). File transfer (g70) is kept as object headers only: not mapped.
fn values_decoded(group: u64) -> bool {
    matches!(group, 1..=4 | 10 | 12 | 20..=23 | 30..=34 | 40..=43 | 50 | 52)
}

/// Suricata's point fields checked against jobwatch's point of the same group, variation and
/// index.
fn points_agree(f: &Filter, points: &[Value], failures: &mut Vec<String>) {
    const FLAG_BITS: [(&str, u64); 5] =
        [("online", 0), ("restart", 1), ("comm_lost", 2), ("remote_forced", 3), ("local_forced", 4)];
    for (i, (group, variation, ..)) in filter_objects(f).into_iter().enumerate() {
        if !values_decoded(group) {
            continue;
        }
        for p in 0.. {
            let key = |field: &str| format!("dnp3.application.objects[{i}].points[{p}].{field}");
            let Some(index) = f.num(&key("index")) else { break };
            let Some(ours) = points.iter().find(|q| {
                q["group"].as_u64() == Some(group)
                    && q["variation"].as_u64() == Some(variation)
                    && q["index"].as_u64() == Some(index)
            }) else {
                failures.push(format!("no jobwatch point g{group}v{variation} index {index}"));
                continue;
            };
            let value = &ours["value"];
            let state = value.as_bool().map(|b| f64::from(u8::from(b))).or_else(|| value.as_f64());
            if (group, variation) == (2, 1) {
                // Suricata logs g2v1's whole flag octet as `state` (1 = online, 129 = online
                // and on); the state is bit 7.
                if let Some(want) = f.num(&key("state")) {
                    if state != Some(((want >> 7) & 1) as f64) {
                        failures.push(format!("g2v1 index {index} state octet {want}, jobwatch {state:?}"));
                    }
                }
            }
            let mut expect = |field: &str, got: Option<f64>| {
                if let Some(want) = f.get(&key(field)) {
                    let want: f64 = want.parse().unwrap();
                    if got != Some(want) {
                        failures.push(format!(
                            "g{group}v{variation} index {index} {field}: Suricata {want}, jobwatch {got:?}"
                        ));
                    }
                }
            };
            if (group, variation) != (2, 1) {
                expect("state", state);
            }
            if value.is_number() {
                expect("value", value.as_f64());
            }
            if group == 52 {
                expect("delay_ms", value.as_f64());
            }
            if group == 12 {
                expect("count", value["count"].as_f64());
                expect("ontime", value["on_time_ms"].as_f64());
                expect("offtime", value["off_time_ms"].as_f64());
                expect("status_code", value["status"].as_f64());
            }
            if let Some(flags) = ours["flags"].as_u64() {
                for (name, bit) in FLAG_BITS {
                    expect(name, Some(((flags >> bit) & 1) as f64));
                }
            }
        }
    }
}

/// jobwatch's records that one Suricata `dnp3` filter describes; failures for what disagrees.
fn check_eve_filter(f: &Filter, txns: &[&Value], failures: &mut Vec<String>) -> usize {
    let kind = f.get("dnp3.type").unwrap();
    let fc = f.num("dnp3.application.function_code");
    let seq = f.num("dnp3.application.control.sequence");
    let (src, dst) = (f.num("dnp3.src"), f.num("dnp3.dst"));
    let theirs = filter_objects(f);
    let found: Vec<&Value> = txns
        .iter()
        .filter(|t| {
            let d = &t["dnp3"];
            let unsolicited = t["status"] == "unsolicited";
            match kind {
                "request" => {
                    !unsolicited
                        && t["function_code"].as_u64() == fc
                        && d["sequence"].as_u64() == seq
                        && d["source"].as_u64() == src
                        && d["destination"].as_u64() == dst
                        && f.num("src_port").is_none_or(|p| t["src_port"].as_u64() == Some(p))
                        && objects_found(&theirs, &headers(&d["objects"]))
                }
                "response" => {
                    // Later fragments of a response count on from the request's sequence.
                    let n = d["response_fragments"].as_u64().unwrap_or(0);
                    let first = d["sequence"].as_u64().unwrap();
                    !unsolicited
                        && n > 0
                        && seq.is_some_and(|s| (0..n).any(|k| (first + k) % 16 == s))
                        && d["source"].as_u64() == dst
                        && d["destination"].as_u64() == src
                        && objects_found(&theirs, &headers(&d["response_objects"]))
                }
                "unsolicited_response" => {
                    unsolicited
                        && d["sequence"].as_u64() == seq
                        && d["source"].as_u64() == src
                        && d["destination"].as_u64() == dst
                        && objects_found(&theirs, &headers(&d["response_objects"]))
                }
                other => panic!("unknown dnp3.type {other}"),
            }
        })
        .copied()
        .collect();
    // Suricata names one record by its frame (`pcap_cnt`); jobwatch has no frame number, and
    // the sequence wraps every 16 requests, so a filter may fit several records: the one
    // Suricata means must be among them, and its points must agree.
    let enough =
        if f.count == 0 || f.get("pcap_cnt").is_none() { found.len() == f.count } else { found.len() >= f.count };
    if !enough {
        failures.push(format!(
            "{kind} fc {fc:?} seq {seq:?} {src:?}->{dst:?} objects {theirs:?}: Suricata {} record(s), jobwatch {}",
            f.count,
            found.len()
        ));
    }
    let attempts: Vec<Vec<String>> = found
        .iter()
        .map(|t| {
            let mut problems = Vec::new();
            let points: Vec<Value> = t["dnp3"]["points"].as_array().cloned().unwrap_or_default();
            points_agree(f, &points, &mut problems);
            problems
        })
        .collect();
    if !attempts.iter().any(Vec::is_empty) {
        failures.extend(attempts.into_iter().next().unwrap_or_default());
    }
    found.len()
}

/// jobwatch's units that Suricata logs as `dnp3` records: requests, response fragments and
/// unsolicited responses (Suricata logs no confirm; jobwatch folds them).
fn record_count(txns: &[&Value]) -> u64 {
    txns.iter()
        .map(|t| {
            let fragments = t["dnp3"]["response_fragments"].as_u64().unwrap_or(0);
            1 + fragments
        })
        .sum()
}

#[test]
fn eve_records_map() {
    let cases = [
        "dnp3-del-measure",
        "dnp3-en-spon",
        "dnp3-eve",
        "dnp3-file-del",
        "dnp3-file-read",
        "dnp3-file-write",
        "dnp3-select-operate",
        "dnp3-write",
    ];
    let mut failures = Vec::new();
    let (mut checked, mut flows) = (0, 0);
    for case in cases {
        let events = events(case);
        let txns = transactions(&events);
        let mut problems = Vec::new();
        for f in read_filters(case) {
            match f.get("event_type") {
                Some("dnp3") if f.get("dnp3.type").is_none() => {
                    let n = record_count(&txns);
                    if n != f.count as u64 {
                        problems.push(format!("dnp3 records: Suricata {}, jobwatch {n}", f.count));
                    }
                }
                Some("dnp3") => {
                    check_eve_filter(&f, &txns, &mut problems);
                    checked += 1;
                }
                // A flow Suricata did not take for DNP3 (dnp3-eve: a refused connection).
                Some("flow") if f.get("app_proto").is_none() => {}
                Some("flow") => {
                    flows += 1;
                    assert_eq!(f.get("app_proto"), Some("dnp3"), "{case}");
                    let port = f.num("src_port");
                    let ok = txns.iter().any(|t| {
                        (t["src_port"].as_u64() == port || t["dest_port"].as_u64() == port)
                            && (t["dest_port"].as_u64() == f.num("dest_port")
                                || t["src_port"].as_u64() == f.num("dest_port"))
                    });
                    if !ok {
                        problems.push(format!("no DNP3 transaction on the flow {:?}", f.matches));
                    }
                }
                other => panic!("{case}: unexpected filter {other:?}"),
            }
        }
        failures.extend(problems.into_iter().map(|p| format!("{case}: {p}")));
    }
    println!("{checked} dnp3 record filters and {flows} flow filters checked");
    assert!(checked >= 70, "only {checked} dnp3 filters read: is test.yaml parsed?");
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}

fn has_object(t: &Value, group: u64, variation: u64) -> bool {
    let d = &t["dnp3"];
    headers(&d["objects"])
        .iter()
        .chain(headers(&d["response_objects"]).iter())
        .any(|h| (h.0, h.1) == (group, variation))
}

#[test]
fn rule_cases_map_to_transactions() {
    // The three rule cases read dnp3-eve's capture.
    for case in ["dnp3-dnp3_func-alert", "dnp3-dnp3_obj-alert", "dnp3-ind-keyword", "dnp3-dnp3_data-alert"] {
        assert!(capture_of(case).ends_with("dnp3-eve/input.pcap"), "{case}");
    }
    let events = events("dnp3-eve");
    let txns = transactions(&events);

    // dnp3_func:21, both ways 1, to-server 1 (the master is the TCP client).
    let fc21: Vec<_> = txns.iter().filter(|t| t["function_code"] == 21).collect();
    assert_eq!(fc21.len(), 1);
    assert_eq!(fc21[0]["dest_port"], 20000);

    // dnp3_obj:22,01 → 4; dnp3_obj:29,01 → 0.
    assert_eq!(txns.iter().filter(|t| has_object(t, 22, 1)).count(), 4);
    assert_eq!(txns.iter().filter(|t| has_object(t, 29, 1)).count(), 0);

    // dnp3.ind: device_restart (0x8000 in Suricata's IIN1-high order) → 2; !0 → 2; need_time → 0.
    let flagged = |name: &str| {
        txns.iter().filter(|t| t["dnp3"]["iin_flags"].as_array().is_some_and(|a| a.iter().any(|f| f == name))).count()
    };
    assert_eq!(flagged("device_restart"), 2);
    assert_eq!(flagged("need_time"), 0);
    assert_eq!(txns.iter().filter(|t| t["dnp3"]["iin"].as_u64().is_some_and(|i| i != 0)).count(), 2);
    let restart = txns.iter().find(|t| flagged("device_restart") > 0 && t["dnp3"]["iin"].as_u64().is_some()).unwrap();
    assert_eq!(restart["dnp3"]["iin"], 0x0080, "IIN1 bit 7 (Suricata's 0x8000) in jobwatch's IIN1-low order");

    // dnp3_data content |02 01 28 01 00| (g2v1, qualifier 0x28, count 1) → 4 unsolicited.
    let g2v1 = txns
        .iter()
        .filter(|t| {
            t["status"] == "unsolicited"
                && headers(&t["dnp3"]["response_objects"]) == [(2, 1, 0x28, Some(1), None, None)]
        })
        .count();
    assert_eq!(g2v1, 4);
    // |3c 04 06 3c| to server (g60v4 qualifier 6, then another g60 header) → 1.
    let class_read = txns
        .iter()
        .filter(|t| {
            let h = headers(&t["dnp3"]["objects"]);
            h.windows(2).any(|w| (w[0].0, w[0].1, w[0].2) == (60, 4, 6) && w[1].0 == 60)
        })
        .count();
    assert_eq!(class_read, 1);
}

#[test]
fn flood_requests_logged() {
    let events = events("dnp3-flood");
    let txns = transactions(&events);
    let requests: Vec<_> = txns.iter().filter(|t| t["status"] != "unsolicited").collect();
    assert_eq!(requests.len(), 33, "Suricata logs 33 request records");
    assert!(requests.iter().all(|t| t["function_code"] == 3 && t["status"] == "no_response"));
}

/// Suricata raises `dnp3.flooded` when more than 32 requests are unanswered; so does jobwatch
/// (its DNP3 sessions bound outstanding requests at 32: a master has one per outstation).
#[test]
fn flood_raises_flooded() {
    assert_eq!(anomalies(&events("dnp3-flood"), "dnp3.flooded").len(), 1);
}

#[test]
fn max_objects_with_suricatas_configured_limit() {
    let configured = events_with("dnp3-max-objects", &["--max-objects", "7"]);
    assert_eq!(anomalies(&configured, "dnp3.too_many_objects").len(), 1, "Suricata's case sets max-objects: 7");
    let default = events("dnp3-max-objects");
    assert!(anomalies(&default, "dnp3.too_many_objects").is_empty(), "below the default limit of 2048");
}

/// Suricata reassembles the ~8 KiB Write (its bound is 63 × 255 bytes), logs it and raises
/// `too_many_points`. jobwatch's sensor uses the same fragment bound (it used 2048 bytes until
/// this case showed the gap) and flags a header declaring more points than the limit before
/// looking at its data.
#[test]
fn max_points_raises_too_many_points() {
    let events = events("dnp3-max-points");
    assert_eq!(transactions(&events).len(), 1);
    assert_eq!(anomalies(&events, "dnp3.too_many_points").len(), 1);
}

#[test]
fn too_long_reassembly() {
    for case in ["dnp3-too-long-reassembly-request", "dnp3-too-long-reassembly-response"] {
        let events = events(case);
        let alerts = anomalies(&events, "dnp3.too_long_reassembly");
        assert_eq!(alerts.len(), 1, "{case}");
        assert_eq!(alerts[0]["app_proto"], "dnp3", "{case}");
        assert!(transactions(&events).is_empty(), "{case}");
    }
}

#[test]
fn toclient_midstream_start() {
    let events = events("dnp3-toclient-start");
    let txns = transactions(&events);
    assert_eq!(txns.len(), 1, "the unsolicited response; the confirm is folded");
    assert_eq!(txns[0]["status"], "unsolicited");
    assert_eq!(txns[0]["src_port"], 20000, "the outstation is the requester of an unsolicited response");
    let unmatched = anomalies(&events, "dnp3.unmatched_response");
    assert_eq!(unmatched.len(), 1, "the response to a request before the capture");
    assert_eq!(unmatched[0]["dest_port"], 20000, "the flow is oriented to the DNP3 port");
}

#[test]
fn yaml_subset_reads() {
    let filters = read_filters("dnp3-file-del");
    let f = &filters[0];
    assert_eq!(f.count, 1);
    assert_eq!(f.get("dnp3.application.function_code"), Some("27"));
    assert_eq!(
        f.get("dnp3.application.objects[0].points[0].filename"),
        Some("C:/temp/DNPDeviceConfiguration written to Remote Device.xml")
    );
    let obj = read_filters("dnp3-dnp3_obj-alert");
    assert_eq!(obj.len(), 3);
    assert_eq!(obj[2].get("packet_info.linktype_name"), Some("EN10MB"));
}
