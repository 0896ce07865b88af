//! A TCP connection between a client and a server, emitted as Ethernet/IPv4/TCP frames with
//! correct lengths, checksums, sequence and acknowledgement numbers (RFC 9293).
//!
//! The conversation tracks each side's next sequence number; every segment after the SYN
//! acknowledges all the peer has sent (piggy-backed on data when there is data). What it emits
//! is what a capture host beside the two would see, so tshark's TCP analysis finds nothing to
//! flag unless a retransmission is asked for.

use crate::capture::PacketSink;
use anyhow::{Context, Result};
use etherparse::{IpHeaders, IpNumber, Ipv4Header, PacketBuilder, TcpHeader, TcpOptionElement};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub port: u16,
}

/// Which end sends a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Where a conversation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Nothing sent yet.
    Closed,
    SynSent,
    SynReceived,
    Established,
    /// At least one FIN was sent.
    Closing,
    /// Both FINs were sent and acknowledged.
    Done,
}

#[derive(Debug)]
struct Half {
    end: Endpoint,
    /// Sequence number of the next byte (or SYN/FIN) this side sends.
    next_seq: u32,
    /// The last acknowledgement number this side sent, if any.
    last_ack: Option<u32>,
    ip_id: u16,
    ttl: u8,
    window: u16,
    /// The last data segment sent (sequence number and bytes), for exact retransmissions.
    last_data: Option<(u32, Vec<u8>)>,
    fin_sent: bool,
}

impl Half {
    fn new(end: Endpoint, isn: u32, ttl: u8, window: u16) -> Half {
        Half { end, next_seq: isn, last_ack: None, ip_id: isn as u16, ttl, window, last_data: None, fin_sent: false }
    }
}

/// TCP control bits of one segment (ACK is implied for everything but the first SYN).
#[derive(Clone, Copy, Debug, Default)]
struct Flags {
    syn: bool,
    fin: bool,
}

/// A client/server TCP connection emitting frames into a [`PacketSink`].
///
/// Every method emits its segments at the timestamps given (truncated to microseconds); the
/// caller keeps them in order.
#[derive(Debug)]
pub struct TcpConversation {
    client: Half,
    server: Half,
    state: TcpState,
    frame: Vec<u8>,
}

/// MSS announced on SYNs (Ethernet MTU minus IPv4 and TCP headers).
const MSS: u16 = 1460;

impl TcpConversation {
    /// A connection not yet opened; `*_isn` are the initial sequence numbers.
    pub fn new(client: Endpoint, server: Endpoint, client_isn: u32, server_isn: u32) -> TcpConversation {
        TcpConversation {
            client: Half::new(client, client_isn, 64, 64240),
            server: Half::new(server, server_isn, 64, 8192),
            state: TcpState::Closed,
            frame: Vec::with_capacity(1600),
        }
    }

    pub fn endpoint(&self, side: Side) -> Endpoint {
        self.half(side).end
    }

    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The sequence number of the next byte `side` sends.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.half(side).next_seq
    }

    /// True when `side` has not yet acknowledged everything its peer sent.
    pub fn ack_pending(&self, side: Side) -> bool {
        let peer_next = self.half(side.peer()).next_seq;
        self.half(side).last_ack.is_some_and(|a| a != peer_next)
    }

    fn half(&self, side: Side) -> &Half {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Sender, receiver, frame buffer.
    fn parts(&mut self, side: Side) -> (&mut Half, &mut Half, &mut Vec<u8>) {
        match side {
            Side::Client => (&mut self.client, &mut self.server, &mut self.frame),
            Side::Server => (&mut self.server, &mut self.client, &mut self.frame),
        }
    }

    /// Builds and emits one segment from `side` at sequence number `seq`.
    fn emit(
        &mut self,
        side: Side,
        ts: Duration,
        flags: Flags,
        seq: u32,
        payload: &[u8],
        sink: &mut dyn PacketSink,
    ) -> Result<()> {
        let first_syn = flags.syn && side == Side::Client;
        let (from, to, frame) = self.parts(side);
        let mut tcp = TcpHeader::new(from.end.port, to.end.port, seq, from.window);
        tcp.syn = flags.syn;
        tcp.fin = flags.fin;
        tcp.psh = !payload.is_empty();
        if !first_syn {
            tcp.ack = true;
            tcp.acknowledgment_number = to.next_seq;
            from.last_ack = Some(to.next_seq);
        }
        if flags.syn {
            tcp.set_options(&[TcpOptionElement::MaximumSegmentSize(MSS)]).context("TCP options")?;
        }
        let mut ip = Ipv4Header::new(0, from.ttl, IpNumber::TCP, from.end.ip.octets(), to.end.ip.octets())
            .context("IPv4 header")?;
        ip.identification = from.ip_id;
        ip.dont_fragment = true;
        from.ip_id = from.ip_id.wrapping_add(1);
        frame.clear();
        // Timestamps are kept to the microsecond, the resolution of the pcap files written.
        let ts = Duration::from_micros(u64::try_from(ts.as_micros()).unwrap_or(u64::MAX));
        PacketBuilder::ethernet2(from.end.mac, to.end.mac)
            .ip(IpHeaders::Ipv4(ip, Default::default()))
            .tcp_header(tcp)
            .write(frame, payload)
            .context("cannot build a TCP frame")?;
        sink.packet(ts, frame)
    }

    /// The client's SYN.
    pub fn syn(&mut self, ts: Duration, sink: &mut dyn PacketSink) -> Result<()> {
        let seq = self.client.next_seq;
        self.emit(Side::Client, ts, Flags { syn: true, fin: false }, seq, &[], sink)?;
        self.client.next_seq = seq.wrapping_add(1);
        self.state = TcpState::SynSent;
        Ok(())
    }

    /// The server's SYN-ACK.
    pub fn syn_ack(&mut self, ts: Duration, sink: &mut dyn PacketSink) -> Result<()> {
        let seq = self.server.next_seq;
        self.emit(Side::Server, ts, Flags { syn: true, fin: false }, seq, &[], sink)?;
        self.server.next_seq = seq.wrapping_add(1);
        self.state = TcpState::SynReceived;
        Ok(())
    }

    /// SYN, SYN-ACK, ACK, `rtt / 2` apart; returns the timestamp of the final ACK.
    pub fn handshake(&mut self, ts: Duration, rtt: Duration, sink: &mut dyn PacketSink) -> Result<Duration> {
        let half = rtt / 2;
        self.syn(ts, sink)?;
        self.syn_ack(ts + half, sink)?;
        self.ack(Side::Client, ts + rtt, sink)?;
        Ok(ts + rtt)
    }

    /// A pure ACK from `side` of everything its peer sent.
    pub fn ack(&mut self, side: Side, ts: Duration, sink: &mut dyn PacketSink) -> Result<()> {
        let seq = self.half(side).next_seq;
        self.emit(side, ts, Flags::default(), seq, &[], sink)?;
        if self.state == TcpState::SynReceived {
            self.state = TcpState::Established;
        }
        Ok(())
    }

    /// One data segment (PSH, ACK) carrying `payload`, with the ACK piggy-backed.
    pub fn send(&mut self, side: Side, ts: Duration, payload: &[u8], sink: &mut dyn PacketSink) -> Result<()> {
        if payload.is_empty() {
            return self.ack(side, ts, sink);
        }
        let seq = self.half(side).next_seq;
        self.emit(side, ts, Flags::default(), seq, payload, sink)?;
        let (from, _, _) = self.parts(side);
        from.next_seq = seq.wrapping_add(payload.len() as u32);
        match &mut from.last_data {
            Some((last_seq, bytes)) => {
                *last_seq = seq;
                bytes.clear();
                bytes.extend_from_slice(payload);
            }
            None => from.last_data = Some((seq, payload.to_vec())),
        }
        if matches!(self.state, TcpState::SynReceived | TcpState::SynSent) {
            self.state = TcpState::Established;
        }
        Ok(())
    }

    /// One PDU split across two segments at byte `at` (clamped inside the PDU), `gap` apart;
    /// returns the timestamp of the second segment.
    pub fn send_split(
        &mut self,
        side: Side,
        ts: Duration,
        payload: &[u8],
        at: usize,
        gap: Duration,
        sink: &mut dyn PacketSink,
    ) -> Result<Duration> {
        if payload.len() < 2 {
            self.send(side, ts, payload, sink)?;
            return Ok(ts);
        }
        let (first, second) = payload.split_at(at.clamp(1, payload.len() - 1));
        self.send(side, ts, first, sink)?;
        self.send(side, ts + gap, second, sink)?;
        Ok(ts + gap)
    }

    /// Several PDUs back to back in one segment, as a pipelining master or a busy server sends.
    pub fn send_coalesced(
        &mut self,
        side: Side,
        ts: Duration,
        pdus: &[&[u8]],
        sink: &mut dyn PacketSink,
    ) -> Result<()> {
        let payload = pdus.concat();
        self.send(side, ts, &payload, sink)
    }

    /// An exact retransmission of the last data segment `side` sent (same sequence number and
    /// bytes; the ACK is current). Returns false when `side` has sent no data yet.
    pub fn retransmit(&mut self, side: Side, ts: Duration, sink: &mut dyn PacketSink) -> Result<bool> {
        let Some((seq, bytes)) = self.half(side).last_data.clone() else {
            return Ok(false);
        };
        self.emit(side, ts, Flags::default(), seq, &bytes, sink)?;
        Ok(true)
    }

    /// A FIN (with ACK) from `side`.
    pub fn fin(&mut self, side: Side, ts: Duration, sink: &mut dyn PacketSink) -> Result<()> {
        let seq = self.half(side).next_seq;
        self.emit(side, ts, Flags { syn: false, fin: true }, seq, &[], sink)?;
        let (from, _, _) = self.parts(side);
        from.next_seq = seq.wrapping_add(1);
        from.fin_sent = true;
        self.state = TcpState::Closing;
        Ok(())
    }

    /// Orderly teardown started by `initiator`: FIN/ACK, FIN/ACK, ACK, `rtt / 2` apart.
    /// Returns the timestamp of the last ACK.
    pub fn close(
        &mut self,
        initiator: Side,
        ts: Duration,
        rtt: Duration,
        sink: &mut dyn PacketSink,
    ) -> Result<Duration> {
        let half = rtt / 2;
        self.fin(initiator, ts, sink)?;
        self.fin(initiator.peer(), ts + half, sink)?;
        self.ack(initiator, ts + rtt, sink)?;
        self.state = TcpState::Done;
        Ok(ts + rtt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Packet;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    pub(crate) fn endpoints() -> (Endpoint, Endpoint) {
        (
            Endpoint { mac: [2, 0, 0, 0, 0, 1], ip: Ipv4Addr::new(10, 0, 0, 1), port: 50000 },
            Endpoint { mac: [2, 0, 0, 0, 0, 2], ip: Ipv4Addr::new(10, 0, 0, 2), port: 502 },
        )
    }

    #[derive(Debug, PartialEq)]
    struct Seg {
        from_client: bool,
        syn: bool,
        fin: bool,
        ack: Option<u32>,
        seq: u32,
        payload: Vec<u8>,
    }

    fn parse(p: &Packet) -> Seg {
        let sliced = SlicedPacket::from_ethernet(&p.frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else { panic!("not IPv4") };
        assert_eq!(usize::from(ip.header().total_len()), p.frame.len() - 14);
        assert_eq!(ip.header().to_header().calc_header_checksum(), ip.header().header_checksum());
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { panic!("not TCP") };
        let checksum = tcp.calc_checksum_ipv4(ip.header().source(), ip.header().destination()).unwrap();
        assert_eq!(checksum, tcp.checksum());
        Seg {
            from_client: tcp.source_port() == 50000,
            syn: tcp.syn(),
            fin: tcp.fin(),
            ack: tcp.ack().then(|| tcp.acknowledgment_number()),
            seq: tcp.sequence_number(),
            payload: tcp.payload().to_vec(),
        }
    }

    #[test]
    fn handshake_data_teardown() {
        let (c, s) = endpoints();
        let mut conv = TcpConversation::new(c, s, 1000, u32::MAX - 2);
        let mut out: Vec<Packet> = Vec::new();
        let t = Duration::from_secs(1);
        let ms = Duration::from_millis(1);
        conv.handshake(t, ms, &mut out).unwrap();
        assert_eq!(conv.state(), TcpState::Established);
        conv.send(Side::Client, t + 2 * ms, b"hello", &mut out).unwrap();
        conv.send_split(Side::Server, t + 3 * ms, b"world!", 2, ms, &mut out).unwrap();
        conv.send_coalesced(Side::Client, t + 5 * ms, &[b"ab", b"cd"], &mut out).unwrap();
        assert!(conv.retransmit(Side::Client, t + 6 * ms, &mut out).unwrap());
        assert!(conv.ack_pending(Side::Server));
        conv.ack(Side::Server, t + 7 * ms, &mut out).unwrap();
        assert!(!conv.ack_pending(Side::Server));
        conv.close(Side::Client, t + 8 * ms, ms, &mut out).unwrap();
        let segs: Vec<Seg> = out.iter().map(parse).collect();
        let s_isn = u32::MAX - 2;
        let expect = |from_client, syn, fin, ack: Option<u32>, seq: u32, payload: &[u8]| Seg {
            from_client,
            syn,
            fin,
            ack,
            seq,
            payload: payload.to_vec(),
        };
        let expected = vec![
            expect(true, true, false, None, 1000, b""),
            expect(false, true, false, Some(1001), s_isn, b""),
            expect(true, false, false, Some(s_isn.wrapping_add(1)), 1001, b""),
            expect(true, false, false, Some(s_isn.wrapping_add(1)), 1001, b"hello"),
            expect(false, false, false, Some(1006), s_isn.wrapping_add(1), b"wo"),
            // Sequence numbers wrap around zero.
            expect(false, false, false, Some(1006), s_isn.wrapping_add(3), b"rld!"),
            expect(true, false, false, Some(s_isn.wrapping_add(7)), 1006, b"abcd"),
            expect(true, false, false, Some(s_isn.wrapping_add(7)), 1006, b"abcd"),
            expect(false, false, false, Some(1010), s_isn.wrapping_add(7), b""),
            expect(true, false, true, Some(s_isn.wrapping_add(7)), 1010, b""),
            expect(false, false, true, Some(1011), s_isn.wrapping_add(7), b""),
            expect(true, false, false, Some(s_isn.wrapping_add(8)), 1011, b""),
        ];
        assert_eq!(segs, expected);
        assert_eq!(conv.state(), TcpState::Done);
        assert!(out.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn retransmit_needs_data() {
        let (c, s) = endpoints();
        let mut conv = TcpConversation::new(c, s, 1, 2);
        let mut out: Vec<Packet> = Vec::new();
        assert!(!conv.retransmit(Side::Client, Duration::ZERO, &mut out).unwrap());
        assert!(out.is_empty());
    }
}
