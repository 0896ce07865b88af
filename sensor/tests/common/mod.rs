//! What the live-capture tests share: a private two-namespace network joined by a veth pair
//! (removed on drop, even when a test fails), child processes killed on drop, and reading
//! jobwatch's JSON Lines output.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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
