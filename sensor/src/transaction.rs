//! A protocol-neutral transaction: one request paired with its response (or with the lack of
//! one). Each protocol fills its own detail object; everything else (the job engine, rules,
//! output) works on this type alone.

use crate::flow::FlowInfo;
use crate::time::Timestamp;
use dissectors::Category;
use serde::Serialize;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Answered normally.
    Ok,
    /// The device answered with an error (Modbus exception, S7 error class, ...).
    Exception,
    /// No answer within the protocol's response timeout, or the connection closed first.
    NoResponse,
    /// A DNP3 unsolicited response (the outstation is the requester).
    Unsolicited,
    /// The capture ended before the response timeout ran out: the answer may simply not have
    /// been captured. (An addition to INTERFACE.md's list, so that no request is lost.)
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Exception => "exception",
            Status::NoResponse => "no_response",
            Status::Unsolicited => "unsolicited",
            Status::Pending => "pending",
        }
    }
}

/// One request/response exchange.
#[derive(Clone, Debug)]
pub struct Transaction {
    pub flow: FlowInfo,
    pub app_proto: &'static str,
    pub request_ts: Option<Timestamp>,
    pub response_ts: Option<Timestamp>,
    pub function_code: u16,
    pub function: &'static str,
    pub category: Category,
    pub status: Status,
    pub job_id: Option<u64>,
    pub detail: ProtocolDetail,
}

impl Transaction {
    /// Stamped with the request's capture time (the response's when there was no request).
    pub fn timestamp(&self) -> Timestamp {
        self.request_ts.or(self.response_ts).unwrap_or_default()
    }

    pub fn response_time_us(&self) -> Option<u64> {
        match (self.request_ts, self.response_ts) {
            (Some(req), Some(resp)) => Some(resp.micros_since(req)),
            _ => None,
        }
    }
}

/// The protocol's own decoded detail.
#[derive(Clone, Debug)]
pub enum ProtocolDetail {
    Modbus(ModbusDetail),
}

/// The `modbus` object of a transaction event.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModbusDetail {
    pub transaction_id: u16,
    pub unit_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_function: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_function_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u16>,
    /// FC23: the written range (the read range is `address`/`quantity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_address: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_quantity: Option<u16>,
    /// FC22 masks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub and_mask: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub or_mask: Option<u16>,
    /// Register values written (requests) or read (responses), bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registers: Option<Vec<u16>>,
    /// Coil or discrete-input values written or read, bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coils: Option<Vec<bool>>,
    /// True when `registers`/`coils` were cut at the configured bound.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub values_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<&'static str>,
    /// FC43/14 objects as (id, name, value) — values as lossy UTF-8, bounded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_identification: Vec<DeviceIdObject>,
    /// FC20/21 sub-requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_records: Vec<FileRecordRef>,
    /// FC90: the UMAS session key and the response's status code (0xFE ok, 0xFD error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umas_session: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umas_response_code: Option<u8>,
    /// Anomaly ids found in the request or response PDU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceIdObject {
    pub id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileRecordRef {
    pub reference_type: u8,
    pub file_number: u16,
    pub record_number: u16,
    pub record_length: u16,
}
