//! Scores a jobwatch run against a scenario's `labels.json`: which labels were detected, which
//! alerts were true, explained or false, per family.
//!
//! # Inputs
//!
//! The labels ([`Labels`], schema in `scenario/README.md`) and the JSON Lines events of jobwatch
//! on `test.pcap`, optionally also on `train.pcap` (the clean run). Lines whose `event_type` is
//! not `alert` and blank lines are skipped, unknown fields are ignored; a line that is not JSON,
//! or an alert without `timestamp` or `alert.kind`, is an error naming the line.
//!
//! # Matching
//!
//! Each label has a *window* `[start_us, deadline]`; the deadline is counted from the label's
//! `start_us` for sustained anomalies (they last to the end of the capture) or its `end_us`,
//! plus a delay that depends on the expected kind ([`DELAYS`], `period` being the label's job's
//! `period_ms`, 0 without a job):
//!
//! | expected kind | from | delay |
//! |---|---|---|
//! | `job_stopped` | start | 10 × period, at least 30 s |
//! | `job_period_changed` | start | 40 × period, at least 60 s |
//! | `new_job`, `new_talker` | start | 5 s |
//! | `job_late`, `job_missed`, `job_failed`, `response_slow` | end | 2 × period + 10 s |
//! | `unexpected_command` | end | 5 s |
//! | `sensor_health` | end | 10 s |
//!
//! Every alert of the test run is then, in this order:
//! 1. a **true positive** when, for some label, its kind is the label's `kind` (and, for
//!    `unexpected_command`, its `alert.category` is the label's `category`), its `src_ip` is the
//!    label's master and its `dest_ip` the label's outstation (a label without endpoints, i.e.
//!    `capture_gap`, takes any endpoints), and its timestamp is in the label's window. The label
//!    is *detected*;
//! 2. a **false positive** when it is not `sensor_health` and falls in `[start_us, end_us + 5 s]`
//!    of a `capture_gap` label (the sensor should know its input had a hole);
//! 3. **explained** (neither true nor false) when its kind is in the `explains` list of a label
//!    with the same endpoints and its timestamp is in that label's window;
//! 4. otherwise a **false positive**.
//!
//! Every alert of the train run (clean traffic) is a false positive.
//!
//! # Arithmetic
//!
//! Per family (`timing`, `failure`, `novelty`, `command`, `sensor`, and `other` for the kinds
//! no label expects, such as `rule_match` and `protocol_anomaly`): recall = detected labels /
//! labels; precision = true positives / (true positives + false positives), each alert counted
//! in the family of its kind; false alerts per hour = false positives / clean hours, where clean
//! hours = the test capture's duration less the union of the label windows and capture-gap
//! windows inside it, plus the train capture's duration when the train run is scored.

use crate::labelled::{rfc3339, AnomalyKind, Label, Labels};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// What a label's deadline is counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The label's `start_us`: sustained anomalies, whose `end_us` is the end of the capture.
    Start,
    /// The label's `end_us`.
    End,
}

/// How long after a label an alert may come: `max(periods × job period + plus_s, min_s)`
/// seconds after the label's start or end.
#[derive(Clone, Copy, Debug)]
pub struct Delay {
    pub from: Anchor,
    pub periods: f64,
    pub plus_s: f64,
    pub min_s: f64,
}

const fn delay(from: Anchor, periods: f64, plus_s: f64, min_s: f64) -> Delay {
    Delay { from, periods, plus_s, min_s }
}

/// The detection delay per expected alert kind (module docs).
#[rustfmt::skip]
pub const DELAYS: &[(&str, Delay)] = &[
    // expected kind          from           × period   + s  at least s
    ("job_stopped",        delay(Anchor::Start, 10.0,  0.0, 30.0)),
    ("job_period_changed", delay(Anchor::Start, 40.0,  0.0, 60.0)),
    ("new_job",            delay(Anchor::Start,  0.0,  5.0,  0.0)),
    ("new_talker",         delay(Anchor::Start,  0.0,  5.0,  0.0)),
    ("job_late",           delay(Anchor::End,    2.0, 10.0,  0.0)),
    ("job_missed",         delay(Anchor::End,    2.0, 10.0,  0.0)),
    ("job_failed",         delay(Anchor::End,    2.0, 10.0,  0.0)),
    ("response_slow",      delay(Anchor::End,    2.0, 10.0,  0.0)),
    ("unexpected_command", delay(Anchor::End,    0.0,  5.0,  0.0)),
    ("sensor_health",      delay(Anchor::End,    0.0, 10.0,  0.0)),
];

/// For a kind missing from [`DELAYS`].
const DEFAULT_DELAY: Delay = delay(Anchor::End, 0.0, 5.0, 0.0);

/// After a capture gap, non-`sensor_health` alerts are false for this long.
pub const GAP_GRACE_US: u64 = 5_000_000;

/// The families of the report's rows, in order; `other` holds the kinds no label expects.
pub const FAMILIES: [&str; 6] = ["timing", "failure", "novelty", "command", "sensor", "other"];

/// The family an alert kind counts in.
pub fn family_of(kind: &str) -> &'static str {
    match kind {
        "job_late" | "job_missed" | "job_stopped" | "job_period_changed" | "response_slow" => "timing",
        "job_failed" => "failure",
        "new_job" | "new_talker" => "novelty",
        "unexpected_command" => "command",
        "sensor_health" => "sensor",
        _ => "other",
    }
}

/// One alert event of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// `test` or `train`.
    pub run: &'static str,
    /// 1-based line in the events file.
    pub line: usize,
    pub timestamp: String,
    #[serde(skip)]
    pub time_us: u64,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_ip: Option<IpAddr>,
    pub message: String,
}

#[derive(serde::Deserialize)]
struct AlertLine {
    timestamp: String,
    #[serde(default)]
    src_ip: Option<IpAddr>,
    #[serde(default)]
    dest_ip: Option<IpAddr>,
    alert: AlertBody,
}

#[derive(serde::Deserialize)]
struct AlertBody {
    kind: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    message: String,
}

/// Reads `labels.json`.
pub fn load_labels(path: &Path) -> Result<Labels> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a labels.json (schema 1)", path.display()))
}

/// Reads the alerts of a jobwatch events file (`run` is `test` or `train`).
pub fn load_alerts(path: &Path, run: &'static str) -> Result<Vec<Alert>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    parse_alerts(std::io::BufReader::new(file), run).with_context(|| path.display().to_string())
}

/// The alerts of JSON Lines events; other event types and blank lines are skipped.
pub fn parse_alerts(input: impl BufRead, run: &'static str) -> Result<Vec<Alert>> {
    let mut alerts = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("line {number}: cannot read"))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("line {number}: not JSON"))?;
        if value.get("event_type").and_then(serde_json::Value::as_str) != Some("alert") {
            continue;
        }
        let a: AlertLine = serde_json::from_value(value).with_context(|| format!("line {number}: not an alert"))?;
        let time_us = parse_rfc3339_us(&a.timestamp)
            .with_context(|| format!("line {number}: bad timestamp {:?}", a.timestamp))?;
        alerts.push(Alert {
            run,
            line: number,
            timestamp: a.timestamp,
            time_us,
            kind: a.alert.kind,
            category: a.alert.category,
            src_ip: a.src_ip,
            dest_ip: a.dest_ip,
            message: a.alert.message,
        });
    }
    Ok(alerts)
}

/// Microseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (jobwatch's timestamps).
pub fn parse_rfc3339_us(text: &str) -> Result<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Result<i64> {
        let s = text.get(range).context("too short")?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            bail!("{s:?} is not a number");
        }
        Ok(s.parse()?)
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        bail!("not YYYY-MM-DDTHH:MM:SSZ");
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        bail!("field out of range");
    }
    let Some(rest) = text.get(19..).and_then(|r| r.strip_suffix('Z')) else { bail!("not UTC (no trailing Z)") };
    let micros = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0,
        Some(frac) if !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()) => {
            let padded = format!("{frac:0<9}");
            padded.parse::<i64>()? / 1000
        }
        _ => bail!("bad fraction of a second"),
    };
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(secs * 1_000_000 + micros).context("before 1970")
}

/// One row of the report: a family, or the total.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FamilyRow {
    pub family: String,
    pub labels: usize,
    pub detected: usize,
    /// detected / labels; absent without labels.
    pub recall: Option<f64>,
    /// Alerts that matched a label.
    pub true_positives: usize,
    pub false_positives: usize,
    /// TP / (TP + FP); absent without alerts, and for `other` (no label expects those kinds).
    pub precision: Option<f64>,
    /// FP / clean hours; absent when no clean time was scored.
    pub false_per_hour: Option<f64>,
}

impl FamilyRow {
    fn new(family: &str) -> FamilyRow {
        FamilyRow { family: family.to_string(), ..FamilyRow::default() }
    }

    fn add(&mut self, other: &FamilyRow) {
        self.labels += other.labels;
        self.detected += other.detected;
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
    }

    fn finish(&mut self, clean_hours: f64) {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        self.recall = ratio(self.detected, self.labels);
        self.precision = if self.family == "other" {
            None
        } else {
            ratio(self.true_positives, self.true_positives + self.false_positives)
        };
        self.false_per_hour = (clean_hours > 0.0).then(|| self.false_positives as f64 / clean_hours);
    }
}

/// What became of one label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelResult {
    pub seed: u64,
    pub id: usize,
    pub anomaly: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outstation: Option<IpAddr>,
    pub start: String,
    /// The end of the window in which an alert matches.
    pub deadline: String,
    /// The first alert that matched; absent when the label was missed.
    pub detected_by: Option<Alert>,
    /// Seconds from the label's start to that alert.
    pub latency_s: Option<f64>,
    /// All the alerts that matched.
    pub matches: usize,
    /// Alerts this label explained.
    pub explained: usize,
}

/// A false alert, with why it is one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FalsePositive {
    pub seed: u64,
    pub family: String,
    pub reason: String,
    pub alert: Alert,
}

/// The score of one run (or, from [`Report::merge`], of several).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub seeds: Vec<u64>,
    /// Hours of clean traffic the false alerts are counted over.
    pub clean_hours: f64,
    /// Whether the train (clean) run was scored.
    pub train_scored: bool,
    /// One row per [`FAMILIES`] entry.
    pub families: Vec<FamilyRow>,
    pub total: FamilyRow,
    /// Alerts neither true nor false (`explains`).
    pub explained: usize,
    pub labels: Vec<LabelResult>,
    pub false_positives: Vec<FalsePositive>,
}

/// A label's matching window `[start_us, deadline_us]`.
pub fn window(label: &Label, labels: &Labels) -> (u64, u64) {
    let d = DELAYS.iter().find(|(k, _)| *k == label.kind).map_or(DEFAULT_DELAY, |(_, d)| *d);
    let period_s =
        label.job_id.and_then(|j| labels.jobs.iter().find(|job| job.id == j)).map_or(0.0, |j| j.period_ms) / 1000.0;
    let delay_s = (d.periods * period_s + d.plus_s).max(d.min_s);
    let from = match d.from {
        Anchor::Start => label.start_us,
        Anchor::End => label.end_us.max(label.start_us),
    };
    (label.start_us, from.saturating_add((delay_s * 1e6).round() as u64))
}

fn same_endpoints(label: &Label, alert: &Alert) -> bool {
    match (label.master, label.outstation) {
        (None, None) => true,
        (m, o) => m.map(IpAddr::V4) == alert.src_ip && o.map(IpAddr::V4) == alert.dest_ip,
    }
}

/// The alert is what the label expects (kind, category, endpoints), at any time.
fn same_incident(label: &Label, alert: &Alert) -> bool {
    alert.kind == label.kind
        && (label.kind != "unexpected_command" || alert.category == label.category)
        && same_endpoints(label, alert)
}

fn within(t: u64, (start, end): (u64, u64)) -> bool {
    (start..=end).contains(&t)
}

/// Why an unmatched test alert is false, naming the nearest label it could have been for.
fn reason(alert: &Alert, labels: &Labels, windows: &[(u64, u64)]) -> String {
    for (label, &(start, deadline)) in labels.anomalies.iter().zip(windows) {
        if same_incident(label, alert) {
            let (side, by) = if alert.time_us < start {
                ("before", start - alert.time_us)
            } else {
                ("after", alert.time_us.saturating_sub(deadline))
            };
            return format!(
                "{:.1} s {side} the window of label {} ({})",
                by as f64 / 1e6,
                label.id,
                label.anomaly.name()
            );
        }
        if alert.kind == label.kind && same_endpoints(label, alert) {
            return format!(
                "category {} but label {} expects {}",
                alert.category.as_deref().unwrap_or("none"),
                label.id,
                label.category.as_deref().unwrap_or("none")
            );
        }
    }
    "no label".to_string()
}

/// Scores the alerts of the test run, and of the clean train run when given.
pub fn score(labels: &Labels, test: &[Alert], train: Option<&[Alert]>) -> Report {
    let windows: Vec<(u64, u64)> = labels.anomalies.iter().map(|l| window(l, labels)).collect();
    let gaps: Vec<(u64, u64)> = labels
        .anomalies
        .iter()
        .filter(|l| l.anomaly == AnomalyKind::CaptureGap)
        .map(|l| (l.start_us, l.end_us.saturating_add(GAP_GRACE_US)))
        .collect();
    let mut rows: Vec<FamilyRow> = FAMILIES.iter().map(|f| FamilyRow::new(f)).collect();
    let mut results: Vec<LabelResult> = labels
        .anomalies
        .iter()
        .zip(&windows)
        .map(|(l, &(_, deadline))| LabelResult {
            seed: labels.seed,
            id: l.id,
            anomaly: l.anomaly.name().to_string(),
            kind: l.kind.clone(),
            category: l.category.clone(),
            family: l.family.clone(),
            master: l.master.map(IpAddr::V4),
            outstation: l.outstation.map(IpAddr::V4),
            start: l.start.clone(),
            deadline: rfc3339(Duration::from_micros(deadline)),
            detected_by: None,
            latency_s: None,
            matches: 0,
            explained: 0,
        })
        .collect();
    let mut false_positives = Vec::new();
    let mut explained = 0;
    let row = |family: &str| FAMILIES.iter().position(|f| *f == family).unwrap_or(FAMILIES.len() - 1);

    for alert in test {
        let mut matched = false;
        for ((label, &w), result) in labels.anomalies.iter().zip(&windows).zip(results.iter_mut()) {
            if same_incident(label, alert) && within(alert.time_us, w) {
                matched = true;
                result.matches += 1;
                if result.detected_by.is_none() {
                    result.latency_s = Some(alert.time_us.saturating_sub(label.start_us) as f64 / 1e6);
                    result.detected_by = Some(alert.clone());
                }
            }
        }
        let family = family_of(&alert.kind);
        if matched {
            rows[row(family)].true_positives += 1;
            continue;
        }
        let why = if alert.kind != "sensor_health" && gaps.iter().any(|&g| within(alert.time_us, g)) {
            "in a capture gap".to_string()
        } else {
            let explainer = labels.anomalies.iter().zip(&windows).position(|(label, &w)| {
                label.explains.contains(&alert.kind) && same_endpoints(label, alert) && within(alert.time_us, w)
            });
            if let Some(i) = explainer {
                explained += 1;
                if let Some(r) = results.get_mut(i) {
                    r.explained += 1;
                }
                continue;
            }
            reason(alert, labels, &windows)
        };
        rows[row(family)].false_positives += 1;
        false_positives.push(FalsePositive {
            seed: labels.seed,
            family: family.to_string(),
            reason: why,
            alert: alert.clone(),
        });
    }
    for alert in train.unwrap_or_default() {
        let family = family_of(&alert.kind);
        rows[row(family)].false_positives += 1;
        false_positives.push(FalsePositive {
            seed: labels.seed,
            family: family.to_string(),
            reason: "clean run".to_string(),
            alert: alert.clone(),
        });
    }
    for r in &results {
        let i = row(&r.family);
        rows[i].labels += 1;
        rows[i].detected += usize::from(r.detected_by.is_some());
    }

    // Clean time: the test capture less the union of the label and gap windows within it.
    let (t0, t1) = (labels.test.start_us, labels.test.end_us.max(labels.test.start_us));
    let mut busy: Vec<(u64, u64)> =
        windows.iter().chain(&gaps).map(|&(s, e)| (s.clamp(t0, t1), e.clamp(t0, t1))).collect();
    busy.sort_unstable();
    let (mut covered, mut reach) = (0, t0);
    for (s, e) in busy {
        let s = s.max(reach);
        if e > s {
            covered += e - s;
            reach = e;
        }
    }
    let mut clean_us = (t1 - t0).saturating_sub(covered);
    if train.is_some() {
        clean_us += labels.train.end_us.saturating_sub(labels.train.start_us);
    }
    let mut report = Report {
        seeds: vec![labels.seed],
        clean_hours: clean_us as f64 / 3.6e9,
        train_scored: train.is_some(),
        families: rows,
        total: FamilyRow::new("total"),
        explained,
        labels: results,
        false_positives,
    };
    report.finish();
    report
}

impl Report {
    fn finish(&mut self) {
        let mut total = FamilyRow::new("total");
        for r in &mut self.families {
            r.finish(self.clean_hours);
            total.add(r);
        }
        total.finish(self.clean_hours);
        self.total = total;
    }

    /// Several runs as one: counts and clean hours summed, ratios recomputed.
    pub fn merge(reports: &[Report]) -> Report {
        let mut merged = Report {
            seeds: Vec::new(),
            clean_hours: 0.0,
            train_scored: !reports.is_empty() && reports.iter().all(|r| r.train_scored),
            families: FAMILIES.iter().map(|f| FamilyRow::new(f)).collect(),
            total: FamilyRow::new("total"),
            explained: 0,
            labels: Vec::new(),
            false_positives: Vec::new(),
        };
        for r in reports {
            merged.seeds.extend(&r.seeds);
            merged.clean_hours += r.clean_hours;
            merged.explained += r.explained;
            for (m, f) in merged.families.iter_mut().zip(&r.families) {
                m.add(f);
            }
            merged.labels.extend(r.labels.iter().cloned());
            merged.false_positives.extend(r.false_positives.iter().cloned());
        }
        merged.finish();
        merged
    }

    /// Every row (families, then total) whose recall or precision is below `min` or whose false
    /// alerts per hour exceed `max_fph`, as one line each.
    pub fn failures(&self, min: f64, max_fph: f64) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.families.iter().chain([&self.total]) {
            if let Some(v) = r.recall.filter(|&v| v < min) {
                out.push(format!("{} recall {v:.3} < {min}", r.family));
            }
            if let Some(v) = r.precision.filter(|&v| v < min) {
                out.push(format!("{} precision {v:.3} < {min}", r.family));
            }
            if let Some(v) = r.false_per_hour.filter(|&v| v > max_fph) {
                out.push(format!("{} false alerts/h {v:.2} > {max_fph}", r.family));
            }
        }
        out
    }

    /// Markdown: the family table, then (with `detail`) each label's outcome and the false alerts.
    pub fn to_markdown(&self, detail: bool) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Scenario score, seed{} {}: {} of {} labels detected, {} false alerts over {:.2} clean hours{}\n",
            if seeds.len() == 1 { "" } else { "s" },
            seeds.join(", "),
            self.total.detected,
            self.total.labels,
            self.total.false_positives,
            self.clean_hours,
            if self.train_scored { " (train run included)" } else { "" },
        );
        s.push_str(
            "| family | labels | detected | recall | alerts matched | false alerts | precision | false alerts/h |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
        for r in self.families.iter().chain([&self.total]) {
            let name = if r.family == "total" { "**total**".to_string() } else { r.family.clone() };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                r.labels,
                r.detected,
                opt(r.recall, 3),
                r.true_positives,
                r.false_positives,
                opt(r.precision, 3),
                opt(r.false_per_hour, 2)
            );
        }
        let _ = writeln!(s, "\n{} alerts explained by a label (neither true nor false).", self.explained);
        if !detail {
            return s;
        }
        s.push_str("\n### Labels\n\n| seed | # | anomaly | expected | master → outstation | start | detected by | latency | alerts |\n");
        s.push_str("|---:|---:|---|---|---|---|---|---:|---:|\n");
        for l in &self.labels {
            let expected = match &l.category {
                Some(c) => format!("{} ({c})", l.kind),
                None => l.kind.clone(),
            };
            let detected = l
                .detected_by
                .as_ref()
                .map_or("**MISSED**".to_string(), |a| format!("{}.jsonl:{} {}", a.run, a.line, a.timestamp));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {expected} | {} | {} | {detected} | {} | {} |",
                l.seed,
                l.id,
                l.anomaly,
                endpoints(l.master, l.outstation),
                l.start,
                l.latency_s.map_or("–".to_string(), |v| format!("{v:.1} s")),
                l.matches
            );
        }
        if !self.false_positives.is_empty() {
            s.push_str("\n### False alerts\n\n| seed | where | time | kind | src → dest | reason | message |\n");
            s.push_str("|---:|---|---|---|---|---|---|\n");
            for f in &self.false_positives {
                let a = &f.alert;
                let kind = match &a.category {
                    Some(c) => format!("{} ({c})", a.kind),
                    None => a.kind.clone(),
                };
                let _ = writeln!(
                    s,
                    "| {} | {}.jsonl:{} | {} | {kind} | {} | {} | {} |",
                    f.seed,
                    a.run,
                    a.line,
                    a.timestamp,
                    endpoints(a.src_ip, a.dest_ip),
                    f.reason,
                    a.message.replace('|', "\\|")
                );
            }
        }
        s
    }
}

fn endpoints<A: std::fmt::Display>(a: Option<A>, b: Option<A>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{a} → {b}"),
        _ => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labelled::{CaptureInfo, JobLabel, Phase, Protocol};
    use std::net::Ipv4Addr;

    const T0: u64 = 1_704_068_160_000_000; // test start
    const S: u64 = 1_000_000;

    fn capture(start: u64, secs: u64) -> CaptureInfo {
        CaptureInfo {
            file: String::new(),
            start: String::new(),
            end: String::new(),
            start_us: start,
            end_us: start + secs * S,
            packets: 0,
        }
    }

    fn label(
        id: usize,
        anomaly: AnomalyKind,
        ends: Option<(u8, u8)>,
        job: Option<usize>,
        from_s: u64,
        to_s: u64,
    ) -> Label {
        Label {
            id,
            anomaly,
            kind: anomaly.alert_kind().to_string(),
            family: anomaly.family().to_string(),
            category: anomaly.category().map(str::to_string),
            protocol: ends.map(|_| Protocol::Modbus),
            master: ends.map(|(m, _)| Ipv4Addr::new(10, 1, 0, m)),
            outstation: ends.map(|(_, o)| Ipv4Addr::new(10, 1, 1, o)),
            job_id: job,
            start: rfc3339(Duration::from_micros(T0 + from_s * S)),
            end: String::new(),
            start_us: T0 + from_s * S,
            end_us: T0 + to_s * S,
            explains: anomaly.explains().iter().map(|k| k.to_string()).collect(),
            description: String::new(),
        }
    }

    /// 1 h train, 1 h test; job 0 (10.1.0.10 → 10.1.1.10) every 2 s.
    fn labels(anomalies: Vec<Label>) -> Labels {
        Labels {
            schema: 1,
            seed: 7,
            train: capture(T0 - 3660 * S, 3600),
            test: capture(T0, 3600),
            assets: Vec::new(),
            jobs: vec![JobLabel {
                id: 0,
                protocol: Protocol::Modbus,
                master: Ipv4Addr::new(10, 1, 0, 10),
                outstation: Ipv4Addr::new(10, 1, 1, 10),
                outstation_port: 502,
                function_code: 3,
                signature: String::new(),
                period_ms: 2000.0,
                phases: vec![Phase::Train, Phase::Test],
            }],
            anomalies,
        }
    }

    fn alert(kind: &str, category: Option<&str>, ends: Option<(u8, u8)>, at_ms: u64) -> Alert {
        let time_us = T0 + at_ms * 1000;
        Alert {
            run: "test",
            line: 1,
            timestamp: rfc3339(Duration::from_micros(time_us)),
            time_us,
            kind: kind.to_string(),
            category: category.map(str::to_string),
            src_ip: ends.map(|(m, _)| IpAddr::V4(Ipv4Addr::new(10, 1, 0, m))),
            dest_ip: ends.map(|(_, o)| IpAddr::V4(Ipv4Addr::new(10, 1, 1, o))),
            message: "m".to_string(),
        }
    }

    fn row<'a>(r: &'a Report, family: &str) -> &'a FamilyRow {
        r.families.iter().find(|f| f.family == family).unwrap()
    }

    const PAIR: Option<(u8, u8)> = Some((10, 10));

    #[test]
    fn parses_events_and_timestamps() {
        let text = r#"{"timestamp":"2024-01-01T00:16:55.500123Z","event_type":"alert","flow_id":7,"src_ip":"10.1.0.11","src_port":40001,"dest_ip":"10.1.1.10","dest_port":502,"app_proto":"modbus","alert":{"kind":"new_talker","severity":"medium","message":"hi","job_id":3,"category":"write","anomaly":"x","future":1}}

{"timestamp":"2024-01-01T00:16:56Z","event_type":"transaction","src_ip":"10.1.0.11"}
{"timestamp":"2024-01-01T00:17:00.000000Z","event_type":"alert","alert":{"kind":"sensor_health","severity":"high","message":"gap"}}
"#;
        let alerts = parse_alerts(text.as_bytes(), "test").unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].time_us, 1_704_068_215_500_123);
        assert_eq!(alerts[0].category.as_deref(), Some("write"));
        assert_eq!(alerts[1].line, 4);
        assert_eq!(alerts[1].src_ip, None);
        assert_eq!(parse_rfc3339_us("2023-11-14T22:13:20.000042Z").unwrap(), 1_700_000_000_000_042);
        assert_eq!(parse_rfc3339_us("2024-02-29T00:00:00.5Z").unwrap(), 1_709_164_800_500_000);
        assert!(parse_rfc3339_us("2024-01-01 00:00:00Z").is_err());

        let err = parse_alerts("{\"event_type\":\"stats\"}\n{oops\n".as_bytes(), "test").unwrap_err();
        assert!(format!("{err:#}").starts_with("line 2: not JSON"), "{err:#}");
        let err = parse_alerts(
            "{\"event_type\":\"alert\",\"timestamp\":\"x\",\"alert\":{\"kind\":\"a\"}}".as_bytes(),
            "test",
        )
        .unwrap_err();
        assert!(format!("{err:#}").starts_with("line 1: bad timestamp"), "{err:#}");
    }

    #[test]
    fn windows_follow_the_delay_table() {
        let l = labels(vec![
            label(0, AnomalyKind::JobStopped, PAIR, Some(0), 100, 3600),
            label(1, AnomalyKind::JobMissed, PAIR, Some(0), 100, 110),
            label(2, AnomalyKind::JobMissed, PAIR, None, 100, 110),
            label(3, AnomalyKind::JobPeriodChanged, PAIR, Some(0), 100, 3600),
            label(4, AnomalyKind::NewTalker, PAIR, None, 100, 3600),
            label(5, AnomalyKind::ModbusWrite, PAIR, None, 100, 101),
            label(6, AnomalyKind::CaptureGap, None, None, 100, 130),
        ]);
        let rel = |i: usize| {
            let (s, e) = window(&l.anomalies[i], &l);
            ((s - T0) / S, (e - T0) / S)
        };
        assert_eq!(rel(0), (100, 130)); // 10 × 2 s < 30 s
        assert_eq!(rel(1), (100, 124)); // end + 2 × 2 s + 10 s
        assert_eq!(rel(2), (100, 120)); // no job: end + 10 s
        assert_eq!(rel(3), (100, 180)); // 40 × 2 s = 80 s ≥ 60 s
        assert_eq!(rel(4), (100, 105));
        assert_eq!(rel(5), (100, 106));
        assert_eq!(rel(6), (100, 140));
    }

    #[test]
    fn true_positive_miss_explained_and_false() {
        let l = labels(vec![
            label(0, AnomalyKind::JobStopped, PAIR, Some(0), 100, 3600),
            label(1, AnomalyKind::ResponseSlow, Some((11, 11)), None, 200, 205),
        ]);
        let test = vec![
            alert("job_missed", None, PAIR, 104_000),         // explained by the stop
            alert("job_stopped", None, PAIR, 112_000),        // TP
            alert("job_stopped", None, PAIR, 113_000),        // TP again (matches: 2)
            alert("job_missed", None, PAIR, 200_000),         // after the stop's window: FP
            alert("job_late", None, Some((11, 11)), 201_000), // not explained by response_slow: FP
        ];
        let r = score(&l, &test, None);
        assert_eq!(r.explained, 1);
        assert_eq!(r.labels[0].matches, 2);
        assert_eq!(r.labels[0].latency_s, Some(12.0));
        assert!(r.labels[1].detected_by.is_none(), "response_slow missed");
        let timing = row(&r, "timing");
        assert_eq!((timing.labels, timing.detected, timing.true_positives, timing.false_positives), (2, 1, 2, 2));
        assert_eq!(r.false_positives[0].reason, "no label");
        assert_eq!(r.false_positives[1].reason, "no label");
        let md = r.to_markdown(true);
        assert!(md.contains("**MISSED**"), "{md}");
    }

    #[test]
    fn late_alert_outside_the_delay_window_is_false() {
        let l = labels(vec![label(0, AnomalyKind::JobLate, PAIR, Some(0), 100, 101)]);
        // Window: end 101 s + 2 × 2 s + 10 s = 115 s.
        let r = score(&l, &[alert("job_late", None, PAIR, 115_000)], None);
        assert_eq!(row(&r, "timing").true_positives, 1);
        let r = score(&l, &[alert("job_late", None, PAIR, 115_001)], None);
        assert_eq!(row(&r, "timing").true_positives, 0);
        assert_eq!(row(&r, "timing").false_positives, 1);
        assert!(
            r.false_positives[0].reason.starts_with("0.0 s after the window of label 0"),
            "{:?}",
            r.false_positives
        );
        // Wrong endpoints never match.
        let r = score(&l, &[alert("job_late", None, Some((10, 11)), 105_000)], None);
        assert_eq!(r.total.true_positives, 0);
    }

    #[test]
    fn wrong_category_does_not_match() {
        let l = labels(vec![label(0, AnomalyKind::Dnp3ColdRestart, PAIR, None, 100, 101)]);
        let r = score(&l, &[alert("unexpected_command", Some("write"), PAIR, 100_500)], None);
        assert_eq!(r.labels[0].matches, 0);
        let command = row(&r, "command");
        assert_eq!((command.detected, command.false_positives), (0, 1));
        assert_eq!(r.false_positives[0].reason, "category write but label 0 expects control");
        let r = score(&l, &[alert("unexpected_command", Some("control"), PAIR, 100_500)], None);
        assert_eq!(r.labels[0].matches, 1);
    }

    #[test]
    fn capture_gap_alerts() {
        let l = labels(vec![
            label(0, AnomalyKind::JobPeriodChanged, PAIR, Some(0), 100, 3600),
            label(1, AnomalyKind::CaptureGap, None, None, 1000, 1030),
        ]);
        let test = vec![
            alert("sensor_health", None, None, 1_002_000),        // TP, any endpoints
            alert("job_missed", None, Some((11, 11)), 1_034_000), // in [start, end + 5 s]: FP
            alert("job_missed", None, Some((11, 11)), 1_036_000), // after: FP too, but "no label"
        ];
        let r = score(&l, &test, None);
        assert_eq!(r.labels[1].matches, 1);
        assert_eq!(row(&r, "sensor").recall, Some(1.0));
        assert_eq!(row(&r, "timing").false_positives, 2);
        assert_eq!(r.false_positives[0].reason, "in a capture gap");
        assert_eq!(r.false_positives[1].reason, "no label");

        // An explained kind inside a gap is still false: the gap rule comes first.
        let l = labels(vec![
            label(0, AnomalyKind::JobStopped, PAIR, Some(0), 1000, 3600),
            label(1, AnomalyKind::CaptureGap, None, None, 1000, 1030),
        ]);
        let r = score(&l, &[alert("job_missed", None, PAIR, 1_010_000)], None);
        assert_eq!((r.explained, r.total.false_positives), (0, 1));
    }

    #[test]
    fn family_arithmetic_and_merge() {
        let l = labels(vec![
            label(0, AnomalyKind::NewTalker, PAIR, None, 100, 3600), // window 100–105 s
            label(1, AnomalyKind::NewJob, Some((11, 11)), None, 200, 3600), // 200–205 s
            label(2, AnomalyKind::FailureException, Some((12, 12)), Some(0), 300, 302), // 300–316 s
            label(3, AnomalyKind::CaptureGap, None, None, 400, 430), // 400–440 s (gap 400–435 s)
        ]);
        let test = vec![
            alert("new_talker", None, PAIR, 101_000),
            alert("new_job", None, PAIR, 101_000), // explained by new_talker
            alert("new_job", None, Some((11, 11)), 210_000), // late: FP, label 1 missed
            alert("job_failed", None, Some((12, 12)), 301_000),
            alert("rule_match", None, PAIR, 500_000),
        ];
        let train = vec![alert("new_job", None, PAIR, 0)];
        let r = score(&l, &test, Some(&train));
        // Clean: 3600 s − (5 + 5 + 16 + 40) s of test, + 3600 s of train = 7134 s.
        assert!((r.clean_hours - 7134.0 / 3600.0).abs() < 1e-9, "{}", r.clean_hours);
        let novelty = row(&r, "novelty");
        assert_eq!((novelty.labels, novelty.detected, novelty.true_positives, novelty.false_positives), (2, 1, 1, 2));
        assert_eq!(novelty.recall, Some(0.5));
        assert!((novelty.precision.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((novelty.false_per_hour.unwrap() - 2.0 / r.clean_hours).abs() < 1e-12);
        let failure = row(&r, "failure");
        assert_eq!((failure.recall, failure.precision), (Some(1.0), Some(1.0)));
        let sensor = row(&r, "sensor");
        assert_eq!((sensor.labels, sensor.recall, sensor.precision), (1, Some(0.0), None));
        let other = row(&r, "other");
        assert_eq!((other.false_positives, other.precision), (1, None));
        assert_eq!((r.total.labels, r.total.detected, r.total.true_positives, r.total.false_positives), (4, 2, 2, 3));
        assert_eq!(r.explained, 1);
        assert_eq!(r.false_positives.iter().filter(|f| f.reason == "clean run").count(), 1);

        let failures = r.failures(0.98, 0.1);
        assert!(failures.contains(&"novelty recall 0.500 < 0.98".to_string()), "{failures:?}");
        assert!(failures.iter().any(|f| f.starts_with("other false alerts/h")), "{failures:?}");
        assert!(!failures.iter().any(|f| f.starts_with("failure")), "{failures:?}");

        let m = Report::merge(&[r.clone(), r.clone()]);
        assert_eq!(m.seeds, vec![7, 7]);
        let novelty = row(&m, "novelty");
        assert_eq!((novelty.labels, novelty.detected, novelty.false_positives), (4, 2, 4));
        assert_eq!(novelty.recall, Some(0.5));
        assert!((m.clean_hours - 2.0 * r.clean_hours).abs() < 1e-9);
        assert_eq!(m.total.false_per_hour, r.total.false_per_hour);
        assert!(
            m.to_markdown(false).contains("| **total** | 8 | 4 | 0.500 | 4 | 6 | 0.400 |"),
            "{}",
            m.to_markdown(false)
        );
    }
}
