//! The job engine: turns transactions into *jobs* — recurring operations of one master on one
//! outstation (protocol, unit/station/rack-slot, function, address range or object set) — and
//! watches them. Protocol-neutral: each protocol supplies a transaction's job signature, the
//! engine does the rest.
//!
//! - [`signature`]: the job key each protocol derives from a transaction, and its text forms.
//! - [`period`]: infers from request times alone whether a job is periodic, its period, jitter
//!   and a second cadence, in bounded memory.
//! - [`timing`]: holds a job to a reference cadence (on time, late, early, missed, overdue).
//! - [`recent`]: the jobs met lately by connection and signature (the per-transaction lookup).
//! - [`job`]: one job's state, distributions (HdrHistogram) and incidents.
//! - [`engine`]: learning, enforcement, life-cycle `job` events and alerts, capture gaps.
//! - [`baseline`]: the human-editable YAML baseline `jobwatch learn` writes and `--baseline`
//!   enforces.
//! - [`commands`]: command incidents (`unexpected_command`, `rule_match`), one per program
//!   change.
//! - [`compact`]: optional times and cadences in the room of the value alone (hot job state).
//! - [`text`]: wording of durations and failures in messages.

pub mod baseline;
pub mod commands;
pub mod compact;
pub mod engine;
pub mod job;
pub mod period;
pub mod recent;
pub mod ring;
pub mod signature;
pub mod steady;
pub mod text;
pub mod timing;
