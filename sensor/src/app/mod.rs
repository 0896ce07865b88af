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
use crate::transaction::Status;
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
    /// Capture times of the oldest and the newest request still awaiting a response: the job
    /// engine must not call a poll missing while a request of the same connection is in flight
    /// (its transaction is written only when answered or timed out).
    fn pending_span(&self) -> Option<(Timestamp, Timestamp)>;
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

/// Index of a direction in per-direction arrays: client→server first.
pub fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

/// The flow as seen from a transaction's requester: `client` is the requester (an outstation's
/// unsolicited response, a PLC's push, a request sent by the TCP server).
pub fn oriented(flow: &FlowInfo, requester_is_client: bool) -> FlowInfo {
    if requester_is_client {
        flow.clone()
    } else {
        FlowInfo { client: flow.server, server: flow.client, ..flow.clone() }
    }
}

/// Lower-case hex of at most `max` bytes, for raw values in events.
pub fn hex(bytes: &[u8], max: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().min(max) * 2);
    for b in bytes.iter().take(max) {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    out
}

/// The status of a request still unanswered when its flow ends: at the end of a capture, a
/// request younger than the timeout may simply have had its answer cut off, so it is `pending`;
/// otherwise it is `no_response`.
pub fn unanswered_status(end: FlowEnd, now: Timestamp, request_ts: Timestamp, timeout_us: u64) -> Status {
    if end == FlowEnd::EndOfCapture && now.micros_since(request_ts) < timeout_us {
        Status::Pending
    } else {
        Status::NoResponse
    }
}

/// Removes and returns, oldest first, the entries whose time (`ts_of`) is `timeout_us` or more
/// before `now`.
pub fn take_expired<T>(
    pending: &mut Vec<T>,
    now: Timestamp,
    timeout_us: u64,
    ts_of: impl Fn(&T) -> Timestamp,
) -> Vec<T> {
    let mut expired = Vec::new();
    let mut k = 0;
    while k < pending.len() {
        if now.micros_since(ts_of(&pending[k])) >= timeout_us {
            expired.push(pending.remove(k));
        } else {
            k += 1;
        }
    }
    expired
}

/// The bytes of a PDU cut by a segment boundary, kept until the rest arrives.
#[derive(Debug, Default)]
pub struct PartialPdu {
    buf: Vec<u8>,
}

impl PartialPdu {
    /// Runs `parse` over the kept bytes followed by `data` (without copying when nothing is
    /// kept); `parse` returns how many bytes it consumed, and the rest is kept for next time.
    /// `keep_rest` false drops the rest instead (a UDP datagram is whole).
    pub fn feed(&mut self, data: &[u8], keep_rest: bool, parse: impl FnOnce(&[u8]) -> usize) {
        if self.buf.is_empty() {
            let consumed = parse(data).min(data.len());
            if keep_rest {
                self.buf.extend_from_slice(data.get(consumed..).unwrap_or_default());
            }
        } else {
            self.buf.extend_from_slice(data);
            let consumed = parse(&self.buf).min(self.buf.len());
            if keep_rest {
                self.buf.drain(..consumed);
            } else {
                self.buf.clear();
            }
        }
    }

    /// Forgets the kept bytes (after a gap they no longer start a PDU).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_pdu_keeps_the_unconsumed_tail() {
        let mut p = PartialPdu::default();
        let mut seen = Vec::new();
        // Consume whole 3-byte units only.
        let mut unit = |input: &[u8]| {
            seen.push(input.to_vec());
            input.len() / 3 * 3
        };
        p.feed(b"abcde", true, &mut unit);
        p.feed(b"fgh", true, &mut unit);
        p.feed(b"i", true, &mut unit);
        assert_eq!(seen, vec![b"abcde".to_vec(), b"defgh".to_vec(), b"ghi".to_vec()]);
        assert!(p.buf.is_empty());
        p.feed(b"xy", false, |_| 0);
        assert!(p.buf.is_empty(), "a datagram's rest is not kept");
    }

    #[test]
    fn expired_and_unanswered() {
        let mut v = vec![Timestamp(0), Timestamp(5), Timestamp(9)];
        let gone = take_expired(&mut v, Timestamp(10), 5, |t| *t);
        assert_eq!(gone, vec![Timestamp(0), Timestamp(5)]);
        assert_eq!(v, vec![Timestamp(9)]);
        assert_eq!(unanswered_status(FlowEnd::EndOfCapture, Timestamp(10), Timestamp(9), 5), Status::Pending);
        assert_eq!(unanswered_status(FlowEnd::Closed, Timestamp(10), Timestamp(9), 5), Status::NoResponse);
        assert_eq!(hex(&[0xde, 0xad, 0xbe], 2), "dead");
    }
}
