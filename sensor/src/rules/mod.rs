//! Rules files: what the plant's engineers know and the learned baseline cannot — which hosts
//! are what, who may command what and when, which jobs must run, which thresholds apply, and
//! which alerts are noise.
//!
//! The format is YAML, documented for its users in `rules/README.md`, with the shipped
//! defaults in `rules/default.yaml` ([`RuleSet::defaults`]) and a commented example in
//! `rules/examples/plant.yaml`. In short:
//!
//! ```yaml
//! version: 1
//! time_zone: Europe/Berlin
//! assets:
//!   - {name: eng-ws, role: engineering_workstation, address: 10.0.1.20}
//!   - {name: plc-1, role: plc, address: 10.0.2.10}
//! commands:
//!   - id: program-in-window
//!     master: engineering_workstation
//!     category: program
//!     when: {days: [sat], time: "06:00-10:00"}
//!     action: allow
//! ```
//!
//! Loading validates every value and reports each problem as a [`YamlError`]
//! (`file:line:col: message`): unknown keys, wrong types, bad CIDRs, unknown function names
//! (with a suggestion), impossible ranges, unknown roles, weekdays and time zones, duplicate
//! ids, and contradictions (a rule that can never apply because an earlier one with another
//! action matches everything it does). A YAML-level problem (syntax, unknown key, wrong type)
//! stops the reading of its file at the first one; every other problem of every file is
//! reported.
//!
//! A compiled [`RuleSet`] is immutable and `Send + Sync`: share it behind an `Arc` and swap the
//! `Arc` to reload.

mod compile;
mod functions;
mod matcher;
mod net;
mod raw;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dissectors::{Category, Severity};

use crate::event::{Alert, AlertKind};
use crate::transaction::Transaction;
use crate::yaml::{self, YamlError};

pub use functions::{FunctionSel, PROTOCOLS};
pub use matcher::{AssetTable, Fit, Match, RangeSet, Selector, Target, Window};
pub use net::Cidr;

/// The rules format version this code reads.
pub const VERSION: u32 = 1;

/// The name the shipped defaults are reported under.
pub const DEFAULT_FILE: &str = "rules/default.yaml";

/// The shipped defaults, built into the binary.
pub const DEFAULT_TEXT: &str = include_str!("../../../rules/default.yaml");

/// What a host is, for alert messages and for rules that name roles instead of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Hmi,
    Scada,
    EngineeringWorkstation,
    Historian,
    Plc,
    Rtu,
    Ied,
    Gateway,
    Other,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Hmi,
        Role::Scada,
        Role::EngineeringWorkstation,
        Role::Historian,
        Role::Plc,
        Role::Rtu,
        Role::Ied,
        Role::Gateway,
        Role::Other,
    ];

    /// The name rules files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hmi => "hmi",
            Role::Scada => "scada",
            Role::EngineeringWorkstation => "engineering_workstation",
            Role::Historian => "historian",
            Role::Plc => "plc",
            Role::Rtu => "rtu",
            Role::Ied => "ied",
            Role::Gateway => "gateway",
            Role::Other => "other",
        }
    }

    /// The name for people, as alert messages show it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Hmi => "HMI",
            Role::Scada => "SCADA server",
            Role::EngineeringWorkstation => "engineering workstation",
            Role::Historian => "historian",
            Role::Plc => "PLC",
            Role::Rtu => "RTU",
            Role::Ied => "IED",
            Role::Gateway => "gateway",
            Role::Other => "host",
        }
    }

    /// Parses a role name (`ews` is accepted for `engineering_workstation`).
    pub fn from_name(name: &str) -> Option<Role> {
        let name = name.trim().to_ascii_lowercase();
        if name == "ews" {
            return Some(Role::EngineeringWorkstation);
        }
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named host or group of hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub name: String,
    pub role: Role,
    pub description: Option<String>,
    /// The addresses and networks it covers.
    pub networks: Vec<Cidr>,
}

/// What a command rule does with the commands it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Expected: no alert for the command itself.
    Allow,
    /// A `rule_match` alert carrying the rule's id and severity.
    Alert,
    /// No alert of any kind for the command.
    Ignore,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Alert => "alert",
            Action::Ignore => "ignore",
        }
    }
}

/// The rule a command matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleHit<'a> {
    pub rule_id: &'a str,
    pub action: Action,
    /// For [`Action::Alert`]: the rule's severity, or when it gives none, the command's
    /// category's (program and firmware critical; control, security, config and file high;
    /// write medium; others low). `None` for the other actions.
    pub severity: Option<Severity>,
    /// The rule's description, for the alert message.
    pub description: Option<&'a str>,
}

/// A transaction to judge, with the capture time that maintenance windows are checked
/// against.
#[derive(Clone, Copy, Debug)]
pub struct CommandCtx<'a> {
    pub transaction: &'a Transaction,
    /// Capture time, µs since the Unix epoch.
    pub time_us: u64,
}

/// Where an entry was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Origin {
    /// Index into [`RuleSet::files`].
    file: usize,
    at: yaml::Location,
    /// From the shipped defaults (when merged with the user's files).
    builtin: bool,
}

/// One command-policy rule.
#[derive(Clone, Debug)]
pub struct CommandRule {
    pub id: String,
    pub description: Option<String>,
    pub matcher: Match,
    pub when: Option<Window>,
    pub action: Action,
    /// As written; see [`RuleHit::severity`] for the default.
    pub severity: Option<Severity>,
    origin: Origin,
}

impl CommandRule {
    fn hit(&self, t: &Transaction) -> RuleHit<'_> {
        let severity = match self.action {
            Action::Alert => Some(self.severity.unwrap_or_else(|| category_severity(t.category))),
            Action::Allow | Action::Ignore => None,
        };
        RuleHit { rule_id: &self.id, action: self.action, severity, description: self.description.as_deref() }
    }
}

/// The severity of a command of this category when a rule gives none (as the job engine rates
/// unexpected commands).
pub fn category_severity(category: Category) -> Severity {
    match category {
        Category::Program | Category::Firmware => Severity::Critical,
        Category::Control | Category::Security | Category::Config | Category::File => Severity::High,
        Category::Write => Severity::Medium,
        Category::Time | Category::Diagnostic | Category::Read | Category::Other => Severity::Low,
    }
}

/// A job the rules say must exist: a function a master must call on an outstation every
/// `period_us`, within `tolerance_us`.
#[derive(Clone, Debug)]
pub struct DeclaredJob {
    pub id: String,
    pub description: Option<String>,
    pub master: Selector,
    pub outstation: Selector,
    pub protocol: &'static str,
    pub function: FunctionSel,
    /// The `function_code` of its transactions, when the function has a single one.
    pub function_code: Option<u16>,
    /// Units, addresses, points, DBs, areas or blocks its requests stay within.
    pub target: Target,
    pub period_us: u64,
    pub tolerance_us: u64,
    pub stop_after_us: Option<u64>,
    pub response_limit_us: Option<u64>,
    /// Severity of its `job_missed`/`job_stopped` alerts, when set.
    pub severity: Option<Severity>,
    matcher: Match,
    assets: Arc<AssetTable>,
    origin: Origin,
}

impl DeclaredJob {
    /// Whether the transaction is one of the job's requests.
    pub fn matches(&self, t: &Transaction) -> bool {
        self.matcher.matches(t, &self.assets)
    }
}

/// Timing thresholds that override the learned ones; `None` leaves the learned or default
/// value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// Half-width of the on-time window around each expected poll.
    pub tolerance_us: Option<u64>,
    /// Silence after which the job is stopped.
    pub stop_after_us: Option<u64>,
    /// Responses slower than this raise `response_slow`.
    pub response_limit_us: Option<u64>,
}

impl Thresholds {
    fn fill(&mut self, from: &Thresholds) {
        self.tolerance_us = self.tolerance_us.or(from.tolerance_us);
        self.stop_after_us = self.stop_after_us.or(from.stop_after_us);
        self.response_limit_us = self.response_limit_us.or(from.response_limit_us);
    }

    fn is_complete(&self) -> bool {
        self.tolerance_us.is_some() && self.stop_after_us.is_some() && self.response_limit_us.is_some()
    }
}

/// A `thresholds:` entry that is not tied to a declared job.
#[derive(Clone, Debug)]
struct ThresholdRule {
    id: String,
    matcher: Match,
    values: Thresholds,
}

/// A field of an alert that tells alerts apart for suppression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyField {
    Kind,
    RuleId,
    Anomaly,
    SrcIp,
    DstIp,
    JobId,
}

impl KeyField {
    pub const ALL: [KeyField; 6] =
        [KeyField::Kind, KeyField::RuleId, KeyField::Anomaly, KeyField::SrcIp, KeyField::DstIp, KeyField::JobId];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyField::Kind => "kind",
            KeyField::RuleId => "rule_id",
            KeyField::Anomaly => "anomaly",
            KeyField::SrcIp => "src_ip",
            KeyField::DstIp => "dst_ip",
            KeyField::JobId => "job_id",
        }
    }
}

/// The alert kinds, by their event names.
pub const ALERT_KINDS: [AlertKind; 12] = [
    AlertKind::JobLate,
    AlertKind::JobMissed,
    AlertKind::JobStopped,
    AlertKind::JobPeriodChanged,
    AlertKind::ResponseSlow,
    AlertKind::JobFailed,
    AlertKind::NewJob,
    AlertKind::NewTalker,
    AlertKind::UnexpectedCommand,
    AlertKind::RuleMatch,
    AlertKind::ProtocolAnomaly,
    AlertKind::SensorHealth,
];

/// A rate limit on alerts: at most `max` alerts per `per_us` of capture time for each
/// distinct [`Suppression::key`]; the alerts over the limit are counted, and the count goes
/// with the next alert of the key that gets through (`Alert::count`).
#[derive(Clone, Debug)]
pub struct Suppression {
    pub id: String,
    pub description: Option<String>,
    pub max: u32,
    pub per_us: u64,
    /// The fields that tell alerts apart (alerts that differ elsewhere share a limit).
    pub key: Vec<KeyField>,
    kinds: Vec<AlertKind>,
    /// Exact anomaly ids, or prefixes (written `modbus.*`).
    anomalies: Vec<(String, bool)>,
    rule_ids: Vec<String>,
    severities: Vec<Severity>,
    src: Option<Selector>,
    dst: Option<Selector>,
}

impl Suppression {
    fn matches(&self, alert: &Alert, assets: &AssetTable) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&alert.kind) {
            return false;
        }
        if !self.severities.is_empty() && !self.severities.contains(&alert.severity) {
            return false;
        }
        if !self.anomalies.is_empty() {
            let Some(id) = alert.anomaly else { return false };
            let hit =
                self.anomalies.iter().any(|(p, prefix)| if *prefix { id.starts_with(p.as_str()) } else { id == p });
            if !hit {
                return false;
            }
        }
        if !self.rule_ids.is_empty() && !alert.rule_id.as_ref().is_some_and(|r| self.rule_ids.contains(r)) {
            return false;
        }
        let host = |sel: &Option<Selector>, ip: Option<IpAddr>| match sel {
            None => true,
            Some(sel) => ip.is_some_and(|ip| sel.matches(ip, assets)),
        };
        host(&self.src, alert.flow.as_ref().map(|f| f.client.ip))
            && host(&self.dst, alert.flow.as_ref().map(|f| f.server.ip))
    }

    /// The alert's values of the key fields, as one string (`kind=rule_match|rule_id=x|…`):
    /// alerts with the same key share a limit.
    pub fn key(&self, alert: &Alert) -> String {
        let mut out = String::new();
        for (i, field) in self.key.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            out.push_str(field.as_str());
            out.push('=');
            let value = match field {
                KeyField::Kind => alert.kind.as_str().to_owned(),
                KeyField::RuleId => alert.rule_id.clone().unwrap_or_default(),
                KeyField::Anomaly => alert.anomaly.unwrap_or_default().to_owned(),
                KeyField::SrcIp => alert.flow.as_ref().map(|f| f.client.ip.to_string()).unwrap_or_default(),
                KeyField::DstIp => alert.flow.as_ref().map(|f| f.server.ip.to_string()).unwrap_or_default(),
                KeyField::JobId => alert.job_id.map(|j| j.to_string()).unwrap_or_default(),
            };
            out.push_str(&value);
        }
        out
    }
}

/// A compiled, validated set of rules from one or more files.
#[derive(Debug, Default)]
pub struct RuleSet {
    files: Vec<String>,
    assets: Arc<AssetTable>,
    commands: Vec<CommandRule>,
    jobs: Vec<DeclaredJob>,
    /// Threshold entries for declared jobs are merged into the jobs; these are the others.
    thresholds: Vec<ThresholdRule>,
    suppressions: Vec<Suppression>,
}

/// One file to compile: its name for messages, whether it is the shipped defaults, and its
/// parsed content or the error that stopped its parsing.
struct Source {
    file: String,
    builtin: bool,
    raw: Result<raw::RawFile, YamlError>,
}

impl RuleSet {
    /// No rules at all.
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// The shipped defaults (`rules/default.yaml`, built in). A test keeps them valid; were
    /// they not, this would be the empty rule set.
    pub fn defaults() -> RuleSet {
        RuleSet::compile(vec![parse(DEFAULT_FILE, DEFAULT_TEXT, true)]).unwrap_or_default()
    }

    /// The rules of a file, or of every `*.yaml`/`*.yml` file of a folder (not its
    /// sub-folders, not hidden files), sorted by name and merged; every problem of every file.
    pub fn load(path: &Path) -> Result<RuleSet, Vec<YamlError>> {
        RuleSet::compile(read_sources(path)?)
    }

    /// [`RuleSet::load`], followed by the shipped defaults: the user's rules are tried first,
    /// the defaults catch what they leave. Ids must be unique across both; an earlier user rule
    /// may shadow a default without being a contradiction.
    pub fn load_with_defaults(path: &Path) -> Result<RuleSet, Vec<YamlError>> {
        let mut sources = read_sources(path)?;
        sources.push(parse(DEFAULT_FILE, DEFAULT_TEXT, true));
        RuleSet::compile(sources)
    }

    /// The rules of `text`, the contents of `file` (used in messages only).
    pub fn from_str(file: &str, text: &str) -> Result<RuleSet, Vec<YamlError>> {
        RuleSet::compile(vec![parse(file, text, false)])
    }

    /// Several files' contents, merged in the order given.
    pub fn from_strs(files: &[(&str, &str)]) -> Result<RuleSet, Vec<YamlError>> {
        RuleSet::compile(files.iter().map(|(file, text)| parse(file, text, false)).collect())
    }

    fn compile(sources: Vec<Source>) -> Result<RuleSet, Vec<YamlError>> {
        compile::compile(sources)
    }

    /// The files the rules came from, in the order they were merged.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Whether there are no rules and no assets.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
            && self.commands.is_empty()
            && self.jobs.is_empty()
            && self.thresholds.is_empty()
            && self.suppressions.is_empty()
    }

    /// The asset an address belongs to: of the assets that cover it, the one with the most
    /// specific network.
    pub fn asset(&self, ip: IpAddr) -> Option<&Asset> {
        self.assets.get(ip)
    }

    pub fn assets(&self) -> &AssetTable {
        &self.assets
    }

    /// An address for alert messages: `10.0.1.10 (hmi-1, HMI)`, or the bare address when it is
    /// no asset's.
    pub fn describe(&self, ip: IpAddr) -> String {
        match self.asset(ip) {
            Some(a) => format!("{ip} ({}, {})", a.name, a.role.label()),
            None => ip.to_string(),
        }
    }

    /// The command-policy rules, in the order they are tried.
    pub fn commands(&self) -> &[CommandRule] {
        &self.commands
    }

    /// The first command-policy rule (in file order) that matches the transaction at its
    /// time; `None` when no rule matches. A rule that names no category and no function
    /// matches every category but `read`: reads are judged only by rules that name them.
    pub fn command(&self, c: &CommandCtx<'_>) -> Option<RuleHit<'_>> {
        let t = c.transaction;
        self.commands
            .iter()
            .find(|r| r.matcher.matches(t, &self.assets) && r.when.as_ref().is_none_or(|w| w.contains(c.time_us)))
            .map(|r| r.hit(t))
    }

    /// Whether the transaction is a read that a rule names (category `read` or a read
    /// function, with the rule's other conditions met): such reads are to be treated as
    /// commands, with [`RuleSet::command`]'s verdict.
    pub fn sensitive_read(&self, c: &CommandCtx<'_>) -> bool {
        c.transaction.category == Category::Read && self.command(c).is_some()
    }

    /// The declared jobs, in file order.
    pub fn declared_jobs(&self) -> &[DeclaredJob] {
        &self.jobs
    }

    /// The first declared job the transaction belongs to.
    pub fn declared_job(&self, t: &Transaction) -> Option<&DeclaredJob> {
        self.jobs.iter().find(|j| j.matches(t))
    }

    /// The threshold overrides for the job of this transaction: those of the first declared
    /// job it belongs to (its tolerance, and its `stop_after` and `response_limit`), then for
    /// each value still unset, the first `thresholds:` entry (in file order) that matches the
    /// transaction and sets it.
    pub fn thresholds(&self, t: &Transaction) -> Thresholds {
        let mut out = Thresholds::default();
        if let Some(job) = self.declared_job(t) {
            out = Thresholds {
                tolerance_us: Some(job.tolerance_us),
                stop_after_us: job.stop_after_us,
                response_limit_us: job.response_limit_us,
            };
        }
        for rule in &self.thresholds {
            if out.is_complete() {
                break;
            }
            if rule.matcher.matches(t, &self.assets) {
                out.fill(&rule.values);
            }
        }
        out
    }

    /// The first suppression entry (in file order) that applies to the alert.
    pub fn suppression(&self, alert: &Alert) -> Option<&Suppression> {
        self.suppressions.iter().find(|s| s.matches(alert, &self.assets))
    }

    /// The suppression entries, in file order.
    pub fn suppressions(&self) -> &[Suppression] {
        &self.suppressions
    }
}

/// Parses one file's text.
fn parse(file: &str, text: &str, builtin: bool) -> Source {
    Source { file: file.to_owned(), builtin, raw: yaml::from_str(file, text).map_err(compile::polish) }
}

/// Reads a file, or the rules files of a folder.
fn read_sources(path: &Path) -> Result<Vec<Source>, Vec<YamlError>> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| vec![YamlError::whole_file(&shown, format!("cannot read: {e}"))])?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|e| vec![YamlError::whole_file(&shown, format!("cannot read: {e}"))])?;
        let mut files: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| is_rules_file(p)).collect();
        files.sort();
        if files.is_empty() {
            return Err(vec![YamlError::whole_file(&shown, "no rules files (*.yaml or *.yml) in this folder")]);
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    Ok(files
        .iter()
        .map(|p| Source { file: p.display().to_string(), builtin: false, raw: yaml::load(p).map_err(compile::polish) })
        .collect())
}

/// A `*.yaml` or `*.yml` regular file whose name does not start with a dot (editors' backup
/// and lock files do).
fn is_rules_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && std::fs::metadata(p).is_ok_and(|m| m.is_file())
}
