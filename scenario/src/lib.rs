//! Synthesises correct captures of industrial traffic for jobwatch's tests and benchmarks.
//!
//! The pieces, bottom up:
//! - [`capture`]: where packets go ([`PacketSink`]): a streamed pcap file or memory;
//! - [`tcp`]: [`TcpConversation`], a client/server connection emitted as Ethernet/IPv4/TCP
//!   frames with correct sequence and acknowledgement numbers, lengths and checksums;
//! - [`modbus`]: Modbus/TCP ADU builders (requests, normal and exception responses);
//! - [`dnp3`]: DNP3 link frames (with CRCs), transport and application fragments;
//! - [`s7comm`]: TPKT/COTP and S7comm PDUs (read/write var, PLC stop, program download);
//! - [`plant`]: masters polling PLCs with periodic jobs, deterministic for a seed, merged into
//!   one timeline with bounded memory, with the jobs kept as ground truth;
//! - [`labelled`]: a Modbus, DNP3 and S7comm plant as a clean train capture and a test capture
//!   with injected anomalies, each with a ground-truth label (schema in `scenario/README.md`);
//! - [`score`]: scores jobwatch's alerts on a scenario against its labels.
//!
//! The `gen-capture` binary writes a plant's capture to a pcap file; `gen-scenario` writes a
//! labelled scenario (`train.pcap`, `test.pcap`, `labels.json`); `score-scenario` scores a run.

pub mod capture;
pub mod dnp3;
pub mod labelled;
pub mod modbus;
pub mod plant;
pub mod s7comm;
pub mod score;
pub mod tcp;

pub use capture::{Packet, PacketSink, PcapSink};
pub use labelled::{AnomalyKind, Labels, Phase, PhaseReport, Protocol, Scenario, ScenarioConfig};
pub use plant::{ConnectionSpec, JobSpec, Limit, Plant, PlantConfig, Summary};
pub use tcp::{Endpoint, Side, TcpConversation};
