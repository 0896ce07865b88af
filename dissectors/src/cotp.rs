//! COTP, the ISO 8073 / X.224 connection-oriented transport carried in TPKT (RFC 1006 uses
//! class 0). Layouts: ISO 8073 section 13 (13.3 CR, 13.4 CC, 13.5 DR, 13.6 DC, 13.7 DT, 13.12 ER;
//! 13.3.4 the CR/CC parameters).
//!
//! ```text
//!  0    1     2 ...                 LI+1
//! +----+-----+----------------------+-----------------+
//! | LI | code| fixed part, params   | user data (DT)  |
//! +----+-----+----------------------+-----------------+
//! ```
//!
//! The length indicator (LI) counts the header after itself. [`decode`] reads one PDU from a TPKT
//! payload; [`CotpReassembler`] joins DT fragments until the end-of-TSDU mark.
//!
//! No function here panics. [`decode`] fails only when the PDU cannot be read at all (LI past the
//! payload, or shorter than its type's fixed part); everything else is a value.

use crate::anomaly::AnomalyKind;
use crate::s7comm::anomalies::{INVALID_COTP, TOO_LONG_REASSEMBLY};

/// A COTP PDU type: the code byte's high nibble (the low nibble of CR and CC is the credit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PduType(pub u8);

impl PduType {
    pub const ED: PduType = PduType(0x10);
    pub const EA: PduType = PduType(0x20);
    pub const RJ: PduType = PduType(0x50);
    pub const AK: PduType = PduType(0x60);
    pub const ER: PduType = PduType(0x70);
    pub const DR: PduType = PduType(0x80);
    pub const DC: PduType = PduType(0xC0);
    pub const CC: PduType = PduType(0xD0);
    pub const CR: PduType = PduType(0xE0);
    pub const DT: PduType = PduType(0xF0);

    /// The type of a code byte.
    pub fn from_code(code: u8) -> PduType {
        PduType(code & 0xF0)
    }

    /// The stable snake_case name, or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ED => "expedited_data",
            Self::EA => "expedited_data_ack",
            Self::RJ => "reject",
            Self::AK => "data_ack",
            Self::ER => "tpdu_error",
            Self::DR => "disconnect_request",
            Self::DC => "disconnect_confirm",
            Self::CC => "connect_confirm",
            Self::CR => "connect_request",
            Self::DT => "data",
            _ => return None,
        })
    }
}

/// A CR/CC/DR/ER parameter code (ISO 8073 13.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParameterCode(pub u8);

impl ParameterCode {
    pub const TPDU_SIZE: ParameterCode = ParameterCode(0xC0);
    /// Calling (source) transport selector.
    pub const SRC_TSAP: ParameterCode = ParameterCode(0xC1);
    /// Called (destination) transport selector.
    pub const DST_TSAP: ParameterCode = ParameterCode(0xC2);
    pub const CHECKSUM: ParameterCode = ParameterCode(0xC3);
    pub const VERSION: ParameterCode = ParameterCode(0xC4);
    pub const ADDITIONAL_OPTIONS: ParameterCode = ParameterCode(0xC6);
    pub const ALTERNATIVE_CLASSES: ParameterCode = ParameterCode(0xC7);
    /// Disconnect additional information (DR).
    pub const DISCONNECT_INFO: ParameterCode = ParameterCode(0xE0);
    /// Invalid TPDU (ER: the header of the rejected TPDU).
    pub const INVALID_TPDU: ParameterCode = ParameterCode(0xC1);
}

/// The variable part of a CR, CC, DR or ER: (code, value) pairs. A parameter whose value runs
/// past the end stops the iteration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Parameters<'a> {
    bytes: &'a [u8],
}

impl<'a> Parameters<'a> {
    pub const fn new(bytes: &'a [u8]) -> Self {
        Parameters { bytes }
    }

    /// The parameters in wire order.
    pub fn iter(&self) -> ParameterIter<'a> {
        ParameterIter { rest: self.bytes }
    }

    /// The first value of parameter `code`.
    pub fn get(&self, code: ParameterCode) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, value)| value)
    }

    /// Calling TSAP (0xC1) of a CR or CC.
    pub fn src_tsap(&self) -> Option<&'a [u8]> {
        self.get(ParameterCode::SRC_TSAP)
    }

    /// Called TSAP (0xC2) of a CR or CC.
    pub fn dst_tsap(&self) -> Option<&'a [u8]> {
        self.get(ParameterCode::DST_TSAP)
    }

    /// The maximum TPDU size in bytes (0xC0 gives its base-2 logarithm, 7..=13).
    pub fn tpdu_size(&self) -> Option<u32> {
        match self.get(ParameterCode::TPDU_SIZE) {
            Some(&[exponent]) if exponent <= 16 => Some(1u32 << exponent),
            _ => None,
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl std::fmt::Debug for Parameters<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|(c, v)| (c.0, v))).finish()
    }
}

impl<'a> IntoIterator for Parameters<'a> {
    type Item = (ParameterCode, &'a [u8]);
    type IntoIter = ParameterIter<'a>;
    fn into_iter(self) -> ParameterIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Parameters`].
#[derive(Clone, Debug)]
pub struct ParameterIter<'a> {
    rest: &'a [u8],
}

impl<'a> ParameterIter<'a> {
    /// Bytes not yet read (non-empty after the end only when a parameter was cut short).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for ParameterIter<'a> {
    type Item = (ParameterCode, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let (&code, rest) = self.rest.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..usize::from(len))?;
        self.rest = rest.get(usize::from(len)..).unwrap_or(&[]);
        Some((ParameterCode(code), value))
    }
}

/// The decoded fixed part of a COTP PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// DT (13.7, class 0 layout): end-of-TSDU mark and TPDU number.
    Data { eot: bool, tpdu_number: u8 },
    /// CR and CC (13.3, 13.4).
    Connect { dst_ref: u16, src_ref: u16, class_option: u8, parameters: Parameters<'a> },
    /// DR (13.5).
    DisconnectRequest { dst_ref: u16, src_ref: u16, reason: u8, parameters: Parameters<'a> },
    /// DC (13.6).
    DisconnectConfirm { dst_ref: u16, src_ref: u16 },
    /// ER (13.12).
    Error { dst_ref: u16, cause: u8, parameters: Parameters<'a> },
    /// Other types (ED, AK, EA, RJ, unknown): the header after the code byte.
    Other { header: &'a [u8] },
}

/// One decoded COTP PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CotpPdu<'a> {
    /// The length indicator: header bytes after itself.
    pub length_indicator: u8,
    /// The code byte as on the wire (CR/CC: type and credit).
    pub code: u8,
    pub body: Body<'a>,
    /// What follows the header (the TSDU fragment of a DT; usually empty otherwise).
    pub user_data: &'a [u8],
}

impl<'a> CotpPdu<'a> {
    /// The PDU type.
    pub fn pdu_type(&self) -> PduType {
        PduType::from_code(self.code)
    }

    /// The CR/CC/DR/ER parameters (empty for other types).
    pub fn parameters(&self) -> Parameters<'a> {
        match self.body {
            Body::Connect { parameters, .. }
            | Body::DisconnectRequest { parameters, .. }
            | Body::Error { parameters, .. } => parameters,
            _ => Parameters::new(&[]),
        }
    }
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// Decodes one COTP PDU from a TPKT payload.
///
/// Fails with [`INVALID_COTP`] when the length indicator runs past the payload or is shorter than
/// the type's fixed part (DT 2, CR/CC/DR 6, DC 5, ER 4, others 1). A DT with more than the class 0
/// header (LI 2) is read the same way: the extra header bytes are skipped.
pub fn decode(payload: &[u8]) -> Result<CotpPdu<'_>, &'static AnomalyKind> {
    let (&li, rest) = payload.split_first().ok_or(&INVALID_COTP)?;
    let header = rest.get(..usize::from(li)).ok_or(&INVALID_COTP)?;
    let user_data = rest.get(usize::from(li)..).unwrap_or(&[]);
    let (&code, fixed) = header.split_first().ok_or(&INVALID_COTP)?;
    let min = match PduType::from_code(code) {
        PduType::DT => 2,
        PduType::CR | PduType::CC | PduType::DR => 6,
        PduType::DC => 5,
        PduType::ER => 4,
        _ => 1,
    };
    if header.len() < min {
        return Err(&INVALID_COTP);
    }
    let byte = |at: usize| fixed.get(at).copied().unwrap_or(0);
    let tail = |at: usize| Parameters::new(fixed.get(at..).unwrap_or(&[]));
    let body = match PduType::from_code(code) {
        PduType::DT => Body::Data { eot: byte(0) & 0x80 != 0, tpdu_number: byte(0) & 0x7F },
        PduType::CR | PduType::CC => Body::Connect {
            dst_ref: be16(fixed, 0),
            src_ref: be16(fixed, 2),
            class_option: byte(4),
            parameters: tail(5),
        },
        PduType::DR => Body::DisconnectRequest {
            dst_ref: be16(fixed, 0),
            src_ref: be16(fixed, 2),
            reason: byte(4),
            parameters: tail(5),
        },
        PduType::DC => Body::DisconnectConfirm { dst_ref: be16(fixed, 0), src_ref: be16(fixed, 2) },
        PduType::ER => Body::Error { dst_ref: be16(fixed, 0), cause: byte(2), parameters: tail(3) },
        _ => Body::Other { header: fixed },
    };
    Ok(CotpPdu { length_indicator: li, code, body, user_data })
}

/// True when `payload` starts like a COTP PDU of a known type whose header fits.
pub fn plausible(payload: &[u8]) -> bool {
    decode(payload).is_ok_and(|pdu| pdu.pdu_type().name().is_some())
}

/// The outcome of feeding one DT to a [`CotpReassembler`].
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembly<'a> {
    /// A whole TSDU: the DT's own user data when it was not fragmented (no copy), else the
    /// joined fragments.
    Complete { tsdu: &'a [u8], fragments: u32 },
    /// A fragment without the end-of-TSDU mark was buffered.
    Pending,
    /// The fragments add up to more than the limit: they were dropped (the caller reports
    /// [`TOO_LONG_REASSEMBLY`]) and reassembly restarts with the next DT.
    TooLong { anomaly: &'static AnomalyKind },
}

/// Joins DT fragments until the end-of-TSDU mark (ISO 8073 6.3, segmenting). One per direction
/// of a connection.
///
/// The common case, a TSDU in one DT, is returned borrowed from the input with no copy; fragments
/// are copied into a buffer that grows once up to `max_len` and is reused, so a long-lived
/// connection does not allocate per PDU.
#[derive(Clone, Debug)]
pub struct CotpReassembler {
    buffer: Vec<u8>,
    fragments: u32,
    /// The buffer holds a TSDU already returned: clear it before the next fragment.
    delivered: bool,
    /// Dropping fragments until the next end-of-TSDU after an overflow.
    discarding: bool,
    max_len: usize,
}

impl Default for CotpReassembler {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_LEN)
    }
}

impl CotpReassembler {
    /// The default bound: 64 KiB, far above any S7 PDU size (S7comm negotiates at most 960
    /// bytes; S7comm-plus fragments large objects into TSDUs of a few kilobytes).
    pub const DEFAULT_MAX_LEN: usize = 65_536;

    /// A reassembler that accepts TSDUs of up to `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        CotpReassembler { buffer: Vec::new(), fragments: 0, delivered: false, discarding: false, max_len }
    }

    /// Bytes of fragments held, waiting for the end-of-TSDU mark.
    pub fn pending_len(&self) -> usize {
        if self.delivered {
            0
        } else {
            self.buffer.len()
        }
    }

    /// Forgets buffered fragments (on a new connection, a gap in the TCP stream, a DR).
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.fragments = 0;
        self.delivered = false;
        self.discarding = false;
    }

    /// Feeds the user data of one DT with its end-of-TSDU mark.
    pub fn push<'a>(&'a mut self, user_data: &'a [u8], eot: bool) -> Reassembly<'a> {
        if self.delivered {
            self.reset();
        }
        if self.discarding {
            if eot {
                self.reset();
            }
            return Reassembly::Pending;
        }
        if self.buffer.len().saturating_add(user_data.len()) > self.max_len {
            self.reset();
            self.discarding = !eot;
            return Reassembly::TooLong { anomaly: &TOO_LONG_REASSEMBLY };
        }
        // S7comm-plus peers send empty DTs without EOT between PDUs: nothing to join.
        if !eot && user_data.is_empty() {
            return Reassembly::Pending;
        }
        if eot && self.buffer.is_empty() && self.fragments == 0 {
            return Reassembly::Complete { tsdu: user_data, fragments: 1 };
        }
        self.buffer.extend_from_slice(user_data);
        self.fragments = self.fragments.saturating_add(1);
        if !eot {
            return Reassembly::Pending;
        }
        self.delivered = true;
        Reassembly::Complete { tsdu: &self.buffer, fragments: self.fragments }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Connect request from TIA Portal to an S7-1200 (S7-1200-Uploading-OB1-TIAV12.pcap).
    static CR: [u8; 31] = [
        0x1E, // LI 30
        0xE0, // CR, credit 0
        0x00, 0x00, // dst ref
        0x00, 0x11, // src ref 0x0011
        0x00, // class 0
        0xC1, 0x02, 0x06, 0x00, // calling TSAP 0x0600
        0xC2, 0x0F, b'S', b'I', b'M', b'A', b'T', b'I', b'C', b'-', b'R', b'O', b'O', b'T', b'-', b'E',
        b'S', // called
        0xC0, 0x01, 0x0A, // TPDU size 2^10
    ];

    #[test]
    fn deconstruct() {
        let pdu = decode(&CR).unwrap();
        assert_eq!(pdu.pdu_type(), PduType::CR);
        assert_eq!(pdu.pdu_type().name(), Some("connect_request"));
        let Body::Connect { dst_ref, src_ref, class_option, parameters } = pdu.body else { panic!() };
        assert_eq!((dst_ref, src_ref, class_option), (0, 0x11, 0));
        assert_eq!(parameters.src_tsap(), Some(&[0x06, 0x00][..]));
        assert_eq!(parameters.dst_tsap(), Some(&b"SIMATIC-ROOT-ES"[..]));
        assert_eq!(parameters.tpdu_size(), Some(1024));
        assert_eq!(parameters.iter().count(), 3);
        assert!(pdu.user_data.is_empty());
        // DT with EOT and user data.
        let dt = decode(&[0x02, 0xF0, 0x80, 0x32, 0x01]).unwrap();
        assert_eq!(dt.body, Body::Data { eot: true, tpdu_number: 0 });
        assert_eq!(dt.user_data, &[0x32, 0x01]);
        // DR, DC, ER.
        let dr = decode(&[0x06, 0x80, 0x00, 0x01, 0x00, 0x02, 0x80]).unwrap();
        assert!(matches!(dr.body, Body::DisconnectRequest { dst_ref: 1, src_ref: 2, reason: 0x80, .. }));
        let dc = decode(&[0x05, 0xC0, 0x00, 0x01, 0x00, 0x02]).unwrap();
        assert_eq!(dc.body, Body::DisconnectConfirm { dst_ref: 1, src_ref: 2 });
        let er = decode(&[0x07, 0x70, 0x00, 0x01, 0x02, 0xC1, 0x01, 0xAA]).unwrap();
        let Body::Error { cause, parameters, .. } = er.body else { panic!() };
        assert_eq!((cause, parameters.get(ParameterCode::INVALID_TPDU)), (2, Some(&[0xAA][..])));
    }

    #[test]
    fn truncated() {
        for cut in 0..CR.len() {
            assert_eq!(decode(&CR[..cut]), Err(&INVALID_COTP), "cut {cut}");
        }
        assert_eq!(decode(&[0x01, 0xF0]), Err(&INVALID_COTP)); // DT without TPDU number
        assert_eq!(decode(&[0x00]), Err(&INVALID_COTP));
        // A parameter cut short ends the iteration.
        let params = Parameters::new(&[0xC1, 0x02, 0x01, 0x00, 0xC2, 0x05, 0x01]);
        let mut iter = params.iter();
        assert_eq!(iter.next(), Some((ParameterCode::SRC_TSAP, &[0x01, 0x00][..])));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.remainder().len(), 3);
        assert_eq!(Parameters::new(&[0xC0, 0x01, 0x20]).tpdu_size(), None);
    }

    #[test]
    fn reassembly() {
        let mut r = CotpReassembler::new(8);
        assert_eq!(r.push(&[1, 2], true), Reassembly::Complete { tsdu: &[1, 2], fragments: 1 });
        assert_eq!(r.push(&[1, 2], false), Reassembly::Pending);
        assert_eq!(r.pending_len(), 2);
        assert_eq!(r.push(&[3], false), Reassembly::Pending);
        assert_eq!(r.push(&[4], true), Reassembly::Complete { tsdu: &[1, 2, 3, 4], fragments: 3 });
        assert_eq!(r.pending_len(), 0);
        assert_eq!(r.push(&[5], true), Reassembly::Complete { tsdu: &[5], fragments: 1 });
        // Over the limit: dropped, then fragments are discarded until the next EOT.
        assert_eq!(r.push(&[0; 6], false), Reassembly::Pending);
        assert!(matches!(r.push(&[0; 6], false), Reassembly::TooLong { .. }));
        assert_eq!(r.push(&[0; 2], false), Reassembly::Pending);
        assert_eq!(r.push(&[0; 2], true), Reassembly::Pending);
        assert_eq!(r.push(&[9], true), Reassembly::Complete { tsdu: &[9], fragments: 1 });
        assert!(matches!(r.push(&[0; 9], true), Reassembly::TooLong { .. }));
        assert_eq!(r.push(&[7], true), Reassembly::Complete { tsdu: &[7], fragments: 1 });
    }
}
