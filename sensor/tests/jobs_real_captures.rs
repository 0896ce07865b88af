//! Job periods on real captures, against tshark's timestamps.
//!
//! `tests/golden/jobs/<capture>.json` (written by `scripts/jobs-vs-tshark --write-golden`, so that
//! this test needs no tshark) lists, per capture, the recurring requests tshark's dissection
//! shows: grouped by master, outstation, protocol and the job key in jobwatch's notation, with
//! the request count and the median interval between consecutive requests. A group is periodic
//! when at least 75 % of its intervals lie within 10 % of the median (the file's `criterion`).
//!
//! For every capture, this test runs `jobwatch learn -r CAPTURE -o baseline.yaml`, loads the
//! baseline with [`Baseline::load`] and checks that every periodic golden job with at least
//! [`MIN_REQUESTS`] requests is a baseline job of the same master, outstation, function code and
//! key that is `periodic`, with `period_ms` within [`TOLERANCE`] of tshark's median interval, and
//! that jobwatch counted exactly as many requests as tshark.
//!
//! Keys are compared after two normalisations, both because of what tshark cannot or does not
//! show, none hiding a period:
//! - the S7 `rack=R slot=S` is dropped: tshark knows it only from the COTP connection request,
//!   which is not in every capture;
//! - DNP3 `points=` lists each point once: jobwatch's key of a command lists the request's points
//!   *and* the ones the outstation echoes in its response (`points=g12:8,g12:8` for a select of
//!   point 8), reported as a jobwatch bug. Should one command then appear under two keys (an
//!   unanswered select has only the request's points), this test fails and says so.
//!
//! `learned_baselines_load` checks that each baseline `jobwatch learn` writes for these captures
//! loads back (`jobwatch --baseline` reads it with the same function).
//!
//! Run with `--nocapture` for the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sensor::jobs::baseline::{Baseline, JobEntry};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Golden jobs with fewer requests than this are not checked (too few intervals for a period).
const MIN_REQUESTS: u64 = 10;
/// Largest relative difference between jobwatch's period and tshark's median interval.
const TOLERANCE: f64 = 0.02;

/// The captures with a golden file, under `pcaps/` (copies committed with the project).
const CAPTURES: [&str; 6] = [
    "modbus/modbus_test.pcap",
    "modbus/modbus_test_2.pcap",
    "modbus/ModbusTCP_Plant1.pcap",
    "s7comm/s7comm_clean.pcap",
    "s7comm/wincc_s400_production.pcapng",
    "dnp3/dnp3_example.pcap",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A jobwatch key in the notation of the golden files (see the module docs).
fn normalize(key: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut words = key.split(' ').peekable();
    while let Some(word) = words.next() {
        if word.starts_with("rack=") && words.peek().is_some_and(|w| w.starts_with("slot=")) {
            words.next();
            continue;
        }
        if let Some(points) = word.strip_prefix("points=") {
            let mut seen: Vec<&str> = Vec::new();
            for p in points.split(',') {
                if !seen.contains(&p) {
                    seen.push(p);
                }
            }
            out.push(format!("points={}", seen.join(",")));
            continue;
        }
        out.push(word.to_string());
    }
    out.join(" ")
}

struct GoldenJob {
    master: String,
    outstation: String,
    function_code: u16,
    key: String,
    count: u64,
    median_ms: f64,
}

fn golden_jobs(golden: &Value) -> Vec<GoldenJob> {
    golden["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| GoldenJob {
            master: j["master"].as_str().unwrap().to_string(),
            outstation: j["outstation"].as_str().unwrap().to_string(),
            function_code: u16::try_from(j["function_code"].as_u64().unwrap()).unwrap(),
            key: j["key"].as_str().unwrap().to_string(),
            count: j["count"].as_u64().unwrap(),
            median_ms: j["median_ms"].as_f64().unwrap(),
        })
        .collect()
}

/// Runs `jobwatch learn` on `capture` and loads the baseline it wrote. A baseline that
/// [`Baseline::load`] refuses is a failure of its own (`jobwatch --baseline` would refuse it too);
/// to still check the periods, it is then loaded without its `tolerance_ms` lines (an optional
/// field this test does not use), and the refusal is returned beside it.
fn learn(capture: &Path, dir: &Path) -> (Baseline, Option<String>) {
    let path = dir.join("baseline.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
        .arg("learn")
        .arg("-r")
        .arg(capture)
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        path.exists(),
        "jobwatch learn -r {} wrote no baseline: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match Baseline::load(&path) {
        Ok(b) => (b, None),
        Err(e) => {
            let text = std::fs::read_to_string(&path).unwrap();
            let without: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("tolerance_ms:"))
                .map(|l| format!("{l}\n"))
                .collect();
            let b = Baseline::from_str("baseline.yaml", &without)
                .unwrap_or_else(|e2| panic!("{}: {e}; without tolerance_ms: {e2}", path.display()));
            (b, Some(e.to_string()))
        }
    }
}

#[test]
fn periodic_jobs_match_tshark() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let mut table = String::new();
    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0;
    for capture in CAPTURES {
        let stem = Path::new(capture).file_stem().unwrap().to_str().unwrap();
        let golden_path = root.join("tests/golden/jobs").join(format!("{stem}.json"));
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
        assert_eq!(golden["capture"].as_str(), Some(format!("pcaps/{capture}").as_str()), "{}", golden_path.display());
        // A baseline `Baseline::load` refuses fails `learned_baselines_load`; its periods are still
        // checked here.
        let (baseline, refused) = learn(&root.join("pcaps").join(capture), dir.path());
        if let Some(why) = refused {
            let _ = writeln!(table, "  (baseline refused by Baseline::load, see learned_baselines_load: {why})");
        }
        // Baseline jobs (and commands: a periodic job is never one) by (master, outstation,
        // function code, normalized key).
        let mut index: BTreeMap<(String, String, u16, String), Vec<&JobEntry>> = BTreeMap::new();
        for e in baseline.jobs.iter().chain(&baseline.commands) {
            let k = (e.master.to_string(), e.outstation.to_string(), e.function_code, normalize(&e.key));
            index.entry(k).or_default().push(e);
        }
        let jobs = golden_jobs(&golden);
        let _ = writeln!(
            table,
            "\n{capture}: {} periodic job(s) in the golden file, {} with >= {MIN_REQUESTS} requests",
            jobs.len(),
            jobs.iter().filter(|j| j.count >= MIN_REQUESTS).count()
        );
        for j in jobs.iter().filter(|j| j.count >= MIN_REQUESTS) {
            checked += 1;
            let k = (j.master.clone(), j.outstation.clone(), j.function_code, j.key.clone());
            let what = format!("{capture}: {} > {} {}", j.master, j.outstation, j.key);
            let entries = index.get(&k).map(Vec::as_slice).unwrap_or_default();
            let verdict = match entries {
                [] => Err("no such job in the baseline".to_string()),
                [e] => match (e.periodic, e.period_ms) {
                    (true, Some(p)) => {
                        let diff = (p - j.median_ms) / j.median_ms;
                        let _ = writeln!(
                            table,
                            "  {:<60} {:>5} {:>10.3} ms  jobwatch {:>5} {:>10.3} ms  {:+.2}%",
                            format!("{} > {} {}", j.master, j.outstation, j.key),
                            j.count,
                            j.median_ms,
                            e.count,
                            p,
                            diff * 100.0
                        );
                        if diff.abs() > TOLERANCE {
                            Err(format!("period {p} ms, tshark's median {} ms ({:+.2}%)", j.median_ms, diff * 100.0))
                        } else if e.count != j.count {
                            Err(format!("{} requests, tshark {}", e.count, j.count))
                        } else {
                            Ok(())
                        }
                    }
                    _ => Err(format!("not periodic (tshark: {} requests, median {} ms)", j.count, j.median_ms)),
                },
                several => Err(format!(
                    "split over {} baseline keys: {}",
                    several.len(),
                    several.iter().map(|e| e.key.as_str()).collect::<Vec<_>>().join(" | ")
                )),
            };
            if let Err(why) = verdict {
                let _ = writeln!(table, "  FAIL {what}: {why}");
                failures.push(format!("{what}: {why}"));
            }
        }
    }
    println!("{table}");
    println!("{checked} periodic job(s) checked, {} failure(s)", failures.len());
    assert!(checked > 100, "only {checked} golden jobs checked: are the golden files complete?");
    assert!(failures.is_empty(), "{} job(s) differ from tshark:\n{}", failures.len(), failures.join("\n"));
}

/// What `jobwatch learn` writes, `Baseline::load` (and so `jobwatch --baseline`) must accept.
#[test]
fn learned_baselines_load() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let refused: Vec<String> = CAPTURES
        .iter()
        .filter_map(|capture| {
            learn(&root.join("pcaps").join(capture), dir.path()).1.map(|why| format!("{capture}: {why}"))
        })
        .collect();
    assert!(refused.is_empty(), "Baseline::load refuses what jobwatch learn wrote:\n{}", refused.join("\n"));
}

#[test]
fn key_normalization() {
    assert_eq!(normalize("s7comm rack=0 slot=2 fc=0x0004 items=IB0[1]"), "s7comm fc=0x0004 items=IB0[1]");
    assert_eq!(normalize("s7comm rack=? slot=? fc=0x0401 group=4 sub=1"), "s7comm fc=0x0401 group=4 sub=1");
    assert_eq!(
        normalize("dnp3 dst=5 src=100 fc=3 objs=g12v1q17#1 points=g12:8,g12:8"),
        "dnp3 dst=5 src=100 fc=3 objs=g12v1q17#1 points=g12:8"
    );
    assert_eq!(normalize("modbus unit=1 fc=4 addr=0 qty=14"), "modbus unit=1 fc=4 addr=0 qty=14");
}

/// modbus_test_2: master .21 runs `unit 1 FC4 read input registers 1–14` irregularly (gaps of
/// 0.1 to 4 s) for the whole capture, with a stretch of about 5.2 s polls in the middle. With
/// a short learning window the job is learned as aperiodic; the regular stretch must not make
/// it enforced (it used to: seven job_late / job_missed alerts on clean traffic). What remains
/// is justified: a job first seen after learning (`new_job`) and a real unanswered request
/// (`job_failed`, tshark shows no response to it).
#[test]
fn an_aperiodic_job_with_a_regular_stretch_is_not_held_to_it() {
    let capture = root().join("pcaps/modbus/modbus_test_2.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
        .arg("-r")
        .arg(&capture)
        .args(["--learn-window", "40s", "--events", "alert"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["alert"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "job_late" || k == "job_missed" || k == "job_period_changed"),
        "timing alerts on an irregular job: {text}"
    );
    assert_eq!(kinds, ["new_job", "job_failed"], "{text}");
}
