//! Where generated packets go: a pcap file (streamed, never held in memory) or a vector.

use anyhow::{Context, Result};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use std::io::Write;
use std::time::Duration;

/// Receives Ethernet frames in timestamp order.
pub trait PacketSink {
    /// One frame captured at `ts` (since the Unix epoch).
    fn packet(&mut self, ts: Duration, frame: &[u8]) -> Result<()>;
}

/// An owned captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub ts: Duration,
    pub frame: Vec<u8>,
}

impl PacketSink for Vec<Packet> {
    fn packet(&mut self, ts: Duration, frame: &[u8]) -> Result<()> {
        self.push(Packet { ts, frame: frame.to_vec() });
        Ok(())
    }
}

impl<S: PacketSink + ?Sized> PacketSink for &mut S {
    fn packet(&mut self, ts: Duration, frame: &[u8]) -> Result<()> {
        (**self).packet(ts, frame)
    }
}

/// Writes a classic pcap file (Ethernet, microsecond timestamps, native byte order), one packet
/// at a time; wrap a `File` in a `BufWriter`.
#[derive(Debug)]
pub struct PcapSink<W: Write> {
    writer: PcapWriter<W>,
    packets: u64,
    bytes: u64,
}

impl<W: Write> PcapSink<W> {
    /// Writes the file header.
    pub fn new(out: W) -> Result<PcapSink<W>> {
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: pcap_file::Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(out, header).context("cannot write the pcap header")?;
        Ok(PcapSink { writer, packets: 0, bytes: 0 })
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Frame bytes written so far (without pcap record headers).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The underlying writer (flush it when it buffers).
    pub fn into_inner(self) -> W {
        self.writer.into_writer()
    }
}

impl<W: Write> PacketSink for PcapSink<W> {
    fn packet(&mut self, ts: Duration, frame: &[u8]) -> Result<()> {
        let len = u32::try_from(frame.len()).context("frame longer than 4 GiB")?;
        self.writer.write_packet(&PcapPacket::new(ts, len, frame)).context("cannot write a packet")?;
        self.packets += 1;
        self.bytes += u64::from(len);
        Ok(())
    }
}
