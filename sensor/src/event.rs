//! The events jobwatch writes (INTERFACE.md): `transaction`, `job`, `alert` and `stats`.
//!
//! Internal types stay owned and cheap to build; [`Event::to_record`] turns them into the flat,
//! borrowed [`Record`] that serde writes as one JSON object per line. Optional fields are absent
//! rather than zero, raw numbers sit beside names.

use crate::flow::FlowInfo;
use crate::stats::StatsSnapshot;
use crate::time::Timestamp;
use crate::transaction::{ProtocolDetail, Transaction};
use dissectors::{Category, Severity};
use serde::Serialize;
use std::net::IpAddr;

/// What an alert is about, as INTERFACE.md lists the kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    JobLate,
    JobMissed,
    JobStopped,
    JobPeriodChanged,
    ResponseSlow,
    JobFailed,
    NewJob,
    NewTalker,
    UnexpectedCommand,
    RuleMatch,
    ProtocolAnomaly,
    SensorHealth,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::JobLate => "job_late",
            AlertKind::JobMissed => "job_missed",
            AlertKind::JobStopped => "job_stopped",
            AlertKind::JobPeriodChanged => "job_period_changed",
            AlertKind::ResponseSlow => "response_slow",
            AlertKind::JobFailed => "job_failed",
            AlertKind::NewJob => "new_job",
            AlertKind::NewTalker => "new_talker",
            AlertKind::UnexpectedCommand => "unexpected_command",
            AlertKind::RuleMatch => "rule_match",
            AlertKind::ProtocolAnomaly => "protocol_anomaly",
            AlertKind::SensorHealth => "sensor_health",
        }
    }
}

impl Serialize for AlertKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An alert, with the conversation it concerns when there is one.
#[derive(Clone, Debug)]
pub struct Alert {
    pub timestamp: Timestamp,
    pub flow: Option<FlowInfo>,
    pub app_proto: Option<&'static str>,
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    pub job_id: Option<u64>,
    pub category: Option<Category>,
    pub rule_id: Option<String>,
    /// Stable anomaly id for `protocol_anomaly` alerts.
    pub anomaly: Option<&'static str>,
    /// How many further occurrences of the same anomaly this alert stands for (rate limiting).
    pub count: Option<u64>,
}

impl Alert {
    /// A `protocol_anomaly` alert for an anomaly seen on `flow`.
    pub fn anomaly(
        timestamp: Timestamp,
        flow: &FlowInfo,
        app_proto: Option<&'static str>,
        kind: &'static dissectors::AnomalyKind,
        message: String,
    ) -> Alert {
        Alert {
            timestamp,
            flow: Some(flow.clone()),
            app_proto,
            kind: AlertKind::ProtocolAnomaly,
            severity: kind.severity,
            message,
            job_id: None,
            category: None,
            rule_id: None,
            anomaly: Some(kind.id),
            count: None,
        }
    }

    /// A `sensor_health` alert (not tied to a conversation).
    pub fn sensor_health(timestamp: Timestamp, severity: Severity, anomaly: &'static str, message: String) -> Alert {
        Alert {
            timestamp,
            flow: None,
            app_proto: None,
            kind: AlertKind::SensorHealth,
            severity,
            message,
            job_id: None,
            category: None,
            rule_id: None,
            anomaly: Some(anomaly),
            count: None,
        }
    }
}

/// A job's life-cycle state (INTERFACE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    Learning,
    Established,
    Late,
    Stopped,
    Resumed,
    Retired,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Learning => "learning",
            JobState::Established => "established",
            JobState::Late => "late",
            JobState::Stopped => "stopped",
            JobState::Resumed => "resumed",
            JobState::Retired => "retired",
        }
    }
}

impl Serialize for JobState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The `job` object of a job event: what the job is and what was learned of it.
#[derive(Clone, Debug, Serialize)]
pub struct JobBody {
    pub id: u64,
    pub state: JobState,
    pub app_proto: &'static str,
    pub master: IpAddr,
    pub outstation: IpAddr,
    pub port: u16,
    /// What is done, for people ("unit 1 FC3 read holding registers 0–9").
    pub signature: String,
    /// The stable machine key the baseline matches on.
    pub key: String,
    pub function_code: u16,
    pub category: &'static str,
    /// Whether a cadence explains its requests (false: operator commands, one-off reads).
    pub periodic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_ms: Option<f64>,
    /// The distribution of the time between consecutive requests (all of them, on time or
    /// not): its median and 99th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_p99_ms: Option<f64>,
    /// Requests seen so far, and how many of them failed.
    pub count: u64,
    pub failures: u64,
    /// Poll cycle: the jobs of one master and outstation that run at the same period form one
    /// cycle, named by its lowest job id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_size: Option<usize>,
    /// Whether the job is in the baseline (or was seen while learning).
    pub known: bool,
}

/// A `job` event: a job changed state.
#[derive(Clone, Debug)]
pub struct JobEvent {
    pub timestamp: Timestamp,
    /// The connection the job was last seen on.
    pub flow: Option<FlowInfo>,
    pub body: JobBody,
}

/// One event of the output stream.
#[derive(Clone, Debug)]
pub enum Event {
    Transaction(Box<Transaction>),
    Job(Box<JobEvent>),
    Alert(Box<Alert>),
    Stats(Box<(Timestamp, StatsSnapshot)>),
}

/// Which event types are written (`--events`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFilter {
    pub transaction: bool,
    pub job: bool,
    pub alert: bool,
    pub stats: bool,
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter { transaction: true, job: true, alert: true, stats: true }
    }
}

impl EventFilter {
    /// Parses a comma-separated list of event types (`transaction,alert,job,stats`).
    pub fn parse(list: &str) -> Result<EventFilter, String> {
        let mut f = EventFilter { transaction: false, job: false, alert: false, stats: false };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "transaction" => f.transaction = true,
                "job" => f.job = true,
                "alert" => f.alert = true,
                "stats" => f.stats = true,
                other => {
                    return Err(format!("unknown event type `{other}` (expected transaction, job, alert or stats)"))
                }
            }
        }
        Ok(f)
    }

    pub fn accepts(&self, event: &Event) -> bool {
        match event {
            Event::Transaction(_) => self.transaction,
            Event::Job(_) => self.job,
            Event::Alert(_) => self.alert,
            Event::Stats(_) => self.stats,
        }
    }
}

/// The `alert` object of an alert event.
#[derive(Debug, Serialize)]
pub struct AlertBody<'a> {
    pub kind: AlertKind,
    pub severity: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// The flat JSON shape of every event: the common header, then the fields of its type.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub timestamp: Timestamp,
    pub event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_proto: Option<&'static str>,
    // transaction
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modbus: Option<&'a crate::transaction::ModbusDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnp3: Option<&'a crate::transaction::Dnp3Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s7comm: Option<&'a crate::transaction::S7Detail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s7comm_plus: Option<&'a crate::transaction::S7PlusDetail>,
    // job
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<&'a JobBody>,
    // alert
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertBody<'a>>,
    // stats
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<&'a StatsSnapshot>,
}

impl<'a> Record<'a> {
    fn header(timestamp: Timestamp, event_type: &'static str, flow: Option<&FlowInfo>) -> Record<'a> {
        Record {
            timestamp,
            event_type,
            flow_id: flow.map(|f| f.flow_id),
            src_ip: flow.map(|f| f.client.ip),
            src_port: flow.map(|f| f.client.port),
            dest_ip: flow.map(|f| f.server.ip),
            dest_port: flow.map(|f| f.server.port),
            proto: flow.map(|f| f.transport.as_str()),
            app_proto: None,
            function_code: None,
            function: None,
            category: None,
            status: None,
            response_time_us: None,
            response_timestamp: None,
            job_id: None,
            modbus: None,
            dnp3: None,
            s7comm: None,
            s7comm_plus: None,
            job: None,
            alert: None,
            stats: None,
        }
    }
}

impl Event {
    /// The capture time the event is stamped with.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Event::Transaction(t) => t.timestamp(),
            Event::Job(j) => j.timestamp,
            Event::Alert(a) => a.timestamp,
            Event::Stats(s) => s.0,
        }
    }

    /// The flat record serde writes.
    pub fn to_record(&self) -> Record<'_> {
        match self {
            Event::Transaction(t) => {
                let mut r = Record::header(t.timestamp(), "transaction", Some(&t.flow));
                r.app_proto = Some(t.app_proto);
                r.function_code = Some(t.function_code);
                r.function = Some(t.function);
                r.category = Some(t.category.as_str());
                r.status = Some(t.status.as_str());
                r.response_time_us = t.response_time_us();
                r.response_timestamp = t.response_ts;
                r.job_id = t.job_id;
                match &t.detail {
                    ProtocolDetail::Modbus(m) => r.modbus = Some(m),
                    ProtocolDetail::Dnp3(d) => r.dnp3 = Some(d),
                    ProtocolDetail::S7comm(d) => r.s7comm = Some(d),
                    ProtocolDetail::S7commPlus(d) => r.s7comm_plus = Some(d),
                }
                r
            }
            Event::Job(j) => {
                let mut r = Record::header(j.timestamp, "job", j.flow.as_ref());
                r.app_proto = Some(j.body.app_proto);
                r.job_id = Some(j.body.id);
                r.job = Some(&j.body);
                r
            }
            Event::Alert(a) => {
                let mut r = Record::header(a.timestamp, "alert", a.flow.as_ref());
                r.app_proto = a.app_proto;
                r.alert = Some(AlertBody {
                    kind: a.kind,
                    severity: a.severity.as_str(),
                    message: &a.message,
                    job_id: a.job_id,
                    category: a.category.map(Category::as_str),
                    rule_id: a.rule_id.as_deref(),
                    anomaly: a.anomaly,
                    count: a.count,
                });
                r
            }
            Event::Stats(s) => {
                let mut r = Record::header(s.0, "stats", None);
                r.stats = Some(&s.1);
                r
            }
        }
    }
}
