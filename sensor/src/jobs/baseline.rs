//! The baseline file: what was normal on the network while jobwatch learned, written by
//! `jobwatch learn -o baseline.yaml` and enforced by `jobwatch --baseline baseline.yaml`.
//!
//! The file is meant to be read and edited by people: deleting a job makes it new again,
//! widening a tolerance silences timing alerts, adding a command makes it expected. So the
//! format is YAML with a commented header that explains those edits ([`Baseline::to_yaml`]),
//! and loading it ([`Baseline::load`]) checks every value and reports a mistake as
//! `file:line:col: message` at the offending value, the way a compiler would.
//!
//! To know where a value was written, the file is first deserialized into a private mirror of
//! the public types whose fields are [`Spanned`]; only after validation is it converted to the
//! plain public types that the engine uses. IP addresses, protocol and category names are read
//! as strings and checked here, so that their messages name the field and the expected values
//! rather than a serde type.
//!
//! Writing is deterministic (entries in the order given, fields in a fixed order, numbers with
//! at most three decimals), so two baselines can be compared with `diff`, and a written
//! baseline loads back equal to what was written (up to that rounding).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::yaml::{self, Location, Spanned, YamlError};

/// The baseline format version this code reads and writes. A future format that old code
/// cannot honour gets a new number, so that old code refuses it instead of misreading it.
pub const VERSION: u32 = 1;

/// Protocol names, as in the sensor's events.
pub const PROTOCOLS: [&str; 4] = ["modbus", "dnp3", "s7comm", "s7comm_plus"];

/// Operation categories, as in the sensor's events.
pub const CATEGORIES: [&str; 11] =
    ["read", "write", "program", "firmware", "control", "diagnostic", "file", "time", "config", "security", "other"];

/// A learned baseline: the talkers, jobs and commands that are normal.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Format version, [`VERSION`].
    pub version: u32,
    /// Where and when the baseline was learned; for people, jobwatch does not use it.
    pub learned: Option<LearnedFrom>,
    /// Master–outstation pairs seen talking; any other pair raises `new_talker`.
    pub talkers: Vec<TalkerEntry>,
    /// Recurring operations, periodic or not.
    pub jobs: Vec<JobEntry>,
    /// Operations other than reads that were seen but are not periodic jobs: expected, but
    /// not watched for timing.
    pub commands: Vec<JobEntry>,
}

impl Default for Baseline {
    /// An empty baseline of the current version.
    fn default() -> Self {
        Baseline { version: VERSION, learned: None, talkers: Vec::new(), jobs: Vec::new(), commands: Vec::new() }
    }
}

/// Where and when a baseline was learned.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedFrom {
    /// Capture time of the first packet learned from (as written by `learn`, e.g. RFC 3339).
    pub from: String,
    /// Capture time of the last packet learned from.
    pub to: String,
    /// The capture files or interfaces learned from.
    pub captures: Vec<String>,
    /// Length of the learning window, in seconds, when one was set.
    pub learning_window_s: Option<f64>,
}

/// A master and an outstation seen talking a protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct TalkerEntry {
    /// One of [`PROTOCOLS`].
    pub protocol: String,
    pub master: IpAddr,
    pub outstation: IpAddr,
    /// The outstation's port.
    pub port: u16,
    /// Transactions seen while learning.
    pub transactions: u64,
}

/// One job or command: an operation of one master on one outstation.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEntry {
    /// The machine signature the engine matches on, e.g. `modbus unit=4 fc=3 addr=690 qty=28`.
    pub key: String,
    /// One of [`PROTOCOLS`].
    pub protocol: String,
    pub master: IpAddr,
    pub outstation: IpAddr,
    /// The outstation's port.
    pub port: u16,
    /// Human description; for people, edits are ignored.
    pub signature: String,
    pub function_code: u16,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// Whether the job was periodic while learning.
    pub periodic: bool,
    /// The period; present when `periodic`.
    pub period_ms: Option<f64>,
    /// Half-width of the on-time window around each expected poll; the engine's default when
    /// absent. Less than half the period.
    pub tolerance_ms: Option<f64>,
    /// Jitter of the period seen while learning.
    pub jitter_ms: Option<f64>,
    /// Silence after which the job is stopped; the engine's default when absent. More than
    /// the period.
    pub stop_after_ms: Option<f64>,
    /// Response times seen while learning, and the alert threshold.
    pub response_ms: Option<ResponseEntry>,
    /// Share of failed transactions while learning, 0 to 1.
    pub failure_ratio: f64,
    /// Requests seen while learning.
    pub count: u64,
}

/// Response times of a job, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEntry {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Responses slower than this raise `response_slow`.
    pub alert_above: f64,
}

impl Baseline {
    /// Reads, parses and validates the baseline file at `path`.
    pub fn load(path: &Path) -> Result<Baseline, YamlError> {
        let raw: RawBaseline = yaml::load(path)?;
        raw.validate(&path.display().to_string())
    }

    /// Parses and validates `text`, the contents of `file` (used in error messages only).
    pub fn from_str(file: &str, text: &str) -> Result<Baseline, YamlError> {
        let raw: RawBaseline = yaml::from_str(file, text)?;
        raw.validate(file)
    }

    /// The baseline as a documented YAML file: a header explaining how edits change the
    /// alerts, then `version`, `learned`, `talkers`, `jobs` and `commands`, each with a short
    /// comment, entries in the order given.
    pub fn to_yaml(&self) -> String {
        let mut out = String::with_capacity(1024 + 400 * (self.jobs.len() + self.commands.len()));
        out.push_str(HEADER);
        // Writing to a String cannot fail.
        let _ = self.emit(&mut out);
        out
    }

    /// Writes [`Self::to_yaml`] to `path` atomically: to a temporary file in the same
    /// directory, flushed to disk, then renamed over `path`. A crash or a full disk leaves the
    /// previous baseline intact rather than a truncated one that `--baseline` would refuse.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = self.to_yaml();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| std::io::Error::other("the path names no file"))?;
        // Unique per process and call, so that two writers never share a temporary file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        // Make the rename itself durable; not every platform can open a directory, and the
        // file is already complete, so a failure here is not an error.
        if let Ok(dir) = std::fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn emit(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "version: {}", self.version)?;
        if let Some(learned) = &self.learned {
            out.push_str("\n# Where and when this baseline was learned; for reading only.\nlearned:\n");
            writeln!(out, "  from: {}", string(&learned.from))?;
            writeln!(out, "  to: {}", string(&learned.to))?;
            let captures: Vec<String> = learned.captures.iter().map(|c| quoted(c)).collect();
            writeln!(out, "  captures: [{}]", captures.join(", "))?;
            if let Some(window) = learned.learning_window_s {
                writeln!(out, "  learning_window_s: {}", number(window))?;
            }
        }

        out.push_str(TALKERS_COMMENT);
        if self.talkers.is_empty() {
            out.push_str("talkers: []\n");
        } else {
            out.push_str("talkers:\n");
            for t in &self.talkers {
                writeln!(out, "  - protocol: {}", string(&t.protocol))?;
                writeln!(out, "    master: {}", ip(&t.master))?;
                writeln!(out, "    outstation: {}", ip(&t.outstation))?;
                writeln!(out, "    port: {}", t.port)?;
                writeln!(out, "    transactions: {}", t.transactions)?;
            }
        }

        out.push_str(JOBS_COMMENT);
        emit_jobs(out, "jobs", &self.jobs)?;
        out.push_str(COMMANDS_COMMENT);
        emit_jobs(out, "commands", &self.commands)
    }
}

const HEADER: &str = "\
# jobwatch baseline: the talkers, jobs and commands that were normal on this network while
# jobwatch learned. Written by `jobwatch learn -o FILE`, enforced by `jobwatch --baseline FILE`:
# traffic that is not listed here, or that behaves differently, raises alerts.
#
# Edit it with any text editor; jobwatch checks it on load and reports mistakes as
# file:line:column. How edits change the alerts:
# - delete a job: it is new again, and raises `new_job` when next seen;
# - widen `tolerance_ms` (less than half the period) or `stop_after_ms` (more than the
#   period): fewer timing alerts (late, missed, stopped jobs);
# - raise `response_ms.alert_above`: fewer `response_slow` alerts;
# - delete a talker: it raises `new_talker` again when it next talks;
# - add a command (copy an entry and change it): it is no longer unexpected.
# `key` is what jobwatch matches traffic on: keep it as written. `signature` and the
# `learned` section are for reading only: editing them changes nothing.
# Times are in milliseconds (`_ms`) or seconds (`_s`).

";

const TALKERS_COMMENT: &str = "
# Talkers: a master and an outstation seen talking a protocol. A pair not listed raises
# `new_talker`.
";

const JOBS_COMMENT: &str = "
# Jobs: recurring operations of a master on an outstation. A periodic job is on time within
# `tolerance_ms` of each period and stopped after `stop_after_ms` of silence (the engine's
# defaults when absent). An operation listed neither here nor under commands raises `new_job`.
";

const COMMANDS_COMMENT: &str = "
# Commands: operations other than reads seen while learning that are not periodic jobs
# (writes, control, programming, ...). Listed commands are expected; others are not.
";

fn emit_jobs(out: &mut String, section: &str, jobs: &[JobEntry]) -> std::fmt::Result {
    if jobs.is_empty() {
        return writeln!(out, "{section}: []");
    }
    writeln!(out, "{section}:")?;
    for j in jobs {
        writeln!(out, "  - key: {}", string(&j.key))?;
        writeln!(out, "    protocol: {}", string(&j.protocol))?;
        writeln!(out, "    master: {}", ip(&j.master))?;
        writeln!(out, "    outstation: {}", ip(&j.outstation))?;
        writeln!(out, "    port: {}", j.port)?;
        writeln!(out, "    signature: {}", string(&j.signature))?;
        writeln!(out, "    function_code: {}", j.function_code)?;
        writeln!(out, "    category: {}", string(&j.category))?;
        writeln!(out, "    periodic: {}", j.periodic)?;
        let optional = [
            ("period_ms", j.period_ms),
            ("tolerance_ms", j.tolerance_ms),
            ("jitter_ms", j.jitter_ms),
            ("stop_after_ms", j.stop_after_ms),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                writeln!(out, "    {name}: {}", number(value))?;
            }
        }
        if let Some(r) = &j.response_ms {
            writeln!(
                out,
                "    response_ms: {{p50: {}, p99: {}, max: {}, alert_above: {}}}",
                number(r.p50),
                number(r.p99),
                number(r.max),
                number(r.alert_above)
            )?;
        }
        writeln!(out, "    failure_ratio: {}", number(j.failure_ratio))?;
        writeln!(out, "    count: {}", j.count)?;
    }
    Ok(())
}

/// A number with at most three decimals, trailing zeros trimmed: milliseconds to the
/// microsecond, which is the capture clock's resolution. Non-finite values (which validation
/// refuses) are written in YAML's spelling so that the file still parses and the error points
/// at them.
fn number(v: f64) -> String {
    if v.is_nan() {
        return ".nan".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { ".inf".to_owned() } else { "-.inf".to_owned() };
    }
    let mut s = format!("{v:.3}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

/// An IP address; IPv6 is quoted because of its colons.
fn ip(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("\"{a}\""),
    }
}

/// A string, plain when it is a simple lower-case word (protocol and category names) that no
/// YAML reader could take for anything else, double-quoted otherwise.
fn string(s: &str) -> String {
    const RESERVED: [&str; 13] =
        ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf", "infinity", "none"];
    let simple = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&s);
    if simple {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// A YAML double-quoted string. Characters YAML does not allow raw in a file (controls, the
/// byte-order mark, line and paragraph separators) are escaped, as are `"` and `\`; the rest,
/// including non-ASCII text such as `–`, is written as is.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                if !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push(c)
            }
            _ if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// The spanned mirror, and validation.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    version: Spanned<u32>,
    #[serde(default)]
    learned: Option<RawLearned>,
    // `Option` so that a section whose entries were all deleted (`jobs:` with nothing after
    // it, which YAML reads as null) is simply empty.
    #[serde(default)]
    talkers: Option<Vec<RawTalker>>,
    #[serde(default)]
    jobs: Option<Vec<Spanned<RawJob>>>,
    #[serde(default)]
    commands: Option<Vec<Spanned<RawJob>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLearned {
    from: String,
    to: String,
    #[serde(default)]
    captures: Option<Vec<String>>,
    #[serde(default)]
    learning_window_s: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTalker {
    protocol: Spanned<String>,
    master: Spanned<String>,
    outstation: Spanned<String>,
    port: u16,
    #[serde(default)]
    transactions: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    key: Spanned<String>,
    protocol: Spanned<String>,
    master: Spanned<String>,
    outstation: Spanned<String>,
    port: u16,
    #[serde(default)]
    signature: String,
    function_code: u16,
    category: Spanned<String>,
    periodic: Spanned<bool>,
    #[serde(default)]
    period_ms: Option<Spanned<f64>>,
    #[serde(default)]
    tolerance_ms: Option<Spanned<f64>>,
    #[serde(default)]
    jitter_ms: Option<Spanned<f64>>,
    #[serde(default)]
    stop_after_ms: Option<Spanned<f64>>,
    #[serde(default)]
    response_ms: Option<RawResponse>,
    #[serde(default)]
    failure_ratio: Option<Spanned<f64>>,
    #[serde(default)]
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    p50: Spanned<f64>,
    p99: Spanned<f64>,
    max: Spanned<f64>,
    alert_above: Spanned<f64>,
}

/// Identity of a job for duplicate detection: the engine keys jobs on it, so two entries with
/// the same identity would silently shadow each other.
type JobIdentity = (String, IpAddr, IpAddr, u16, String);

impl RawBaseline {
    /// Checks every value, in file order, and converts to the public types. The first
    /// problem found is reported.
    fn validate(self, file: &str) -> Result<Baseline, YamlError> {
        let err = |at: &Location, message: String| yaml::error_at(file, at, message);
        if self.version.value != VERSION {
            return Err(err(
                &self.version.referenced,
                format!("unsupported baseline version {}: this jobwatch reads version {VERSION}", self.version.value),
            ));
        }
        let learned = match self.learned {
            None => None,
            Some(l) => Some(LearnedFrom {
                from: l.from,
                to: l.to,
                captures: l.captures.unwrap_or_default(),
                learning_window_s: non_negative(file, "learning_window_s", &l.learning_window_s)?,
            }),
        };
        let talkers = self
            .talkers
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                Ok(TalkerEntry {
                    protocol: one_of(file, "protocol", t.protocol, &PROTOCOLS)?,
                    master: address(file, "master", &t.master)?,
                    outstation: address(file, "outstation", &t.outstation)?,
                    port: t.port,
                    transactions: t.transactions,
                })
            })
            .collect::<Result<Vec<_>, YamlError>>()?;

        let mut seen: HashMap<JobIdentity, (&'static str, u64)> = HashMap::new();
        let mut section = |name: &'static str, raw: Option<Vec<Spanned<RawJob>>>| {
            let mut entries = Vec::new();
            for job in raw.unwrap_or_default() {
                let at = job.referenced;
                let entry = job.value.validate(file)?;
                let identity = (entry.protocol.clone(), entry.master, entry.outstation, entry.port, entry.key.clone());
                if let Some((first_section, first_line)) = seen.get(&identity) {
                    let what = if *first_section == "jobs" { "job" } else { "command" };
                    return Err(err(
                        &at,
                        format!(
                            "duplicate entry: same protocol, master, outstation, port and key as the {what} at line \
                             {first_line}"
                        ),
                    ));
                }
                seen.insert(identity, (name, at.line()));
                entries.push(entry);
            }
            Ok(entries)
        };
        let jobs = section("jobs", self.jobs)?;
        let commands = section("commands", self.commands)?;
        Ok(Baseline { version: self.version.value, learned, talkers, jobs, commands })
    }
}

impl RawJob {
    fn validate(self, file: &str) -> Result<JobEntry, YamlError> {
        let err = |at: &Location, message: String| yaml::error_at(file, at, message);
        if self.key.value.trim().is_empty() {
            return Err(err(&self.key.referenced, "key must not be empty".to_owned()));
        }
        let protocol = one_of(file, "protocol", self.protocol, &PROTOCOLS)?;
        let master = address(file, "master", &self.master)?;
        let outstation = address(file, "outstation", &self.outstation)?;
        let category = one_of(file, "category", self.category, &CATEGORIES)?;

        let period_ms = non_negative(file, "period_ms", &self.period_ms)?;
        if self.periodic.value {
            match (&self.period_ms, period_ms) {
                (Some(p), Some(v)) if v <= 0.0 => {
                    return Err(err(
                        &p.referenced,
                        format!("period_ms {} must be greater than 0 for a periodic job", number(v)),
                    ));
                }
                (None, _) | (_, None) => {
                    return Err(err(&self.periodic.referenced, "a periodic job needs period_ms".to_owned()));
                }
                _ => {}
            }
        }
        let tolerance_ms = non_negative(file, "tolerance_ms", &self.tolerance_ms)?;
        if let (Some(tolerance), Some(period), Some(at)) = (tolerance_ms, period_ms, &self.tolerance_ms) {
            if tolerance >= period / 2.0 {
                return Err(err(
                    &at.referenced,
                    format!(
                        "tolerance_ms {} must be less than half the period ({} ms)",
                        number(tolerance),
                        number(period)
                    ),
                ));
            }
        }
        let jitter_ms = non_negative(file, "jitter_ms", &self.jitter_ms)?;
        let stop_after_ms = non_negative(file, "stop_after_ms", &self.stop_after_ms)?;
        if let (Some(stop), Some(period), Some(at)) = (stop_after_ms, period_ms, &self.stop_after_ms) {
            if stop <= period {
                return Err(err(
                    &at.referenced,
                    format!("stop_after_ms {} must be greater than the period ({} ms)", number(stop), number(period)),
                ));
            }
        }
        let response_ms = self.response_ms.map(|r| r.validate(file)).transpose()?;
        let failure_ratio = match self.failure_ratio {
            None => 0.0,
            Some(r) if (0.0..=1.0).contains(&r.value) => r.value,
            Some(r) => {
                return Err(err(&r.referenced, format!("failure_ratio {} must be between 0 and 1", number(r.value))));
            }
        };
        Ok(JobEntry {
            key: self.key.value,
            protocol,
            master,
            outstation,
            port: self.port,
            signature: self.signature,
            function_code: self.function_code,
            category,
            periodic: self.periodic.value,
            period_ms,
            tolerance_ms,
            jitter_ms,
            stop_after_ms,
            response_ms,
            failure_ratio,
            count: self.count,
        })
    }
}

impl RawResponse {
    fn validate(self, file: &str) -> Result<ResponseEntry, YamlError> {
        let value = |name: &str, v: Spanned<f64>| -> Result<f64, YamlError> {
            non_negative(file, name, &Some(v)).map(|v| v.unwrap_or_default())
        };
        let (p99_at, max_at, alert_at) = (self.p99.referenced, self.max.referenced, self.alert_above.referenced);
        let p50 = value("response_ms.p50", self.p50)?;
        let p99 = value("response_ms.p99", self.p99)?;
        let max = value("response_ms.max", self.max)?;
        let alert_above = value("response_ms.alert_above", self.alert_above)?;
        if p99 < p50 {
            return Err(yaml::error_at(
                file,
                &p99_at,
                format!("response_ms.p99 {} must not be less than p50 ({})", number(p99), number(p50)),
            ));
        }
        if max < p99 {
            return Err(yaml::error_at(
                file,
                &max_at,
                format!("response_ms.max {} must not be less than p99 ({})", number(max), number(p99)),
            ));
        }
        if alert_above <= 0.0 {
            return Err(yaml::error_at(
                file,
                &alert_at,
                format!("response_ms.alert_above {} must be greater than 0", number(alert_above)),
            ));
        }
        Ok(ResponseEntry { p50, p99, max, alert_above })
    }
}

/// A duration or similar quantity: finite and not negative.
fn non_negative(file: &str, name: &str, value: &Option<Spanned<f64>>) -> Result<Option<f64>, YamlError> {
    match value {
        None => Ok(None),
        Some(v) if !v.value.is_finite() => {
            Err(yaml::error_at(file, &v.referenced, format!("{name} must be a finite number, not {}", number(v.value))))
        }
        Some(v) if v.value < 0.0 => {
            Err(yaml::error_at(file, &v.referenced, format!("{name} {} must not be negative", number(v.value))))
        }
        Some(v) => Ok(Some(v.value)),
    }
}

/// A name from a fixed list (protocols, categories).
fn one_of(file: &str, field: &str, value: Spanned<String>, allowed: &[&str]) -> Result<String, YamlError> {
    if allowed.contains(&value.value.as_str()) {
        Ok(value.value)
    } else {
        Err(yaml::error_at(
            file,
            &value.referenced,
            format!("unknown {field} {}: expected one of {}", quoted(&value.value), allowed.join(", ")),
        ))
    }
}

/// An IPv4 or IPv6 address, without brackets, port or zone.
fn address(file: &str, field: &str, value: &Spanned<String>) -> Result<IpAddr, YamlError> {
    value.value.trim().parse().map_err(|_| {
        yaml::error_at(file, &value.referenced, format!("{field} {} is not an IP address", quoted(&value.value)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(key: &str) -> JobEntry {
        JobEntry {
            key: key.to_owned(),
            protocol: "modbus".to_owned(),
            master: "10.0.0.1".parse().unwrap(),
            outstation: "10.0.0.2".parse().unwrap(),
            port: 502,
            signature: String::new(),
            function_code: 3,
            category: "read".to_owned(),
            periodic: true,
            period_ms: Some(1000.0),
            tolerance_ms: Some(150.0),
            jitter_ms: Some(12.5),
            stop_after_ms: Some(10_000.0),
            response_ms: Some(ResponseEntry { p50: 4.2, p99: 9.875, max: 15.0, alert_above: 50.0 }),
            failure_ratio: 0.0,
            count: 3600,
        }
    }

    fn rich() -> Baseline {
        let mut cmd = job("s7comm_plus fc=0x04ca obj=\"DB1\" # [crc]: 'x'");
        cmd.protocol = "s7comm_plus".to_owned();
        cmd.master = "fe80::1".parse().unwrap();
        cmd.outstation = "2001:db8::42".parse().unwrap();
        cmd.port = 102;
        let odd = "\ttab\u{1}\u{2028}\u{feff}é✓😀";
        cmd.signature = format!("Write – DB1.DBX0.0: \"start\", [pump #2] \\ 'ok'{odd}");
        cmd.function_code = 0x04ca;
        cmd.category = "write".to_owned();
        cmd.periodic = false;
        cmd.period_ms = None;
        cmd.tolerance_ms = None;
        cmd.jitter_ms = None;
        cmd.stop_after_ms = None;
        cmd.response_ms = None;
        cmd.failure_ratio = 0.125;
        cmd.count = 2;
        let mut dnp3 = job("dnp3 dst=10 fc=1 class=0");
        dnp3.protocol = "dnp3".to_owned();
        dnp3.port = 20000;
        dnp3.signature = "Read class 0: all".to_owned();
        dnp3.period_ms = Some(0.5);
        dnp3.tolerance_ms = Some(0.001);
        dnp3.jitter_ms = Some(0.0);
        dnp3.stop_after_ms = Some(1.25);
        dnp3.failure_ratio = 1.0;
        Baseline {
            version: 1,
            learned: Some(LearnedFrom {
                from: "2024-05-01T10:00:00Z".to_owned(),
                to: "2024-05-01T11:00:00.5Z".to_owned(),
                captures: vec!["plant a.pcap".to_owned(), "c:\\caps\\b #2.pcapng".to_owned()],
                learning_window_s: Some(3600.0),
            }),
            talkers: vec![
                TalkerEntry {
                    protocol: "modbus".to_owned(),
                    master: "10.0.0.1".parse().unwrap(),
                    outstation: "10.0.0.2".parse().unwrap(),
                    port: 502,
                    transactions: 7200,
                },
                TalkerEntry {
                    protocol: "s7comm_plus".to_owned(),
                    master: "::ffff:10.0.0.9".parse().unwrap(),
                    outstation: "::1".parse().unwrap(),
                    port: 102,
                    transactions: 0,
                },
            ],
            jobs: vec![job("modbus unit=4 fc=3 addr=690 qty=28"), dnp3],
            commands: vec![cmd],
        }
    }

    #[test]
    fn round_trip() {
        let b = rich();
        let text = b.to_yaml();
        let back = Baseline::from_str("b.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, b, "{text}");
        assert_eq!(back.to_yaml(), text);
    }

    #[test]
    fn round_trip_empty() {
        let b = Baseline::default();
        let text = b.to_yaml();
        assert!(text.contains("talkers: []\n") && text.contains("jobs: []\n") && text.contains("commands: []\n"));
        assert_eq!(Baseline::from_str("b.yaml", &text).unwrap(), b);
    }

    #[test]
    fn header_documents_the_edits() {
        let text = rich().to_yaml();
        for needle in
            ["new_job", "tolerance_ms", "stop_after_ms", "alert_above", "response_slow", "new_talker", "command"]
        {
            assert!(text.lines().any(|l| l.starts_with('#') && l.contains(needle)), "{needle}");
        }
        assert!(text.starts_with("# jobwatch baseline"));
    }

    #[test]
    fn numbers() {
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(12.3456), "12.346");
        assert_eq!(number(0.0004), "0");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(f64::NAN), ".nan");
        assert_eq!(number(f64::NEG_INFINITY), "-.inf");
        assert_eq!(number(1e20), "100000000000000000000");
    }

    #[test]
    fn strings() {
        assert_eq!(string("modbus"), "modbus");
        assert_eq!(string("s7comm_plus"), "s7comm_plus");
        assert_eq!(string("true"), "\"true\"");
        assert_eq!(string(""), "\"\"");
        assert_eq!(string("a b"), "\"a b\"");
        assert_eq!(quoted("a\"b\\c\nd\u{7f}\u{85}"), "\"a\\\"b\\\\c\\nd\\u007f\\u0085\"");
    }

    #[test]
    fn null_sections_are_empty() {
        let b = Baseline::from_str("b.yaml", "version: 1\ntalkers:\njobs:\ncommands: ~\n").unwrap();
        assert_eq!(b, Baseline::default());
    }

    #[test]
    fn defaults() {
        let text = "version: 1
jobs:
  - key: k
    protocol: modbus
    master: 10.0.0.1
    outstation: 10.0.0.2
    port: 502
    function_code: 16
    category: write
    periodic: false
";
        let b = Baseline::from_str("b.yaml", text).unwrap();
        let j = &b.jobs[0];
        assert_eq!((j.signature.as_str(), j.failure_ratio, j.count, j.period_ms), ("", 0.0, 0, None));
        assert!(b.learned.is_none() && b.talkers.is_empty() && b.commands.is_empty());
    }

    fn load_err(text: &str) -> String {
        Baseline::from_str("b.yaml", text).unwrap_err().to_string()
    }

    /// A valid one-job file with `field: value` lines replaced or added.
    fn with(changes: &[(&str, Option<&str>)]) -> String {
        let mut fields: Vec<(String, String)> = [
            ("key", "k"),
            ("protocol", "modbus"),
            ("master", "10.0.0.1"),
            ("outstation", "10.0.0.2"),
            ("port", "502"),
            ("function_code", "3"),
            ("category", "read"),
            ("periodic", "true"),
            ("period_ms", "1000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in changes {
            fields.retain(|(f, _)| f != k);
            if let Some(v) = v {
                fields.push((k.to_string(), v.to_string()));
            }
        }
        let mut text = String::from("version: 1\njobs:\n");
        for (i, (k, v)) in fields.iter().enumerate() {
            text.push_str(if i == 0 { "  - " } else { "    " });
            text.push_str(&format!("{k}: {v}\n"));
        }
        text
    }

    #[test]
    fn validation_messages() {
        // Line 3 is the first field; a changed field moves to the end, line 11 (after 8 kept ones).
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "protocol",
                Some("modbuss"),
                "b.yaml:11:15: unknown protocol \"modbuss\": expected one of modbus, dnp3, s7comm, s7comm_plus",
            ),
            (
                "category",
                Some("reads"),
                "b.yaml:11:15: unknown category \"reads\": expected one of read, write, program, firmware, control, \
                 diagnostic, file, time, config, security, other",
            ),
            ("master", Some("10.0.0.256"), "b.yaml:11:13: master \"10.0.0.256\" is not an IP address"),
            ("outstation", Some("\"[::1]\""), "b.yaml:11:17: outstation \"[::1]\" is not an IP address"),
            ("key", Some("\" \""), "b.yaml:11:10: key must not be empty"),
            ("period_ms", None, "b.yaml:10:15: a periodic job needs period_ms"),
            ("period_ms", Some("0"), "b.yaml:11:16: period_ms 0 must be greater than 0 for a periodic job"),
            ("period_ms", Some("-1"), "b.yaml:11:16: period_ms -1 must not be negative"),
            ("period_ms", Some(".nan"), "b.yaml:11:16: value `.nan` is not a finite number"),
            ("jitter_ms", Some(".inf"), "b.yaml:12:16: value `.inf` is not a finite number"),
            ("tolerance_ms", Some("500"), "b.yaml:12:19: tolerance_ms 500 must be less than half the period (1000 ms)"),
            (
                "stop_after_ms",
                Some("1000"),
                "b.yaml:12:20: stop_after_ms 1000 must be greater than the period (1000 ms)",
            ),
            ("failure_ratio", Some("1.01"), "b.yaml:12:20: failure_ratio 1.01 must be between 0 and 1"),
            (
                "response_ms",
                Some("{p50: 5, p99: 4, max: 6, alert_above: 9}"),
                "b.yaml:12:32: response_ms.p99 4 must not be less than p50 (5)",
            ),
            (
                "response_ms",
                Some("{p50: 5, p99: 6, max: 5.5, alert_above: 9}"),
                "b.yaml:12:40: response_ms.max 5.5 must not be less than p99 (6)",
            ),
            (
                "response_ms",
                Some("{p50: 5, p99: 6, max: 7, alert_above: 0}"),
                "b.yaml:12:56: response_ms.alert_above 0 must be greater than 0",
            ),
            (
                "response_ms",
                Some("{p50: -5, p99: 6, max: 7, alert_above: 1}"),
                "b.yaml:12:24: response_ms.p50 -5 must not be negative",
            ),
            ("port", Some("70000"), "b.yaml:11:11: expected a whole number from 0 to 65535"),
            ("periodic", Some("yes"), "b.yaml:11:15: invalid boolean: write true or false"),
        ];
        for (field, value, expected) in cases {
            let text = with(&[(field, *value)]);
            assert_eq!(load_err(&text), *expected, "\n{text}");
        }
        // Non-periodic: no period needed, tolerance checked only against a given period.
        assert!(Baseline::from_str(
            "b.yaml",
            &with(&[("periodic", Some("false")), ("period_ms", None), ("tolerance_ms", Some("5000"))])
        )
        .is_ok());
    }

    #[test]
    fn version_and_learned() {
        assert_eq!(
            load_err("version: 2\n"),
            "b.yaml:1:10: unsupported baseline version 2: this jobwatch reads version 1"
        );
        assert_eq!(load_err("talkers: []\n"), "b.yaml:1:1: missing field `version`");
        assert_eq!(
            load_err("version: 1\nlearned: {from: a, to: b, learning_window_s: -3}\n"),
            "b.yaml:2:46: learning_window_s -3 must not be negative"
        );
        assert_eq!(
            load_err("version: 1\ntalkers:\n  - {protocol: modbus, master: x, outstation: 10.0.0.2, port: 502}\n"),
            "b.yaml:3:32: master \"x\" is not an IP address"
        );
    }

    #[test]
    fn duplicates_across_sections() {
        let b = Baseline { jobs: vec![job("k")], commands: vec![job("k")], ..Baseline::default() };
        let text = b.to_yaml();
        let e = Baseline::from_str("b.yaml", &text).unwrap_err();
        let first = text.lines().position(|l| l.starts_with("  - key:")).unwrap() + 1;
        let second = text.lines().collect::<Vec<_>>().iter().rposition(|l| l.starts_with("  - key:")).unwrap() + 1;
        assert_eq!(
            e.to_string(),
            format!(
                "b.yaml:{second}:5: duplicate entry: same protocol, master, outstation, port and key as the job \
                 at line {first}"
            )
        );
        // A different port is a different job.
        let mut other = job("k");
        other.port = 503;
        let b = Baseline { jobs: vec![job("k"), other], ..Baseline::default() };
        assert!(Baseline::from_str("b.yaml", &b.to_yaml()).is_ok());
    }

    /// Damaged files (cut anywhere, bytes swapped for YAML's special characters) give an
    /// error, never a panic.
    #[test]
    fn damaged_files_do_not_panic() {
        let text = rich().to_yaml();
        for (i, _) in text.char_indices() {
            let _ = Baseline::from_str("b.yaml", &text[..i]);
        }
        let specials =
            [b':', b'-', b'[', b']', b'{', b'}', b'&', b'*', b'!', b'|', b'>', b'"', b'\'', b'#', b' ', b'\n'];
        let mut bytes = text.into_bytes();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            if bytes[at].is_ascii() {
                bytes[at] = specials[(state >> 32) as usize % specials.len()];
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = Baseline::from_str("b.yaml", text);
            }
        }
    }

    #[test]
    fn write_is_atomic_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.yaml");
        std::fs::write(&path, "old").unwrap();
        let b = rich();
        b.write(&path).unwrap();
        assert_eq!(Baseline::load(&path).unwrap(), b);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("baseline.yaml")]);
        assert!(b.write(&dir.path().join("missing/baseline.yaml")).is_err());
    }
}
