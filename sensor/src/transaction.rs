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
    Dnp3(Dnp3Detail),
    S7comm(S7Detail),
    S7commPlus(S7PlusDetail),
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

/// The `dnp3` object of a transaction event.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dnp3Detail {
    /// Link addresses of the requester (`source`) and the responder (`destination`).
    pub source: u16,
    pub destination: u16,
    /// Application sequence number of the request.
    pub sequence: u8,
    /// Object headers of the request (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<Dnp3Object>,
    /// Object headers of the response (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_objects: Vec<Dnp3Object>,
    /// Internal indications of the response: raw value (IIN1 in the low byte) and set bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iin: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iin_flags: Vec<&'static str>,
    /// Point values carried by the request (controls, writes) or the response (reads), bounded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<Dnp3Point>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub points_truncated: bool,
    /// Application fragments of the response (more than 1 for multi-fragment responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_fragments: Option<u32>,
    /// The requester confirmed the response (application confirm, function 0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<&'static str>,
}

/// One DNP3 object header.
#[derive(Clone, Debug, Serialize)]
pub struct Dnp3Object {
    pub group: u8,
    pub variation: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub qualifier: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<u32>,
    pub count: u64,
}

/// One DNP3 point value.
#[derive(Clone, Debug, Serialize)]
pub struct Dnp3Point {
    pub group: u8,
    pub variation: u8,
    pub index: u32,
    pub value: Dnp3Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u8>,
    /// Milliseconds since the epoch (absolute) or since the common time of occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u8>,
}

/// A point's value, raw numbers beside names for controls.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Dnp3Value {
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Crob {
        control_code: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        operation: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        trip_close: Option<&'static str>,
        count: u8,
        on_time_ms: u32,
        off_time_ms: u32,
        status: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        status_name: Option<&'static str>,
    },
    Time {
        time_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        interval: Option<u32>,
    },
    /// Octet strings and undecoded values, in hex.
    Hex(String),
}

/// The `s7comm` object of a transaction event.
#[derive(Clone, Debug, Default, Serialize)]
pub struct S7Detail {
    /// ROSCTR of the request (1 job, 7 userdata) and its name.
    pub rosctr: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rosctr_name: Option<&'static str>,
    pub pdu_ref: u16,
    /// Rack and slot the connection addressed (from the COTP destination TSAP), and the TSAPs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rack: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_tsap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_tsap: Option<String>,
    /// Read/write var items (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<S7Item>,
    /// Data items of the write request or the read response (bounded): return code and value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<S7Data>,
    /// Write var: the response's return code per item (0xFF success).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub return_codes: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u8>,
    /// Class and code together (or the userdata parameter error), with its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata_group: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata_group_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata_subfunction: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userdata_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_unit_reference: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub szl_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub szl_index: Option<u16>,
    /// PLC control: the PI service name and the blocks it names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pi_service: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<String>,
    /// Download/upload: the block and the file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Setup communication: negotiated PDU size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdu_length: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct S7Item {
    pub syntax_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_size: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u16>,
}

#[derive(Clone, Debug, Serialize)]
pub struct S7Data {
    pub return_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_code_name: Option<&'static str>,
    /// The value bytes in hex (bounded to 64 bytes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// The `s7comm_plus` object of a transaction event.
#[derive(Clone, Debug, Default, Serialize)]
pub struct S7PlusDetail {
    pub version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<u32>,
    /// V3 integrity protection present (the digest is not verified).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub integrity: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<&'static str>,
}
