//! Pure protocol dissectors for jobwatch.
//!
//! This crate does no I/O, spawns no threads and does not allocate on the hot path. Every parser
//! follows the same incremental contract over a reassembled byte stream ([`stream::Parse`]): it
//! returns a message and the bytes it consumed, or asks for more bytes, or asks the caller to skip
//! bytes it cannot frame (with an [`anomaly::AnomalyKind`]). A parser never panics, never consumes
//! more than it was given, and always makes progress when it returns a message or a skip.
//!
//! Everything odd *inside* a well-framed PDU is reported as an anomaly attached to the message
//! rather than as an error, so a passive sensor never loses a PDU it could frame.

pub mod anomaly;
pub mod classify;
pub mod cotp;
pub mod dnp3;
pub mod modbus;
pub mod s7comm;
pub mod s7commplus;
pub mod stream;
pub mod tpkt;

pub use anomaly::{AnomalyKind, AnomalyList, Severity};
pub use classify::{Category, FunctionInfo};
pub use stream::{Direction, Parse, Probe};
