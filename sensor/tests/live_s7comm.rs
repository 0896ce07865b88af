//! Live capture against a real S7 server and client (snap7) on a real interface.
//!
//! The test builds its own network: two network namespaces (`jws-srv-<pid>`, `jws-cli-<pid>`)
//! joined by a veth pair (`jsb<pid>` on the server side, `jsa<pid>` on the client side), so
//! nothing in the host's own namespace changes and parallel runs do not collide. jobwatch
//! captures on the server's veth while snap7 (the `python-snap7` wheel, which ships the native
//! library, driven by `tests/peers/s7_peer.py`) runs a server with DB1 and DB2 on TCP 102 and a
//! client that connects to rack 0 slot 2 (ISO-on-TCP: COTP connect, then S7 setup
//! communication), reads DB1.DBB0..9 and DB2.DBB4..7 alternately every 100 ms for 3 s, and
//! writes DB1.DBB20..23 once (then reads them back). The setup communication and every read and
//! write the client logs must come out as one `transaction` each, in order, with the same item
//! (area, DB, byte address, length, transport size), the same bytes, rack and slot.
//!
//! A second test (its own namespaces `jwt-*`) runs jobwatch's job engine live: a client reads
//! DB1.DBB0..9 every 500 ms for 12 s (`s7_peer.py poll`) and disconnects; the read must be one
//! established periodic job with that period (±2 %) and its stop exactly one `job_stopped`.
//!
//! Needs root (CAP_NET_ADMIN for the namespaces, CAP_NET_RAW to capture) and python3 with
//! python-snap7 (`scripts/requirements-test.txt`). It fails, never skips, when they are missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::fs::{self};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/s7_peer.py");
const HOW_TO_RUN: &str =
    "run it as root, e.g. `sudo -E env PATH=$PATH cargo test -p jobwatch-sensor --test live_s7comm` \
     (CI runs the tests as root)";
const PORT: u64 = 102;
/// Where the client connects (its COTP destination TSAP is 0x0100 + 32 * rack + slot).
const RACK: u64 = 0;
const SLOT: u64 = 2;
/// S7 area code of data blocks.
const AREA_DB: u64 = 0x84;

/// Runs a command to completion; panics with its output if it fails.
mod common;
use common::{
    check_stopped_periodic_job, effective_uid, epoch_seconds, read_events, run, start_jobwatch, start_server,
    stop_jobwatch, ExpectedJob, Net, NetNames, Proc, STUCK_ON_QUIET_LINK,
};

/// The job test's client: read_var DB1.DBB0..9 every 500 ms for 12 s.
const POLL_PERIOD_S: f64 = 0.5;
const POLL_DURATION_S: f64 = 12.0;

fn assert_prerequisites() {
    assert_eq!(effective_uid(), Some(0), "live_s7comm needs root (CAP_NET_ADMIN, CAP_NET_RAW): {HOW_TO_RUN}");
    // Loading the native library too, not just the Python package.
    let py = Command::new("python3").args(["-c", "import snap7; snap7.client.Client().destroy()"]).output();
    assert!(
        py.as_ref().is_ok_and(|o| o.status.success()),
        "live_s7comm needs python3 with python-snap7 (module snap7): `pip install -r scripts/requirements-test.txt` ({})",
        py.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_else(|e| e.to_string())
    );
}

/// The bytes the server's DB holds at `start..start + len` before any write (see s7_peer.py).
fn db_bytes(db: u64, start: u64, len: u64) -> String {
    (start..start + len)
        .map(|i| match db {
            1 => format!("{:02x}", (7 * i + 3) % 256),
            2 => format!("{:02x}", 0xA0 + i),
            _ => panic!("no DB{db} on the server"),
        })
        .collect()
}

/// Checks the transport-level fields every transaction of the connection shares.
fn assert_flow(t: &Value, net: &Net, client_port: &Value, flow_id: &Value, ctx: &str) {
    assert_eq!(t["app_proto"], "s7comm", "{ctx}");
    assert_eq!(t["proto"], "tcp", "{ctx}");
    assert_eq!(t["src_ip"], net.cli_ip.as_str(), "requester is src: {ctx}");
    assert_eq!(t["dest_ip"], net.srv_ip.as_str(), "{ctx}");
    assert_eq!(t["dest_port"], PORT, "{ctx}");
    assert_eq!(&t["src_port"], client_port, "one connection: {ctx}");
    assert_ne!(t["src_port"], PORT, "{ctx}");
    assert_eq!(&t["flow_id"], flow_id, "one flow: {ctx}");
    assert_eq!(t["status"], "ok", "{ctx}");
    let s = &t["s7comm"];
    assert_eq!(s["rosctr"], 1, "a job: {ctx}");
    assert_eq!(s["rack"], RACK, "rack the client connected to: {ctx}");
    assert_eq!(s["slot"], SLOT, "slot the client connected to: {ctx}");
    assert_eq!(s["src_tsap"], "0100", "client's TSAP: {ctx}");
    assert_eq!(s["dst_tsap"], format!("01{:02x}", 32 * RACK + SLOT), "server's TSAP: {ctx}");
    assert!(s["error"].is_null() && s["error_class"].as_u64().unwrap_or(0) == 0, "no error: {ctx}");
    assert!(s["anomalies"].is_null(), "no anomalies: {ctx}");
}

/// Capture time on the server's side lies within the client's send..receive window, and the
/// wire's response time within the client's round trip (plus timestamp slack).
fn assert_timing(t: &Value, entry: &Value, ctx: &str) {
    let sent = entry["time_sent"].as_f64().unwrap();
    let received = entry["time_received"].as_f64().unwrap();
    let ts = epoch_seconds(t["timestamp"].as_str().unwrap());
    assert!(ts > sent - 0.1 && ts < received + 0.1, "capture time {ts} vs client {sent}..{received}: {ctx}");
    let rt = t["response_time_us"].as_u64().unwrap_or_else(|| panic!("no response_time_us: {ctx}"));
    let round_trip_us = (received - sent) * 1e6;
    assert!(
        rt > 0 && (rt as f64) <= round_trip_us + 2000.0,
        "response_time_us {rt} vs client round trip {round_trip_us:.0} us: {ctx}"
    );
}

#[test]
fn live_capture_of_real_s7_peers() {
    assert_prerequisites();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let client_log = dir.path().join("client.json");

    // Declared first, so it is dropped last: after every process in it has been killed.
    let net = Net::create(&NetNames { srv_ns: "jws-srv", cli_ns: "jws-cli", srv_if: "jsb", cli_if: "jsa", octet: 79 });

    // jobwatch on the server's side of the veth pair.
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

    // The server, and its "READY" line once it listens.
    let mut srv = Net::command(&net.srv_ns, "python3");
    srv.args([PEER, "server", "--host", &net.srv_ip]);
    let server = start_server("snap7 server", srv, dir.path());

    // The client connects, reads and writes for 3 s, and writes its log.
    let (rack, slot) = (RACK.to_string(), SLOT.to_string());
    let mut cli = Net::command(&net.cli_ns, "python3");
    #[rustfmt::skip]
    cli.args([PEER, "client", "--host", &net.srv_ip, "--rack", &rack, "--slot", &slot,
              "--duration", "3", "--log"])
        .arg(&client_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut client = Proc::spawn("snap7 client", cli, dir.path());
    let status = client.wait_for(Duration::from_secs(15));
    assert!(status.is_some_and(|s| s.success()), "the snap7 client failed ({status:?}): {}", client.stderr());

    // Let jobwatch read the last packets, then stop it as an operator would (see live_modbus.rs
    // for the quiet-link fallback).
    thread::sleep(Duration::from_millis(300));
    jobwatch.assert_running();
    run(&["kill", "-TERM", &jobwatch.child.id().to_string()]);
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
    drop(server);

    let log: Value = serde_json::from_str(&fs::read_to_string(&client_log).unwrap()).unwrap();
    let connect = &log["connect"];
    let ops = log["ops"].as_array().unwrap();
    let events = read_events(&events_path);
    let transactions: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "transaction").collect();
    let alerts: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "alert").collect();

    // The client did what the schedule says (3 s every 100 ms: 30 reads, plus the write and
    // its read-back), every operation succeeded, and it read what the server holds.
    assert_eq!((connect["rack"].as_u64(), connect["slot"].as_u64()), (Some(RACK), Some(SLOT)), "client log: {log:#}");
    let count = |op: &str| ops.iter().filter(|o| o["op"] == op).count();
    assert!(count("read") >= 25 && count("write") == 1, "client log: {log:#}");
    assert!(ops.iter().all(|o| o["result"] == "ok" && o["area"] == AREA_DB), "client log: {log:#}");
    let write = ops.iter().position(|o| o["op"] == "write").unwrap();
    for (i, o) in ops.iter().enumerate() {
        let (db, start, size) = (o["db"].as_u64().unwrap(), o["start"].as_u64().unwrap(), o["size"].as_u64().unwrap());
        if i == write + 1 {
            assert_eq!((db, start, &o["value"]), (1, 20, &ops[write]["value"]), "read-back: {log:#}");
        } else if i != write {
            assert_eq!(o["value"], db_bytes(db, start, size), "op #{i}, client log: {log:#}");
        }
    }

    let dump = || {
        events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            + &format!("\n--- client log ---\n{log:#}\n--- jobwatch stderr ---\n{}", jobwatch.stderr())
    };
    assert_eq!(
        transactions.len(),
        1 + ops.len(),
        "one transaction for the setup communication and one per client operation:\n{}",
        dump()
    );

    // The setup communication at connect: the PDU size the server granted.
    let flow_id = &transactions[0]["flow_id"];
    let client_port = &transactions[0]["src_port"];
    let setup = transactions[0];
    let ctx = format!("connect {connect}\ntransaction {setup}");
    assert_flow(setup, &net, client_port, flow_id, &ctx);
    assert_eq!(setup["function_code"], 0xF0, "{ctx}");
    assert_eq!(setup["function"], "setup_communication", "{ctx}");
    assert_eq!(setup["s7comm"]["pdu_length"], connect["pdu_length"], "negotiated PDU length: {ctx}");
    assert_timing(setup, connect, &ctx);

    let mut pdu_refs = vec![&setup["s7comm"]["pdu_ref"]];
    for (i, (t, o)) in transactions[1..].iter().zip(ops).enumerate() {
        let ctx = format!("op #{i} {o}\ntransaction {t}");
        let s = &t["s7comm"];
        assert_flow(t, &net, client_port, flow_id, &ctx);
        let (code, name) = if o["op"] == "read" { (4, "read_var") } else { (5, "write_var") };
        assert_eq!(t["function_code"], code, "{ctx}");
        assert_eq!(t["function"], name, "{ctx}");
        // One item: S7ANY addressing, DB area, the client's DB, byte address, byte count.
        let items = s["items"].as_array().unwrap_or_else(|| panic!("no items: {ctx}"));
        assert_eq!(items.len(), 1, "{ctx}");
        let item = &items[0];
        assert_eq!(item["syntax_id"], 0x10, "S7ANY: {ctx}");
        assert_eq!(item["area"], o["area"], "{ctx}");
        assert_eq!(item["area_name"], "data_block", "{ctx}");
        assert_eq!(item["db"], o["db"], "{ctx}");
        assert_eq!(item["address"], o["start"], "{ctx}");
        assert_eq!(item["bit"], 0, "{ctx}");
        assert_eq!(item["transport_size"], "byte", "snap7 addresses DBs bytewise: {ctx}");
        assert_eq!(item["length"], o["size"], "{ctx}");
        // One data item: what the server answered to a read (return code 0xFF, success), or
        // what the client wrote (the request's data item, whose return code is reserved, 0).
        let data = s["data"].as_array().unwrap_or_else(|| panic!("no data: {ctx}"));
        assert_eq!(data.len(), 1, "{ctx}");
        assert_eq!(data[0]["value"], o["value"], "bytes read or written: {ctx}");
        let return_code = if o["op"] == "read" { 0xFF } else { 0 };
        assert_eq!(data[0]["return_code"], return_code, "{ctx}");
        assert_timing(t, o, &ctx);
        pdu_refs.push(&s["pdu_ref"]);
    }
    // snap7 numbers its PDUs: no reference is reused on the connection.
    let mut unique = pdu_refs.clone();
    unique.sort_by_key(|r| r.as_u64());
    unique.dedup();
    assert_eq!(unique.len(), pdu_refs.len(), "PDU references {pdu_refs:?}");

    let anomalies: Vec<&&Value> = alerts.iter().filter(|a| a["alert"]["kind"] == "protocol_anomaly").collect();
    assert!(anomalies.is_empty(), "protocol anomalies on clean traffic:\n{}", dump());

    // The final stats event comes last and counts what was captured.
    let last = events.last().unwrap();
    assert_eq!(last["event_type"], "stats", "the final stats event is the last line:\n{}", dump());
    let stats = &last["stats"];
    assert!(stats["packets"].as_u64().is_some_and(|p| p > 0), "{last}");
    assert!(stats["capture_drops"].is_u64(), "{last}");
    assert_eq!(stats["transactions"]["s7comm"], transactions.len(), "{last}");
    assert_eq!(stats["bad_checksums"], 0, "{last}");

    let kinds: Vec<&str> = alerts.iter().filter_map(|a| a["alert"]["kind"].as_str()).collect();
    eprintln!(
        "live_s7comm: {} transactions matched the client's log; {} packets; other alerts {kinds:?}; {:?}",
        transactions.len(),
        stats["packets"],
        started.elapsed()
    );
    assert!(
        !stuck_on_quiet_link,
        "jobwatch did not stop within 2 s of SIGTERM while no packets arrived; it stopped only after \
         one more packet came (the capture's read timeout never fires on a quiet link, so the stop \
         flag is not looked at). Everything else checked out."
    );
    drop(jobwatch);
    drop(net);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

/// The requirement for S7comm: a snap7 client reading DB1.DBB0..9 at a known period
/// for 12 s is one established periodic job with that period (±2 %), and once it stops (it
/// disconnects) jobwatch, still capturing on the quiet link, raises exactly one `job_stopped`
/// for it.
#[test]
fn live_s7_read_becomes_a_job_and_its_stop_is_alerted() {
    assert_prerequisites();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events_path = dir.path().join("events.jsonl");
    let client_log = dir.path().join("poll.json");

    // Declared first, so it is dropped last: after every process in it has been killed.
    let net = Net::create(&NetNames { srv_ns: "jwt-srv", cli_ns: "jwt-cli", srv_if: "jtb", cli_if: "jta", octet: 89 });
    #[rustfmt::skip]
    let mut jobwatch = start_jobwatch(&net, dir.path(), &events_path,
        &["--learn-window", "4s", "--events", "transaction,job,alert,stats", "--stats-interval", "1s"]);

    let mut srv = Net::command(&net.srv_ns, "python3");
    srv.args([PEER, "server", "--host", &net.srv_ip]);
    let server = start_server("snap7 server", srv, dir.path());

    let (rack, slot) = (RACK.to_string(), SLOT.to_string());
    let (period, duration) = (POLL_PERIOD_S.to_string(), POLL_DURATION_S.to_string());
    let mut cli = Net::command(&net.cli_ns, "python3");
    #[rustfmt::skip]
    cli.args([PEER, "poll", "--host", &net.srv_ip, "--rack", &rack, "--slot", &slot,
              "--period", &period, "--duration", &duration, "--log"])
        .arg(&client_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut client = Proc::spawn("snap7 poller", cli, dir.path());
    let status = client.wait_for(Duration::from_secs_f64(POLL_DURATION_S + 10.0));
    assert!(status.is_some_and(|s| s.success()), "the snap7 poller failed ({status:?}): {}", client.stderr());

    // The client stopped: at least six periods and two seconds of silence for jobwatch to
    // notice, then stop it.
    thread::sleep(Duration::from_secs_f64(6.0 * POLL_PERIOD_S + 2.0));
    let stuck_on_quiet_link = stop_jobwatch(&mut jobwatch, &net);
    drop(server);

    let log: Value = serde_json::from_str(&fs::read_to_string(&client_log).unwrap()).unwrap();
    let ops = log["ops"].as_array().unwrap();
    assert!(
        ops.iter().all(|o| o["op"] == "read" && o["result"] == "ok" && o["value"] == db_bytes(1, 0, 10)),
        "client log: {log:#}"
    );
    let sent: Vec<f64> = ops.iter().map(|o| o["time_sent"].as_f64().unwrap()).collect();
    let events = read_events(&events_path);
    let dump = || {
        events.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
            + &format!("\n--- client log ---\n{log:#}\n--- jobwatch stderr ---\n{}", jobwatch.stderr())
    };
    let expected = ExpectedJob {
        app_proto: "s7comm",
        master: &net.cli_ip,
        outstation: &net.srv_ip,
        function_code: 4,
        period_s: POLL_PERIOD_S,
        polls_sent: &sent,
    };
    // One item: DB1, bytes 0..9.
    let is_poll = |t: &Value| {
        let items = t["s7comm"]["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        t["app_proto"] == "s7comm"
            && t["function_code"] == 4
            && items.len() == 1
            && items[0]["area"] == AREA_DB
            && items[0]["db"] == 1
            && items[0]["address"] == 0
            && items[0]["length"] == 10
    };
    let seen = check_stopped_periodic_job(&events, &expected, is_poll, &dump);
    eprintln!("{}", seen.report("live_s7comm", POLL_PERIOD_S, started.elapsed()));
    assert!(!stuck_on_quiet_link, "{STUCK_ON_QUIET_LINK}");
    drop(jobwatch);
    drop(net);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}
