//! Link, network and transport decoding with etherparse, lax enough for snaplen-truncated
//! packets. TCP checksums are not verified unless asked: on capture hosts offload leaves them
//! wrong, and a passive sensor must not drop those packets.

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::IpAddr;

/// The link types jobwatch reads (pcap `LINKTYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_NULL / BSD loopback: a 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II, with 802.1Q and QinQ tags.
    Ethernet,
    /// Raw IP (IPv4 or IPv6 by the version nibble): LINKTYPE_RAW and the historic DLT_RAW values.
    RawIp,
    /// LINKTYPE_IPV4.
    Ipv4,
    /// LINKTYPE_IPV6.
    Ipv6,
    /// Linux cooked capture v1 (SLL).
    LinuxSll,
    /// Linux cooked capture v2 (SLL2).
    LinuxSll2,
    /// OpenBSD loopback (DLT_LOOP): like DLT_NULL with the family in network byte order.
    Loop,
}

impl LinkType {
    /// Maps a pcap link-type number, or `None` if jobwatch cannot read it.
    pub fn from_linktype(value: i32) -> Option<LinkType> {
        match value {
            0 => Some(LinkType::Null),
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 => Some(LinkType::RawIp),
            108 => Some(LinkType::Loop),
            113 => Some(LinkType::LinuxSll),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// TCP header fields the reassembler needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// The transport part of a decoded packet.
#[derive(Debug)]
pub enum TransportPart<'a> {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &'a [u8],
        /// Payload bytes on the wire that the capture cut off (snaplen).
        missing: u32,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
}

/// A packet decoded down to its transport layer.
#[derive(Debug)]
pub struct DecodedPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: TransportPart<'a>,
}

/// Why a packet was not decoded to a TCP or UDP payload (each is counted in stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but neither TCP nor UDP (ICMP, ...).
    OtherTransport,
    /// A fragment of a fragmented IP datagram (not reassembled).
    IpFragment,
    /// Headers cut short or invalid.
    Malformed,
    /// `--verify-checksums` and the TCP or UDP checksum was wrong.
    BadChecksum,
}

/// Decodes one captured frame.
pub fn decode(link: LinkType, frame: &[u8], verify_checksums: bool) -> Result<DecodedPacket<'_>, Skipped> {
    let sliced = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).map_err(|_| Skipped::Malformed)?,
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => from_ip(frame)?,
        LinkType::Null | LinkType::Loop => {
            let family = frame.get(..4).ok_or(Skipped::Malformed)?;
            let family = [family[0], family[1], family[2], family[3]];
            // The family is in the capturing host's byte order for DLT_NULL: accept both.
            let (le, be) = (u32::from_le_bytes(family), u32::from_be_bytes(family));
            let is_ip = |f: u32| matches!(f, 2 | 10 | 23 | 24 | 26 | 28 | 30);
            if !(is_ip(le) || is_ip(be)) {
                return Err(Skipped::NotIp);
            }
            from_ip(frame.get(4..).ok_or(Skipped::Malformed)?)?
        }
        LinkType::LinuxSll => {
            let proto = frame.get(14..16).ok_or(Skipped::Malformed)?;
            let ether_type = EtherType(u16::from_be_bytes([proto[0], proto[1]]));
            LaxSlicedPacket::from_ether_type(ether_type, frame.get(16..).ok_or(Skipped::Malformed)?)
        }
        LinkType::LinuxSll2 => {
            let proto = frame.get(0..2).ok_or(Skipped::Malformed)?;
            let ether_type = EtherType(u16::from_be_bytes([proto[0], proto[1]]));
            LaxSlicedPacket::from_ether_type(ether_type, frame.get(20..).ok_or(Skipped::Malformed)?)
        }
    };
    from_sliced(sliced, verify_checksums)
}

fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skipped> {
    match data.first().map(|b| b >> 4) {
        Some(4) | Some(6) => LaxSlicedPacket::from_ip(data).map_err(|_| Skipped::Malformed),
        _ => Err(Skipped::NotIp),
    }
}

fn from_sliced(sliced: LaxSlicedPacket<'_>, verify_checksums: bool) -> Result<DecodedPacket<'_>, Skipped> {
    let net = sliced.net.as_ref().ok_or(Skipped::NotIp)?;
    let (src, dst, fragmented, wire_payload_len) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let wire = usize::from(h.total_len()).saturating_sub(usize::from(h.ihl()) * 4);
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), v4.is_payload_fragmented(), Some(wire))
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let wire = usize::from(h.payload_length()).saturating_sub(v6.extensions().slice().len());
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), p.fragmented, Some(wire))
        }
    };
    if fragmented {
        return Err(Skipped::IpFragment);
    }
    let Some(transport) = sliced.transport else {
        return match sliced.stop_err {
            Some(_) => Err(Skipped::Malformed),
            None => Err(Skipped::OtherTransport),
        };
    };
    match transport {
        TransportSlice::Tcp(tcp) => {
            let payload = tcp.payload();
            let header_len = usize::from(tcp.data_offset()) * 4;
            // IPv6 jumbograms carry a zero payload length: nothing is known missing then.
            let missing = wire_payload_len
                .filter(|&wire| wire > 0)
                .map_or(0, |wire| wire.saturating_sub(header_len).saturating_sub(payload.len()));
            if verify_checksums && missing == 0 && !tcp_checksum_ok(net, &tcp) {
                return Err(Skipped::BadChecksum);
            }
            Ok(DecodedPacket {
                src,
                dst,
                transport: TransportPart::Tcp {
                    src_port: tcp.source_port(),
                    dst_port: tcp.destination_port(),
                    seq: tcp.sequence_number(),
                    ack: tcp.acknowledgment_number(),
                    flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
                    payload,
                    missing: u32::try_from(missing).unwrap_or(u32::MAX),
                },
            })
        }
        TransportSlice::Udp(udp) => Ok(DecodedPacket {
            src,
            dst,
            transport: TransportPart::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload: udp.payload(),
            },
        }),
        TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_) => Err(Skipped::OtherTransport),
    }
}

fn tcp_checksum_ok(net: &LaxNetSlice<'_>, tcp: &etherparse::TcpSlice<'_>) -> bool {
    let computed = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            tcp.calc_checksum_ipv4(h.source(), h.destination())
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            tcp.calc_checksum_ipv6(h.source(), h.destination())
        }
    };
    computed.map(|c| c == tcp.checksum()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder =
            PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 502, 7, 1024);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn snaplen_truncated_segment_reports_missing_bytes() {
        let frame = tcp_frame(&[0xAB; 100]);
        let cut = &frame[..frame.len() - 90];
        let packet = decode(LinkType::Ethernet, cut, false).unwrap();
        match packet.transport {
            TransportPart::Tcp { payload, missing, seq, .. } => {
                assert_eq!(payload.len(), 10);
                assert_eq!(missing, 90);
                assert_eq!(seq, 7);
            }
            TransportPart::Udp { .. } => panic!("expected TCP"),
        }
    }

    #[test]
    fn ethernet_trailer_is_not_payload() {
        let mut frame = tcp_frame(b"abc");
        frame.extend_from_slice(&[0; 20]); // padding a switch may add
        let packet = decode(LinkType::Ethernet, &frame, false).unwrap();
        match packet.transport {
            TransportPart::Tcp { payload, missing, .. } => {
                assert_eq!(payload, b"abc");
                assert_eq!(missing, 0);
            }
            TransportPart::Udp { .. } => panic!("expected TCP"),
        }
    }

    #[test]
    fn bad_checksum_kept_unless_verifying() {
        let mut frame = tcp_frame(b"abc");
        let len = frame.len();
        frame[len - 1] ^= 0xFF; // payload changed, checksum now wrong
        assert!(decode(LinkType::Ethernet, &frame, false).is_ok());
        assert_eq!(decode(LinkType::Ethernet, &frame, true).err(), Some(Skipped::BadChecksum));
    }

    #[test]
    fn not_ip_and_garbage() {
        assert_eq!(decode(LinkType::Ethernet, &[0; 5], false).err(), Some(Skipped::Malformed));
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(decode(LinkType::Ethernet, &arp, false).err(), Some(Skipped::NotIp));
        assert_eq!(decode(LinkType::Null, &[2, 0, 0, 0, 0x45], false).err(), Some(Skipped::Malformed));
        assert_eq!(decode(LinkType::RawIp, &[0x15, 1, 2], false).err(), Some(Skipped::NotIp));
    }
}
