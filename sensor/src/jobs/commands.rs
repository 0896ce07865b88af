//! Command incidents: the alerts for commands nobody allowed (`unexpected_command`) or a rule
//! flags (`rule_match`), one per incident.
//!
//! The commands of one program change between two hosts — an S7 request download, the
//! download blocks (sent by the PLC, so the roles are reversed), download ended, insert block,
//! start; a DNP3 file open, writes and close; a UMAS program transfer — are one incident: the
//! first command opens it, everything between the same two hosts within a minute of the last
//! command joins it, and its alert is written once the change is over (a PLC-control service
//! such as insert block or start ends it, or two seconds without a further command), naming
//! every block and operation. Other commands alert at once; further commands of the same
//! category between the same hosts within the minute join that incident.

use crate::event::{Alert, Event};
use crate::transaction::{ProtocolDetail, Transaction};
use dissectors::Category;
use std::net::IpAddr;

/// Commands between the same hosts within this time of each other are one incident.
pub const INCIDENT_US: u64 = 60_000_000;
/// A program change with no further command for this long is over.
const PROGRAM_QUIET_US: u64 = 2_000_000;
/// Most operation and block names kept for one message.
const MAX_NAMES: usize = 12;

#[derive(Debug)]
struct Incident {
    app_proto: &'static str,
    hosts: (IpAddr, IpAddr),
    category: Category,
    /// The rule whose alert this is (`None`: an unexpected command); commands only join an
    /// incident of the same verdict.
    rule_id: Option<String>,
    last_us: u64,
    commands: u64,
    /// The alert, held back until a program change is over (`None` once written).
    pending: Option<Box<Alert>>,
    /// Function names (`request_download`), written with spaces in the message.
    operations: Vec<&'static str>,
    blocks: Vec<String>,
}

impl Incident {
    fn is_program(&self) -> bool {
        matches!(self.category, Category::Program | Category::Firmware)
    }

    fn absorbs(&self, t: &Transaction, hosts: (IpAddr, IpAddr), rule_id: Option<&str>, now: u64) -> bool {
        if self.hosts != hosts
            || now.saturating_sub(self.last_us) >= INCIDENT_US
            || self.app_proto != t.app_proto
            || self.rule_id.as_deref() != rule_id
        {
            return false;
        }
        if self.is_program() {
            // A program change takes its blocks, deletes, inserts and the start that ends it;
            // once its alert is written it is over. Other commands are incidents of their own.
            self.pending.is_some() && (matches!(t.category, Category::Program | Category::Firmware) || is_plc_start(t))
        } else {
            self.category == t.category
        }
    }

    fn note(&mut self, t: &Transaction) {
        if !self.operations.contains(&t.function) && self.operations.len() < MAX_NAMES {
            self.operations.push(t.function);
        }
        if let ProtocolDetail::S7comm(s) = &t.detail {
            for b in s.block.iter().chain(&s.blocks) {
                if !self.blocks.contains(b) && self.blocks.len() < MAX_NAMES {
                    self.blocks.push(b.clone());
                }
            }
        }
    }

    /// The held-back alert, completed with what the incident did.
    fn finish(&mut self) -> Option<Event> {
        let mut alert = self.pending.take()?;
        if self.commands > 1 || !self.blocks.is_empty() {
            let blocks =
                if self.blocks.is_empty() { String::new() } else { format!(" on blocks {}", self.blocks.join(", ")) };
            alert.message = format!(
                "{} One incident of {} command(s){blocks}: {}.",
                alert.message,
                self.commands,
                self.operations.iter().map(|op| op.replace('_', " ")).collect::<Vec<_>>().join(", ")
            );
        }
        if self.commands > 1 {
            alert.count = Some(self.commands);
        }
        Some(Event::Alert(alert))
    }
}

/// The open command incidents.
#[derive(Debug, Default)]
pub struct CommandIncidents {
    open: Vec<Incident>,
}

fn unordered(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Starting the PLC (S7 PI service `P_PROGRAM` with the start function) closes a program
/// change; otherwise two seconds without a further command do.
fn is_plc_start(t: &Transaction) -> bool {
    matches!(&t.detail, ProtocolDetail::S7comm(s) if s.pi_service.as_deref() == Some("P_PROGRAM") && t.function_code == 0x28)
}

impl CommandIncidents {
    /// A command that needs an alert (`alert`, built by the caller), or a further command of
    /// an open incident (`alert` is then not used). Returns what to write now.
    pub fn on_command(&mut self, t: &Transaction, now: u64, alert: impl FnOnce() -> Alert) -> Vec<Event> {
        let alert = alert();
        if let Some(out) = self.on_activity(t, now, alert.rule_id.as_deref()) {
            return out;
        }
        let mut incident = Incident {
            app_proto: t.app_proto,
            hosts: unordered(t.flow.client.ip, t.flow.server.ip),
            category: t.category,
            rule_id: alert.rule_id.clone(),
            last_us: now,
            commands: 1,
            pending: Some(Box::new(alert)),
            operations: Vec::new(),
            blocks: Vec::new(),
        };
        incident.note(t);
        let mut out = Vec::new();
        if !incident.is_program() || is_plc_start(t) {
            out.extend(incident.finish());
        }
        self.open.retain(|i| now.saturating_sub(i.last_us) < INCIDENT_US || i.pending.is_some());
        self.open.push(incident);
        out
    }

    /// Any command between two hosts: joins an open incident if there is one (returning what
    /// to write now), else `None`.
    pub fn on_activity(&mut self, t: &Transaction, now: u64, rule_id: Option<&str>) -> Option<Vec<Event>> {
        let hosts = unordered(t.flow.client.ip, t.flow.server.ip);
        let incident = self.open.iter_mut().rev().find(|i| i.absorbs(t, hosts, rule_id, now))?;
        incident.last_us = now;
        incident.commands += 1;
        incident.note(t);
        let mut out = Vec::new();
        if incident.is_program() && is_plc_start(t) {
            out.extend(incident.finish());
        }
        Some(out)
    }

    /// Program changes quiet for a while are over: their alerts.
    pub fn due(&mut self, now: u64) -> Vec<Event> {
        let mut out = Vec::new();
        for i in &mut self.open {
            if i.pending.is_some() && now.saturating_sub(i.last_us) >= PROGRAM_QUIET_US {
                out.extend(i.finish());
            }
        }
        self.open.retain(|i| now.saturating_sub(i.last_us) < INCIDENT_US || i.pending.is_some());
        out
    }

    /// The capture ended: every held-back alert.
    pub fn flush(&mut self) -> Vec<Event> {
        self.open.iter_mut().filter_map(Incident::finish).collect()
    }

    /// Whether an incident between the two hosts was active within the minute before `now`.
    pub fn active_between(&self, app_proto: &str, a: IpAddr, b: IpAddr, now: u64) -> bool {
        let hosts = unordered(a, b);
        self.open
            .iter()
            .any(|i| i.app_proto == app_proto && i.hosts == hosts && now.saturating_sub(i.last_us) < INCIDENT_US)
    }
}
