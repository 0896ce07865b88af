//! S7comm, S7comm-plus, COTP and TPKT anomalies (ISO-on-TCP, TCP port 102).
//!
//! One namespace, `s7comm.`, covers the whole stack on port 102 so a user filters one prefix;
//! the ids are part of jobwatch's interface and never change once released.

use crate::anomaly::{AnomalyKind, Severity};

const fn kind(id: &'static str, severity: Severity, description: &'static str) -> AnomalyKind {
    AnomalyKind { id, severity, description }
}

/// The front of the stream is not a TPKT header (version 3, reserved 0, length 7 or more).
pub static INVALID_TPKT: AnomalyKind = kind(
    "s7comm.invalid_tpkt",
    Severity::Low,
    "The bytes do not start a TPKT packet (version 3, reserved 0, length of at least 7).",
);

/// A TPKT packet whose COTP PDU cannot be read (length indicator past the packet, unknown layout).
pub static INVALID_COTP: AnomalyKind = kind(
    "s7comm.invalid_cotp",
    Severity::Low,
    "The COTP PDU inside a TPKT packet is shorter than its length indicator or its type requires.",
);

/// COTP DT fragments that join to more than the reassembly limit.
pub static TOO_LONG_REASSEMBLY: AnomalyKind = kind(
    "s7comm.too_long_reassembly",
    Severity::Medium,
    "COTP data fragments without an end-of-TSDU mark add up to more than jobwatch reassembles.",
);

/// The first byte of a TSDU is neither 0x32 (S7comm) nor 0x72 (S7comm-plus).
pub static INVALID_PROTOCOL_ID: AnomalyKind = kind(
    "s7comm.invalid_protocol_id",
    Severity::Low,
    "The COTP data carries neither S7comm (0x32) nor S7comm-plus (0x72).",
);

/// A ROSCTR other than job, ack, ack_data and userdata.
pub static UNKNOWN_ROSCTR: AnomalyKind =
    kind("s7comm.unknown_rosctr", Severity::Medium, "The S7comm ROSCTR is not job, ack, ack_data or userdata.");

/// A job function, userdata group or subfunction, or S7comm-plus function jobwatch does not know.
pub static UNKNOWN_FUNCTION: AnomalyKind = kind(
    "s7comm.unknown_function",
    Severity::Medium,
    "The S7comm function, userdata group or subfunction, or S7comm-plus function code is not known.",
);

/// A header, parameter, item or data field cut short by the PDU's end.
pub static TRUNCATED: AnomalyKind = kind(
    "s7comm.truncated",
    Severity::Low,
    "An S7comm or S7comm-plus field is cut short by the end of the PDU or of its length field.",
);

/// Header lengths that disagree with the bytes present (trailing bytes, lengths too large).
pub static INVALID_LENGTH: AnomalyKind = kind(
    "s7comm.invalid_length",
    Severity::Low,
    "The S7comm parameter and data lengths disagree with the bytes present.",
);

/// An item count above [`MAX_ITEMS`](super::MAX_ITEMS), or one that disagrees with the items present.
pub static TOO_MANY_ITEMS: AnomalyKind = kind(
    "s7comm.too_many_items",
    Severity::Low,
    "A read or write declares more items than jobwatch accepts, or more than are present.",
);

/// Session level: an ack_data or userdata response matching no outstanding request.
pub static UNMATCHED_RESPONSE: AnomalyKind = kind(
    "s7comm.unmatched_response",
    Severity::Low,
    "A response arrived whose PDU reference or sequence number matches no outstanding request.",
);

/// Session level: more outstanding requests than the session tracks.
pub static TOO_MANY_OUTSTANDING: AnomalyKind = kind(
    "s7comm.too_many_outstanding",
    Severity::Low,
    "More requests are outstanding on the connection than jobwatch tracks.",
);

/// Session level: bytes on port 102 that are not ISO-on-TCP.
pub static NON_S7_TRAFFIC: AnomalyKind =
    kind("s7comm.non_s7_traffic", Severity::Medium, "Bytes on the ISO-on-TCP port are not TPKT and COTP.");

/// Every S7comm anomaly kind.
pub static ALL: &[&AnomalyKind] = &[
    &INVALID_TPKT,
    &INVALID_COTP,
    &TOO_LONG_REASSEMBLY,
    &INVALID_PROTOCOL_ID,
    &UNKNOWN_ROSCTR,
    &UNKNOWN_FUNCTION,
    &TRUNCATED,
    &INVALID_LENGTH,
    &TOO_MANY_ITEMS,
    &UNMATCHED_RESPONSE,
    &TOO_MANY_OUTSTANDING,
    &NON_S7_TRAFFIC,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_prefixed() {
        let mut ids: Vec<&str> = ALL.iter().map(|k| k.id).collect();
        for kind in ALL {
            assert!(kind.id.starts_with("s7comm."), "{}", kind.id);
            assert!(kind.description.ends_with('.'), "{}", kind.id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
    }
}
