#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hot reload of the rules in live capture, against a real Modbus/TCP server and client
//! (`tests/peers/modbus_peer.py`) across a veth pair between two network namespaces
//! (`jwr-srv-<pid>`, `jwr-cli-<pid>`), as in `live_modbus.rs`.
//!
//! jobwatch runs `-i <veth> --rules FILE --learn-window 60s --events alert,stats`:
//!
//! 1. with FILE naming the server only, a write is `unexpected_command`;
//! 2. FILE overwritten in place with a bad file (a CIDR with host bits set, next to an
//!    `action: alert` rule for writes): within about 2 s a `sensor_health` alert
//!    `sensor.rules_reload_failed` names `FILE:LINE:COL:`, and a write of a new register is
//!    still `unexpected_command` (the old rules stay in force, the bad file's rule does not);
//! 3. FILE replaced (rename, as many editors save) with a good file whose `action: alert`
//!    rule `reload-test` covers writes: once reloaded, a write of another new register is a
//!    `rule_match` with that id;
//! 4. SIGHUP reloads the same file again, harmlessly: the next write is still `reload-test`.
//!
//! Each write comes from its own client address (added to the client's side of the veth):
//! commands between the same two hosts within a minute are one incident (one alert), so
//! writes from one address would fold into the first one's alert whatever the rules say.
//!
//! Needs root (CAP_NET_ADMIN, CAP_NET_RAW) and python3 with pymodbus
//! (`scripts/requirements-test.txt`). It fails, never skips, when they are missing.

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{effective_uid, read_events, run, start_jobwatch, start_server, stop_jobwatch, Net, NetNames, Proc};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/modbus_peer.py");
const HOW_TO_RUN: &str = "run it as root, e.g. `sudo -E env PATH=$PATH cargo test -p jobwatch-sensor --test \
     live_rules_reload` (CI runs the tests as root)";
const NAMES: NetNames = NetNames { srv_ns: "jwr-srv", cli_ns: "jwr-cli", srv_if: "jrb", cli_if: "jra", octet: 97 };

fn assert_prerequisites() {
    assert_eq!(effective_uid(), Some(0), "live_rules_reload needs root (CAP_NET_ADMIN, CAP_NET_RAW): {HOW_TO_RUN}");
    let py = Command::new("python3").args(["-c", "import pymodbus"]).output();
    assert!(
        py.as_ref().is_ok_and(|o| o.status.success()),
        "live_rules_reload needs python3 with pymodbus: `pip install -r scripts/requirements-test.txt` ({})",
        py.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_else(|e| e.to_string())
    );
}

/// One more address `10.97.S.host` on the client's side of the veth pair.
fn add_client_address(net: &Net, host: u8) -> String {
    let (prefix, _) = net.cli_ip.rsplit_once('.').unwrap();
    let ip = format!("{prefix}.{host}");
    let cli_if = format!("{}{}", NAMES.cli_if, std::process::id());
    run(&["ip", "-n", &net.cli_ns, "addr", "add", &format!("{ip}/24"), "dev", &cli_if]);
    ip
}

/// One FC6 write of `address` from `source` (its own TCP connection); asserts it succeeded.
fn write_register(net: &Net, dir: &Path, source: &str, address: u16) {
    let log = dir.join(format!("write-{address}.json"));
    let mut cmd = Net::command(&net.cli_ns, "python3");
    #[rustfmt::skip]
    cmd.args([PEER, "write", "--host", &net.srv_ip, "--source", source, "--address", &address.to_string(),
              "--values", "4242", "--log"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut client = Proc::spawn("modbus writer", cmd, dir);
    let status = client.wait_for(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "the write of register {address} from {source} failed ({status:?}): {}",
        client.stderr()
    );
}

/// Waits up to `limit` for an event `pick` accepts; returns it and how long it took.
fn wait_for_event(
    events_path: &Path,
    jobwatch: &mut Proc,
    limit: Duration,
    pick: impl Fn(&Value) -> bool,
) -> Option<(Value, Duration)> {
    let started = Instant::now();
    loop {
        if let Some(e) = read_events(events_path).into_iter().find(|e| pick(e)) {
            return Some((e, started.elapsed()));
        }
        jobwatch.assert_running();
        if started.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to `limit` for jobwatch's stderr to say "rules reloaded" `n` times.
fn wait_for_reloads(jobwatch: &mut Proc, n: usize, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if jobwatch.stderr().matches("jobwatch: rules reloaded").count() >= n {
            return Some(started.elapsed());
        }
        jobwatch.assert_running();
        if started.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn is_alert_from(e: &Value, kind: &str, src: &str) -> bool {
    e["event_type"] == "alert" && e["alert"]["kind"] == kind && e["src_ip"] == src
}

#[test]
fn live_rules_reload_keeps_good_rules_and_refuses_bad_ones() {
    assert_prerequisites();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let rules_path = dir.path().join("rules.yaml");
    let file = rules_path.display().to_string();

    // Declared first, so it is dropped last: after every process in it has been killed.
    let net = Net::create(&NAMES);
    let sources: Vec<String> = [3, 4, 5].into_iter().map(|h| add_client_address(&net, h)).collect();
    let (first, after_bad, after_good, after_hup) = (net.cli_ip.as_str(), &sources[0], &sources[1], &sources[2]);

    let assets = format!("version: 1\nassets:\n  - {{name: plc-live, role: plc, address: {}}}\n", net.srv_ip);
    let bad_line = "  - {name: hmi-net, role: hmi, address: 10.97.5.7/24}";
    let alert_rule = "commands:
  - id: reload-test
    description: Modbus write after the reload
    protocol: modbus
    category: write
    action: alert
    severity: high
";
    let bad = format!("{assets}{bad_line}\n{alert_rule}");
    let good = format!("{assets}{alert_rule}");
    assert!(assets.len() != bad.len() && bad.len() != good.len(), "each version of the file has its own size");
    // Where the bad CIDR is: line 4 of the file, 1-based column of the value.
    let bad_at = format!("{file}:4:{}:", bad_line.find("10.97.5.7/24").unwrap() + 1);
    fs::write(&rules_path, &assets).unwrap();

    #[rustfmt::skip]
    let mut jobwatch = start_jobwatch(&net, dir.path(), &events_path,
        &["--rules", &file, "--learn-window", "60s", "--events", "alert,stats", "--stats-interval", "1s"]);
    let mut srv = Net::command(&net.srv_ns, "python3");
    srv.args([PEER, "server", "--host", &net.srv_ip]);
    let server = start_server("modbus server", srv, dir.path());
    let dump = |jobwatch: &Proc| {
        read_events(&events_path)
            .iter()
            .filter(|e| e["event_type"] == "alert")
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
            + &format!("\n--- jobwatch stderr ---\n{}", jobwatch.stderr())
    };
    let limit = Duration::from_secs(3);

    // 1. The rules at start: no command rule, so a write never seen is unexpected. The
    // server's asset name shows the file was read.
    write_register(&net, dir.path(), first, 11);
    let (a, _) = wait_for_event(&events_path, &mut jobwatch, limit, |e| is_alert_from(e, "unexpected_command", first))
        .unwrap_or_else(|| panic!("no unexpected_command for the first write:\n{}", dump(&jobwatch)));
    let message = a["alert"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{} (plc-live, PLC)", net.srv_ip)), "{a}");

    // 2. A bad file, written in place: refused with its position, the old rules stay.
    fs::write(&rules_path, &bad).unwrap();
    let failed = |e: &Value| e["event_type"] == "alert" && e["alert"]["anomaly"] == "sensor.rules_reload_failed";
    let (a, took) = wait_for_event(&events_path, &mut jobwatch, limit, failed)
        .unwrap_or_else(|| panic!("no sensor.rules_reload_failed alert within {limit:?}:\n{}", dump(&jobwatch)));
    assert_eq!(a["alert"]["kind"], "sensor_health", "{a}");
    let message = a["alert"]["message"].as_str().unwrap();
    assert!(message.contains(&bad_at), "the message names {bad_at}: {a}");
    assert!(message.contains("10.97.5.7/24"), "{a}");
    assert!(took <= Duration::from_millis(2500), "the failed reload was reported {took:?} after the write: {a}");
    let reload_failed_after = took;
    assert!(!jobwatch.stderr().contains("jobwatch: rules reloaded"), "{}", dump(&jobwatch));
    write_register(&net, dir.path(), after_bad, 13);
    let (a, _) = wait_for_event(&events_path, &mut jobwatch, limit, |e| {
        e["event_type"] == "alert" && e["src_ip"] == after_bad.as_str() && e["alert"]["kind"] != "sensor_health"
    })
    .unwrap_or_else(|| panic!("no alert for the write after the bad file:\n{}", dump(&jobwatch)));
    assert_eq!(a["alert"]["kind"], "unexpected_command", "the old rules are in force, not the bad file's: {a}");

    // 3. A good file, saved by rename: reloaded, its alert rule judges the next write.
    let tmp = dir.path().join("rules.yaml.new");
    fs::write(&tmp, &good).unwrap();
    fs::rename(&tmp, &rules_path).unwrap();
    let reloaded_after = wait_for_reloads(&mut jobwatch, 1, limit)
        .unwrap_or_else(|| panic!("the good file was not reloaded within {limit:?}:\n{}", dump(&jobwatch)));
    write_register(&net, dir.path(), after_good, 15);
    let (a, _) = wait_for_event(&events_path, &mut jobwatch, limit, |e| {
        e["event_type"] == "alert" && e["src_ip"] == after_good.as_str()
    })
    .unwrap_or_else(|| panic!("no alert for the write after the good file:\n{}", dump(&jobwatch)));
    assert_eq!(a["alert"]["kind"], "rule_match", "{a}\n{}", dump(&jobwatch));
    assert_eq!(a["alert"]["rule_id"], "reload-test", "{a}");
    assert_eq!(a["alert"]["severity"], "high", "{a}");
    assert!(a["alert"]["message"].as_str().unwrap().contains("(plc-live, PLC)"), "{a}");

    // 4. SIGHUP: the same rules again, no failure, and they still judge writes.
    run(&["kill", "-HUP", &jobwatch.child.id().to_string()]);
    wait_for_reloads(&mut jobwatch, 2, limit)
        .unwrap_or_else(|| panic!("SIGHUP did not reload within {limit:?}:\n{}", dump(&jobwatch)));
    write_register(&net, dir.path(), after_hup, 17);
    let (a, _) = wait_for_event(&events_path, &mut jobwatch, limit, |e| {
        e["event_type"] == "alert" && e["src_ip"] == after_hup.as_str()
    })
    .unwrap_or_else(|| panic!("no alert for the write after SIGHUP:\n{}", dump(&jobwatch)));
    assert_eq!((&a["alert"]["kind"], &a["alert"]["rule_id"]), (&"rule_match".into(), &"reload-test".into()), "{a}");

    let stuck_on_quiet_link = stop_jobwatch(&mut jobwatch, &net);
    drop(server);
    let events = read_events(&events_path);
    let alerts: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "alert").collect();
    let text = dump(&jobwatch);
    assert_eq!(alerts.iter().filter(|e| failed(e)).count(), 1, "one failed reload:\n{text}");
    // Every alert is one of the above: one per write, and the failed reload.
    for (src, kind) in [
        (first, "unexpected_command"),
        (after_bad, "unexpected_command"),
        (after_good, "rule_match"),
        (after_hup, "rule_match"),
    ] {
        let of_src: Vec<&&Value> = alerts.iter().filter(|e| e["src_ip"] == src).collect();
        assert_eq!(of_src.len(), 1, "alerts for the write from {src}:\n{text}");
        assert_eq!(of_src[0]["alert"]["kind"], kind, "{text}");
    }
    assert_eq!(alerts.len(), 5, "no other alert:\n{text}");
    eprintln!(
        "live_rules_reload: reload failure reported {reload_failed_after:?} after the bad write, good file \
         reloaded {reloaded_after:?} after its rename; {:?}",
        started.elapsed()
    );
    assert!(!stuck_on_quiet_link, "{}", common::STUCK_ON_QUIET_LINK);
    drop(jobwatch);
    drop(net);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}
