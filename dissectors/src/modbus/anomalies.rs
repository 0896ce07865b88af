//! The registry of Modbus anomaly ids (framing, PDU content, and the session-level ones the
//! sensor raises), so every `modbus.*` id lives in one place.

use crate::anomaly::{AnomalyKind, Severity};

const fn kind(id: &'static str, severity: Severity, description: &'static str) -> AnomalyKind {
    AnomalyKind { id, severity, description }
}

/// MBAP protocol identifier is not 0 (Messaging on TCP/IP Implementation Guide 3.1.3).
pub static INVALID_PROTOCOL_ID: AnomalyKind = kind(
    "modbus.invalid_protocol_id",
    Severity::Low,
    "The MBAP protocol identifier is not 0, so the bytes are not a Modbus ADU.",
);

/// MBAP length outside 2..=254, or a PDU shorter or longer than its function requires.
pub static INVALID_LENGTH: AnomalyKind = kind(
    "modbus.invalid_length",
    Severity::Low,
    "The MBAP length is outside 2 to 254, or the PDU is shorter or longer than its function \
     requires.",
);

/// A function code that is neither public nor a known legacy or vendor code.
pub static UNKNOWN_FUNCTION: AnomalyKind = kind(
    "modbus.unknown_function",
    Severity::Medium,
    "The function code is neither a public Modbus function nor a known legacy or vendor code.",
);

/// FC 8 unknown sub-function, FC 43 unknown MEI type, FC 90 unknown UMAS code.
pub static UNKNOWN_SUB_FUNCTION: AnomalyKind = kind(
    "modbus.unknown_sub_function",
    Severity::Low,
    "The diagnostics sub-function, MEI type or UMAS function code is not known.",
);

/// A byte count that disagrees with the quantity or with the bytes present.
pub static INVALID_BYTE_COUNT: AnomalyKind = kind(
    "modbus.invalid_byte_count",
    Severity::Low,
    "The byte count disagrees with the quantity requested or with the bytes present.",
);

/// A quantity outside the specification's range for its function.
pub static INVALID_QUANTITY: AnomalyKind = kind(
    "modbus.invalid_quantity",
    Severity::Low,
    "The quantity of coils or registers is outside the range the specification allows.",
);

/// FC 5 output value other than 0x0000 or 0xFF00 (spec 6.5).
pub static INVALID_COIL_VALUE: AnomalyKind = kind(
    "modbus.invalid_coil_value",
    Severity::Low,
    "A write single coil value is neither 0x0000 (off) nor 0xFF00 (on).",
);

/// An exception code the specification does not define.
pub static INVALID_EXCEPTION_CODE: AnomalyKind = kind(
    "modbus.invalid_exception_code",
    Severity::Low,
    "The exception response carries an exception code the specification does not define.",
);

/// A Read Device Identification response with more objects than
/// [`MAX_DEVICE_ID_OBJECTS`](super::message::MAX_DEVICE_ID_OBJECTS).
pub static TOO_MANY_OBJECTS: AnomalyKind = kind(
    "modbus.too_many_objects",
    Severity::Low,
    "A device identification response declares more objects than jobwatch accepts.",
);

/// A file record request or response with more records than
/// [`MAX_FILE_RECORDS`](super::message::MAX_FILE_RECORDS).
pub static TOO_MANY_RECORDS: AnomalyKind = kind(
    "modbus.too_many_records",
    Severity::Low,
    "A file record request or response carries more records than the specification allows.",
);

/// A file record reference type other than 6 (spec 6.14).
pub static INVALID_REFERENCE_TYPE: AnomalyKind =
    kind("modbus.invalid_reference_type", Severity::Low, "A file record reference type is not 6.");

/// Session level: a response whose transaction id matches no outstanding request.
pub static UNMATCHED_RESPONSE: AnomalyKind = kind(
    "modbus.unmatched_response",
    Severity::Low,
    "A response arrived whose transaction identifier matches no outstanding request.",
);

/// Session level: a request reusing the transaction id of a request still outstanding.
pub static DUPLICATE_TRANSACTION_ID: AnomalyKind = kind(
    "modbus.duplicate_transaction_id",
    Severity::Low,
    "A request reused the transaction identifier of a request that is still outstanding.",
);

/// Session level: more outstanding requests than the session tracks.
pub static TOO_MANY_OUTSTANDING: AnomalyKind = kind(
    "modbus.too_many_outstanding",
    Severity::Low,
    "More requests are outstanding on the connection than jobwatch tracks.",
);

/// Session level: bytes on a Modbus port that are not Modbus.
pub static NON_MODBUS_TRAFFIC: AnomalyKind =
    kind("modbus.non_modbus_traffic", Severity::Medium, "Bytes on a Modbus port are not Modbus/TCP.");

/// Every Modbus anomaly kind.
pub static ALL: &[&AnomalyKind] = &[
    &INVALID_PROTOCOL_ID,
    &INVALID_LENGTH,
    &UNKNOWN_FUNCTION,
    &UNKNOWN_SUB_FUNCTION,
    &INVALID_BYTE_COUNT,
    &INVALID_QUANTITY,
    &INVALID_COIL_VALUE,
    &INVALID_EXCEPTION_CODE,
    &TOO_MANY_OBJECTS,
    &TOO_MANY_RECORDS,
    &INVALID_REFERENCE_TYPE,
    &UNMATCHED_RESPONSE,
    &DUPLICATE_TRANSACTION_ID,
    &TOO_MANY_OUTSTANDING,
    &NON_MODBUS_TRAFFIC,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_prefixed() {
        let mut ids: Vec<&str> = ALL.iter().map(|k| k.id).collect();
        for kind in ALL {
            assert!(kind.id.starts_with("modbus."), "{}", kind.id);
            assert!(kind.description.ends_with('.'), "{}", kind.id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        assert_eq!(NON_MODBUS_TRAFFIC.severity, Severity::Medium);
        assert_eq!(UNKNOWN_FUNCTION.severity, Severity::Medium);
        assert_eq!(INVALID_LENGTH.severity, Severity::Low);
    }
}
