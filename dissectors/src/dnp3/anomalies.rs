//! The registry of DNP3 anomaly ids (link, transport and application layers, and the
//! session-level ones the sensor raises), so every `dnp3.*` id lives in one place.
//!
//! Where Suricata's DNP3 parser raises the same condition, the id is Suricata's app-layer event
//! name (`bad_link_crc`, `too_long_reassembly`, `unknown_object`, `too_many_points`,
//! `too_many_objects`, `flooded`), so rules written for either read alike.

use crate::anomaly::{AnomalyKind, Severity};

const fn kind(id: &'static str, severity: Severity, description: &'static str) -> AnomalyKind {
    AnomalyKind { id, severity, description }
}

/// Bytes where a link frame should start do not begin with 0x05 0x64 (IEEE 1815-2012 9.2.4.1.1).
pub static INVALID_START: AnomalyKind = kind(
    "dnp3.invalid_start",
    Severity::Low,
    "Bytes where a DNP3 link frame should start do not begin with 0x05 0x64.",
);

/// A link header or user-data block whose CRC does not match (IEEE 1815-2012 9.2.4.1.3).
pub static BAD_LINK_CRC: AnomalyKind = kind(
    "dnp3.bad_link_crc",
    Severity::Low,
    "A DNP3 link frame's header or data block CRC does not match; the frame was dropped.",
);

/// A link length below 5, or user data on a link function that carries none (or none on one
/// that needs it).
pub static INVALID_LENGTH: AnomalyKind = kind(
    "dnp3.invalid_length",
    Severity::Low,
    "A DNP3 link length is below 5, or disagrees with the link function (user data where none \
     belongs, or none where it must be), or an application fragment is too short for its header.",
);

/// A link function code not defined for its PRM bit (IEEE 1815-2012 9.2.4.1.3, tables 9-1, 9-2).
pub static UNKNOWN_LINK_FUNCTION: AnomalyKind = kind(
    "dnp3.unknown_link_function",
    Severity::Low,
    "The DNP3 link function code is not defined for a primary or secondary frame.",
);

/// A reassembled application fragment longer than the reassembler's bound.
pub static TOO_LONG_REASSEMBLY: AnomalyKind = kind(
    "dnp3.too_long_reassembly",
    Severity::Medium,
    "DNP3 transport segments reassembled into a fragment longer than jobwatch accepts; the \
     fragment was dropped.",
);

/// A transport segment whose sequence number does not follow the previous one, or a middle
/// segment without a first one (IEEE 1815-2012 8.2.1.2).
pub static TRANSPORT_OUT_OF_SEQUENCE: AnomalyKind = kind(
    "dnp3.transport_out_of_sequence",
    Severity::Low,
    "A DNP3 transport segment arrived out of sequence or without a first segment; the partial \
     fragment was dropped.",
);

/// A new first segment arrived while a fragment was still being reassembled.
pub static INCOMPLETE_FRAGMENT: AnomalyKind = kind(
    "dnp3.incomplete_fragment",
    Severity::Low,
    "A DNP3 transport first segment arrived before the previous fragment's final segment; the \
     partial fragment was dropped.",
);

/// More object headers in one fragment than the limit.
pub static TOO_MANY_OBJECTS: AnomalyKind = kind(
    "dnp3.too_many_objects",
    Severity::Low,
    "A DNP3 application fragment carries more object headers than jobwatch decodes.",
);

/// More points (objects carrying data) in one fragment than the limit.
pub static TOO_MANY_POINTS: AnomalyKind = kind(
    "dnp3.too_many_points",
    Severity::Low,
    "A DNP3 application fragment carries more points than jobwatch decodes.",
);

/// A group and variation whose object size jobwatch does not know.
pub static UNKNOWN_OBJECT: AnomalyKind = kind(
    "dnp3.unknown_object",
    Severity::Low,
    "A DNP3 object group and variation is unknown, so the rest of the fragment's objects could \
     not be decoded.",
);

/// An application function code not defined by IEEE 1815.
pub static UNKNOWN_FUNCTION: AnomalyKind =
    kind("dnp3.unknown_function", Severity::Medium, "The DNP3 application function code is not defined by IEEE 1815.");

/// An object header or its objects run past the end of the fragment.
pub static TRUNCATED_OBJECT: AnomalyKind = kind(
    "dnp3.truncated_object",
    Severity::Low,
    "A DNP3 object header or its objects run past the end of the application fragment.",
);

/// A reserved qualifier, a reserved prefix or range code, a stop index below the start index,
/// or a qualifier that cannot size the object it describes.
pub static INVALID_QUALIFIER: AnomalyKind = kind(
    "dnp3.invalid_qualifier",
    Severity::Low,
    "A DNP3 object header has a reserved or impossible qualifier, or a range whose stop index \
     is below its start.",
);

/// Session level: too many requests outstanding on one association.
pub static FLOODED: AnomalyKind = kind(
    "dnp3.flooded",
    Severity::Medium,
    "More DNP3 requests are outstanding on the association than jobwatch tracks.",
);

/// Session level: a solicited response whose sequence matches no outstanding request.
pub static UNMATCHED_RESPONSE: AnomalyKind = kind(
    "dnp3.unmatched_response",
    Severity::Low,
    "A DNP3 solicited response arrived whose application sequence matches no outstanding \
     request.",
);

/// Session level: bytes on a DNP3 port that are not DNP3.
pub static NON_DNP3_TRAFFIC: AnomalyKind =
    kind("dnp3.non_dnp3_traffic", Severity::Medium, "Bytes on a DNP3 port are not DNP3.");

/// Every DNP3 anomaly kind.
pub static ALL: &[&AnomalyKind] = &[
    &INVALID_START,
    &BAD_LINK_CRC,
    &INVALID_LENGTH,
    &UNKNOWN_LINK_FUNCTION,
    &TOO_LONG_REASSEMBLY,
    &TRANSPORT_OUT_OF_SEQUENCE,
    &INCOMPLETE_FRAGMENT,
    &TOO_MANY_OBJECTS,
    &TOO_MANY_POINTS,
    &UNKNOWN_OBJECT,
    &UNKNOWN_FUNCTION,
    &TRUNCATED_OBJECT,
    &INVALID_QUALIFIER,
    &FLOODED,
    &UNMATCHED_RESPONSE,
    &NON_DNP3_TRAFFIC,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_prefixed() {
        let mut ids: Vec<&str> = ALL.iter().map(|k| k.id).collect();
        for kind in ALL {
            assert!(kind.id.starts_with("dnp3."), "{}", kind.id);
            assert!(kind.description.ends_with('.'), "{}", kind.id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        // Suricata's event names, kept so rules read alike.
        for id in ["dnp3.bad_link_crc", "dnp3.too_long_reassembly", "dnp3.unknown_object", "dnp3.flooded"] {
            assert!(ALL.iter().any(|k| k.id == id), "{id}");
        }
    }
}
