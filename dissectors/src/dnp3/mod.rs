//! DNP3 (IEEE 1815-2012), over TCP or UDP.
//!
//! One file per layer, as the standard layers the protocol:
//!
//! - [`link`] (clause 9, the data link layer): [`link::parse`] frames one link frame from the
//!   front of a byte stream under the crate's incremental contract ([`Parse`](crate::Parse)), checks the header
//!   and block CRCs (9.2.4.1.3) and returns a [`LinkFrame`] owning its CRC-stripped user data.
//!   Frames are found again after a gap or a mid-stream start by scanning for 0x05 0x64.
//! - [`transport`] (clause 8, the transport function): [`TransportReassembler`] turns the user
//!   data of successive frames into application fragments (FIR, FIN, sequence), bounded.
//! - [`application`] (clause 4.2.2, the application layer header): [`application::parse`]
//!   decodes a fragment into an [`ApplicationMessage`]: control, function code, IIN.
//! - [`objects`] (clause 4.2.2.7 and clause 11, the object library): object headers, the size of
//!   every object so headers can be stepped over, and point values.
//! - [`anomalies`]: every `dnp3.*` anomaly id.
//!
//! How a sensor uses them, per TCP direction (or per UDP datagram):
//!
//! ```text
//! bytes --link::parse--> LinkFrame --(is_link_only? link activity)
//!       --TransportReassembler::push (one per direction and (source, destination))--> fragment
//!       --application::parse--> ApplicationMessage --objects()--> Object --points()--> Point
//! ```
//!
//! No function in this module panics, whatever the input: every read is bounds-checked, every
//! count read from the wire is bounded by the bytes present and by a documented limit
//! ([`Limits`], [`TransportReassembler::DEFAULT_MAX_FRAGMENT`]), and nothing allocates on the hot
//! path (the reassembler's buffer is per flow, and a single-segment fragment is not copied).
//! Once a link frame is framed and its CRCs are good, decoding does not fail: what is odd above
//! it is an anomaly on the message.

pub mod anomalies;
pub mod application;
pub mod link;
pub mod objects;
pub mod transport;

pub use application::{AppControl, ApplicationMessage, FunctionCode, Iin};
pub use link::{LinkControl, LinkFrame, LinkFunction, LinkHeader};
pub use objects::{
    command_status_name, group_name, object_size, Crob, Flags, Limits, Object, ObjectHeader, ObjectSize, Objects,
    Point, PointValue, Points, Qualifier, Range, Timestamp,
};
pub use transport::{Segment, TransportHeader, TransportReassembler};

use crate::stream::Probe;

/// The registered DNP3 port (TCP and UDP).
pub const PORT: u16 = 20000;

/// Decides whether the first bytes of a stream (either direction) or a datagram are DNP3.
///
/// [`Probe::Match`] when they start with 0x05 0x64 and a link header whose CRC is good and
/// whose length is at least 5: a 16-bit CRC over the header makes a false match on random bytes
/// about 1 in 4 billion. [`Probe::NeedMore`] below 10 bytes when the bytes present agree,
/// [`Probe::NoMatch`] otherwise.
pub fn probe(input: &[u8]) -> Probe {
    match input {
        [] | [0x05] => return Probe::NeedMore,
        [0x05, 0x64, ..] => {}
        _ => return Probe::NoMatch,
    }
    let header = LinkHeader::new_unchecked(input);
    if header.check_len().is_err() {
        return Probe::NeedMore;
    }
    if header.header_crc_ok() && header.length() >= link::MIN_LENGTH {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe() {
        let frame = link::tests::READ_REQUEST;
        assert_eq!(super::probe(&frame), Probe::Match);
        assert_eq!(super::probe(&frame[..10]), Probe::Match);
        assert_eq!(super::probe(&frame[..9]), Probe::NeedMore);
        assert_eq!(super::probe(&frame[..1]), Probe::NeedMore);
        assert_eq!(super::probe(&[]), Probe::NeedMore);
        assert_eq!(super::probe(&link::tests::REQUEST_LINK_STATUS), Probe::Match);
        let mut bad = frame;
        bad[9] ^= 1;
        assert_eq!(super::probe(&bad), Probe::NoMatch);
        assert_eq!(super::probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(super::probe(&[0x05, 0x65]), Probe::NoMatch);
    }

    /// A whole exchange through all layers: the read request of read_and_response.pcap.
    #[test]
    fn layers() {
        let crate::Parse::Message { message: frame, .. } = link::parse(&link::tests::READ_REQUEST) else { panic!() };
        let mut reassembler = TransportReassembler::new();
        let segment = reassembler.push(frame.user_data());
        let fragment = segment.fragment.unwrap();
        let message = application::parse(fragment).unwrap();
        assert_eq!(message.function, FunctionCode::READ);
        assert_eq!(message.object_count, 4);
    }
}
