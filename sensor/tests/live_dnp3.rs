//! Live capture against a real DNP3 master and outstation on a real interface.
//!
//! The test builds its own network: two network namespaces (`jwd-out-<pid>` for the
//! outstation, `jwd-mst-<pid>` for the master) joined by a veth pair (`jdb<pid>` on the
//! outstation's side, `jda<pid>` on the master's), so nothing in the host's own namespace changes
//! and parallel runs do not collide. jobwatch captures on the outstation's veth while opendnp3
//! (the `yadnp3` wheel, driven by `tests/peers/dnp3_peer.py`) runs an outstation (link address
//! 1024) and a master (link address 1) over TCP port 20000: the master's startup sequence, a
//! class poll every 200 ms for 4 s (integrity, class 1, class 2, class 3 in turn), one direct
//! operate (CROB latch on, output 0) and one disable-unsolicited, with the outstation's
//! unsolicited responses in between. Every task the master logs must come out as one
//! `transaction` with the same function, objects, link addresses and points; every unsolicited
//! response it received as an `unsolicited` one from the outstation; link-layer frames and
//! application confirms as no transaction at all.
//!
//! A second test (its own namespaces `jwk-*`) runs jobwatch's job engine live: the master's
//! periodic class 1/2/3 scan (opendnp3's `AddClassScan`, every 500 ms for 12 s) against a quiet
//! outstation must be one established periodic job with that period (±2 %), and the master's
//! shutdown exactly one `job_stopped`.
//!
//! Needs root (CAP_NET_ADMIN for the namespaces, CAP_NET_RAW to capture) and python3 with
//! yadnp3 (`scripts/requirements-test.txt`). It fails, never skips, when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::fs::{self};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/dnp3_peer.py");
const HOW_TO_RUN: &str =
    "run it as root, e.g. `sudo -E env PATH=$PATH cargo test -p jobwatch-sensor --test live_dnp3` \
     (CI runs the tests as root)";
const PORT: u64 = 20000;
const MASTER: u64 = 1;
const OUTSTATION: u64 = 1024;

/// Runs a command to completion; panics with its output if it fails.
mod common;
use common::{
    check_stopped_periodic_job, effective_uid, epoch_seconds, read_events, run, start_jobwatch, start_server,
    stop_jobwatch, ExpectedJob, Net, NetNames, Proc, STUCK_ON_QUIET_LINK,
};

/// The job test's master: opendnp3's periodic class 1/2/3 scan every 500 ms for 12 s.
const SCAN_PERIOD_S: f64 = 0.5;
const SCAN_DURATION_S: f64 = 12.0;

fn assert_prerequisites() {
    assert_eq!(effective_uid(), Some(0), "live_dnp3 needs root (CAP_NET_ADMIN, CAP_NET_RAW): {HOW_TO_RUN}");
    let py = Command::new("python3").args(["-c", "import opendnp3"]).output();
    assert!(
        py.as_ref().is_ok_and(|o| o.status.success()),
        "live_dnp3 needs python3 with yadnp3 (module opendnp3): `pip install -r scripts/requirements-test.txt` ({})",
        py.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_else(|e| e.to_string())
    );
}

/// The request function code and object headers (group, variation) of a task in the master's
/// log: its startup tasks by opendnp3's task type, the script's own by the `kind` it gave them.
fn expected_request(task: &Value) -> (u64, Vec<(u64, u64)>) {
    let class = |v: &[u64]| v.iter().map(|&v| (60, v)).collect::<Vec<_>>();
    match (task["type"].as_str().unwrap(), task["kind"].as_str()) {
        ("STARTUP_INTEGRITY_POLL", _) | ("USER_TASK", Some("integrity")) => (1, class(&[2, 3, 4, 1])),
        ("USER_TASK", Some("class1")) => (1, class(&[2])),
        ("USER_TASK", Some("class2")) => (1, class(&[3])),
        ("USER_TASK", Some("class3")) => (1, class(&[4])),
        ("USER_TASK", Some("operate")) => (5, vec![(12, 1)]),
        ("DISABLE_UNSOLICITED", _) | ("USER_TASK", Some("disable_unsolicited")) => (21, class(&[2, 3, 4])),
        ("ENABLE_UNSOLICITED", _) => (20, class(&[2, 3, 4])),
        ("CLEAR_RESTART", _) => (2, vec![(80, 1)]),
        // An event scan the master starts by itself on an IIN class bit: which classes vary.
        ("AUTO_EVENT_SCAN", _) => (1, Vec::new()),
        _ => panic!("the master logged a task this test does not know: {task}"),
    }
}

/// (group, variation, index) of each point in a list of point objects.
fn point_ids(points: &Value) -> Vec<(u64, u64, u64)> {
    let list = points.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|p| (p["group"].as_u64().unwrap(), p["variation"].as_u64().unwrap(), p["index"].as_u64().unwrap()))
        .collect()
}

/// Compares the points jobwatch decoded from a response with those the master received: the
/// same (group, variation, index) in the same order, and the same value where the master's is
/// a number, a boolean or an octet string (double-bit states and times by position only).
fn assert_points_match(seen: &Value, received: &Value, ctx: &str) {
    assert_eq!(point_ids(seen), point_ids(received), "points: {ctx}");
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    for (s, r) in list(seen).iter().zip(&list(received)) {
        let (sv, rv) = (&s["value"], &r["value"]);
        match rv {
            Value::Bool(_) => assert_eq!(sv, rv, "value of {s}: {ctx}"),
            // Octet strings, in hex.
            Value::String(_) => assert_eq!(sv, rv, "value of {s}: {ctx}"),
            Value::Number(n) => {
                let (want, got) = (n.as_f64().unwrap(), sv.as_f64());
                assert!(got.is_some_and(|g| (g - want).abs() < 1e-6), "value of {s}, master read {want}: {ctx}");
            }
            _ => {}
        }
    }
}

#[test]
fn live_capture_of_real_dnp3_peers() {
    assert_prerequisites();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let master_log = dir.path().join("master.json");

    // Declared first, so it is dropped last: after every process in it has been killed.
    let net = Net::create(&NetNames { srv_ns: "jwd-out", cli_ns: "jwd-mst", srv_if: "jdb", cli_if: "jda", octet: 78 });

    // jobwatch on the outstation's side of the veth pair.
    let mut jw = Net::command(&net.srv_ns, env!("CARGO_BIN_EXE_jobwatch"));
    jw.args(["-i", &net.srv_if, "-o"])
        .arg(&events_path)
        .args(["--events", "transaction,alert,stats", "--stats-interval", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut jobwatch = Proc::spawn("jobwatch", jw, dir.path());

    // It is capturing once a periodic stats event counts packets (see live_modbus.rs).
    let prober = Proc::spawn("prober", net.probe(true), dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    let capturing = |e: &Value| e["event_type"] == "stats" && e["stats"]["packets"].as_u64().is_some_and(|p| p > 0);
    while !read_events(&events_path).iter().any(capturing) {
        jobwatch.assert_running();
        assert!(
            Instant::now() < deadline,
            "jobwatch wrote no stats event counting packets within 10 s: {}",
            jobwatch.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    drop(prober);

    // The outstation, and its "READY" line once it listens.
    let mut os = Net::command(&net.srv_ns, "python3");
    os.args([PEER, "outstation", "--host", &net.srv_ip]);
    let mut outstation = start_server("dnp3 outstation", os, dir.path());

    // The master runs its startup sequence, polls for 4 s, and writes its log.
    let mut ms = Net::command(&net.cli_ns, "python3");
    ms.args([PEER, "master", "--host", &net.srv_ip, "--duration", "4", "--log"])
        .arg(&master_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut master = Proc::spawn("dnp3 master", ms, dir.path());
    let status = master.wait_for(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "the dnp3 master failed ({status:?}): {}", master.stderr());
    // The master closed the connection; the outstation has nothing more to say.
    outstation.assert_running();
    drop(outstation);

    // Let jobwatch read the last packets, then stop it as an operator would.
    thread::sleep(Duration::from_millis(300));
    jobwatch.assert_running();
    run(&["kill", "-TERM", &jobwatch.child.id().to_string()]);
    // As in live_modbus.rs: if it waits for a packet on the now quiet link, one more datagram
    // wakes it so the rest can still be checked; the test fails at the end.
    let mut status = jobwatch.wait_for(Duration::from_secs(2));
    let stuck_on_quiet_link = status.is_none();
    if stuck_on_quiet_link {
        let _ = net.probe(false).status();
        status = jobwatch.wait_for(Duration::from_secs(3));
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "jobwatch did not exit 0 within 5 s of SIGTERM ({status:?}): {}",
        jobwatch.stderr()
    );

    let log: Value = serde_json::from_str(&fs::read_to_string(&master_log).unwrap()).unwrap();
    let tasks = log["tasks"].as_array().unwrap();
    let events = read_events(&events_path);
    let transactions: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "transaction").collect();
    let alerts: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "alert").collect();
    let dump = || {
        events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            + &format!("\n--- master log ---\n{log:#}\n--- jobwatch stderr ---\n{}", jobwatch.stderr())
    };

    // The master did what the script says: 20 polls (every 200 ms for 4 s), one operate that
    // succeeded, one disable, everything ok.
    let kind = |k: &str| tasks.iter().filter(|t| t["kind"] == k).count();
    let polls = ["integrity", "class1", "class2", "class3"].iter().map(|k| kind(k)).sum::<usize>();
    assert_eq!(polls, 20, "master log: {log:#}");
    assert_eq!((kind("operate"), kind("disable_unsolicited")), (1, 1), "master log: {log:#}");
    assert!(
        tasks.iter().all(|t| t["result"] == "SUCCESS" && t["time_start"].is_f64() && t["time_end"].is_f64()),
        "every task started, finished and succeeded: {log:#}"
    );
    assert_eq!(log["operate"]["summary"], "SUCCESS", "{log:#}");
    assert_eq!(log["operate"]["points"], serde_json::json!([{"index": 0, "state": "SUCCESS", "status": "SUCCESS"}]));

    // Requests come from the master: one transaction per task it logged, in the same order.
    let (solicited, unsolicited): (Vec<&Value>, Vec<&Value>) =
        transactions.iter().partition(|t| t["status"] != "unsolicited");
    let reads = solicited.iter().filter(|t| t["function_code"] == 1).count();
    let logged_reads = tasks.iter().filter(|t| expected_request(t).0 == 1).count();
    assert!(
        reads.abs_diff(logged_reads) <= 1,
        "{reads} read transactions, the master logged {logged_reads} reads:\n{}",
        dump()
    );
    assert_eq!(solicited.len(), tasks.len(), "one transaction per master task:\n{}", dump());

    let flow_id = &solicited[0]["flow_id"];
    let master_port = &solicited[0]["src_port"];
    let mut previous_sequence: Option<u64> = None;
    for (i, (t, task)) in solicited.iter().zip(tasks).enumerate() {
        let ctx = format!("task #{i} {task}\ntransaction {t}");
        let d = &t["dnp3"];
        assert_eq!(t["app_proto"], "dnp3", "{ctx}");
        assert_eq!(t["proto"], "tcp", "{ctx}");
        assert_eq!(t["src_ip"], net.cli_ip.as_str(), "the master is src: {ctx}");
        assert_eq!(t["dest_ip"], net.srv_ip.as_str(), "{ctx}");
        assert_eq!(t["dest_port"], PORT, "{ctx}");
        assert_eq!(&t["src_port"], master_port, "one connection: {ctx}");
        assert_eq!(&t["flow_id"], flow_id, "one flow: {ctx}");
        assert_eq!((&d["source"], &d["destination"]), (&MASTER.into(), &OUTSTATION.into()), "link addresses: {ctx}");
        assert_eq!(t["status"], "ok", "{ctx}");
        assert!(d["iin"].is_u64(), "the response's IIN: {ctx}");
        assert!(d["anomalies"].is_null(), "{ctx}");
        // opendnp3 counts its request sequence up by one per request.
        let sequence = d["sequence"].as_u64().unwrap();
        if let Some(p) = previous_sequence {
            assert_eq!(sequence, (p + 1) % 16, "request sequence after {p}: {ctx}");
        }
        previous_sequence = Some(sequence);

        let (function_code, headers) = expected_request(task);
        assert_eq!(t["function_code"], function_code, "{ctx}");
        let objects: Vec<(u64, u64)> = d["objects"]
            .as_array()
            .unwrap_or_else(|| panic!("no request objects: {ctx}"))
            .iter()
            .map(|o| (o["group"].as_u64().unwrap(), o["variation"].as_u64().unwrap()))
            .collect();
        if function_code == 1 && headers.is_empty() {
            assert!(!objects.is_empty() && objects.iter().all(|&(g, _)| g == 60), "class data: {ctx}");
        } else {
            assert_eq!(objects, headers, "request objects: {ctx}");
        }
        if function_code == 1 || function_code == 21 || function_code == 20 {
            // Class data, all objects (qualifier 0x06).
            assert!(d["objects"].as_array().unwrap().iter().all(|o| o["qualifier"] == 6), "{ctx}");
        }

        // Capture time within the master's task, the wire's response time within it too.
        let (t0, t1) = (task["time_start"].as_f64().unwrap(), task["time_end"].as_f64().unwrap());
        let ts = epoch_seconds(t["timestamp"].as_str().unwrap());
        assert!(ts > t0 - 0.1 && ts < t1 + 0.1, "capture time {ts} vs master task {t0}..{t1}: {ctx}");
        let rt = t["response_time_us"].as_u64().unwrap_or_else(|| panic!("no response_time_us: {ctx}"));
        assert!(rt > 0 && (rt as f64) <= (t1 - t0) * 1e6 + 100_000.0, "response_time_us {rt}: {ctx}");

        if function_code == 5 {
            // The CROB, in the request and echoed in the response with its status.
            assert_eq!(point_ids(&d["points"]), vec![(12, 1, 0), (12, 1, 0)], "request and echo: {ctx}");
            for c in d["points"].as_array().unwrap() {
                assert_eq!(c["value"]["control_code"], 3, "latch on: {ctx}");
                assert_eq!(c["value"]["operation"], "latch_on", "{ctx}");
                assert_eq!(c["value"]["count"], 1, "{ctx}");
                assert_eq!(c["value"]["status"], 0, "{ctx}");
            }
            let echoed: Vec<(&Value, &Value)> =
                d["response_objects"].as_array().unwrap().iter().map(|o| (&o["group"], &o["variation"])).collect();
            assert_eq!(echoed, vec![(&12.into(), &1.into())], "the echo: {ctx}");
        } else if function_code == 2 {
            // Clearing the restart bit: IIN1.7 written false; the response has no objects.
            assert_eq!(d["points"], serde_json::json!([{"group": 80, "variation": 1, "index": 7, "value": false}]));
            assert!(d["response_objects"].is_null(), "{ctx}");
        } else {
            // Reads: exactly the points the master received; (en|dis)able unsolicited: none.
            assert_points_match(&d["points"], &task["points"], &ctx);
            let has_data = !task["points"].as_array().unwrap().is_empty();
            assert_eq!(d["response_objects"].is_array(), has_data, "response objects where there was data: {ctx}");
        }
    }
    // The reads that had data: every integrity poll (static data), and event data on class 1
    // polls once unsolicited reporting was off.
    let with_data = |k: &str| {
        solicited.iter().zip(tasks).filter(|(t, task)| task["kind"] == k && t["dnp3"]["points"].is_array()).count()
    };
    assert_eq!(with_data("integrity"), kind("integrity"), "every integrity poll returned points:\n{}", dump());
    assert!(with_data("class1") >= 1, "a class 1 poll returned events:\n{}", dump());

    // Unsolicited responses come from the outstation: the ones with data are those the master
    // received, in order; null ones (the startup one) are allowed beside them.
    let master_unsolicited: Vec<&Value> = log["unsolicited"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["points"].as_array().is_some_and(|p| !p.is_empty()))
        .collect();
    assert!(!master_unsolicited.is_empty(), "the master received unsolicited events: {log:#}");
    for t in &unsolicited {
        let ctx = format!("transaction {t}");
        assert_eq!(t["function_code"], 130, "{ctx}");
        assert_eq!(t["src_ip"], net.srv_ip.as_str(), "the outstation is src: {ctx}");
        assert_eq!(t["dest_ip"], net.cli_ip.as_str(), "{ctx}");
        assert_eq!(t["src_port"], PORT, "{ctx}");
        assert_eq!(&t["flow_id"], flow_id, "one flow: {ctx}");
        let d = &t["dnp3"];
        assert_eq!((&d["source"], &d["destination"]), (&OUTSTATION.into(), &MASTER.into()), "link addresses: {ctx}");
        assert!(d["iin"].is_u64(), "{ctx}");
    }
    let with_points: Vec<&&Value> = unsolicited.iter().filter(|t| t["dnp3"]["points"].is_array()).collect();
    assert_eq!(with_points.len(), master_unsolicited.len(), "unsolicited responses with data:\n{}", dump());
    for (t, r) in with_points.iter().zip(master_unsolicited) {
        let ctx = format!("unsolicited {r}\ntransaction {t}");
        assert_points_match(&t["dnp3"]["points"], &r["points"], &ctx);
        let ts = epoch_seconds(t["timestamp"].as_str().unwrap());
        let received = r["time"].as_f64().unwrap();
        assert!(ts > received - 0.1 && ts < received + 0.1, "capture time {ts} vs master {received}: {ctx}");
    }

    let anomalies: Vec<&&Value> = alerts.iter().filter(|a| a["alert"]["kind"] == "protocol_anomaly").collect();
    assert!(anomalies.is_empty(), "protocol anomalies on clean traffic:\n{}", dump());

    // The final stats event comes last and counts what was captured.
    let last = events.last().unwrap();
    assert_eq!(last["event_type"], "stats", "the final stats event is the last line:\n{}", dump());
    let stats = &last["stats"];
    assert!(stats["packets"].as_u64().is_some_and(|p| p > 0), "{last}");
    assert_eq!(stats["transactions"]["dnp3"], transactions.len(), "{last}");
    assert_eq!(stats["bad_checksums"], 0, "{last}");

    let kinds: Vec<&str> = alerts.iter().filter_map(|a| a["alert"]["kind"].as_str()).collect();
    eprintln!(
        "live_dnp3: {} master transactions ({reads} reads) and {} unsolicited matched the master's log; \
         {} packets; other alerts {kinds:?}; {:?}",
        solicited.len(),
        unsolicited.len(),
        stats["packets"],
        started.elapsed()
    );
    assert!(
        !stuck_on_quiet_link,
        "jobwatch did not stop within 2 s of SIGTERM while no packets arrived; it stopped only after \
         one more packet came. Everything else checked out."
    );
    drop(jobwatch);
    drop(net);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

/// The requirement for DNP3: opendnp3's own periodic class 1/2/3 event scan
/// (`AddClassScan`, every 500 ms, for 12 s after the startup sequence) is one established
/// periodic job with that period (±2 %; opendnp3 schedules the next scan one period after the
/// previous one completes, so the wire adds the response time), and once the master shuts
/// down (closing the connection) jobwatch, still capturing on the quiet link, raises exactly
/// one `job_stopped` for it. The outstation is quiet (no events), so the master never starts
/// an event scan of its own between the periodic ones (that would be the same job).
#[test]
fn live_dnp3_class_scan_becomes_a_job_and_its_stop_is_alerted() {
    assert_prerequisites();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let master_log = dir.path().join("scan.json");

    // Declared first, so it is dropped last: after every process in it has been killed.
    let net = Net::create(&NetNames { srv_ns: "jwk-out", cli_ns: "jwk-mst", srv_if: "jkb", cli_if: "jka", octet: 88 });
    #[rustfmt::skip]
    let mut jobwatch = start_jobwatch(&net, dir.path(), &events_path,
        &["--learn-window", "4s", "--events", "transaction,job,alert,stats", "--stats-interval", "1s"]);

    let mut os = Net::command(&net.srv_ns, "python3");
    os.args([PEER, "outstation", "--host", &net.srv_ip, "--quiet"]);
    let outstation = start_server("dnp3 outstation", os, dir.path());

    let (period, duration) = (SCAN_PERIOD_S.to_string(), SCAN_DURATION_S.to_string());
    let mut ms = Net::command(&net.cli_ns, "python3");
    #[rustfmt::skip]
    ms.args([PEER, "master", "--host", &net.srv_ip, "--scan-period", &period, "--duration", &duration, "--log"])
        .arg(&master_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut master = Proc::spawn("dnp3 master", ms, dir.path());
    let status = master.wait_for(Duration::from_secs_f64(SCAN_DURATION_S + 10.0));
    assert!(status.is_some_and(|s| s.success()), "the dnp3 master failed ({status:?}): {}", master.stderr());

    // The master stopped: at least six periods and two seconds of silence for jobwatch to
    // notice, then stop it.
    thread::sleep(Duration::from_secs_f64(6.0 * SCAN_PERIOD_S + 2.0));
    let stuck_on_quiet_link = stop_jobwatch(&mut jobwatch, &net);
    drop(outstation);

    let log: Value = serde_json::from_str(&fs::read_to_string(&master_log).unwrap()).unwrap();
    let tasks = log["tasks"].as_array().unwrap();
    let scans: Vec<&Value> = tasks.iter().filter(|t| t["kind"] == "scan").collect();
    assert!(
        tasks.iter().all(|t| t["result"] == "SUCCESS" && t["time_start"].is_f64()),
        "every task started and succeeded: {log:#}"
    );
    assert!(!tasks.iter().any(|t| t["type"] == "AUTO_EVENT_SCAN"), "the master scanned for events by itself: {log:#}");
    let sent: Vec<f64> = scans.iter().map(|t| t["time_start"].as_f64().unwrap()).collect();
    let events = read_events(&events_path);
    let dump = || {
        events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            + &format!("\n--- master log ---\n{log:#}\n--- jobwatch stderr ---\n{}", jobwatch.stderr())
    };
    let expected = ExpectedJob {
        app_proto: "dnp3",
        master: &net.cli_ip,
        outstation: &net.srv_ip,
        function_code: 1,
        period_s: SCAN_PERIOD_S,
        polls_sent: &sent,
    };
    // A read of class 1, 2 and 3 (all objects), from master 1 to outstation 1024.
    let is_poll = |t: &Value| {
        let d = &t["dnp3"];
        let objects: Vec<(u64, u64, u64)> = d["objects"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|o| (o["group"].as_u64().unwrap(), o["variation"].as_u64().unwrap(), o["qualifier"].as_u64().unwrap()))
            .collect();
        t["app_proto"] == "dnp3"
            && t["function_code"] == 1
            && t["status"] != "unsolicited"
            && (&d["source"], &d["destination"]) == (&MASTER.into(), &OUTSTATION.into())
            && objects == [(60, 2, 6), (60, 3, 6), (60, 4, 6)]
    };
    let seen = check_stopped_periodic_job(&events, &expected, is_poll, &dump);
    eprintln!("{}", seen.report("live_dnp3", SCAN_PERIOD_S, started.elapsed()));
    assert!(!stuck_on_quiet_link, "{STUCK_ON_QUIET_LINK}");
    drop(jobwatch);
    drop(net);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}
