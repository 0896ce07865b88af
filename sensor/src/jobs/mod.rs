//! The job engine: turns transactions into *jobs* — recurring operations of one master on one
//! outstation (protocol, unit/station/rack-slot, function, address range or object set) — and
//! watches them. Protocol-neutral: each protocol supplies a transaction's job signature, the
//! engine does the rest (issue 5).
//!
//! Planned parts, one module each:
//! - `period` (here): infers from request times alone whether a job is periodic, its period,
//!   jitter, on-time window and a second cadence, in bounded memory and `O(1)` amortised time.
//! - `signature`: the protocol-neutral job key and each protocol's way of deriving it, plus
//!   poll cycles (a master cycling through a list of reads).
//! - `state`: the job life cycle of INTERFACE.md (`learning`, `established`, `late`,
//!   `stopped`, `resumed`, `retired`), driven by capture-time ticks, emitting `job` events.
//! - `baseline`: the learning window, and the human-editable YAML baseline that `jobwatch
//!   learn` writes and `--baseline` enforces.
//! - `alerts`: timing (`job_late`, `job_missed`, `job_stopped`, `job_period_changed`,
//!   `response_slow`), failure (`job_failed`) and novelty (`new_job`, `new_talker`), one alert
//!   per incident.

pub mod period;
