//! What the live-capture tests share: a private two-namespace network joined by a veth pair
//! (removed on drop, even when a test fails), child processes killed on drop, and reading
//! jobwatch's JSON Lines output.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Name prefixes and the second address octet of one test's network.
pub struct NetNames {
    pub srv_ns: &'static str,
    pub cli_ns: &'static str,
    pub srv_if: &'static str,
    pub cli_if: &'static str,
    pub octet: u8,
}

pub fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`{}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs a command and ignores the outcome (cleanup).
pub fn run_quietly(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

pub fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The test's network. Dropping it deletes both namespaces, which destroys the veth pair too.
pub struct Net {
    pub srv_ns: String,
    pub cli_ns: String,
    pub srv_if: String,
    pub srv_ip: String,
    pub cli_ip: String,
}

impl Net {
    /// `names` keeps each test's namespaces, links and subnet apart from the others'.
    pub fn create(names: &NetNames) -> Net {
        let pid = std::process::id();
        let subnet = pid % 250 + 1;
        let octet = names.octet;
        let net = Net {
            srv_ns: format!("{}-{pid}", names.srv_ns),
            cli_ns: format!("{}-{pid}", names.cli_ns),
            srv_if: format!("{}{pid}", names.srv_if),
            srv_ip: format!("10.{octet}.{subnet}.1"),
            cli_ip: format!("10.{octet}.{subnet}.2"),
        };
        let cli_if = format!("{}{pid}", names.cli_if);
        // Leftovers of an earlier run killed with the same pid.
        net.delete();
        for ns in [&net.srv_ns, &net.cli_ns] {
            run(&["ip", "netns", "add", ns]);
            // No IPv6 (router solicitations, MLD): the link carries only the test's traffic.
            #[rustfmt::skip]
            run(&["ip", "netns", "exec", ns, "sysctl", "-qw",
                  "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
        }
        #[rustfmt::skip]
        run(&["ip", "link", "add", &cli_if, "netns", &net.cli_ns, "type", "veth",
              "peer", "name", &net.srv_if, "netns", &net.srv_ns]);
        for (ns, iface, ip) in [(&net.srv_ns, &net.srv_if, &net.srv_ip), (&net.cli_ns, &cli_if, &net.cli_ip)] {
            run(&["ip", "-n", ns, "addr", "add", &format!("{ip}/24"), "dev", iface]);
            run(&["ip", "-n", ns, "link", "set", iface, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        net
    }

    pub fn delete(&self) {
        run_quietly(&["ip", "netns", "del", &self.srv_ns]);
        run_quietly(&["ip", "netns", "del", &self.cli_ns]);
    }

    /// Sends UDP datagrams from the client's namespace to the server's discard port: one, or
    /// (`forever`) one every 100 ms until killed. Traffic that is not the test's protocol.
    pub fn probe(&self, forever: bool) -> Command {
        let send = format!("s.sendto(b'jobwatch-test-probe', ('{}', 9))", self.srv_ip);
        let body = if forever { format!("while True:\n    {send}\n    time.sleep(0.1)") } else { send };
        let code = format!("import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n{body}\n");
        let mut c = Net::command(&self.cli_ns, "python3");
        c.args(["-c", &code]).stdin(Stdio::null()).stdout(Stdio::null());
        c
    }

    /// A command run inside namespace `ns`.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.delete();
    }
}

/// A child process that is killed if the test ends before it does.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    stderr: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let stderr = dir.join(format!("{name}.stderr"));
        let file = File::create(&stderr).unwrap();
        let child = cmd.stderr(file).spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, stderr }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited early ({status}): {}", self.name, self.stderr());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the JSON Lines written so far (a partly written last line is left out).
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as jobwatch writes it
/// (`2024-01-02T03:04:05.123456Z`).
pub fn epoch_seconds(ts: &str) -> f64 {
    let bad = format!("bad timestamp {ts:?}");
    let (date, time) = ts.strip_suffix('Z').and_then(|t| t.split_once('T')).expect(&bad);
    let d: Vec<i64> = date.split('-').map(|p| p.parse().expect(&bad)).collect();
    let t: Vec<f64> = time.split(':').map(|p| p.parse().expect(&bad)).collect();
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    // Days from civil (Howard Hinnant).
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// Starts jobwatch capturing on the server's side of `net`'s veth pair, writing to
/// `events_path` with the extra `args` (which must let `stats` events through), and returns
/// once it captures: once a periodic stats event counts packets (the capture handle is opened
/// before the loop starts, and the stats come from that loop). A prober sends a datagram
/// every 100 ms meanwhile, so there are packets to count.
pub fn start_jobwatch(net: &Net, dir: &Path, events_path: &Path, args: &[&str]) -> Proc {
    let mut jw = Net::command(&net.srv_ns, env!("CARGO_BIN_EXE_jobwatch"));
    jw.args(["-i", &net.srv_if, "-o"]).arg(events_path).args(args).stdin(Stdio::null()).stdout(Stdio::null());
    let mut jobwatch = Proc::spawn("jobwatch", jw, dir);
    let prober = Proc::spawn("prober", net.probe(true), dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    let capturing = |e: &Value| e["event_type"] == "stats" && e["stats"]["packets"].as_u64().is_some_and(|p| p > 0);
    while !read_events(events_path).iter().any(capturing) {
        jobwatch.assert_running();
        assert!(
            Instant::now() < deadline,
            "jobwatch wrote no stats event counting packets within 10 s: {}",
            jobwatch.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
    drop(prober);
    jobwatch
}

/// Starts a peer server (`cmd`, with its stdout not yet redirected) and returns once it has
/// printed its "READY" line.
pub fn start_server(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut server = Proc::spawn(name, cmd, dir);
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(10)).is_err() {
        server.assert_running();
        panic!("the {name} did not get ready within 10 s: {}", server.stderr());
    }
    server
}

/// Stops jobwatch with SIGTERM, as an operator would, and asserts it exits 0. Returns whether
/// it was stuck on the quiet link: if it has not exited 2 s later, one more datagram wakes it
/// (so that the rest can still be checked; the caller fails at the end).
pub fn stop_jobwatch(jobwatch: &mut Proc, net: &Net) -> bool {
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
    stuck_on_quiet_link
}

/// The message for a test that saw jobwatch stuck on a quiet link after SIGTERM.
pub const STUCK_ON_QUIET_LINK: &str = "jobwatch did not stop within 2 s of SIGTERM while no packets arrived; it \
     stopped only after one more packet came (the capture's read timeout never fires on a quiet link, so the \
     stop flag is not looked at). Everything else checked out.";

/// One periodic job a client ran: what the test expects of it.
pub struct ExpectedJob<'a> {
    pub app_proto: &'a str,
    pub master: &'a str,
    pub outstation: &'a str,
    pub function_code: u64,
    /// The client's period, seconds.
    pub period_s: f64,
    /// When the client sent each poll (epoch seconds, from its log), in order.
    pub polls_sent: &'a [f64],
}

/// What jobwatch made of a periodic job.
pub struct JobSeen {
    pub job_id: u64,
    pub transactions: usize,
    /// `period_ms` of the job's first `established` event.
    pub period_ms: f64,
    /// Its error against the client's nominal period, percent.
    pub error_pct: f64,
    /// The period the client actually kept (first to last poll sent), ms.
    pub client_period_ms: f64,
    pub jitter_ms: Option<f64>,
    pub tolerance_ms: Option<f64>,
    /// Capture time from the job's last poll to its `job_stopped` alert, seconds.
    pub stop_delay_s: f64,
    /// Capture time from the job's first poll to its `established` event, seconds.
    pub established_after_s: f64,
    /// Kinds of the job's other alerts.
    pub other_alerts: Vec<String>,
    /// The states of its job events, each with its capture time from the last poll.
    pub states: Vec<String>,
}

/// Checks the job of the transactions `is_poll` picks (one read a client repeated at a known
/// period, then stopped): jobwatch put them all in one job, and only them; the job's first
/// `established` event says periodic with the client's period within ±2 %; there is exactly
/// one `job_stopped` alert for it, after four missed polls and at most six periods (plus 1.5 s
/// of slack) after the last; the job is stopped once and ends stopped; and no poll of it was
/// called missed, failed or a change of pace. `dump` renders everything for a failure message.
pub fn check_stopped_periodic_job(
    events: &[Value],
    expected: &ExpectedJob,
    is_poll: impl Fn(&Value) -> bool,
    dump: &dyn Fn() -> String,
) -> JobSeen {
    let period_ms = expected.period_s * 1000.0;
    let ts = |e: &Value| epoch_seconds(e["timestamp"].as_str().unwrap());
    let transactions: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "transaction").collect();
    let polls: Vec<&&Value> = transactions.iter().filter(|t| is_poll(t)).collect();
    assert!(!polls.is_empty(), "no transaction of the job at all:\n{}", dump());
    let mut ids: Vec<&Value> = polls.iter().map(|t| &t["job_id"]).collect();
    ids.dedup();
    assert!(ids.len() == 1 && ids[0].is_u64(), "the polls carry job ids {ids:?}, not one:\n{}", dump());
    let job_id = ids[0].as_u64().unwrap();
    let of_job: Vec<&&Value> = transactions.iter().filter(|t| t["job_id"] == job_id).collect();
    assert_eq!(of_job.len(), polls.len(), "job {job_id} holds other transactions than the polls:\n{}", dump());
    assert_eq!(
        polls.len(),
        expected.polls_sent.len(),
        "one transaction per poll the client logged ({} sent):\n{}",
        expected.polls_sent.len(),
        dump()
    );
    assert!(polls.len() >= 20, "only {} polls of the job:\n{}", polls.len(), dump());
    for t in &polls {
        assert_eq!(t["status"], "ok", "a poll failed: {t}\n{}", dump());
    }

    // The job: its first `established` event.
    let job_events: Vec<&Value> =
        events.iter().filter(|e| e["event_type"] == "job" && e["job"]["id"] == job_id).collect();
    let established = job_events
        .iter()
        .find(|e| e["job"]["state"] == "established")
        .unwrap_or_else(|| panic!("no `established` event for job {job_id}:\n{}", dump()));
    let job = &established["job"];
    let ctx = format!("job {job_id}: {established}");
    assert_eq!(job["app_proto"], expected.app_proto, "{ctx}");
    assert_eq!(job["master"], expected.master, "{ctx}");
    assert_eq!(job["outstation"], expected.outstation, "{ctx}");
    assert_eq!(job["function_code"], expected.function_code, "{ctx}");
    assert_eq!(job["category"], "read", "{ctx}");
    assert_eq!(job["periodic"], true, "established as periodic: {ctx}\n{}", dump());
    let seen_ms = job["period_ms"].as_f64().unwrap_or_else(|| panic!("no period_ms: {ctx}"));
    let error_pct = (seen_ms - period_ms) / period_ms * 100.0;
    assert!(
        error_pct.abs() <= 2.0,
        "period {seen_ms} ms, the client's is {period_ms} ms ({error_pct:+.2} %): {ctx}\n{}",
        dump()
    );
    let sent = expected.polls_sent;
    let client_period_ms = (sent[sent.len() - 1] - sent[0]) / (sent.len() - 1) as f64 * 1000.0;
    let first_poll = polls.iter().map(|t| ts(t)).fold(f64::INFINITY, f64::min);

    // Stopped: exactly one alert, after four missed polls and in time.
    let alerts: Vec<&Value> =
        events.iter().filter(|e| e["event_type"] == "alert" && e["alert"]["job_id"] == job_id).collect();
    let stops: Vec<&&Value> = alerts.iter().filter(|a| a["alert"]["kind"] == "job_stopped").collect();
    assert_eq!(stops.len(), 1, "job_stopped alerts for job {job_id}: {stops:#?}\n{}", dump());
    let last_poll = polls.iter().map(|t| ts(t)).fold(f64::NEG_INFINITY, f64::max);
    let stop_delay_s = ts(stops[0]) - last_poll;
    assert!(
        stop_delay_s >= 4.0 * expected.period_s && stop_delay_s <= 6.0 * expected.period_s + 1.5,
        "job_stopped {stop_delay_s:.3} s after the last poll (period {} s): {}\n{}",
        expected.period_s,
        stops[0],
        dump()
    );
    let last_state = &job_events.last().unwrap()["job"]["state"];
    assert_eq!(last_state, "stopped", "the job's last state:\n{}", dump());
    let stopped = job_events.iter().filter(|e| e["job"]["state"] == "stopped").count();
    assert_eq!(stopped, 1, "`stopped` job events for job {job_id}:\n{}", dump());
    // Its states, in capture time from the last poll.
    let states = job_events
        .iter()
        .map(|e| format!("{}@{:+.2}s", e["job"]["state"].as_str().unwrap_or("?"), ts(e) - last_poll))
        .collect();
    let other_alerts: Vec<String> = alerts
        .iter()
        .filter_map(|a| a["alert"]["kind"].as_str())
        .filter(|k| *k != "job_stopped")
        .map(str::to_string)
        .collect();
    for bad in ["job_missed", "job_failed", "job_period_changed"] {
        assert!(!other_alerts.iter().any(|k| k == bad), "{bad} on a steady poll:\n{}", dump());
    }
    JobSeen {
        job_id,
        transactions: polls.len(),
        period_ms: seen_ms,
        error_pct,
        client_period_ms,
        jitter_ms: job["jitter_ms"].as_f64(),
        tolerance_ms: job["tolerance_ms"].as_f64(),
        stop_delay_s,
        established_after_s: ts(established) - first_poll,
        other_alerts,
        states,
    }
}

impl JobSeen {
    pub fn report(&self, test: &str, period_s: f64, elapsed: Duration) -> String {
        format!(
            "{test}: job {} established {:.2} s after its first poll, period {:.2} ms vs {:.0} ms \
             ({:+.3} %; the client kept {:.2} ms), jitter {:?} ms, tolerance {:?} ms, {} transactions; \
             job_stopped {:.3} s after the last poll; states {}; other alerts {:?}; {elapsed:?}",
            self.job_id,
            self.established_after_s,
            self.period_ms,
            period_s * 1000.0,
            self.error_pct,
            self.client_period_ms,
            self.jitter_ms,
            self.tolerance_ms,
            self.transactions,
            self.stop_delay_s,
            self.states.join(" "),
            self.other_alerts,
        )
    }
}
