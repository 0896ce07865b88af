//! S7comm (Siemens S7-300/400, and S7-1200/1500 in "PUT/GET" mode) over ISO-on-TCP, TCP port 102.
//!
//! The stack is TPKT (RFC 1006, [`crate::tpkt`]) → COTP (ISO 8073, [`crate::cotp`], DT
//! fragments joined until end-of-TSDU) → an S7comm PDU (protocol id 0x32, this module) or an
//! S7comm-plus PDU (0x72, [`crate::s7commplus`]). Siemens publishes no S7comm specification;
//! layouts and names follow Wireshark's `packet-s7comm.c`, cited in [`message`] and [`codes`].
//!
//! - [`S7Stream`]: one per direction of a connection. Its [`S7Stream::parse`] frames one TPKT
//!   packet from the front of the reassembled TCP stream under the crate's incremental contract
//!   ([`Parse`]), decodes its COTP PDU, reassembles DT fragments and decodes the TSDU into an
//!   [`Event`].
//! - [`decode`]: an S7comm PDU (a whole TSDU) into an [`S7Message`].
//! - [`probe`]: tells ISO-on-TCP from other traffic on the first bytes of a stream.
//!
//! No function in this module panics, whatever the input; nothing allocates except the
//! reassembly buffer of fragmented TSDUs, which grows once per connection up to its bound. Once
//! the S7 header is present, decoding cannot fail: what is odd inside is reported in
//! [`S7Message::anomalies`].

pub mod anomalies;
pub mod codes;
pub mod frame;
pub mod message;

pub use codes::{
    error_description, Area, BlockType, DataTransportSize, ErrorClass, Function, ReturnCode, Rosctr, SyntaxId,
    TransportSize, UserdataGroup, UserdataType,
};
pub use frame::S7Frame;
pub use message::{
    AnyAddress, BlockId, BlockTransfer, DataItem, DataItems, Pdu, PiBlocks, S7Message, TransactionKey, Userdata,
    VarItem, VarItems, MAX_ITEMS,
};

use crate::anomaly::{AnomalyKind, AnomalyList};
use crate::cotp::{self, Body, CotpPdu, CotpReassembler, PduType, Reassembly};
use crate::s7commplus::{self, S7PlusMessage};
use crate::stream::{Parse, Probe};
use crate::tpkt;
use anomalies::{INVALID_COTP, INVALID_LENGTH, INVALID_PROTOCOL_ID, TRUNCATED};

/// The registered ISO-on-TCP port (RFC 1006).
pub const PORT: u16 = 102;

/// Decodes one S7comm PDU (a whole COTP TSDU).
///
/// Fails only when the bytes are not S7comm ([`INVALID_PROTOCOL_ID`]) or the header is cut
/// short ([`TRUNCATED`]). Lengths that run past the end ([`TRUNCATED`]) or stop before it
/// ([`INVALID_LENGTH`]) are anomalies on the message, whose parameter and data are clamped to
/// the bytes present.
pub fn decode(tsdu: &[u8]) -> Result<S7Message<'_>, &'static AnomalyKind> {
    if tsdu.first() != Some(&frame::PROTOCOL_ID) {
        return Err(&INVALID_PROTOCOL_ID);
    }
    let frame = S7Frame::new_unchecked(tsdu);
    if tsdu.len() < frame.header_len() {
        return Err(&TRUNCATED);
    }
    let mut found = AnomalyList::new();
    match tsdu.len().cmp(&frame.total_len()) {
        std::cmp::Ordering::Less => found.push(&TRUNCATED),
        std::cmp::Ordering::Greater => found.push(&INVALID_LENGTH),
        std::cmp::Ordering::Equal => {}
    }
    let (parameter, data) = (frame.parameter(), frame.data());
    let rosctr = frame.rosctr();
    let pdu = message::decode_pdu(rosctr, parameter, data, &mut found);
    Ok(S7Message {
        rosctr,
        redundancy_id: frame.redundancy_id(),
        pdu_reference: frame.pdu_reference(),
        parameter_length: frame.parameter_length(),
        data_length: frame.data_length(),
        error_class: frame.error_class().map(ErrorClass),
        error_code: frame.error_code(),
        parameter,
        data,
        pdu,
        anomalies: found,
    })
}

/// What one TPKT packet amounted to.
#[derive(Debug)]
pub enum Event<'a> {
    /// A COTP PDU other than DT: connect request/confirm (TSAPs, TPDU size), disconnect, error.
    Cotp(CotpPdu<'a>),
    /// A DT fragment without end-of-TSDU, buffered; `pending` bytes are held.
    Fragment { pending: usize },
    /// A whole S7comm PDU, from `fragments` DTs.
    S7 { message: S7Message<'a>, fragments: u32 },
    /// A whole S7comm-plus PDU, from `fragments` DTs.
    S7Plus { message: S7PlusMessage<'a>, fragments: u32 },
    /// A TSDU that could not be decoded (neither S7comm nor S7comm-plus, header cut short), or
    /// fragments dropped for being too long ([`anomalies::TOO_LONG_REASSEMBLY`], `tsdu` empty).
    Invalid { tsdu: &'a [u8], anomaly: &'static AnomalyKind },
}

/// One direction of an ISO-on-TCP connection: the COTP reassembly state and the parser.
///
/// The sensor keeps two per connection (to the PLC, from the PLC), feeds each its reassembled
/// TCP stream, and calls [`S7Stream::reset`] on a gap.
///
/// The stream holds whole-packet state only (DT fragments awaiting end-of-TSDU), never the bytes
/// of a TPKT packet cut short by a segment boundary: on [`Parse::Incomplete`] (which changes
/// nothing) the caller keeps the unconsumed bytes and presents them again, followed by the next
/// ones.
#[derive(Clone, Debug, Default)]
pub struct S7Stream {
    reassembler: CotpReassembler,
    /// The last S7comm-plus TSDU lacked its trailer: the next one continues it.
    plus_continues: bool,
}

impl S7Stream {
    /// A stream whose COTP reassembly accepts TSDUs up to `max_tsdu_len` bytes.
    pub fn new(max_tsdu_len: usize) -> Self {
        S7Stream { reassembler: CotpReassembler::new(max_tsdu_len), plus_continues: false }
    }

    /// Forgets buffered DT fragments.
    pub fn reset(&mut self) {
        self.reassembler.reset();
        self.plus_continues = false;
    }

    /// Bytes of DT fragments held.
    pub fn pending_len(&self) -> usize {
        self.reassembler.pending_len()
    }

    /// Frames one TPKT packet from the front of `input` and decodes what it carries.
    ///
    /// [`Parse::Message`] with `consumed` = the TPKT length; [`Parse::Incomplete`] for a
    /// plausible header with bytes missing; [`Parse::Skip`] with
    /// [`INVALID_TPKT`](anomalies::INVALID_TPKT) up to the next plausible header, or with
    /// [`INVALID_COTP`] over a whole packet whose COTP PDU cannot be read.
    pub fn parse<'a>(&'a mut self, input: &'a [u8]) -> Parse<Event<'a>> {
        let (frame, consumed) = match tpkt::parse(input) {
            Parse::Message { message, consumed } => (message, consumed),
            Parse::Incomplete { needed } => return Parse::Incomplete { needed },
            Parse::Skip { len, anomaly } => return Parse::Skip { len, anomaly },
        };
        let Ok(pdu) = cotp::decode(frame.payload()) else {
            return Parse::Skip { len: consumed, anomaly: &INVALID_COTP };
        };
        let Body::Data { eot, .. } = pdu.body else {
            if pdu.pdu_type() == PduType::DR || pdu.pdu_type() == PduType::CR {
                self.reassembler.reset();
            }
            return Parse::Message { message: Event::Cotp(pdu), consumed };
        };
        // Known before the push: what is pending after a fragment is buffered.
        let pending = self.reassembler.pending_len() + pdu.user_data.len();
        let event = match self.reassembler.push(pdu.user_data, eot) {
            Reassembly::Pending => Event::Fragment { pending },
            Reassembly::TooLong { anomaly } => Event::Invalid { tsdu: &[], anomaly },
            Reassembly::Complete { tsdu, fragments } => {
                let event = decode_tsdu_in(tsdu, fragments, self.plus_continues);
                if let Event::S7Plus { message, .. } = &event {
                    self.plus_continues = !message.has_trailer;
                }
                event
            }
        };
        Parse::Message { message: event, consumed }
    }
}

/// Decodes a whole TSDU by its protocol id (an S7comm-plus TSDU as a first fragment: use
/// [`S7Stream`] to have later fragments recognised).
pub fn decode_tsdu(tsdu: &[u8], fragments: u32) -> Event<'_> {
    decode_tsdu_in(tsdu, fragments, false)
}

fn decode_tsdu_in(tsdu: &[u8], fragments: u32, plus_continues: bool) -> Event<'_> {
    match tsdu.first() {
        Some(&s7commplus::PROTOCOL_ID) if plus_continues => match s7commplus::decode_continuation(tsdu) {
            Ok(message) => Event::S7Plus { message, fragments },
            Err(anomaly) => Event::Invalid { tsdu, anomaly },
        },
        Some(&frame::PROTOCOL_ID) => match decode(tsdu) {
            Ok(message) => Event::S7 { message, fragments },
            Err(anomaly) => Event::Invalid { tsdu, anomaly },
        },
        Some(&s7commplus::PROTOCOL_ID) => match s7commplus::decode(tsdu) {
            Ok(message) => Event::S7Plus { message, fragments },
            Err(anomaly) => Event::Invalid { tsdu, anomaly },
        },
        _ => Event::Invalid { tsdu, anomaly: &INVALID_PROTOCOL_ID },
    }
}

/// Decides whether the first bytes of a stream (either direction) are ISO-on-TCP.
///
/// [`Probe::Match`] when a TPKT header (03 00, length of at least 7) is followed by a COTP
/// length indicator that fits in the packet and a known COTP PDU type (6 bytes suffice);
/// [`Probe::NoMatch`] on any violation; [`Probe::NeedMore`] below 6 bytes without one.
pub fn probe(input: &[u8]) -> Probe {
    if matches!(tpkt::parse(input), Parse::Skip { .. }) {
        return Probe::NoMatch;
    }
    let (Some(&li), Some(&code)) = (input.get(4), input.get(5)) else {
        return Probe::NeedMore;
    };
    let length = tpkt::TpktFrame::new_unchecked(input).length();
    let fits = usize::from(li) < usize::from(length).saturating_sub(tpkt::HEADER_LEN);
    if fits && li >= 2 && PduType::from_code(code).name().is_some() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests;

/// Off port 102, TPKT and COTP alone are not enough (RDP speaks them too): a connect request
/// must carry the TSAP parameters S7 uses, or a data TPDU must start an S7comm (0x32) or
/// S7comm-plus (0x72) PDU.
pub fn probe_s7_start(input: &[u8]) -> Probe {
    match probe(input) {
        Probe::Match => {}
        other => return other,
    }
    let (Some(&li), Some(&code)) = (input.get(4), input.get(5)) else { return Probe::NeedMore };
    match code & 0xF0 {
        0xE0 => {
            // CR: fixed part (code, dst ref, src ref, class) then parameters (code, len, value).
            let Some(params) = input.get(11..5 + usize::from(li)) else { return Probe::NeedMore };
            let mut rest = params;
            let (mut src, mut dst) = (false, false);
            while let [param, len, tail @ ..] = rest {
                src |= *param == 0xC1;
                dst |= *param == 0xC2;
                rest = tail.get(usize::from(*len)..).unwrap_or_default();
            }
            if src && dst {
                Probe::Match
            } else {
                Probe::NoMatch
            }
        }
        0xF0 => match input.get(4 + 1 + usize::from(li)) {
            Some(0x32 | 0x72) => Probe::Match,
            Some(_) => Probe::NoMatch,
            None => Probe::NeedMore,
        },
        _ => Probe::NoMatch,
    }
}

#[cfg(test)]
mod probe_s7_start_tests {
    use super::*;
    use crate::stream::Probe;

    #[test]
    fn strict_probe_tells_s7_from_rdp() {
        // RDP connection request: TPKT + COTP CR carrying a cookie, no TSAPs.
        let rdp =
            b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=admin\r\n\x01\x00\x08\x00\x01\x00\x00\x00";
        assert_eq!(probe_s7_start(rdp), Probe::NoMatch);
        // snap7 connection request: src TSAP 0x0100, dst TSAP 0x0102, TPDU size 1024.
        let s7_cr = [
            0x03, 0x00, 0x00, 0x16, 0x11, 0xE0, 0x00, 0x00, 0x00, 0x01, 0x00, 0xC0, 0x01, 0x0A, 0xC1, 0x02, 0x01, 0x00,
            0xC2, 0x02, 0x01, 0x02,
        ];
        assert_eq!(probe_s7_start(&s7_cr), Probe::Match);
        // A data TPDU with an S7comm job header.
        let dt = [0x03, 0x00, 0x00, 0x19, 0x02, 0xF0, 0x80, 0x32, 0x01, 0x00, 0x00];
        assert_eq!(probe_s7_start(&dt), Probe::Match);
        assert_eq!(probe_s7_start(&dt[..5]), Probe::NeedMore);
    }
}
