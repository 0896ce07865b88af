//! Baseline files as a user would write them, through the public API: a good file loads, and
//! each kind of bad file gets its exact `file:line:col: message`, so that the message format
//! (which users and editors rely on) cannot change unnoticed.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;

use sensor::jobs::baseline::{Baseline, JobEntry, ResponseEntry};
use sensor::yaml::YamlError;

const GOOD: &str = r#"# A hand-written baseline.
version: 1
learned:
  from: "2024-05-01T10:00:00Z"
  to: "2024-05-01T11:00:00Z"
  captures: [plant.pcap]
talkers:
  - protocol: modbus
    master: 10.0.0.1
    outstation: 10.0.0.2
    port: 502
    transactions: 7200
  - {protocol: dnp3, master: "fd00::1", outstation: "fd00::2", port: 20000}
jobs:
  - key: "modbus unit=4 fc=3 addr=690 qty=28"
    protocol: modbus
    master: 10.0.0.1
    outstation: 10.0.0.2
    port: 502
    signature: "Read Holding Registers – unit 4, 690..717"
    function_code: 3
    category: read
    periodic: true
    period_ms: 1000
    tolerance_ms: 150
    stop_after_ms: 10000
    response_ms: {p50: 4, p99: 9.5, max: 15, alert_above: 50}
    count: 3600
commands:
  - key: "modbus unit=4 fc=6 addr=10"
    protocol: modbus
    master: 10.0.0.1
    outstation: 10.0.0.2
    port: 502
    function_code: 6
    category: write
    periodic: false
"#;

/// The good file with `from` replaced by `to` (each exactly once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "{from}");
    GOOD.replace(from, to)
}

fn error(text: &str) -> String {
    match Baseline::from_str("baseline.yaml", text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn good_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.yaml");
    std::fs::write(&path, GOOD).unwrap();
    let b = Baseline::load(&path).unwrap();
    assert_eq!(b.version, 1);
    assert_eq!(b.learned.as_ref().unwrap().captures, ["plant.pcap"]);
    assert_eq!(b.talkers.len(), 2);
    assert_eq!(b.talkers[1].master, ip("fd00::1"));
    assert_eq!(b.talkers[1].transactions, 0);
    assert_eq!(
        b.jobs,
        [JobEntry {
            key: "modbus unit=4 fc=3 addr=690 qty=28".into(),
            protocol: "modbus".into(),
            master: ip("10.0.0.1"),
            outstation: ip("10.0.0.2"),
            port: 502,
            signature: "Read Holding Registers – unit 4, 690..717".into(),
            function_code: 3,
            category: "read".into(),
            periodic: true,
            period_ms: Some(1000.0),
            tolerance_ms: Some(150.0),
            jitter_ms: None,
            stop_after_ms: Some(10_000.0),
            response_ms: Some(ResponseEntry { p50: 4.0, p99: 9.5, max: 15.0, alert_above: 50.0 }),
            failure_ratio: 0.0,
            count: 3600,
        }]
    );
    assert_eq!(b.commands.len(), 1);
    assert_eq!(b.commands[0].period_ms, None);

    // What jobwatch writes, it reads back.
    let out = dir.path().join("written.yaml");
    b.write(&out).unwrap();
    assert_eq!(Baseline::load(&out).unwrap(), b);
}

#[test]
fn errors_name_the_file_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.yaml");
    std::fs::write(&path, edit("version: 1", "version: 3")).unwrap();
    let e: YamlError = Baseline::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2:10: unsupported baseline version 3: this jobwatch reads version 1", path.display())
    );
    assert_eq!((e.line, e.column), (Some(2), Some(10)));

    let missing = dir.path().join("missing.yaml");
    let e = Baseline::load(&missing).unwrap_err();
    assert!(e.to_string().starts_with(&format!("{}: cannot read: ", missing.display())), "{e}");
}

#[test]
fn syntax_error() {
    assert_eq!(
        error(&edit("captures: [plant.pcap]", "captures: [plant.pcap")),
        "baseline.yaml:7:8: illegal placement of ':' indicator"
    );
}

#[test]
fn unknown_key() {
    assert_eq!(
        error(&edit("    tolerance_ms: 150", "    tolerence_ms: 150")),
        "baseline.yaml:25:5: unknown field `tolerence_ms`, expected one of key, protocol, master, outstation, port, \
         signature, function_code, category, periodic, period_ms, tolerance_ms, jitter_ms, stop_after_ms, response_ms, \
         failure_ratio, count"
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        error(&edit("    port: 502\n    transactions", "    port: modbus\n    transactions")),
        "baseline.yaml:11:11: expected a whole number from 0 to 65535"
    );
    assert_eq!(
        error(&edit("    periodic: false", "    periodic: no")),
        "baseline.yaml:37:15: invalid boolean: write true or false"
    );
}

#[test]
fn bad_ip() {
    assert_eq!(
        error(&edit("outstation: \"fd00::2\"", "outstation: \"fd00::2::3\"")),
        "baseline.yaml:13:53: outstation \"fd00::2::3\" is not an IP address"
    );
}

#[test]
fn periodic_job_without_period() {
    assert_eq!(error(&edit("    period_ms: 1000\n", "")), "baseline.yaml:23:15: a periodic job needs period_ms");
}

#[test]
fn tolerance_too_wide() {
    assert_eq!(
        error(&edit("    tolerance_ms: 150", "    tolerance_ms: 600")),
        "baseline.yaml:25:19: tolerance_ms 600 must be less than half the period (1000 ms)"
    );
}

#[test]
fn duplicate_job() {
    assert_eq!(
        error(&edit("\"modbus unit=4 fc=6 addr=10\"", "\"modbus unit=4 fc=3 addr=690 qty=28\"")),
        "baseline.yaml:30:5: duplicate entry: same protocol, master, outstation, port and key as the job at line 15"
    );
}

#[test]
fn bad_version() {
    assert_eq!(
        error(&edit("version: 1", "version: 2")),
        "baseline.yaml:2:10: unsupported baseline version 2: this jobwatch reads version 1"
    );
    assert_eq!(
        error(&edit("version: 1", "version: one")),
        "baseline.yaml:2:10: expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn alias_bomb() {
    let mut bomb = String::from("version: 1\nlearned:\n  from: x\n  to: y\n  captures: [&a0 lol]\nbomb:\n");
    bomb.push_str("  a1: &a1 [*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0]\n");
    for i in 2..10 {
        let p = i - 1;
        bomb.push_str(&format!("  a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
    }
    assert_eq!(
        error(&bomb),
        "baseline.yaml:12:12: aliases expand to more than 100000 nodes (an alias bomb?); refusing to expand them"
    );
}
