#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Rules files in force, end to end through the `jobwatch` binary, on labelled scenarios from
//! the project's generator: `jobwatch learn` on the clean train capture, then `--baseline` with
//! `--rules FILE` on the captures, and the alerts compared with the labels and with a run
//! without rules. Covers the command policy (allow by role, alert by CIDR with a severity,
//! maintenance windows in a time zone, ignore), declared jobs (present, absent, and their
//! alerts), thresholds, suppression, asset names in messages, and a bad rules file at start.

use jobwatch_scenario::labelled::{AnomalyKind, Scenario, ScenarioConfig};
use jobwatch_scenario::score::parse_rfc3339_us;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The scenario every test uses: its seed, and its anomalies (each in its own time slot).
const SEED: u64 = 11;
const ANOMALIES: &str = "job_stopped,dnp3_direct_operate,dnp3_cold_restart,s7_plc_stop,modbus_write";

fn jobwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jobwatch"))
}

/// A generated scenario, its labels and the baseline learned on its train capture.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    labels: Value,
    baseline: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let config = ScenarioConfig {
            seed: SEED,
            anomalies: AnomalyKind::parse_list(ANOMALIES).unwrap(),
            ..ScenarioConfig::default()
        };
        Scenario::new(config).unwrap().write_to_dir(&dir).unwrap();
        let labels: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap();
        let baseline = dir.join("baseline.yaml");
        let out =
            jobwatch().arg("learn").arg("-r").arg(dir.join("train.pcap")).arg("-o").arg(&baseline).output().unwrap();
        assert!(out.status.success(), "learn failed: {}", String::from_utf8_lossy(&out.stderr));
        Fixture { _tmp: tmp, dir, labels, baseline }
    }

    /// The label of an injected anomaly.
    fn label(&self, anomaly: &str) -> Label {
        let v = self.labels["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["anomaly"] == anomaly)
            .unwrap_or_else(|| panic!("no {anomaly} label: {:#}", self.labels["anomalies"]));
        Label {
            master: v["master"].as_str().unwrap().to_string(),
            outstation: v["outstation"].as_str().unwrap().to_string(),
            start_us: v["start_us"].as_u64().unwrap(),
            end_us: v["end_us"].as_u64().unwrap(),
            job: v.get("job_id").and_then(Value::as_u64).map(|j| self.labels["jobs"][j as usize].clone()),
        }
    }

    fn phase_start_us(&self, phase: &str) -> u64 {
        self.labels[phase]["start_us"].as_u64().unwrap()
    }

    fn phase_end_us(&self, phase: &str) -> u64 {
        self.labels[phase]["end_us"].as_u64().unwrap()
    }

    /// Runs `jobwatch -r CAPTURE --baseline B [--rules NAME.yaml] --events alert` (the rules
    /// text written to `NAME.yaml` first) and returns the alerts.
    fn run(&self, capture: &str, rules: Option<&str>, name: &str) -> Vec<Value> {
        let events = self.run_events(capture, rules, name, "alert");
        assert!(events.iter().all(|a| a["event_type"] == "alert"), "{}", dump(&events));
        events
    }

    /// [`Fixture::run`] with `--events EVENTS`: every event.
    fn run_events(&self, capture: &str, rules: Option<&str>, name: &str, events: &str) -> Vec<Value> {
        let out_path = self.dir.join(format!("{name}.jsonl"));
        let mut cmd = jobwatch();
        cmd.arg("-r").arg(self.dir.join(capture)).arg("--baseline").arg(&self.baseline);
        if let Some(text) = rules {
            let path = self.dir.join(format!("{name}.yaml"));
            std::fs::write(&path, text).unwrap();
            cmd.arg("--rules").arg(&path);
        }
        let out = cmd.args(["--events", events, "-o"]).arg(&out_path).output().unwrap();
        assert!(
            out.status.success(),
            "jobwatch {name} failed ({}): {}\n--- rules ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            rules.unwrap_or("")
        );
        let text = std::fs::read_to_string(&out_path).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// What a test needs of a label.
#[derive(Debug)]
struct Label {
    master: String,
    outstation: String,
    start_us: u64,
    end_us: u64,
    /// The job the anomaly concerns (`labels.json` `jobs` entry).
    job: Option<Value>,
}

impl Label {
    /// Whether the alert is about this anomaly: its endpoints, from its start to 5 s after its
    /// end (the scoring window of commands).
    fn covers(&self, alert: &Value) -> bool {
        let t = ts_us(alert);
        alert["src_ip"] == self.master.as_str()
            && alert["dest_ip"] == self.outstation.as_str()
            && t >= self.start_us
            && t <= self.end_us + 5_000_000
    }

    /// Hour (0-23), minute and weekday (0 = Monday) of the anomaly's start in UTC + `offset_h`.
    fn local_time(&self, offset_h: i64) -> (i64, i64, i64) {
        let s = (self.start_us / 1_000_000) as i64 + offset_h * 3600;
        let days = s.div_euclid(86_400);
        let of_day = s.rem_euclid(86_400);
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        (of_day / 3600, of_day % 3600 / 60, (days + 3).rem_euclid(7))
    }
}

fn ts_us(alert: &Value) -> u64 {
    parse_rfc3339_us(alert["timestamp"].as_str().unwrap()).unwrap()
}

fn kind(alert: &Value) -> &str {
    alert["alert"]["kind"].as_str().unwrap_or("?")
}

fn dump(alerts: &[Value]) -> String {
    alerts.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
}

/// The alerts of `alerts` about the label.
fn about<'a>(alerts: &'a [Value], label: &Label) -> Vec<&'a Value> {
    alerts.iter().filter(|a| label.covers(a)).collect()
}

/// The one `unexpected_command` of the label, with its category.
fn assert_unexpected(alerts: &[Value], label: &Label, category: &str, ctx: &str) {
    let hits: Vec<&Value> = about(alerts, label).into_iter().filter(|a| kind(a) == "unexpected_command").collect();
    assert_eq!(hits.len(), 1, "{ctx}: one unexpected_command for {label:?}:\n{}", dump(alerts));
    assert_eq!(hits[0]["alert"]["category"], category, "{ctx}: {}", hits[0]);
}

/// Apart from those `apart` picks, the alerts of `with` are those of `without` (by kind,
/// endpoints and time).
fn assert_same_except(without: &[Value], with: &[Value], apart: impl Fn(&Value) -> bool, ctx: &str) {
    let key = |a: &Value| (kind(a).to_string(), a["src_ip"].to_string(), a["dest_ip"].to_string(), ts_us(a));
    let expected: Vec<_> = without.iter().filter(|a| !apart(a)).map(key).collect();
    let got: Vec<_> = with.iter().filter(|a| !apart(a)).map(key).collect();
    assert_eq!(got, expected, "{ctx}\n--- without rules ---\n{}\n--- with rules ---\n{}", dump(without), dump(with));
}

// ---------------------------------------------------------------------------------------------
// Command policy

/// An asset list making the Modbus write's master an HMI, and a rule allowing HMIs to write
/// holding registers 9000-9099: the write is allowed, nothing else changes (the S7 PLC stop
/// is still `unexpected_command (control)`).
#[test]
fn allow_by_role_silences_the_write_and_nothing_else() {
    let f = Fixture::new();
    let write = f.label("modbus_write");
    let stop = f.label("s7_plc_stop");
    let without = f.run("test.pcap", None, "no-rules");
    assert_unexpected(&without, &write, "write", "without rules");
    assert_unexpected(&without, &stop, "control", "without rules");

    let rules = format!(
        "version: 1
assets:
  - {{name: hmi-1, role: hmi, address: {master}}}
commands:
  - id: hmi-setpoints
    description: Operators write the set-points
    master: hmi
    function: [write_single_register, write_multiple_registers]
    address: 9000-9099
    action: allow
",
        master = write.master
    );
    let with = f.run("test.pcap", Some(&rules), "allow");
    assert!(about(&with, &write).is_empty(), "the allowed write alerted:\n{}", dump(&with));
    assert_unexpected(&with, &stop, "control", "with the allow rule");
    assert_same_except(&without, &with, |a| write.covers(a), "only the allowed write's alert goes");

    // The same rule for another role: the write is not the HMI's, so it stays unexpected.
    let other = rules.replace("master: hmi\n", "master: scada\n");
    let with = f.run("test.pcap", Some(&other), "allow-other-role");
    assert_same_except(&without, &with, |_| false, "a rule for SCADA servers does not allow the HMI's write");

    // An allow rule vouches for all of a command: registers 9000-9001 do not cover 9000-9003.
    let narrow = rules.replace("address: 9000-9099", "address: 9000-9001");
    let with = f.run("test.pcap", Some(&narrow), "allow-narrow");
    assert_same_except(&without, &with, |_| false, "an allow rule covering part of the write does not allow it");
}

/// A rule alerting on Modbus writes from 10.1.0.0/24 with severity critical: the anomaly's
/// write is a `rule_match` with the rule's id and severity instead of `unexpected_command`;
/// a rule without severity takes the command category's (control: high).
#[test]
fn alert_rule_by_cidr_raises_rule_match_with_its_severity() {
    let f = Fixture::new();
    let write = f.label("modbus_write");
    let stop = f.label("s7_plc_stop");
    assert!(write.master.starts_with("10.1.0."), "{write:?}");
    let rules = "version: 1
commands:
  - id: modbus-writes-from-masters
    description: Modbus write from the control room
    master: 10.1.0.0/24
    protocol: modbus
    category: write
    action: alert
    severity: critical
  - id: s7-stop
    function: plc_stop
    action: alert
";
    let without = f.run("test.pcap", None, "no-rules");
    let with = f.run("test.pcap", Some(rules), "alert");

    let hits: Vec<&Value> = about(&with, &write);
    assert_eq!(hits.len(), 1, "one alert for the write:\n{}", dump(&with));
    let a = &hits[0]["alert"];
    assert_eq!(a["kind"], "rule_match", "{}", hits[0]);
    assert_eq!(a["rule_id"], "modbus-writes-from-masters", "{}", hits[0]);
    assert_eq!(a["severity"], "critical", "{}", hits[0]);
    assert_eq!(a["category"], "write", "{}", hits[0]);
    let message = a["message"].as_str().unwrap();
    assert!(message.contains("Modbus write from the control room"), "the rule's description: {message}");
    assert!(message.contains("9000"), "{message}");

    let hits: Vec<&Value> = about(&with, &stop);
    assert_eq!(hits.len(), 1, "one alert for the PLC stop:\n{}", dump(&with));
    let a = &hits[0]["alert"];
    assert_eq!((&a["kind"], &a["rule_id"]), (&"rule_match".into(), &"s7-stop".into()), "{}", hits[0]);
    assert_eq!(a["severity"], "high", "control's severity when the rule gives none: {}", hits[0]);

    // Everything else is as without rules, except that the operators' writes from the
    // 10.1.0.0/24 masters (learned, so silent without rules) now match the rule too.
    for a in &with {
        if kind(a) == "rule_match" && !write.covers(a) && !stop.covers(a) {
            assert_eq!(a["alert"]["rule_id"], "modbus-writes-from-masters", "{a}");
            assert!(a["src_ip"].as_str().unwrap().starts_with("10.1.0."), "{a}");
            assert_eq!(a["alert"]["category"], "write", "{a}");
        }
    }
    let others = |v: &[Value]| -> Vec<Value> {
        v.iter().filter(|a| kind(a) != "rule_match" && !write.covers(a) && !stop.covers(a)).cloned().collect()
    };
    assert_same_except(&others(&without), &others(&with), |_| false, "the other alerts do not change");
}

/// An allow rule for the PLC stop inside a maintenance window in Europe/Berlin (UTC+1 in
/// January) that contains the stop: no alert. The same hours read as UTC (one hour earlier in
/// Berlin), or another weekday: `unexpected_command`.
#[test]
fn maintenance_window_in_its_time_zone() {
    let f = Fixture::new();
    let stop = f.label("s7_plc_stop");
    let (hour, _, weekday) = stop.local_time(1);
    let (utc_hour, _, _) = stop.local_time(0);
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let rules = |tz_line: &str, day: &str, h: i64, window_tz: &str| {
        format!(
            "version: 1
{tz_line}commands:
  - id: stop-in-window
    master: {master}
    function: plc_stop
    when:
      days: [{day}]
      time: {h:02}:00-{end:02}:00
{window_tz}    action: allow
",
            master = stop.master,
            end = h + 1,
        )
    };
    let without = f.run("test.pcap", None, "no-rules");
    assert_unexpected(&without, &stop, "control", "without rules");

    // The Berlin hour of the stop, with the file's time zone and with the window's own.
    let day = days[weekday as usize];
    for (name, text) in [
        ("window-file-tz", rules("time_zone: Europe/Berlin\n", day, hour, "")),
        ("window-own-tz", rules("", day, hour, "      time_zone: Europe/Berlin\n")),
    ] {
        let with = f.run("test.pcap", Some(&text), name);
        assert!(about(&with, &stop).is_empty(), "{name}: the stop in its window alerted:\n{}\n{text}", dump(&with));
        assert_same_except(&without, &with, |a| stop.covers(a), name);
    }

    // The stop's UTC hour, but in Berlin: the window ends when the stop happens.
    let text = rules("time_zone: Europe/Berlin\n", day, utc_hour, "");
    let with = f.run("test.pcap", Some(&text), "window-utc-hour-in-berlin");
    assert_unexpected(&with, &stop, "control", &format!("a window one hour before the stop\n{text}"));
    // The right hour on another day.
    let text = rules("time_zone: Europe/Berlin\n", days[(weekday as usize + 1) % 7], hour, "");
    let with = f.run("test.pcap", Some(&text), "window-other-day");
    assert_unexpected(&with, &stop, "control", &format!("a window on another day\n{text}"));
    // In UTC, the UTC hour contains it.
    let text = rules("time_zone: UTC\n", day, utc_hour, "");
    let with = f.run("test.pcap", Some(&text), "window-utc");
    assert!(about(&with, &stop).is_empty(), "the UTC window:\n{}\n{text}", dump(&with));
}

/// `ignore`: no alert of any kind for the command.
#[test]
fn ignore_action_silences_the_command() {
    let f = Fixture::new();
    let restart = f.label("dnp3_cold_restart");
    let without = f.run("test.pcap", None, "no-rules");
    assert_unexpected(&without, &restart, "control", "without rules");
    let rules = "version: 1
commands:
  - id: restarts-are-noise
    protocol: dnp3
    function: cold_restart
    action: ignore
";
    let with = f.run("test.pcap", Some(rules), "ignore");
    assert!(about(&with, &restart).is_empty(), "the ignored restart alerted:\n{}", dump(&with));
    assert_same_except(&without, &with, |a| restart.covers(a), "only the ignored command's alert goes");
}

// ---------------------------------------------------------------------------------------------
// Declared jobs and thresholds

/// The first range `a–b` (en dash) or `a-b` of a signature.
fn signature_range(signature: &str) -> (u64, u64) {
    let token = signature.split_whitespace().find(|w| w.contains('–') || w.contains('-')).unwrap();
    let (a, b) = token.split_once('–').or_else(|| token.split_once('-')).unwrap();
    (a.parse().unwrap(), b.trim_end_matches(',').parse().unwrap())
}

/// The tolerance the tests declare for a job: 15 % of its period (what jobwatch learns is
/// 10 %, so the job events show which one applies).
fn declared_tolerance_ms(job: &Value) -> u64 {
    job["period_ms"].as_f64().unwrap() as u64 * 15 / 100
}

/// A `jobs:` entry for a Modbus read job of the scenario (labels.json `jobs`).
fn declared_job_yaml(id: &str, job: &Value, extra: &str) -> String {
    let (from, to) = signature_range(job["signature"].as_str().unwrap());
    let period = job["period_ms"].as_f64().unwrap() as u64;
    format!(
        "  - id: {id}
    master: {}
    outstation: {}
    protocol: modbus
    function: {}
    unit: 1
    address: {from}-{to}
    period: {period}ms
    tolerance: {}ms
{extra}",
        job["master"].as_str().unwrap(),
        job["outstation"].as_str().unwrap(),
        job["function_code"],
        declared_tolerance_ms(job),
    )
}

/// A declared job that runs on the clean train capture raises nothing; declared jobs that
/// never run raise one `job_stopped` each, with their id, once 5 periods plus the tolerance
/// (or their `stop_after`) have passed since the capture started.
#[test]
fn declared_jobs_present_and_absent() {
    let f = Fixture::new();
    let jobs = f.labels["jobs"].as_array().unwrap();
    let job = jobs.iter().find(|j| j["protocol"] == "modbus" && j["function_code"] == 3).unwrap();
    let rules = format!(
        "version: 1
jobs:
{}  - id: ghost-poll
    master: 10.1.0.99
    outstation: 10.1.1.99
    protocol: modbus
    function: read_holding_registers
    period: 1s
    tolerance: 100ms
  - id: ghost-poll-patient
    master: 10.1.0.99
    outstation: 10.1.1.98
    protocol: modbus
    function: read_input_registers
    period: 1s
    tolerance: 100ms
    stop_after: 2m
    severity: critical
",
        declared_job_yaml("line-poll", job, "")
    );
    let events = f.run_events("train.pcap", Some(&rules), "declared", "alert,job");
    let alerts: Vec<Value> = events.iter().filter(|e| e["event_type"] == "alert").cloned().collect();
    let start = f.phase_start_us("train");
    // The job runs under the declared cadence, from its first request.
    let of_job: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["event_type"] == "job"
                && e["job"]["master"] == job["master"]
                && e["job"]["outstation"] == job["outstation"]
                && e["job"]["signature"] == job["signature"]
        })
        .collect();
    assert!(!of_job.is_empty(), "no job event for {job}");
    let first = of_job[0];
    assert_eq!(first["job"]["state"], "established", "declared, so established at once: {first}");
    assert_eq!(first["job"]["period_ms"], job["period_ms"], "the declared period: {first}");
    assert_eq!(first["job"]["tolerance_ms"].as_f64(), Some(declared_tolerance_ms(job) as f64), "{first}");
    assert_eq!(alerts.len(), 2, "only the two absent jobs alert on the clean capture:\n{}", dump(&alerts));
    for (id, after_us, severity) in [("ghost-poll", 5_100_000, "high"), ("ghost-poll-patient", 120_000_000, "critical")]
    {
        let hits: Vec<&Value> = alerts.iter().filter(|a| a["alert"]["rule_id"] == id).collect();
        assert_eq!(hits.len(), 1, "{id}:\n{}", dump(&alerts));
        let a = hits[0];
        assert_eq!(kind(a), "job_stopped", "{a}");
        assert_eq!(a["alert"]["severity"], severity, "{a}");
        assert!(a["alert"]["message"].as_str().unwrap().contains(id), "{a}");
        let delay = ts_us(a) - start;
        assert!(delay >= after_us && delay <= after_us + 2_000_000, "{id}: {delay} µs after the start: {a}");
    }

    // The declared job on the test capture: the only change from no rules.
    let without = f.run("test.pcap", None, "no-rules");
    let only_declared = format!("version: 1\njobs:\n{}", declared_job_yaml("line-poll", job, ""));
    let with = f.run("test.pcap", Some(&only_declared), "declared-test");
    assert_same_except(&without, &with, |_| false, "a declared job that runs as declared changes nothing");
}

/// A declared job that stops: its `job_stopped` alert carries the declared job's id and
/// severity, and comes after its `stop_after`.
#[test]
fn declared_job_that_stops_alerts_with_its_id() {
    let f = Fixture::new();
    let stopped = f.label("job_stopped");
    let job = stopped.job.clone().unwrap();
    assert_eq!(job["protocol"], "modbus", "{job}");
    let rules = format!(
        "version: 1\njobs:\n{}",
        declared_job_yaml("stopping-poll", &job, "    stop_after: 20s\n    severity: critical\n")
    );
    let alerts = f.run("test.pcap", Some(&rules), "declared-stop");
    let hits: Vec<&Value> =
        alerts.iter().filter(|a| kind(a) == "job_stopped" && a["src_ip"] == stopped.master.as_str()).collect();
    assert_eq!(hits.len(), 1, "one job_stopped:\n{}", dump(&alerts));
    let a = hits[0];
    let period_us = job["period_ms"].as_f64().unwrap() as u64 * 1000;
    // The label's start is the first poll not sent: the last came a period before.
    let silence = ts_us(a) - (stopped.start_us - period_us);
    assert!((20_000_000..=23_000_000).contains(&silence), "stopped {silence} µs after the last poll: {a}");
    assert_eq!(a["alert"]["rule_id"], "stopping-poll", "a declared job's alerts carry its id: {a}");
    assert_eq!(a["alert"]["severity"], "critical", "and its severity: {a}");
}

/// `thresholds:` overriding `stop_after` for the job that the `job_stopped` anomaly stops: the
/// stop alert comes no earlier than the override, or not at all when it is longer than what is
/// left of the capture.
#[test]
fn thresholds_override_stop_after() {
    let f = Fixture::new();
    let stopped = f.label("job_stopped");
    let job = stopped.job.clone().unwrap();
    let (from, to) = signature_range(job["signature"].as_str().unwrap());
    let period_us = job["period_ms"].as_f64().unwrap() as u64 * 1000;
    let last_poll = stopped.start_us - period_us;
    let rules = |stop_after: &str| {
        format!(
            "version: 1
thresholds:
  - id: patient-stop
    master: {}
    outstation: {}
    function: read_holding_registers
    address: {from}-{to}
    stop_after: {stop_after}
",
            stopped.master, stopped.outstation
        )
    };
    let is_stop = |a: &&Value| kind(a) == "job_stopped" && a["src_ip"] == stopped.master.as_str();

    let without = f.run("test.pcap", None, "no-rules");
    let hits: Vec<&Value> = without.iter().filter(is_stop).collect();
    assert_eq!(hits.len(), 1, "without rules:\n{}", dump(&without));
    assert!(ts_us(hits[0]) - last_poll < 10_000_000, "the default stop: {}", hits[0]);

    let with = f.run("test.pcap", Some(&rules("90s")), "stop-after-90s");
    let hits: Vec<&Value> = with.iter().filter(is_stop).collect();
    assert_eq!(hits.len(), 1, "stop_after 90s:\n{}", dump(&with));
    let silence = ts_us(hits[0]) - last_poll;
    assert!((90_000_000..=93_000_000).contains(&silence), "stopped {silence} µs after the last poll: {}", hits[0]);
    assert_same_except(&without, &with, |a| is_stop(&a), "only the stop moves");

    let left = f.phase_end_us("test") - last_poll;
    assert!(left < 3_600_000_000);
    let with = f.run("test.pcap", Some(&rules("1h")), "stop-after-1h");
    assert!(!with.iter().any(|a| is_stop(&a)), "stop_after 1h:\n{}", dump(&with));
    assert_same_except(&without, &with, |a| is_stop(&a), "stop_after longer than the capture: no stop");
}

// ---------------------------------------------------------------------------------------------
// Suppression

/// `unexpected_command` limited to one per interval, keyed by kind: of the test capture's
/// command anomalies the first is written; with an interval that ends before the last one,
/// the last is written too and counts the ones held back.
#[test]
fn suppression_holds_back_and_counts() {
    let f = Fixture::new();
    let without = f.run("test.pcap", None, "no-rules");
    let commands: Vec<&Value> = without.iter().filter(|a| kind(a) == "unexpected_command").collect();
    assert!(commands.len() >= 4, "command anomalies without rules:\n{}", dump(&without));
    let first = ts_us(commands[0]);
    let last = ts_us(commands[commands.len() - 1]);
    let suppress = |per: &str| {
        format!(
            "version: 1
suppress:
  - id: one-command-alert
    kind: unexpected_command
    key: [kind]
    max: 1
    per: {per}
"
        )
    };

    // One per hour: only the first.
    let with = f.run("test.pcap", Some(&suppress("1h")), "suppress-1h");
    let got: Vec<&Value> = with.iter().filter(|a| kind(a) == "unexpected_command").collect();
    assert_eq!(got.len(), 1, "one of {} written:\n{}", commands.len(), dump(&with));
    assert_eq!(got[0], commands[0]);
    assert!(got[0]["alert"]["count"].is_null(), "nothing held back before the first: {}", got[0]);
    assert_same_except(&without, &with, |a| kind(a) == "unexpected_command", "other kinds are not limited");

    // An interval that ends just before the last: the first, then the last with the count.
    let per_s = (last - first) / 1_000_000 - 1;
    let held = commands.iter().filter(|a| ts_us(a) > first && ts_us(a) < first + per_s * 1_000_000).count();
    assert_eq!(held, commands.len() - 2, "the interval ends between the last two commands");
    let with = f.run("test.pcap", Some(&suppress(&format!("{per_s}s"))), "suppress-window");
    let got: Vec<&Value> = with.iter().filter(|a| kind(a) == "unexpected_command").collect();
    assert_eq!(got.len(), 2, "first and last of {} written:\n{}", commands.len(), dump(&with));
    assert_eq!(ts_us(got[0]), first);
    assert_eq!(ts_us(got[1]), last);
    assert_eq!(got[1]["alert"]["count"], 1 + held as u64, "the last counts itself and the held: {}", got[1]);
}

// ---------------------------------------------------------------------------------------------
// Assets

/// Alert messages name hosts by their assets: `10.3.0.11 (ews-2, engineering workstation)`;
/// the most specific network wins.
#[test]
fn asset_names_in_messages() {
    let f = Fixture::new();
    let stop = f.label("s7_plc_stop");
    let stopped = f.label("job_stopped");
    let write = f.label("modbus_write");
    assert_ne!(stopped.master, write.master);
    let rules = format!(
        "version: 1
assets:
  - {{name: ews-2, role: ews, address: {}}}
  - {{name: packaging-plc, role: plc, address: {}}}
  - name: control-room
    role: hmi
    address: 10.1.0.0/24
  - {{name: hmi-left, role: hmi, address: {}}}
  - {{name: line-plcs, role: plc, address: 10.1.1.0/24}}
",
        stop.master, stop.outstation, stopped.master
    );
    let alerts = f.run("test.pcap", Some(&rules), "assets");
    let message = |label: &Label, kind_: &str| -> String {
        let hits: Vec<&Value> = about(&alerts, label).into_iter().filter(|a| kind(a) == kind_).collect();
        assert_eq!(hits.len(), 1, "{kind_} for {label:?}:\n{}", dump(&alerts));
        hits[0]["alert"]["message"].as_str().unwrap().to_string()
    };
    let m = message(&stop, "unexpected_command");
    assert!(m.contains(&format!("{} (ews-2, engineering workstation)", stop.master)), "{m}");
    assert!(m.contains(&format!("{} (packaging-plc, PLC)", stop.outstation)), "{m}");
    let m = message(&write, "unexpected_command");
    assert!(m.contains(&format!("{} (control-room, HMI)", write.master)), "the network's name: {m}");
    assert!(m.contains(&format!("{} (line-plcs, PLC)", write.outstation)), "{m}");
    // job_stopped's window is its start plus at least 30 s.
    let stopped_wide = Label { end_us: stopped.start_us + 30_000_000, ..stopped };
    let m = message(&stopped_wide, "job_stopped");
    assert!(m.contains(&format!("{} (hmi-left, HMI)", stopped_wide.master)), "the host's own name wins: {m}");
    assert!(m.contains(&format!("{} (line-plcs, PLC)", stopped_wide.outstation)), "{m}");
    // Hosts of no asset stay bare addresses.
    let restart = f.label("dnp3_cold_restart");
    let m = message(&restart, "unexpected_command");
    assert!(m.contains(&restart.master) && !m.contains(&format!("{} (", restart.master)), "{m}");
}

// ---------------------------------------------------------------------------------------------
// A bad file at start

/// A bad `--rules` file at start: exit 2, one `file:line:col: message` line per problem on
/// stderr (the same as `jobwatch rules check`), and no events.
#[test]
fn a_bad_rules_file_at_start_is_refused_with_every_position() {
    let f = Fixture::new();
    let path = f.dir.join("bad.yaml");
    let text = "version: 1
assets:
  - {name: hmi-1, role: hmii, address: 10.0.1.21}
  - {name: plc-1, role: plc, address: 10.0.2.5/24}
commands:
  - id: setpoints
    master: hmi-1
    function: write_single_registr
    address: 4099-4000
    action: allow
";
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    let expected = [
        (format!("{p}:3:25: "), "hmii"),
        (format!("{p}:4:39: "), "10.0.2.5/24"),
        (format!("{p}:8:15: "), "write_single_registr"),
        (format!("{p}:9:14: "), "4099-4000"),
    ];
    let check = |stderr: &str, ctx: &str| {
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{ctx}: one line per problem:\n{stderr}");
        for (line, (position, value)) in lines.iter().zip(&expected) {
            let at = line.find(position.as_str()).unwrap_or_else(|| panic!("{ctx}: {position} in {line:?}"));
            assert!(line[at..].contains(value), "{ctx}: {line}");
            assert!(line.len() > at + position.len(), "{ctx}: a message after the position: {line}");
        }
    };

    let events = f.dir.join("events.jsonl");
    let out = jobwatch()
        .arg("-r")
        .arg(f.dir.join("test.pcap"))
        .arg("--rules")
        .arg(&path)
        .args(["--events", "alert", "-o"])
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    check(&String::from_utf8_lossy(&out.stderr), "jobwatch --rules");
    assert!(std::fs::read_to_string(&events).unwrap_or_default().is_empty(), "no events from a refused start");

    let out = jobwatch().args(["rules", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    check(&String::from_utf8_lossy(&out.stderr), "jobwatch rules check");
}
