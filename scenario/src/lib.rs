//! Synthesises correct captures of industrial traffic for jobwatch's tests and benchmarks.
//!
//! The pieces, bottom up:
//! - [`capture`]: where packets go ([`PacketSink`]): a streamed pcap file or memory;
//! - [`tcp`]: [`TcpConversation`], a client/server connection emitted as Ethernet/IPv4/TCP
//!   frames with correct sequence and acknowledgement numbers, lengths and checksums;
//! - [`modbus`]: Modbus/TCP ADU builders (requests, normal and exception responses);
//! - [`plant`]: masters polling PLCs with periodic jobs, deterministic for a seed, merged into
//!   one timeline with bounded memory, with the jobs kept as ground truth.
//!
//! The `gen-capture` binary writes a plant's capture to a pcap file.

pub mod capture;
pub mod modbus;
pub mod plant;
pub mod tcp;

pub use capture::{Packet, PacketSink, PcapSink};
pub use plant::{ConnectionSpec, JobSpec, Limit, Plant, PlantConfig, Summary};
pub use tcp::{Endpoint, Side, TcpConversation};
