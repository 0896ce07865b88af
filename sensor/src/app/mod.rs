//! The application layer: protocol sessions behind one trait, and dispatch of flows to them by
//! well-known port and by probing the first bytes of a stream.
//!
//! Adding a protocol means writing an [`AppSession`] and one [`ProtocolSpec`] row in
//! [`PROTOCOLS`]; flows, reassembly, timers and output need no change.

pub mod dispatch;
pub mod dnp3;
pub mod limiter;
pub mod modbus;
pub mod s7comm;

use crate::config::Config;
use crate::event::Event;
use crate::flow::FlowInfo;
use crate::stats::StatsSnapshot;
use crate::time::Timestamp;
use dissectors::{AnomalyKind, Direction, Probe};
use std::fmt::Debug;

/// What a session may touch while handling bytes: the flow's identity, the current capture time,
/// the configuration, the counters and the queue of events to write.
#[derive(Debug)]
pub struct SessionCtx<'a> {
    pub flow: &'a FlowInfo,
    pub ts: Timestamp,
    pub config: &'a Config,
    pub stats: &'a mut StatsSnapshot,
    pub events: &'a mut Vec<Event>,
}

/// Why a flow's session is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowEnd {
    /// FIN in both directions, or RST.
    Closed,
    /// No packet for the idle timeout.
    IdleTimeout,
    /// The capture ended (replay) or the sensor is stopping (live).
    EndOfCapture,
}

/// One protocol's state for one flow.
pub trait AppSession: Debug + Send {
    /// The `app_proto` name of the events it writes.
    fn app_proto(&self) -> &'static str;
    /// The next in-order bytes of direction `dir`.
    fn on_data(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, data: &[u8]);
    /// `len` bytes of direction `dir` are missing (0: unknown amount): resynchronise.
    fn on_gap(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, len: u32);
    /// Capture time advanced to `ctx.ts`: expire requests whose timeout has passed.
    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>);
    /// The flow ends: flush every pending request.
    fn on_close(&mut self, ctx: &mut SessionCtx<'_>, end: FlowEnd);
    /// True while requests await responses (the flow table times them out).
    fn has_pending(&self) -> bool;
}

/// A protocol jobwatch can dissect, as dispatch sees it.
#[derive(Debug)]
pub struct ProtocolSpec {
    pub name: &'static str,
    /// Well-known TCP ports (the server side).
    pub tcp_ports: &'static [u16],
    /// Well-known UDP ports.
    pub udp_ports: &'static [u16],
    /// Probe for a flow on one of the protocol's ports: lenient.
    pub probe_on_port: fn(&[u8]) -> Probe,
    /// Probe for a flow on any other port: strict, to keep false positives out.
    pub probe_elsewhere: fn(&[u8]) -> Probe,
    pub new_session: fn(&Config) -> Box<dyn AppSession>,
    /// Raised once when a flow on one of its ports carries something else.
    pub not_this_protocol: &'static AnomalyKind,
}

/// Every protocol, in probing order.
pub static PROTOCOLS: &[&ProtocolSpec] = &[&modbus::SPEC, &dnp3::SPEC, &s7comm::SPEC];

/// The protocol whose well-known port one of the endpoints uses, if any.
pub fn by_port(tcp: bool, port_a: u16, port_b: u16) -> Option<(&'static ProtocolSpec, u16)> {
    PROTOCOLS.iter().copied().find_map(|spec| {
        let ports = if tcp { spec.tcp_ports } else { spec.udp_ports };
        if ports.contains(&port_b) {
            Some((spec, port_b))
        } else if ports.contains(&port_a) {
            Some((spec, port_a))
        } else {
            None
        }
    })
}
