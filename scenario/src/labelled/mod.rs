//! Labelled scenarios: a mixed Modbus/TCP, DNP3 and S7comm plant, a clean train capture and a
//! test capture with injected anomalies, each anomaly with its ground truth.
//!
//! The plant has, per protocol, a few masters (HMIs, SCADA front ends) polling a few PLCs or
//! outstations over one TCP connection per pair. Every connection runs periodic jobs (Modbus
//! reads and set-point writes, DNP3 event and integrity polls, S7 read var on DB and M areas)
//! with a few per cent of jitter and per-device response times, and some masters issue aperiodic
//! operator writes to a fixed set of targets (each written in the train phase, so they are
//! "seen in the baseline"). The train phase is clean. The test phase runs the same plant and
//! injects the anomalies asked for, one per time slot, each on a job or connection no other
//! anomaly touches, so every incident has one unambiguous label.
//!
//! Generation streams: each connection builds one exchange at a time and a heap merges the
//! connections (as [`crate::plant`] does), so memory is bounded by the number of connections.
//! Everything is drawn from the seed: the same configuration gives the same bytes and labels.
//! The label schema is documented in `scenario/README.md`.

mod generate;
#[cfg(test)]
mod tests;

use crate::capture::{PacketSink, PcapSink};
use crate::dnp3;
use crate::modbus::{self, FunctionCode};
use crate::s7comm::{self, Area, Block, BlockType, Item};
use crate::tcp::Endpoint;
use anyhow::{bail, Context, Result};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

pub use generate::{Observation, PhaseReport};

/// The industrial protocols a scenario speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Modbus,
    Dnp3,
    S7comm,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Modbus, Protocol::Dnp3, Protocol::S7comm];

    /// The `app_proto` name of INTERFACE.md.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Modbus => "modbus",
            Protocol::Dnp3 => "dnp3",
            Protocol::S7comm => "s7comm",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Protocol::Modbus => 502,
            Protocol::Dnp3 => 20000,
            Protocol::S7comm => 102,
        }
    }

    /// Second octet of the protocol's 10.x.0.0/16 network.
    fn net(self) -> u8 {
        match self {
            Protocol::Modbus => 1,
            Protocol::Dnp3 => 2,
            Protocol::S7comm => 3,
        }
    }
}

/// An anomaly a scenario can inject. Each maps to one INTERFACE.md alert kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A master stops polling one job of a PLC for the rest of the capture.
    JobStopped,
    /// One poll is sent half a period late; the job then keeps its phase.
    JobLate,
    /// Consecutive polls (up to three) are not sent.
    JobMissed,
    /// A job's cadence changes (doubled or halved) for the rest of the capture.
    JobPeriodChanged,
    /// Consecutive responses of a job (two to five) take many times their usual time.
    ResponseSlow,
    /// Modbus exception responses (code 4, server device failure) to several polls.
    FailureException,
    /// Several polls go unanswered (the PLC only ACKs the TCP segment).
    FailureNoResponse,
    /// DNP3 responses with IIN device trouble and object unknown set, without data.
    FailureDnp3Iin,
    /// S7 ack_data with error class 0x81 code 0x04 instead of the values.
    FailureS7Error,
    /// A known pair starts a job with a signature never seen.
    NewJob,
    /// A master polls a PLC it never talked to.
    NewTalker,
    /// A Modbus write (FC 16) to registers never written.
    ModbusWrite,
    /// A DNP3 direct operate (CROB) on a point never commanded.
    Dnp3DirectOperate,
    /// A DNP3 cold restart.
    Dnp3ColdRestart,
    /// An S7 PLC stop.
    S7PlcStop,
    /// An S7 program download: request download, download block × 2, download ended, PI _INSE.
    S7ProgramDownload,
    /// No packets at all for a while: the sensor lost the mirror, the plant did not stop.
    CaptureGap,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 17] = [
        AnomalyKind::JobStopped,
        AnomalyKind::JobLate,
        AnomalyKind::JobMissed,
        AnomalyKind::JobPeriodChanged,
        AnomalyKind::ResponseSlow,
        AnomalyKind::FailureException,
        AnomalyKind::FailureNoResponse,
        AnomalyKind::FailureDnp3Iin,
        AnomalyKind::FailureS7Error,
        AnomalyKind::NewJob,
        AnomalyKind::NewTalker,
        AnomalyKind::ModbusWrite,
        AnomalyKind::Dnp3DirectOperate,
        AnomalyKind::Dnp3ColdRestart,
        AnomalyKind::S7PlcStop,
        AnomalyKind::S7ProgramDownload,
        AnomalyKind::CaptureGap,
    ];

    /// The name used on the command line and in labels.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::JobStopped => "job_stopped",
            AnomalyKind::JobLate => "job_late",
            AnomalyKind::JobMissed => "job_missed",
            AnomalyKind::JobPeriodChanged => "job_period_changed",
            AnomalyKind::ResponseSlow => "response_slow",
            AnomalyKind::FailureException => "failure_exception",
            AnomalyKind::FailureNoResponse => "failure_no_response",
            AnomalyKind::FailureDnp3Iin => "failure_dnp3_iin",
            AnomalyKind::FailureS7Error => "failure_s7_error",
            AnomalyKind::NewJob => "new_job",
            AnomalyKind::NewTalker => "new_talker",
            AnomalyKind::ModbusWrite => "modbus_write",
            AnomalyKind::Dnp3DirectOperate => "dnp3_direct_operate",
            AnomalyKind::Dnp3ColdRestart => "dnp3_cold_restart",
            AnomalyKind::S7PlcStop => "s7_plc_stop",
            AnomalyKind::S7ProgramDownload => "s7_program_download",
            AnomalyKind::CaptureGap => "capture_gap",
        }
    }

    pub fn from_name(name: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The INTERFACE.md alert kind a detector should raise.
    pub fn alert_kind(self) -> &'static str {
        match self {
            AnomalyKind::JobStopped => "job_stopped",
            AnomalyKind::JobLate => "job_late",
            AnomalyKind::JobMissed => "job_missed",
            AnomalyKind::JobPeriodChanged => "job_period_changed",
            AnomalyKind::ResponseSlow => "response_slow",
            AnomalyKind::FailureException
            | AnomalyKind::FailureNoResponse
            | AnomalyKind::FailureDnp3Iin
            | AnomalyKind::FailureS7Error => "job_failed",
            AnomalyKind::NewJob => "new_job",
            AnomalyKind::NewTalker => "new_talker",
            AnomalyKind::ModbusWrite
            | AnomalyKind::Dnp3DirectOperate
            | AnomalyKind::Dnp3ColdRestart
            | AnomalyKind::S7PlcStop
            | AnomalyKind::S7ProgramDownload => "unexpected_command",
            AnomalyKind::CaptureGap => "sensor_health",
        }
    }

    /// The families: timing, failure, novelty, command, sensor.
    pub fn family(self) -> &'static str {
        match self.alert_kind() {
            "job_failed" => "failure",
            "new_job" | "new_talker" => "novelty",
            "unexpected_command" => "command",
            "sensor_health" => "sensor",
            _ => "timing",
        }
    }

    /// The transaction category of an unexpected command (as the dissectors classify it).
    pub fn category(self) -> Option<&'static str> {
        match self {
            AnomalyKind::ModbusWrite | AnomalyKind::Dnp3DirectOperate => Some("write"),
            AnomalyKind::Dnp3ColdRestart | AnomalyKind::S7PlcStop => Some("control"),
            AnomalyKind::S7ProgramDownload => Some("program"),
            _ => None,
        }
    }

    /// Other alert kinds the incident may legitimately also raise (neither required nor false).
    pub fn explains(self) -> &'static [&'static str] {
        match self {
            AnomalyKind::JobStopped | AnomalyKind::JobLate => &["job_missed"],
            AnomalyKind::JobMissed => &["job_late"],
            AnomalyKind::JobPeriodChanged => &["job_late", "job_missed"],
            AnomalyKind::NewTalker => &["new_job"],
            _ => &[],
        }
    }

    /// "all", "none" or a comma-separated list of names.
    pub fn parse_list(text: &str) -> Result<Vec<AnomalyKind>> {
        match text.trim() {
            "all" => return Ok(AnomalyKind::ALL.to_vec()),
            "none" | "" => return Ok(Vec::new()),
            _ => {}
        }
        let mut kinds = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(kind) = AnomalyKind::from_name(name) else {
                let known: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
                bail!("unknown anomaly {name:?}; known: all, none, {}", known.join(", "));
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(kinds)
    }
}

/// The two captures of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Train,
    Test,
}

/// What a scenario looks like.
#[derive(Clone, Debug)]
pub struct ScenarioConfig {
    pub seed: u64,
    /// Capture time of the train phase's start (since the Unix epoch).
    pub start: Duration,
    pub train: Duration,
    pub test: Duration,
    /// Pause between the end of the train capture and the start of the test capture.
    pub pause: Duration,
    /// Anomalies injected in the test phase (each at most once).
    pub anomalies: Vec<AnomalyKind>,
    /// Masters per protocol (each polls `plcs_per_master` PLCs of its protocol).
    pub masters_per_protocol: usize,
    pub plcs_per_protocol: usize,
    pub plcs_per_master: usize,
    /// Each poll is early or late by up to this fraction of its period.
    pub jitter: f64,
    /// Chance that a PDU is split across two TCP segments.
    pub split_probability: f64,
    /// Mean time between aperiodic operator writes of one master.
    pub operator_interval: Duration,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            seed: 1,
            // 2024-01-01T00:00:00Z
            start: Duration::from_secs(1_704_067_200),
            train: Duration::from_secs(900),
            test: Duration::from_secs(900),
            pause: Duration::from_secs(60),
            anomalies: Vec::new(),
            masters_per_protocol: 2,
            plcs_per_protocol: 3,
            plcs_per_master: 2,
            jitter: 0.02,
            split_probability: 0.01,
            operator_interval: Duration::from_secs(120),
        }
    }
}

/// Least test time each anomaly's slot needs, so incidents stay apart and detectable.
pub const MIN_SLOT: Duration = Duration::from_secs(20);

/// A host of the plant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub ip: Ipv4Addr,
    pub name: String,
    /// `master` or `plc`.
    pub role: String,
    pub protocol: Protocol,
}

impl Asset {
    /// A locally administered MAC derived from the address.
    fn mac(&self) -> [u8; 6] {
        let [a, b, c, d] = self.ip.octets();
        [0x02, 0x00, a, b, c, d]
    }
}

/// What one request does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Modbus(modbus::Request),
    Dnp3(dnp3::Request),
    S7Read(Vec<Item>),
    S7Write(Vec<Item>),
    S7Stop,
    S7Download(Block),
}

impl Op {
    /// The protocol's function code of the (first) request.
    fn function_code(&self) -> u8 {
        match self {
            Op::Modbus(r) => r.function_code().0,
            Op::Dnp3(r) => r.function_code().0,
            Op::S7Read(_) => s7comm::Function::READ_VAR.0,
            Op::S7Write(_) => s7comm::Function::WRITE_VAR.0,
            Op::S7Stop => s7comm::Function::PLC_STOP.0,
            Op::S7Download(_) => s7comm::Function::REQUEST_DOWNLOAD.0,
        }
    }

    /// What the request does, in an engineer's words.
    fn describe(&self, conn: &ConnDef) -> String {
        fn items(items: &[Item]) -> String {
            let names: Vec<String> = items
                .iter()
                .map(|i| match i.area {
                    Area::DB => format!("DB{}.DBB{}[{}]", i.db, i.address, i.length),
                    Area::FLAGS => format!("MB{}[{}]", i.address, i.length),
                    Area::INPUTS => format!("IB{}[{}]", i.address, i.length),
                    _ => format!("QB{}[{}]", i.address, i.length),
                })
                .collect();
            names.join(", ")
        }
        match self {
            Op::Modbus(r) => {
                let what = match r.function_code() {
                    FunctionCode::READ_COILS => "read coils",
                    FunctionCode::READ_DISCRETE_INPUTS => "read discrete inputs",
                    FunctionCode::READ_HOLDING_REGISTERS => "read holding registers",
                    FunctionCode::READ_INPUT_REGISTERS => "read input registers",
                    FunctionCode::WRITE_SINGLE_COIL => "write single coil",
                    FunctionCode::WRITE_SINGLE_REGISTER => "write single register",
                    FunctionCode::WRITE_MULTIPLE_COILS => "write multiple coils",
                    _ => "write multiple registers",
                };
                let last = u32::from(r.address()) + u32::from(r.quantity()) - 1;
                format!("unit {} FC{} {what} {}–{last}", conn.unit, r.function_code().0, r.address())
            }
            Op::Dnp3(r) => {
                let what = match r {
                    dnp3::Request::ClassPoll { classes } => {
                        let c: Vec<String> = classes.iter().map(u8::to_string).collect();
                        format!("event poll (read class {})", c.join("/"))
                    }
                    dnp3::Request::IntegrityPoll => "integrity poll (read class 0/1/2/3)".to_string(),
                    dnp3::Request::DirectOperate { index, .. } => format!("direct operate CROB g12v1 point {index}"),
                    dnp3::Request::ColdRestart => "cold restart".to_string(),
                };
                format!("outstation {} {what}", conn.dnp3_outstation)
            }
            Op::S7Read(i) => format!("rack 0 slot 2 read var {}", items(i)),
            Op::S7Write(i) => format!("rack 0 slot 2 write var {}", items(i)),
            Op::S7Stop => "rack 0 slot 2 PLC stop".to_string(),
            Op::S7Download(b) => format!(
                "rack 0 slot 2 program download of {}{} (request download, download block, download ended, \
                 PI _INSE)",
                b.kind.name(),
                b.number
            ),
        }
    }
}

/// One master–PLC TCP connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnDef {
    protocol: Protocol,
    master: usize,
    plc: usize,
    client: Endpoint,
    server: Endpoint,
    /// Modbus unit id.
    unit: u8,
    dnp3_master: u16,
    dnp3_outstation: u16,
    response_time: Duration,
    in_train: bool,
    /// When the connection opens in the test phase when not at its start (a new talker).
    test_open: Option<Duration>,
}

/// How an injected anomaly changes a job in the test phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum JobMod {
    Stop,
    Late { delay: Duration },
    Miss { count: u32 },
    Period { period: Duration },
    Slow { count: u32 },
    Fail { count: u32, mode: FailMode },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailMode {
    Exception,
    NoResponse,
    Iin,
    S7Error,
}

/// A periodic job.
#[derive(Clone, Debug)]
pub(crate) struct JobDef {
    conn: usize,
    op: Op,
    period: Duration,
    in_train: bool,
    /// First poll in the test phase when the job is new there.
    test_from: Option<Duration>,
    /// At most one modification, from its time on: (time, modification, anomaly index).
    test_mod: Option<(Duration, JobMod, usize)>,
}

/// A one-off command: an operator write or an injected unexpected command.
#[derive(Clone, Debug)]
pub(crate) struct CommandDef {
    conn: usize,
    phase: Phase,
    at: Duration,
    op: Op,
    anomaly: Option<usize>,
}

/// One injected anomaly as planned.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    kind: AnomalyKind,
    conn: Option<usize>,
    job: Option<usize>,
    /// Start of the anomaly's slot: nothing happens before it.
    at: Duration,
    /// For a capture gap: its end.
    until: Option<Duration>,
}

/// A whole scenario: topology, jobs, operator commands and the anomaly plan.
#[derive(Debug)]
pub struct Scenario {
    config: ScenarioConfig,
    assets: Vec<Asset>,
    conns: Vec<ConnDef>,
    jobs: Vec<JobDef>,
    commands: Vec<CommandDef>,
    planned: Vec<Planned>,
}

fn host(protocol: Protocol, plc: bool, index: usize) -> Ipv4Addr {
    let last = (10 + index).min(250) as u8;
    Ipv4Addr::new(10, protocol.net(), u8::from(plc), last)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Scenario {
    /// Draws the plant and plans the anomalies; fails when the test phase is too short for them.
    pub fn new(config: ScenarioConfig) -> Result<Scenario> {
        if config.train.is_zero() || config.test.is_zero() {
            bail!("train and test durations must be positive");
        }
        if !(0.0..=0.2).contains(&config.jitter) || !(0.0..=1.0).contains(&config.split_probability) {
            bail!("jitter must be within 0–0.2 and the split probability within 0–1");
        }
        if config.masters_per_protocol == 0 || config.plcs_per_protocol < 2 {
            bail!("a scenario needs at least one master and two PLCs per protocol");
        }
        let slots = config.anomalies.len() as u32 + 1;
        if config.test < MIN_SLOT * slots {
            bail!(
                "a test phase of {} s is too short for {} anomalies: give at least {} s",
                config.test.as_secs(),
                config.anomalies.len(),
                (MIN_SLOT * slots).as_secs()
            );
        }
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let mut scenario = Scenario {
            config,
            assets: Vec::new(),
            conns: Vec::new(),
            jobs: Vec::new(),
            commands: Vec::new(),
            planned: Vec::new(),
        };
        for protocol in Protocol::ALL {
            scenario.build_protocol(protocol, &mut rng);
        }
        scenario.plan_operator_writes(&mut rng);
        scenario.plan_anomalies(&mut rng)?;
        Ok(scenario)
    }

    pub fn config(&self) -> &ScenarioConfig {
        &self.config
    }

    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    pub fn train_window(&self) -> (Duration, Duration) {
        (self.config.start, self.config.start + self.config.train)
    }

    pub fn test_window(&self) -> (Duration, Duration) {
        let start = self.config.start + self.config.train + self.config.pause;
        (start, start + self.config.test)
    }

    fn add_asset(&mut self, protocol: Protocol, plc: bool, index: usize, name: String) -> usize {
        let ip = host(protocol, plc, index);
        let role = if plc { "plc" } else { "master" }.to_string();
        self.assets.push(Asset { ip, name, role, protocol });
        self.assets.len() - 1
    }

    fn add_conn(&mut self, protocol: Protocol, master: usize, plc: usize, rng: &mut SmallRng) -> usize {
        let (m, p) = (&self.assets[master], &self.assets[plc]);
        let port = rng.gen_range(49152..65000u16);
        let response_time = match protocol {
            Protocol::Modbus => rng.gen_range(2_000..15_000u64),
            Protocol::Dnp3 => rng.gen_range(15_000..60_000),
            Protocol::S7comm => rng.gen_range(3_000..12_000),
        };
        let last = |ip: Ipv4Addr| u16::from(ip.octets()[3]);
        self.conns.push(ConnDef {
            protocol,
            master,
            plc,
            client: Endpoint { mac: m.mac(), ip: m.ip, port },
            server: Endpoint { mac: p.mac(), ip: p.ip, port: protocol.port() },
            unit: if rng.gen_bool(0.7) { 1 } else { rng.gen_range(2..=20) },
            dnp3_master: last(m.ip) - 9,
            dnp3_outstation: last(p.ip),
            response_time: Duration::from_micros(response_time),
            in_train: true,
            test_open: None,
        });
        self.conns.len() - 1
    }

    fn add_job(&mut self, conn: usize, op: Op, period: Duration) -> usize {
        self.jobs.push(JobDef { conn, op, period, in_train: true, test_from: None, test_mod: None });
        self.jobs.len() - 1
    }

    /// Masters, PLCs, connections and jobs of one protocol. The first and last connections
    /// carry a single job with a period of at least 1 s, so slow and missing responses there
    /// delay nothing else.
    fn build_protocol(&mut self, protocol: Protocol, rng: &mut SmallRng) {
        let plcs: Vec<usize> = (0..self.config.plcs_per_protocol)
            .map(|i| {
                let name = match protocol {
                    Protocol::Dnp3 => format!("rtu-{}", i + 1),
                    _ => format!("{}-plc-{}", protocol.name(), i + 1),
                };
                self.add_asset(protocol, true, i, name)
            })
            .collect();
        let masters: Vec<usize> = (0..self.config.masters_per_protocol)
            .map(|i| {
                let name = match protocol {
                    Protocol::Dnp3 => format!("scada-{}", i + 1),
                    _ => format!("{}-hmi-{}", protocol.name(), i + 1),
                };
                self.add_asset(protocol, false, i, name)
            })
            .collect();
        let first_conn = self.conns.len();
        let per_master = self.config.plcs_per_master.clamp(1, plcs.len());
        for (mi, &master) in masters.iter().enumerate() {
            for k in 0..per_master {
                let plc = plcs[(mi + k) % plcs.len()];
                self.add_conn(protocol, master, plc, rng);
            }
        }
        let last_conn = self.conns.len() - 1;
        for conn in first_conn..=last_conn {
            let single = conn == first_conn || conn == last_conn;
            let count = if single { 1 } else { rng.gen_range(1..=3) };
            let mut used: Vec<(Op, Duration)> = Vec::new();
            for n in 0..count {
                let (op, period) = random_job(protocol, n, single, rng);
                if used.iter().any(|(o, _)| *o == op) {
                    continue;
                }
                used.push((op.clone(), period));
                self.add_job(conn, op, period);
            }
        }
    }

    /// Aperiodic operator writes of each protocol's first master to its first PLC: a fixed set
    /// of targets, each written twice in the train phase, then at random times in both phases.
    fn plan_operator_writes(&mut self, rng: &mut SmallRng) {
        for protocol in Protocol::ALL {
            let Some(conn) = self.conns.iter().position(|c| c.protocol == protocol) else { continue };
            let targets: Vec<Op> = match protocol {
                Protocol::Modbus => vec![
                    Op::Modbus(modbus::Request::WriteSingleRegister { address: 4000, value: 0 }),
                    Op::Modbus(modbus::Request::WriteSingleCoil { address: 20, value: true }),
                ],
                Protocol::Dnp3 => {
                    vec![Op::Dnp3(dnp3::Request::DirectOperate { index: 0, code: 3, on_ms: 0, off_ms: 0 })]
                }
                Protocol::S7comm => vec![Op::S7Write(vec![Item { area: Area::DB, db: 20, address: 4, length: 2 }])],
            };
            for phase in [Phase::Train, Phase::Test] {
                let (start, end) = if phase == Phase::Train { self.train_window() } else { self.test_window() };
                let span = (end - start).as_secs_f64();
                let mut times: Vec<(f64, usize)> = Vec::new();
                if phase == Phase::Train {
                    for (i, _) in targets.iter().enumerate() {
                        for k in 0..2 {
                            let f = (0.1 + 0.35 * k as f64 + 0.08 * i as f64 + rng.gen_range(0.0..0.05)).min(0.95);
                            times.push((f * span, i));
                        }
                    }
                }
                let mean = self.config.operator_interval.as_secs_f64().max(1.0);
                let mut t = rng.gen_range(0.0..mean);
                while t < span - 5.0 {
                    times.push((t, rng.gen_range(0..targets.len())));
                    t += mean * rng.gen_range(0.3..1.7);
                }
                for (offset, target) in times {
                    let op = match &targets[target] {
                        Op::Modbus(modbus::Request::WriteSingleRegister { address, .. }) => {
                            Op::Modbus(modbus::Request::WriteSingleRegister {
                                address: *address,
                                value: rng.gen_range(0..500),
                            })
                        }
                        Op::Modbus(modbus::Request::WriteSingleCoil { address, .. }) => {
                            Op::Modbus(modbus::Request::WriteSingleCoil { address: *address, value: rng.gen() })
                        }
                        Op::Dnp3(dnp3::Request::DirectOperate { index, .. }) => {
                            Op::Dnp3(dnp3::Request::DirectOperate {
                                index: *index,
                                code: if rng.gen() { 0x03 } else { 0x04 },
                                on_ms: 0,
                                off_ms: 0,
                            })
                        }
                        other => other.clone(),
                    };
                    let at = start + Duration::from_secs_f64(offset.max(2.0));
                    self.commands.push(CommandDef { conn, phase, at, op, anomaly: None });
                }
            }
        }
    }

    /// Puts each anomaly in its own slot of the test phase on a target no other anomaly uses.
    fn plan_anomalies(&mut self, rng: &mut SmallRng) -> Result<()> {
        let mut kinds = self.config.anomalies.clone();
        kinds.sort();
        kinds.dedup();
        // Sustained changes first, so they hold for most of the test; the rest shuffled.
        let (mut order, mut rest): (Vec<AnomalyKind>, Vec<AnomalyKind>) = kinds.into_iter().partition(|k| {
            matches!(
                k,
                AnomalyKind::JobStopped | AnomalyKind::JobPeriodChanged | AnomalyKind::NewJob | AnomalyKind::NewTalker
            )
        });
        order.shuffle(rng);
        rest.shuffle(rng);
        order.extend(rest);
        let (test_start, _) = self.test_window();
        let slot = self.config.test / (order.len() as u32 + 1);
        // Jobs and connections an anomaly already uses; operator connections keep their writes.
        let mut used_jobs: HashSet<usize> = HashSet::new();
        let mut used_conns: HashSet<usize> = HashSet::new();
        let operator_conns: HashSet<usize> = self.commands.iter().map(|c| c.conn).collect();
        let mut protocol_turn = rng.gen_range(0..3usize);
        for (i, kind) in order.into_iter().enumerate() {
            let slot_start = test_start + slot * (i as u32 + 1);
            let at = slot_start + slot / 10;
            let index = self.planned.len();
            let pick_protocol = |turn: &mut usize| {
                *turn += 1;
                Protocol::ALL[*turn % 3]
            };
            let mut plan = Planned { kind, conn: None, job: None, at, until: None };
            match kind {
                AnomalyKind::JobStopped
                | AnomalyKind::JobLate
                | AnomalyKind::JobMissed
                | AnomalyKind::JobPeriodChanged
                | AnomalyKind::ResponseSlow
                | AnomalyKind::FailureException
                | AnomalyKind::FailureNoResponse
                | AnomalyKind::FailureDnp3Iin
                | AnomalyKind::FailureS7Error => {
                    let first = match kind {
                        AnomalyKind::FailureException => Some(Protocol::Modbus),
                        AnomalyKind::FailureDnp3Iin => Some(Protocol::Dnp3),
                        AnomalyKind::FailureS7Error => Some(Protocol::S7comm),
                        _ => None,
                    };
                    let alone = matches!(kind, AnomalyKind::ResponseSlow | AnomalyKind::FailureNoResponse);
                    // Protocol-specific failures stay on their protocol; the rest take turns
                    // and fall back to another protocol when one has no job left.
                    let protocols = match first {
                        Some(p) => vec![p],
                        None => {
                            let p = pick_protocol(&mut protocol_turn);
                            let i = Protocol::ALL.iter().position(|&x| x == p).unwrap_or(0);
                            (0..3).map(|k| Protocol::ALL[(i + k) % 3]).collect()
                        }
                    };
                    let job = protocols
                        .iter()
                        .find_map(|&p| self.pick_job(p, alone, &used_jobs, &used_conns, rng).ok())
                        .with_context(|| {
                            format!("the plant has too few jobs for {}; add masters or PLCs", kind.name())
                        })?;
                    let period = self.jobs[job].period;
                    // Affected polls stay within 60 % of the slot, clear of the next anomaly.
                    let fits = ((slot * 6 / 10).as_secs_f64() / period.as_secs_f64()) as u32;
                    let polls = |most: u32| fits.clamp(2, most);
                    let modification = match kind {
                        AnomalyKind::JobStopped => JobMod::Stop,
                        AnomalyKind::JobLate => JobMod::Late { delay: period / 2 },
                        AnomalyKind::JobMissed => JobMod::Miss { count: polls(3) },
                        AnomalyKind::JobPeriodChanged => {
                            let faster = period >= ms(1000) && rng.gen_bool(0.5);
                            JobMod::Period { period: if faster { period / 2 } else { period * 2 } }
                        }
                        AnomalyKind::ResponseSlow => JobMod::Slow { count: polls(5) },
                        AnomalyKind::FailureException => JobMod::Fail { count: polls(5), mode: FailMode::Exception },
                        AnomalyKind::FailureNoResponse => JobMod::Fail { count: polls(5), mode: FailMode::NoResponse },
                        AnomalyKind::FailureDnp3Iin => JobMod::Fail { count: polls(5), mode: FailMode::Iin },
                        _ => JobMod::Fail { count: polls(5), mode: FailMode::S7Error },
                    };
                    self.jobs[job].test_mod = Some((at, modification, index));
                    used_jobs.insert(job);
                    if alone {
                        used_conns.insert(self.jobs[job].conn);
                    }
                    plan.job = Some(job);
                    plan.conn = Some(self.jobs[job].conn);
                }
                AnomalyKind::NewJob => {
                    let protocol = pick_protocol(&mut protocol_turn);
                    let conn = self.pick_conn(protocol, &used_conns, &HashSet::new(), rng)?;
                    let op = match protocol {
                        Protocol::Modbus => {
                            Op::Modbus(modbus::Request::ReadHoldingRegisters { address: 7000, quantity: 8 })
                        }
                        Protocol::Dnp3 => Op::Dnp3(dnp3::Request::ClassPoll { classes: vec![1] }),
                        Protocol::S7comm => Op::S7Read(vec![Item { area: Area::DB, db: 99, address: 0, length: 16 }]),
                    };
                    let job = self.add_job(conn, op, ms(1000));
                    self.jobs[job].in_train = false;
                    self.jobs[job].test_from = Some(at);
                    used_jobs.insert(job);
                    plan.job = Some(job);
                    plan.conn = Some(conn);
                }
                AnomalyKind::NewTalker => {
                    let protocol = pick_protocol(&mut protocol_turn);
                    let masters: Vec<usize> = (0..self.assets.len())
                        .filter(|&a| self.assets[a].protocol == protocol && self.assets[a].role == "master")
                        .collect();
                    let plcs: Vec<usize> = (0..self.assets.len())
                        .filter(|&a| self.assets[a].protocol == protocol && self.assets[a].role == "plc")
                        .collect();
                    let pairs: Vec<(usize, usize)> = masters
                        .iter()
                        .flat_map(|&m| plcs.iter().map(move |&p| (m, p)))
                        .filter(|&(m, p)| !self.conns.iter().any(|c| c.master == m && c.plc == p))
                        .collect();
                    let (master, plc) = match pairs.choose(rng) {
                        Some(&pair) => pair,
                        None => {
                            let n = self.assets.iter().filter(|a| a.protocol == protocol).count();
                            let m = self.add_asset(protocol, false, 100 + n, format!("{}-laptop", protocol.name()));
                            (m, plcs.first().copied().unwrap_or(0))
                        }
                    };
                    let conn = self.add_conn(protocol, master, plc, rng);
                    self.conns[conn].in_train = false;
                    self.conns[conn].test_open = Some(at);
                    let (op, period) = random_job(protocol, 0, true, rng);
                    let job = self.add_job(conn, op, period);
                    self.jobs[job].in_train = false;
                    self.jobs[job].test_from = Some(at + ms(500));
                    used_conns.insert(conn);
                    plan.conn = Some(conn);
                    plan.job = Some(job);
                }
                AnomalyKind::ModbusWrite
                | AnomalyKind::Dnp3DirectOperate
                | AnomalyKind::Dnp3ColdRestart
                | AnomalyKind::S7PlcStop
                | AnomalyKind::S7ProgramDownload => {
                    let (protocol, op) = match kind {
                        AnomalyKind::ModbusWrite => (
                            Protocol::Modbus,
                            Op::Modbus(modbus::Request::WriteMultipleRegisters {
                                address: 9000,
                                values: vec![rng.gen_range(0..100), 0, 1, rng.gen_range(0..1000)],
                            }),
                        ),
                        AnomalyKind::Dnp3DirectOperate => (
                            Protocol::Dnp3,
                            Op::Dnp3(dnp3::Request::DirectOperate { index: 7, code: 0x03, on_ms: 0, off_ms: 0 }),
                        ),
                        AnomalyKind::Dnp3ColdRestart => (Protocol::Dnp3, Op::Dnp3(dnp3::Request::ColdRestart)),
                        AnomalyKind::S7PlcStop => (Protocol::S7comm, Op::S7Stop),
                        _ => (Protocol::S7comm, Op::S7Download(Block { kind: BlockType::Ob, number: 1 })),
                    };
                    // Away from the operator's connection, so "written before" never applies.
                    let conn = self.pick_conn(protocol, &used_conns, &operator_conns, rng)?;
                    let at = at + Duration::from_millis(rng.gen_range(0..(slot / 3).as_millis().max(1) as u64));
                    self.commands.push(CommandDef { conn, phase: Phase::Test, at, op, anomaly: Some(index) });
                    plan.conn = Some(conn);
                    plan.at = at;
                }
                AnomalyKind::CaptureGap => {
                    let len = (slot * 6 / 10).clamp(Duration::from_secs(10), Duration::from_secs(60));
                    plan.until = Some(at + len);
                }
            }
            self.planned.push(plan);
        }
        Ok(())
    }

    fn pick_job(
        &self,
        protocol: Protocol,
        alone: bool,
        used_jobs: &HashSet<usize>,
        used_conns: &HashSet<usize>,
        rng: &mut SmallRng,
    ) -> Result<usize> {
        let candidates: Vec<usize> = (0..self.jobs.len())
            .filter(|&j| {
                let job = &self.jobs[j];
                let conn = &self.conns[job.conn];
                conn.protocol == protocol
                    && job.in_train
                    && !used_jobs.contains(&j)
                    && !used_conns.contains(&job.conn)
                    && job.period <= ms(5000)
                    && (!alone
                        || (job.period >= ms(1000) && self.jobs.iter().filter(|o| o.conn == job.conn).count() == 1))
            })
            .collect();
        // Jobs alone on their connection are kept for the anomalies that need them.
        let single = |j: &usize| self.jobs.iter().filter(|o| o.conn == self.jobs[*j].conn).count() == 1;
        let preferred: Vec<usize> = candidates.iter().copied().filter(|j| alone || !single(j)).collect();
        preferred.choose(rng).or_else(|| candidates.choose(rng)).copied().with_context(|| {
            format!("the plant has too few {} jobs for the anomalies asked; add masters or PLCs", protocol.name())
        })
    }

    fn pick_conn(
        &self,
        protocol: Protocol,
        used: &HashSet<usize>,
        avoid: &HashSet<usize>,
        rng: &mut SmallRng,
    ) -> Result<usize> {
        let candidates: Vec<usize> = (0..self.conns.len())
            .filter(|&c| self.conns[c].protocol == protocol && self.conns[c].in_train && !used.contains(&c))
            .collect();
        let preferred: Vec<usize> = candidates.iter().copied().filter(|c| !avoid.contains(c)).collect();
        preferred
            .choose(rng)
            .or_else(|| candidates.choose(rng))
            .copied()
            .with_context(|| format!("the plant has too few {} connections for the anomalies asked", protocol.name()))
    }

    /// The capture-wide gap of the test phase, if one is planned.
    pub fn gap(&self) -> Option<(Duration, Duration)> {
        self.planned.iter().find_map(|p| p.until.map(|u| (p.at, u)))
    }

    /// Generates one phase into `sink`, in timestamp order; see [`PhaseReport`].
    pub fn run(&self, phase: Phase, sink: &mut dyn PacketSink) -> Result<PhaseReport> {
        generate::run(self, phase, sink)
    }

    /// The ground truth for the two phases, given what generation observed.
    pub fn labels(&self, train: &PhaseReport, test: &PhaseReport) -> Labels {
        labels(self, train, test)
    }

    /// Writes `dir/train.pcap`, `dir/test.pcap` and `dir/labels.json`, streaming the captures.
    pub fn write_to_dir(&self, dir: &Path) -> Result<Labels> {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        let mut reports = Vec::with_capacity(2);
        for (phase, name) in [(Phase::Train, "train.pcap"), (Phase::Test, "test.pcap")] {
            let path = dir.join(name);
            let file = File::create(&path).with_context(|| format!("{}: cannot create", path.display()))?;
            let mut sink = PcapSink::new(BufWriter::with_capacity(1 << 20, file))?;
            let report = self.run(phase, &mut sink)?;
            sink.into_inner().flush().with_context(|| format!("{}: cannot write", path.display()))?;
            reports.push(report);
        }
        let labels = self.labels(&reports[0], &reports[1]);
        let path = dir.join("labels.json");
        let mut out =
            BufWriter::new(File::create(&path).with_context(|| format!("{}: cannot create", path.display()))?);
        serde_json::to_writer_pretty(&mut out, &labels).context("cannot serialise the labels")?;
        out.write_all(b"\n").and_then(|()| out.flush()).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(labels)
    }
}

/// A job's function and target, by protocol. `n` is the job's rank on its connection; `slow`
/// asks for a period of at least 1 s.
fn random_job(protocol: Protocol, n: usize, slow: bool, rng: &mut SmallRng) -> (Op, Duration) {
    let period = |rng: &mut SmallRng, choices: &[u64]| {
        let pool: Vec<u64> = choices.iter().copied().filter(|&p| !slow || p >= 1000).collect();
        ms(pool.choose(rng).copied().unwrap_or(1000))
    };
    match protocol {
        Protocol::Modbus => {
            let address = rng.gen_range(0..100u16) * 10;
            let roll = rng.gen_range(0..10);
            let op = match roll {
                0..=4 => modbus::Request::ReadHoldingRegisters { address, quantity: rng.gen_range(2..=40) },
                5..=6 => modbus::Request::ReadInputRegisters { address, quantity: rng.gen_range(2..=20) },
                7 => modbus::Request::ReadCoils { address, quantity: rng.gen_range(8..=64) },
                8 => modbus::Request::ReadDiscreteInputs { address, quantity: rng.gen_range(8..=64) },
                _ if n > 0 => {
                    // A periodic set-point write, normal once learned.
                    return (
                        Op::Modbus(modbus::Request::WriteMultipleRegisters {
                            address: 3000 + address,
                            values: vec![0, 0],
                        }),
                        period(rng, &[2000, 5000]),
                    );
                }
                _ => modbus::Request::ReadHoldingRegisters { address, quantity: 10 },
            };
            (Op::Modbus(op), period(rng, &[250, 500, 1000, 2000, 5000]))
        }
        Protocol::Dnp3 => {
            if n == 0 {
                (Op::Dnp3(dnp3::Request::ClassPoll { classes: vec![1, 2, 3] }), period(rng, &[1000, 2000, 5000]))
            } else {
                (Op::Dnp3(dnp3::Request::IntegrityPoll), period(rng, &[10_000, 20_000, 30_000]))
            }
        }
        Protocol::S7comm => {
            let db = rng.gen_range(1..=20u16);
            let mut items =
                vec![Item { area: Area::DB, db, address: rng.gen_range(0..50) * 2, length: rng.gen_range(2..=40) }];
            if rng.gen_bool(0.4) {
                items.push(Item { area: Area::FLAGS, db: 0, address: rng.gen_range(0..50) * 2, length: 2 });
            }
            (Op::S7Read(items), period(rng, &[100, 200, 500, 1000, 2000]))
        }
    }
}

/// Root of `labels.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// Version of this schema.
    pub schema: u32,
    pub seed: u64,
    pub train: CaptureInfo,
    pub test: CaptureInfo,
    pub assets: Vec<Asset>,
    /// Every periodic job of either phase (ground truth for job inference).
    pub jobs: Vec<JobLabel>,
    /// The injected anomalies, in time order; empty for a clean scenario.
    pub anomalies: Vec<Label>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureInfo {
    pub file: String,
    pub start: String,
    pub end: String,
    pub start_us: u64,
    pub end_us: u64,
    pub packets: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobLabel {
    pub id: usize,
    pub protocol: Protocol,
    pub master: Ipv4Addr,
    pub outstation: Ipv4Addr,
    pub outstation_port: u16,
    pub function_code: u8,
    pub signature: String,
    pub period_ms: f64,
    /// Phases the job runs in (`train`, `test`).
    pub phases: Vec<Phase>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: usize,
    /// What was injected (`job_stopped`, …, `s7_program_download`, `capture_gap`).
    pub anomaly: AnomalyKind,
    /// The INTERFACE.md alert kind expected.
    pub kind: String,
    /// timing | failure | novelty | command | sensor.
    pub family: String,
    /// For `unexpected_command`: the transaction category.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub master: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outstation: Option<Ipv4Addr>,
    /// Index into `jobs` of the job concerned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_id: Option<usize>,
    pub start: String,
    pub end: String,
    pub start_us: u64,
    pub end_us: u64,
    /// Alert kinds this incident may also raise without being a false alert.
    pub explains: Vec<String>,
    pub description: String,
}

/// Microseconds since the epoch.
pub fn micros(t: Duration) -> u64 {
    u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
}

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339(t: Duration) -> String {
    let secs = t.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        t.subsec_micros()
    )
}

fn capture_info(file: &str, report: &PhaseReport) -> CaptureInfo {
    CaptureInfo {
        file: file.to_string(),
        start: rfc3339(report.start),
        end: rfc3339(report.end),
        start_us: micros(report.start),
        end_us: micros(report.end),
        packets: report.packets,
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

fn labels(s: &Scenario, train: &PhaseReport, test: &PhaseReport) -> Labels {
    let jobs = s
        .jobs
        .iter()
        .enumerate()
        .map(|(id, j)| {
            let conn = &s.conns[j.conn];
            let mut phases = Vec::new();
            if j.in_train {
                phases.push(Phase::Train);
            }
            if !matches!(j.test_mod, Some((_, JobMod::Stop, _))) || j.in_train {
                phases.push(Phase::Test);
            }
            JobLabel {
                id,
                protocol: conn.protocol,
                master: conn.client.ip,
                outstation: conn.server.ip,
                outstation_port: conn.server.port,
                function_code: j.op.function_code(),
                signature: j.op.describe(conn),
                period_ms: j.period.as_secs_f64() * 1000.0,
                phases,
            }
        })
        .collect();
    let mut anomalies: Vec<Label> = Vec::new();
    for (index, plan) in s.planned.iter().enumerate() {
        let obs = test.observations.get(index).cloned().unwrap_or_default();
        let conn = plan.conn.and_then(|c| s.conns.get(c));
        let job = plan.job.and_then(|j| s.jobs.get(j));
        let who = conn.map_or(String::new(), |c| format!("{} → {}", c.client.ip, c.server.ip));
        let what = match (job, conn) {
            (Some(j), Some(c)) => format!("{} every {}", j.op.describe(c), secs(j.period)),
            _ => String::new(),
        };
        let first = obs.first.unwrap_or(plan.at);
        let last = obs.last.unwrap_or(first);
        let (start, end, description) = match plan.kind {
            AnomalyKind::JobStopped => {
                let since = obs.last.unwrap_or(plan.at);
                (plan.at, test.end, format!("{who} stopped polling: {what}; last poll at {}", rfc3339(since)))
            }
            AnomalyKind::JobLate => {
                let due = obs.due.unwrap_or(plan.at);
                (due, last, format!("{who}: one poll of {what} sent {} late", secs(last.saturating_sub(due))))
            }
            AnomalyKind::JobMissed => {
                let due = obs.due.unwrap_or(plan.at);
                (due, last, format!("{who}: {} consecutive polls of {what} not sent", obs.count))
            }
            AnomalyKind::JobPeriodChanged => {
                let new = match job.and_then(|j| j.test_mod) {
                    Some((_, JobMod::Period { period }, _)) => secs(period),
                    _ => String::new(),
                };
                (first, test.end, format!("{who}: {what} now runs every {new}"))
            }
            AnomalyKind::ResponseSlow => {
                let usual = conn.map_or(String::new(), |c| secs(c.response_time));
                (first, last, format!("{who}: {} responses of {what} slow (usually {usual})", obs.count))
            }
            AnomalyKind::FailureException
            | AnomalyKind::FailureNoResponse
            | AnomalyKind::FailureDnp3Iin
            | AnomalyKind::FailureS7Error => {
                let how = match plan.kind {
                    AnomalyKind::FailureException => "answered with exception 4 (server device failure)",
                    AnomalyKind::FailureNoResponse => "unanswered",
                    AnomalyKind::FailureDnp3Iin => "answered with IIN device trouble and object unknown",
                    _ => "answered with error class 0x81 code 0x04",
                };
                (first, last, format!("{who}: {} polls of {what} {how}", obs.count))
            }
            AnomalyKind::NewJob => (first, test.end, format!("{who} started a new job: {what}")),
            // The talker is new from its connection's first packet (the TCP handshake, and
            // for S7 the COTP connect and setup communication), before its first poll.
            AnomalyKind::NewTalker => {
                (plan.at.min(first), test.end, format!("{who}: a master–PLC pair never seen before, polling {what}"))
            }
            AnomalyKind::ModbusWrite
            | AnomalyKind::Dnp3DirectOperate
            | AnomalyKind::Dnp3ColdRestart
            | AnomalyKind::S7PlcStop
            | AnomalyKind::S7ProgramDownload => {
                let op = s
                    .commands
                    .iter()
                    .find(|c| c.anomaly == Some(index))
                    .and_then(|c| conn.map(|cd| c.op.describe(cd)))
                    .unwrap_or_default();
                (first, last, format!("{who}: unexpected {op}"))
            }
            AnomalyKind::CaptureGap => {
                let until = plan.until.unwrap_or(plan.at);
                (
                    plan.at,
                    until,
                    format!(
                        "no packets at all for {} ({} dropped): a sensor problem, not a plant problem",
                        secs(until - plan.at),
                        test.dropped
                    ),
                )
            }
        };
        anomalies.push(Label {
            id: index,
            anomaly: plan.kind,
            kind: plan.kind.alert_kind().to_string(),
            family: plan.kind.family().to_string(),
            category: plan.kind.category().map(str::to_string),
            protocol: conn.map(|c| c.protocol),
            master: conn.map(|c| c.client.ip),
            outstation: conn.map(|c| c.server.ip),
            job_id: plan.job,
            start: rfc3339(start),
            end: rfc3339(end.max(start)),
            start_us: micros(start),
            end_us: micros(end.max(start)),
            explains: plan.kind.explains().iter().map(|k| k.to_string()).collect(),
            description,
        });
    }
    anomalies.sort_by_key(|l| (l.start_us, l.id));
    Labels {
        schema: 1,
        seed: s.config.seed,
        train: capture_info("train.pcap", train),
        test: capture_info("test.pcap", test),
        assets: s.assets.clone(),
        jobs,
        anomalies,
    }
}
