//! Modbus/TCP sessions: MBAP framing over each direction of the stream, requests paired with
//! responses by transaction id (several outstanding per connection), `transaction` events.

use super::limiter::AnomalyLimiter;
use super::{
    dir_index as idx, take_expired, unanswered_status, AppSession, FlowEnd, PartialPdu, ProtocolSpec, SessionCtx,
};
use crate::config::Config;
use crate::event::{Alert, Event};
use crate::time::Timestamp;
use crate::transaction::{DeviceIdObject, FileRecordRef, ModbusDetail, ProtocolDetail, Status, Transaction};
use dissectors::modbus::{self, anomalies, ModbusMessage, Pdu};
use dissectors::{AnomalyKind, Direction, FunctionInfo, Parse};

pub const APP_PROTO: &str = "modbus";

/// Most bytes of one device-identification object copied into an event.
const MAX_DEVICE_ID_VALUE: usize = 128;
/// Most device-identification objects or file records copied into an event.
const MAX_LISTED: usize = 32;

/// Modbus/TCP for dispatch.
pub static SPEC: ProtocolSpec = ProtocolSpec {
    name: APP_PROTO,
    tcp_ports: &[modbus::PORT],
    udp_ports: &[],
    probe_on_port: modbus::probe_mbap,
    probe_elsewhere: modbus::probe_clean_adus,
    new_session,
    not_this_protocol: &anomalies::NON_MODBUS_TRAFFIC,
};

fn new_session(_config: &Config) -> Box<dyn AppSession> {
    Box::<ModbusSession>::default()
}

/// A request awaiting its response.
#[derive(Debug)]
struct Pending {
    ts: Timestamp,
    function_code: u8,
    info: &'static FunctionInfo,
    detail: ModbusDetail,
}

/// One Modbus/TCP connection.
#[derive(Debug, Default)]
pub struct ModbusSession {
    /// Bytes of an incomplete ADU, per direction (client→server, server→client).
    partial: [PartialPdu; 2],
    /// After a gap or garbage, skip silently until the next valid ADU.
    resync: [bool; 2],
    pending: Vec<Pending>,
    /// Responses have been matched before, and no request bytes were lost since: an unmatched
    /// response is then worth an anomaly.
    requests_reliable: bool,
    limiter: AnomalyLimiter,
}

impl AppSession for ModbusSession {
    fn on_data(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, data: &[u8]) {
        let i = idx(dir);
        let mut partial = std::mem::take(&mut self.partial[i]);
        partial.feed(data, true, |input| self.parse_all(ctx, dir, input));
        self.partial[i] = partial;
    }

    fn on_gap(&mut self, _ctx: &mut SessionCtx<'_>, dir: Direction, _len: u32) {
        let i = idx(dir);
        self.partial[i].clear();
        self.resync[i] = true;
        if dir == Direction::ToServer {
            self.requests_reliable = false;
        }
    }

    fn on_timer(&mut self, ctx: &mut SessionCtx<'_>) {
        for p in take_expired(&mut self.pending, ctx.ts, ctx.config.response_timeout_us, |p| p.ts) {
            emit(ctx, p, None, Status::NoResponse);
        }
    }

    fn on_close(&mut self, ctx: &mut SessionCtx<'_>, end: FlowEnd) {
        let timeout = ctx.config.response_timeout_us;
        for p in std::mem::take(&mut self.pending) {
            let status = unanswered_status(end, ctx.ts, p.ts, timeout);
            emit(ctx, p, None, status);
        }
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

impl ModbusSession {
    /// Parses every whole ADU of `input`; returns the bytes consumed.
    fn parse_all(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, input: &[u8]) -> usize {
        let i = idx(dir);
        let mut offset = 0;
        while let Some(rest) = input.get(offset..).filter(|r| !r.is_empty()) {
            match modbus::parse(rest, dir) {
                Parse::Message { message, consumed } => {
                    self.resync[i] = false;
                    self.on_message(ctx, dir, &message);
                    offset += consumed.max(1);
                }
                Parse::Incomplete { .. } => break,
                Parse::Skip { len, anomaly } => {
                    ctx.stats.anomalies += 1;
                    if !self.resync[i] {
                        self.resync[i] = true;
                        self.raise(ctx, anomaly, dir, None);
                    }
                    offset += len.max(1);
                }
            }
        }
        offset
    }

    fn on_message(&mut self, ctx: &mut SessionCtx<'_>, dir: Direction, msg: &ModbusMessage<'_>) {
        ctx.stats.pdus.bump(APP_PROTO);
        for kind in msg.anomalies.iter() {
            ctx.stats.anomalies += 1;
            self.raise(ctx, kind, dir, Some(msg));
        }
        match dir {
            Direction::ToServer => self.on_request(ctx, msg),
            Direction::ToClient => self.on_response(ctx, msg),
        }
    }

    fn on_request(&mut self, ctx: &mut SessionCtx<'_>, msg: &ModbusMessage<'_>) {
        if let Some(k) = self.pending.iter().position(|p| p.detail.transaction_id == msg.transaction_id) {
            // The earlier request with this id was never answered (or its answer was lost).
            let earlier = self.pending.remove(k);
            ctx.stats.anomalies += 1;
            self.raise(ctx, &anomalies::DUPLICATE_TRANSACTION_ID, Direction::ToServer, Some(msg));
            emit(ctx, earlier, None, Status::NoResponse);
        }
        if self.pending.len() >= ctx.config.max_outstanding_per_flow {
            let oldest = self.pending.remove(0);
            ctx.stats.anomalies += 1;
            self.raise(ctx, &anomalies::TOO_MANY_OUTSTANDING, Direction::ToServer, Some(msg));
            emit(ctx, oldest, None, Status::NoResponse);
        }
        let mut detail = ModbusDetail {
            transaction_id: msg.transaction_id,
            unit_id: msg.unit_id,
            sub_function: msg.sub_function(),
            ..ModbusDetail::default()
        };
        let info = msg.info();
        if detail.sub_function.is_some() && info.name != "unknown" {
            detail.sub_function_name = Some(info.name);
        }
        detail.address = msg.address();
        detail.quantity = msg.quantity();
        request_fields(&mut detail, &msg.pdu, ctx.config.max_values_per_transaction);
        detail.anomalies.extend(msg.anomalies.iter().map(|k| k.id));
        self.pending.push(Pending { ts: ctx.ts, function_code: msg.function_code().0, info, detail });
    }

    fn on_response(&mut self, ctx: &mut SessionCtx<'_>, msg: &ModbusMessage<'_>) {
        let found = self
            .pending
            .iter()
            .position(|p| p.detail.transaction_id == msg.transaction_id && p.detail.unit_id == msg.unit_id)
            .or_else(|| self.pending.iter().position(|p| p.detail.transaction_id == msg.transaction_id));
        let Some(k) = found else {
            ctx.stats.anomalies += 1;
            if self.requests_reliable {
                self.raise(ctx, &anomalies::UNMATCHED_RESPONSE, Direction::ToClient, Some(msg));
            }
            return;
        };
        self.requests_reliable = true;
        let mut p = self.pending.remove(k);
        let status = if msg.is_exception() { Status::Exception } else { Status::Ok };
        if let Some(code) = msg.exception_code() {
            p.detail.exception_code = Some(code.0);
            p.detail.exception = code.name();
        }
        let quantity = p.detail.quantity;
        response_fields(&mut p.detail, &msg.pdu, quantity, ctx.config.max_values_per_transaction);
        for id in msg.anomalies.iter().map(|k| k.id) {
            if !p.detail.anomalies.contains(&id) {
                p.detail.anomalies.push(id);
            }
        }
        let ts = ctx.ts;
        emit(ctx, p, Some(ts), status);
    }

    fn raise(
        &mut self,
        ctx: &mut SessionCtx<'_>,
        kind: &'static AnomalyKind,
        dir: Direction,
        msg: Option<&ModbusMessage<'_>>,
    ) {
        let Some(count) = self.limiter.admit(kind, ctx.ts) else { return };
        let (from, to) = match dir {
            Direction::ToServer => (ctx.flow.client.ip, ctx.flow.server.ip),
            Direction::ToClient => (ctx.flow.server.ip, ctx.flow.client.ip),
        };
        let what = match msg {
            Some(m) => format!(
                "Modbus {} (function {}, unit {}, transaction {}) from {from} to {to}",
                if dir == Direction::ToServer { "request" } else { "response" },
                m.raw_function_code,
                m.unit_id,
                m.transaction_id
            ),
            None => format!("Modbus stream from {from} to {to}"),
        };
        let mut alert = Alert::anomaly(
            ctx.ts,
            ctx.flow,
            Some(APP_PROTO),
            kind,
            format!("{what}: {}.", kind.description.trim_end_matches('.')),
        );
        if count > 1 {
            alert.count = Some(count);
        }
        ctx.events.push(Event::Alert(Box::new(alert)));
    }
}

fn emit(ctx: &mut SessionCtx<'_>, p: Pending, response_ts: Option<Timestamp>, status: Status) {
    ctx.stats.transactions.bump(APP_PROTO);
    let t = Transaction {
        flow: ctx.flow.clone(),
        app_proto: APP_PROTO,
        request_ts: Some(p.ts),
        response_ts,
        function_code: u16::from(p.function_code),
        function: p.info.name,
        category: p.info.category,
        status,
        job_id: None,
        detail: ProtocolDetail::Modbus(p.detail),
    };
    ctx.events.push(Event::Transaction(Box::new(t)));
}

fn registers(regs: &modbus::Registers<'_>, max: usize, truncated: &mut bool) -> Vec<u16> {
    *truncated |= regs.len() > max;
    regs.iter().take(max).collect()
}

fn coils(bits: &modbus::Bits<'_>, limit: Option<u16>, max: usize, truncated: &mut bool) -> Vec<bool> {
    let n = limit.map_or(bits.len(), |q| bits.len().min(usize::from(q)));
    *truncated |= n > max;
    bits.iter().take(n.min(max)).collect()
}

/// Values and extra fields carried by a request.
fn request_fields(d: &mut ModbusDetail, pdu: &Pdu<'_>, max: usize) {
    let mut truncated = false;
    match pdu {
        Pdu::WriteSingleCoil { value, .. } => d.coils = Some(vec![*value == 0xFF00]),
        Pdu::WriteSingleRegister { value, .. } => d.registers = Some(vec![*value]),
        Pdu::WriteMultipleCoilsRequest { quantity, bits, .. } => {
            d.coils = Some(coils(bits, Some(*quantity), max, &mut truncated))
        }
        Pdu::WriteMultipleRegistersRequest { registers: regs, .. } => {
            d.registers = Some(registers(regs, max, &mut truncated))
        }
        Pdu::MaskWriteRegister { and_mask, or_mask, .. } => {
            d.and_mask = Some(*and_mask);
            d.or_mask = Some(*or_mask);
        }
        Pdu::ReadWriteMultipleRequest { write_address, write_quantity, registers: regs, .. } => {
            d.write_address = Some(*write_address);
            d.write_quantity = Some(*write_quantity);
            d.registers = Some(registers(regs, max, &mut truncated));
        }
        Pdu::FileRecordRequest { records, .. } => {
            d.file_records = records
                .iter()
                .take(MAX_LISTED)
                .map(|r| FileRecordRef {
                    reference_type: r.reference_type,
                    file_number: r.file_number,
                    record_number: r.record_number,
                    record_length: r.record_length,
                })
                .collect();
        }
        Pdu::Umas { session, .. } => d.umas_session = Some(*session),
        _ => {}
    }
    d.values_truncated |= truncated;
}

/// Values and extra fields carried by a response.
fn response_fields(d: &mut ModbusDetail, pdu: &Pdu<'_>, quantity: Option<u16>, max: usize) {
    let mut truncated = false;
    match pdu {
        Pdu::ReadBitsResponse { bits, .. } => d.coils = Some(coils(bits, quantity, max, &mut truncated)),
        Pdu::ReadRegistersResponse { registers: regs, .. } | Pdu::ReadFifoResponse { registers: regs, .. } => {
            // FC23 responses carry the read values; the written ones stay in `registers` of
            // the request only if there was nothing read.
            d.registers = Some(registers(regs, max, &mut truncated));
        }
        Pdu::ReadDeviceIdResponse { objects, .. } => {
            d.device_identification = objects
                .iter()
                .take(MAX_LISTED)
                .map(|(id, value)| DeviceIdObject {
                    id,
                    name: modbus::function::device_id_object_name(id),
                    value: String::from_utf8_lossy(value.get(..MAX_DEVICE_ID_VALUE).unwrap_or(value)).into_owned(),
                })
                .collect();
        }
        Pdu::Umas { code, .. } => d.umas_response_code = Some(*code),
        _ => {}
    }
    d.values_truncated |= truncated;
}
