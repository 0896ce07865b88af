//! DNP3 object headers and objects (IEEE 1815-2012 4.2.2.7 and clause 11, the object library).
//!
//! An object header is a group, a variation and a qualifier (4.2.2.7.3), followed by a range
//! field: start and stop indices, or a count, or nothing (all objects). Its objects follow, each
//! with an optional prefix (an index, or the object's size), unless the function carries headers
//! only (a read, a freeze, assign class, enable or disable unsolicited).
//!
//! To step from one header to the next the size of every object must be known: fixed for most
//! variations ([`object_size`]), packed bits for the single-bit and double-bit points, the
//! variation itself for octet strings (groups 110–113), a size prefix for the variable-length
//! groups (70, 83, 85–88, 90, 91, 120), type-length-value for device attributes (group 0). An
//! unknown group/variation ends the walk with [`UNKNOWN_OBJECT`]: the rest of the fragment
//! cannot be framed.
//!
//! [`Objects`] walks the headers of a fragment, bounded by [`Limits`]; [`Object::points`] yields
//! the values of the binary, double-bit, counter, analog, output, time and octet-string objects
//! as [`Point`]s. Nothing here allocates, and nothing panics whatever the bytes.

use super::anomalies::{INVALID_QUALIFIER, TOO_MANY_OBJECTS, TOO_MANY_POINTS, TRUNCATED_OBJECT, UNKNOWN_OBJECT};
use super::application::FunctionCode;
use crate::anomaly::{AnomalyKind, AnomalyList};
use std::fmt;

/// Bounds on what one application fragment may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Object headers decoded per fragment; more is [`TOO_MANY_OBJECTS`] and the walk stops.
    pub max_objects: usize,
    /// Points (objects carrying data) per fragment; more is [`TOO_MANY_POINTS`] and
    /// [`Object::points`] yields no more.
    pub max_points: u32,
}

impl Limits {
    /// Suricata's defaults (`app-layer.protocols.dnp3.max-objects`, `max-points`). A 2048-byte
    /// fragment holds at most 682 headers and 16384 packed bits, so neither limit is reached by
    /// a fragment of the default size.
    pub const DEFAULT: Limits = Limits { max_objects: 2048, max_points: 16384 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The qualifier octet (4.2.2.7.3): reserved bit, object prefix code, range specifier code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Qualifier(pub u8);

impl Qualifier {
    /// Bits 6..4: 0 none, 1–3 an index of 1, 2, 4 octets, 4–6 an object size of 1, 2, 4 octets.
    pub fn prefix_code(self) -> u8 {
        (self.0 >> 4) & 0x07
    }
    /// Bits 3..0: 0–2 start/stop of 1, 2, 4 octets, 3–5 virtual start/stop, 6 no range, 7–9
    /// a count of 1, 2, 4 octets, 0xB a 1-octet count of variable-size objects.
    pub fn range_code(self) -> u8 {
        self.0 & 0x0F
    }
    /// The reserved bit 7 (must be 0).
    pub fn reserved(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// Octets of each object's prefix; `None` for the reserved code 7.
    pub fn prefix_len(self) -> Option<usize> {
        match self.prefix_code() {
            0 => Some(0),
            1 | 4 => Some(1),
            2 | 5 => Some(2),
            3 | 6 => Some(4),
            _ => None,
        }
    }
    /// True when the prefix is an index (codes 1–3).
    pub fn index_prefix(self) -> bool {
        matches!(self.prefix_code(), 1..=3)
    }
    /// True when the prefix is the object's size (codes 4–6).
    pub fn size_prefix(self) -> bool {
        matches!(self.prefix_code(), 4..=6)
    }
    /// Octets of the range field; `None` for a reserved range code.
    pub fn range_len(self) -> Option<usize> {
        match self.range_code() {
            0 | 3 => Some(2),
            1 | 4 => Some(4),
            2 | 5 => Some(8),
            6 => Some(0),
            7 | 0x0B => Some(1),
            8 => Some(2),
            9 => Some(4),
            _ => None,
        }
    }
    /// True when the qualifier is valid: reserved bit clear, defined prefix and range codes.
    pub fn is_valid(self) -> bool {
        !self.reserved() && self.prefix_len().is_some() && self.range_len().is_some()
    }
}

/// The range field of an object header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Range {
    /// Range codes 0–2: indices `start..=stop`.
    StartStop { start: u32, stop: u32 },
    /// Range codes 3–5: virtual addresses `start..=stop`.
    VirtualStartStop { start: u32, stop: u32 },
    /// Range code 6: all objects, none in the message.
    All,
    /// Range codes 7–9 and 0xB: this many objects.
    Count(u32),
}

impl Range {
    /// How many objects the range covers (0 for [`Range::All`], and for a stop below start).
    pub fn count(&self) -> u64 {
        match *self {
            Range::StartStop { start, stop } | Range::VirtualStartStop { start, stop } => {
                if stop < start {
                    0
                } else {
                    u64::from(stop - start) + 1
                }
            }
            Range::All => 0,
            Range::Count(count) => u64::from(count),
        }
    }

    /// The first index of a start/stop range.
    pub fn start(&self) -> Option<u32> {
        match *self {
            Range::StartStop { start, .. } | Range::VirtualStartStop { start, .. } => Some(start),
            _ => None,
        }
    }
}

/// One object header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectHeader {
    pub group: u8,
    pub variation: u8,
    pub qualifier: Qualifier,
    pub range: Range,
}

impl ObjectHeader {
    /// The number of objects the range declares.
    pub fn count(&self) -> u64 {
        self.range.count()
    }
}

/// How the size of each object of a group/variation is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectSize {
    /// Each object is this many octets.
    Fixed(u8),
    /// Packed: this many bits per object, the range padded to a whole octet.
    Packed(u8),
    /// The variation is each object's length in octets (groups 110–113).
    VariationLength,
    /// Each object's size is its prefix (qualifier prefix codes 4–6).
    SizePrefixed,
    /// Device attribute: data type, length, value (group 0).
    Attribute,
    /// No object data ever (group 60 class data).
    HeaderOnly,
}

/// Where a fixed-size object's fields lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lead {
    None,
    Flags,
    /// A command status octet (groups 13, 43).
    Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// The state is bit 7 of the flags (binary inputs, outputs, events).
    FlagBit,
    /// The state is bits 7..6 of the flags (double-bit inputs).
    FlagDoubleBit,
    /// The commanded state is bit 7 of the status (group 13).
    StatusBit,
    U16,
    U32,
    I16,
    I32,
    F32,
    F64,
    Crob,
    Time48,
    /// Absolute time and a 32-bit interval (g50v2); with a units octet (g50v4).
    TimeInterval,
    TimeIntervalUnits,
    DelaySeconds,
    DelayMillis,
    /// An object whose value jobwatch hands out raw.
    Bytes(u8),
}

impl Val {
    fn len(self) -> usize {
        match self {
            Val::FlagBit | Val::FlagDoubleBit | Val::StatusBit => 0,
            Val::U16 | Val::I16 | Val::DelaySeconds | Val::DelayMillis => 2,
            Val::U32 | Val::I32 | Val::F32 => 4,
            Val::F64 => 8,
            Val::Crob => 11,
            Val::Time48 => 6,
            Val::TimeInterval => 10,
            Val::TimeIntervalUnits => 11,
            Val::Bytes(n) => usize::from(n),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Time {
    None,
    Absolute,
    Relative,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    lead: Lead,
    value: Val,
    /// A command status octet after the value (group 41).
    status_after: bool,
    time: Time,
}

impl Layout {
    fn len(self) -> usize {
        let lead = usize::from(self.lead != Lead::None);
        let time = match self.time {
            Time::None => 0,
            Time::Absolute => 6,
            Time::Relative => 2,
        };
        lead + self.value.len() + usize::from(self.status_after) + time
    }
}

const fn l(lead: Lead, value: Val, time: Time) -> Option<Layout> {
    Some(Layout { lead, value, status_after: false, time })
}

/// The layout of a fixed-size object (IEEE 1815-2012 clause 11 and annex A).
fn layout(group: u8, variation: u8) -> Option<Layout> {
    use Lead::{Flags as F, None as N, Status as S};
    use Time::{Absolute as A, None as T0, Relative as R};
    match (group, variation) {
        (1, 2) | (10, 2) => l(F, Val::FlagBit, T0),
        (2, 1) | (11, 1) => l(F, Val::FlagBit, T0),
        (2, 2) | (11, 2) => l(F, Val::FlagBit, A),
        (2, 3) => l(F, Val::FlagBit, R),
        (3, 2) | (4, 1) => l(F, Val::FlagDoubleBit, T0),
        (4, 2) => l(F, Val::FlagDoubleBit, A),
        (4, 3) => l(F, Val::FlagDoubleBit, R),
        (12, 1) | (12, 2) => l(N, Val::Crob, T0),
        (13, 1) => l(S, Val::StatusBit, T0),
        (13, 2) => l(S, Val::StatusBit, A),
        // Counters (20), frozen counters (21), counter events (22), frozen counter events (23).
        (20..=23, 1) | (20..=23, 3) => l(F, Val::U32, T0),
        (20..=23, 2) | (20..=23, 4) => l(F, Val::U16, T0),
        (20, 5) | (20, 7) | (21, 9) | (21, 11) => l(N, Val::U32, T0),
        (20, 6) | (20, 8) | (21, 10) | (21, 12) => l(N, Val::U16, T0),
        (21..=23, 5) | (21..=23, 7) => l(F, Val::U32, A),
        (21..=23, 6) | (21..=23, 8) => l(F, Val::U16, A),
        // Analog inputs (30), frozen analog inputs (31).
        (30, 1) | (31, 1) => l(F, Val::I32, T0),
        (30, 2) | (31, 2) => l(F, Val::I16, T0),
        (30, 3) | (31, 5) => l(N, Val::I32, T0),
        (30, 4) | (31, 6) => l(N, Val::I16, T0),
        (30, 5) | (31, 7) => l(F, Val::F32, T0),
        (30, 6) | (31, 8) => l(F, Val::F64, T0),
        (31, 3) => l(F, Val::I32, A),
        (31, 4) => l(F, Val::I16, A),
        // Analog input events (32), frozen analog events (33), analog output events (42).
        (32 | 33 | 42, 1) => l(F, Val::I32, T0),
        (32 | 33 | 42, 2) => l(F, Val::I16, T0),
        (32 | 33 | 42, 3) => l(F, Val::I32, A),
        (32 | 33 | 42, 4) => l(F, Val::I16, A),
        (32 | 33 | 42, 5) => l(F, Val::F32, T0),
        (32 | 33 | 42, 6) => l(F, Val::F64, T0),
        (32 | 33 | 42, 7) => l(F, Val::F32, A),
        (32 | 33 | 42, 8) => l(F, Val::F64, A),
        // Analog input deadbands (34).
        (34, 1) => l(N, Val::U16, T0),
        (34, 2) => l(N, Val::U32, T0),
        (34, 3) => l(N, Val::F32, T0),
        // Analog output status (40).
        (40, 1) => l(F, Val::I32, T0),
        (40, 2) => l(F, Val::I16, T0),
        (40, 3) => l(F, Val::F32, T0),
        (40, 4) => l(F, Val::F64, T0),
        // Analog output blocks (41): value, then control status.
        (41, 1..=4) => {
            let value = [Val::I32, Val::I16, Val::F32, Val::F64][usize::from(variation - 1)];
            Some(Layout { lead: N, value, status_after: true, time: T0 })
        }
        // Analog output command events (43): status, then value.
        (43, 1) => l(S, Val::I32, T0),
        (43, 2) => l(S, Val::I16, T0),
        (43, 3) => l(S, Val::I32, A),
        (43, 4) => l(S, Val::I16, A),
        (43, 5) => l(S, Val::F32, T0),
        (43, 6) => l(S, Val::F64, T0),
        (43, 7) => l(S, Val::F32, A),
        (43, 8) => l(S, Val::F64, A),
        // Time and date (50), common time of occurrence (51), time delay (52).
        (50, 1) | (50, 3) | (51, 1) | (51, 2) => l(N, Val::Time48, T0),
        (50, 2) => l(N, Val::TimeInterval, T0),
        (50, 4) => l(N, Val::TimeIntervalUnits, T0),
        (52, 1) => l(N, Val::DelaySeconds, T0),
        (52, 2) => l(N, Val::DelayMillis, T0),
        // Storage object (81), data set characteristics (86v2), BCD (101), unsigned 8-bit (102).
        (81, 1) => l(N, Val::Bytes(3), T0),
        (86, 2) | (102, 1) => l(N, Val::Bytes(1), T0),
        (101, 1) => l(N, Val::Bytes(2), T0),
        (101, 2) => l(N, Val::Bytes(4), T0),
        (101, 3) => l(N, Val::Bytes(8), T0),
        // Secure authentication: aggressive mode request (CSQ, user), session key status
        // request (user).
        (120, 3) => l(N, Val::Bytes(6), T0),
        (120, 4) => l(N, Val::Bytes(2), T0),
        // Security statistics (121) and their events (122): flags, association, value.
        (121, 1) | (122, 1) => l(F, Val::Bytes(6), T0),
        (122, 2) => l(F, Val::Bytes(6), A),
        _ => None,
    }
}

/// How each object of `group`/`variation` is sized, or `None` when jobwatch does not know the
/// variation (IEEE 1815-2012 clause 11).
pub fn object_size(group: u8, variation: u8) -> Option<ObjectSize> {
    if let Some(layout) = layout(group, variation) {
        return u8::try_from(layout.len()).ok().map(ObjectSize::Fixed);
    }
    Some(match (group, variation) {
        (0, 1..=255) => ObjectSize::Attribute,
        (1, 1) | (10, 1) | (12, 3) | (80, 1) => ObjectSize::Packed(1),
        (3, 1) => ObjectSize::Packed(2),
        (60, 1..=4) => ObjectSize::HeaderOnly,
        (70, 1..=8) | (82, 1) | (83, 1..=2) | (85, 1) | (86, 1) | (86, 3) | (87, 1) | (88, 1) | (90, 1) | (91, 1) => {
            ObjectSize::SizePrefixed
        }
        (110..=113, _) => ObjectSize::VariationLength,
        (120, 1..=15) => ObjectSize::SizePrefixed,
        _ => return None,
    })
}

/// The snake_case name of an object group (IEEE 1815-2012 clause 11), `None` when unknown.
pub fn group_name(group: u8) -> Option<&'static str> {
    Some(match group {
        0 => "device_attributes",
        1 => "binary_input",
        2 => "binary_input_event",
        3 => "double_bit_binary_input",
        4 => "double_bit_binary_input_event",
        10 => "binary_output",
        11 => "binary_output_event",
        12 => "binary_output_command",
        13 => "binary_output_command_event",
        20 => "counter",
        21 => "frozen_counter",
        22 => "counter_event",
        23 => "frozen_counter_event",
        30 => "analog_input",
        31 => "frozen_analog_input",
        32 => "analog_input_event",
        33 => "frozen_analog_input_event",
        34 => "analog_input_deadband",
        40 => "analog_output_status",
        41 => "analog_output",
        42 => "analog_output_event",
        43 => "analog_output_command_event",
        50 => "time_and_date",
        51 => "common_time_of_occurrence",
        52 => "time_delay",
        60 => "class_data",
        70 => "file_control",
        80 => "internal_indications",
        81 => "storage",
        82 => "device_profile",
        83 => "data_set_registration",
        85 => "data_set_prototype",
        86 => "data_set_descriptor",
        87 => "data_set",
        88 => "data_set_event",
        90 => "application_identifier",
        91 => "status_of_requested_operation",
        101 => "bcd",
        102 => "unsigned_integer",
        110 => "octet_string",
        111 => "octet_string_event",
        112 => "virtual_terminal_output",
        113 => "virtual_terminal_event",
        120 => "authentication",
        121 => "security_statistic",
        122 => "security_statistic_event",
        _ => return None,
    })
}

/// True when the objects of `group` under `function` carry data; false when the function sends
/// headers only (IEEE 1815-2012 clause 4.4: read, freezes, enable/disable unsolicited, assign
/// class; freeze at time carries only its g50 time object) and for group 60.
pub fn carries_data(function: FunctionCode, group: u8) -> bool {
    if group == 60 {
        return false;
    }
    match function.0 {
        1 | 7..=10 | 20..=22 => false,
        11 | 12 => group == 50,
        _ => true,
    }
}

/// Point quality flags (IEEE 1815-2012 clause 11, the group descriptions; the meaning of bits 5
/// and 6 depends on the group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub fn online(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn restart(self) -> bool {
        self.0 & 0x02 != 0
    }
    pub fn comm_lost(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub fn remote_forced(self) -> bool {
        self.0 & 0x08 != 0
    }
    pub fn local_forced(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// Binary: chatter filter; counter: rollover; analog: over range.
    pub fn bit5(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// Counter: discontinuity; analog: reference error; binary: reserved.
    pub fn bit6(self) -> bool {
        self.0 & 0x40 != 0
    }
}

/// A control relay output block (group 12 variations 1 and 2, IEEE 1815-2012 clause 11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crob {
    /// Control code: operation type (bits 3..0), queue (4), clear (5), trip-close code (7..6).
    pub control_code: u8,
    pub count: u8,
    /// Milliseconds.
    pub on_time: u32,
    /// Milliseconds.
    pub off_time: u32,
    /// Command status (see [`command_status_name`]).
    pub status: u8,
}

impl Crob {
    /// The operation type: 0 NUL, 1 pulse on, 2 pulse off, 3 latch on, 4 latch off.
    pub fn op_type(&self) -> u8 {
        self.control_code & 0x0F
    }
    pub fn op_type_name(&self) -> Option<&'static str> {
        Some(match self.op_type() {
            0 => "nul",
            1 => "pulse_on",
            2 => "pulse_off",
            3 => "latch_on",
            4 => "latch_off",
            _ => return None,
        })
    }
    /// The trip-close code: 0 NUL, 1 close, 2 trip, 3 reserved.
    pub fn trip_close(&self) -> u8 {
        self.control_code >> 6
    }
    pub fn trip_close_name(&self) -> Option<&'static str> {
        Some(match self.trip_close() {
            0 => "nul",
            1 => "close",
            2 => "trip",
            _ => return None,
        })
    }
    /// The (obsolete) queue bit.
    pub fn queue(&self) -> bool {
        self.control_code & 0x10 != 0
    }
    /// The clear bit.
    pub fn clear(&self) -> bool {
        self.control_code & 0x20 != 0
    }
}

/// The name of a command status code (IEEE 1815-2012 clause 11, group 12 status codes), `None` when undefined.
pub fn command_status_name(status: u8) -> Option<&'static str> {
    Some(match status {
        0 => "success",
        1 => "timeout",
        2 => "no_select",
        3 => "format_error",
        4 => "not_supported",
        5 => "already_active",
        6 => "hardware_error",
        7 => "local",
        8 => "too_many_objs",
        9 => "not_authorized",
        10 => "automation_inhibit",
        11 => "processing_limited",
        12 => "out_of_range",
        13 => "downstream_local",
        14 => "already_complete",
        15 => "blocked",
        16 => "canceled",
        17 => "blocked_other_master",
        18 => "downstream_fail",
        126 => "non_participating",
        127 => "undefined",
        _ => return None,
    })
}

/// A point's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PointValue<'a> {
    /// Binary input or output state, IIN bit, pattern mask bit.
    Binary(bool),
    /// Double-bit state: 0 intermediate, 1 off, 2 on, 3 indeterminate.
    DoubleBit(u8),
    /// Counter, frozen counter, unsigned deadband.
    Unsigned(u32),
    /// Analog input or output, 16 or 32 bits, sign-extended.
    Signed(i32),
    Float(f32),
    Double(f64),
    /// Control relay output block.
    Crob(Crob),
    /// Milliseconds since 1970-01-01 UTC (groups 50 and 51); `interval` for g50v2/v4.
    Time {
        millis: u64,
        interval: Option<u32>,
        units: Option<u8>,
    },
    /// Time delay in milliseconds (group 52).
    Delay(u32),
    /// Octet string or virtual terminal data (groups 110–113).
    Octets(&'a [u8]),
    /// Any other object, raw.
    Raw(&'a [u8]),
}

/// A timestamp on an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timestamp {
    /// Milliseconds since 1970-01-01 UTC (48 bits).
    Absolute(u64),
    /// Milliseconds after the preceding common time of occurrence (group 51).
    Relative(u16),
}

/// One point: index, value, and what the object carries besides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point<'a> {
    pub index: u32,
    pub value: PointValue<'a>,
    pub flags: Option<Flags>,
    pub time: Option<Timestamp>,
    /// Command status (groups 13, 41, 43; a CROB carries it inside [`Crob`]).
    pub status: Option<u8>,
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = bytes.split_at_checked(n).unwrap_or((bytes, &[]));
    *bytes = rest;
    head
}

/// Decodes one fixed-size object (`bytes` is exactly `layout.len()` long).
fn decode_fixed(layout: Layout, mut bytes: &[u8], index: u32) -> Point<'_> {
    let lead = match layout.lead {
        Lead::None => None,
        _ => take(&mut bytes, 1).first().copied(),
    };
    let flags = (layout.lead == Lead::Flags).then(|| Flags(lead.unwrap_or(0)));
    let mut status = (layout.lead == Lead::Status).then(|| lead.unwrap_or(0) & 0x7F);
    let raw = take(&mut bytes, layout.value.len());
    let n = le(raw);
    let value = match layout.value {
        Val::FlagBit => PointValue::Binary(lead.unwrap_or(0) & 0x80 != 0),
        Val::FlagDoubleBit => PointValue::DoubleBit(lead.unwrap_or(0) >> 6),
        Val::StatusBit => PointValue::Binary(lead.unwrap_or(0) & 0x80 != 0),
        Val::U16 | Val::U32 => PointValue::Unsigned(n as u32),
        Val::I16 => PointValue::Signed(i32::from(n as u16 as i16)),
        Val::I32 => PointValue::Signed(n as u32 as i32),
        Val::F32 => PointValue::Float(f32::from_bits(n as u32)),
        Val::F64 => PointValue::Double(f64::from_bits(n)),
        Val::Crob => match *raw {
            [control_code, count, a, b, c, d, e, f, g, h, status] => PointValue::Crob(Crob {
                control_code,
                count,
                on_time: u32::from_le_bytes([a, b, c, d]),
                off_time: u32::from_le_bytes([e, f, g, h]),
                status,
            }),
            _ => PointValue::Raw(raw),
        },
        Val::Time48 => PointValue::Time { millis: n, interval: None, units: None },
        Val::TimeInterval | Val::TimeIntervalUnits => PointValue::Time {
            millis: le(raw.get(..6).unwrap_or(&[])),
            interval: Some(le(raw.get(6..10).unwrap_or(&[])) as u32),
            units: raw.get(10).copied(),
        },
        Val::DelaySeconds => PointValue::Delay((n as u32).saturating_mul(1000)),
        Val::DelayMillis => PointValue::Delay(n as u32),
        Val::Bytes(_) => PointValue::Raw(raw),
    };
    if layout.status_after {
        status = take(&mut bytes, 1).first().map(|s| s & 0x7F);
    }
    let time = match layout.time {
        Time::None => None,
        Time::Absolute => Some(Timestamp::Absolute(le(take(&mut bytes, 6)))),
        Time::Relative => Some(Timestamp::Relative(le(take(&mut bytes, 2)) as u16)),
    };
    Point { index, value, flags, time, status }
}

/// One object header and the bytes of its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    pub header: ObjectHeader,
    /// The objects' bytes, prefixes included (empty for header-only functions, except index
    /// prefixes).
    pub data: &'a [u8],
    /// True when the objects carry data (see [`carries_data`]).
    pub with_data: bool,
    /// How many of the header's objects [`Object::points`] may yield under the point limit.
    point_budget: u32,
}

impl<'a> Object<'a> {
    /// The group's name, if known.
    pub fn group_name(&self) -> Option<&'static str> {
        group_name(self.header.group)
    }

    /// The objects' values as points, at most the header's count and the fragment's remaining
    /// point budget. Empty for header-only objects and for groups jobwatch does not decode
    /// (device attributes, files, authentication, data sets).
    pub fn points(&self) -> Points<'a> {
        let header = self.header;
        let size = if self.with_data { object_size(header.group, header.variation) } else { None };
        Points {
            header,
            size,
            layout: layout(header.group, header.variation),
            rest: self.data,
            data: self.data,
            position: 0,
            remaining: u64::from(self.point_budget).min(header.count()),
        }
    }
}

/// Iterator over the points of one [`Object`].
#[derive(Clone, Debug)]
pub struct Points<'a> {
    header: ObjectHeader,
    size: Option<ObjectSize>,
    layout: Option<Layout>,
    rest: &'a [u8],
    data: &'a [u8],
    position: u32,
    remaining: u64,
}

impl<'a> Iterator for Points<'a> {
    type Item = Point<'a>;

    fn next(&mut self) -> Option<Point<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let qualifier = self.header.qualifier;
        let position = self.position;
        let mut index = self.header.range.start().unwrap_or(0).wrapping_add(position);
        let point = match self.size? {
            ObjectSize::Packed(bits) => {
                let bit = usize::try_from(position).ok()?.checked_mul(usize::from(bits))?;
                let byte = *self.data.get(bit / 8)?;
                let raw = (byte >> (bit % 8)) & ((1u8 << bits) - 1);
                let value = if bits == 1 { PointValue::Binary(raw == 1) } else { PointValue::DoubleBit(raw) };
                Point { index, value, flags: None, time: None, status: None }
            }
            ObjectSize::Fixed(len) => {
                let layout = self.layout?;
                if qualifier.size_prefix() {
                    return None;
                }
                if qualifier.index_prefix() {
                    index = le(take(&mut self.rest, qualifier.prefix_len()?)) as u32;
                }
                let bytes = self.rest.get(..usize::from(len))?;
                self.rest = self.rest.get(usize::from(len)..)?;
                decode_fixed(layout, bytes, index)
            }
            ObjectSize::VariationLength => {
                if qualifier.index_prefix() {
                    index = le(take(&mut self.rest, qualifier.prefix_len()?)) as u32;
                }
                let len = usize::from(self.header.variation);
                let bytes = self.rest.get(..len)?;
                self.rest = self.rest.get(len..)?;
                Point { index, value: PointValue::Octets(bytes), flags: None, time: None, status: None }
            }
            _ => return None,
        };
        self.position = position.wrapping_add(1);
        self.remaining -= 1;
        Some(point)
    }
}

/// Walks the object headers of one application fragment (after the function code and IIN).
///
/// Stops at the end of the bytes, or with an anomaly ([`UNKNOWN_OBJECT`],
/// [`TRUNCATED_OBJECT`], [`INVALID_QUALIFIER`], [`TOO_MANY_OBJECTS`]); [`TOO_MANY_POINTS`] does
/// not stop the walk (sizes are still known) but ends the points. [`Objects::anomalies`] tells
/// what was found so far.
#[derive(Clone, Debug)]
pub struct Objects<'a> {
    rest: &'a [u8],
    function: FunctionCode,
    limits: Limits,
    headers: usize,
    points: u64,
    anomalies: AnomalyList,
    done: bool,
}

impl<'a> Objects<'a> {
    /// The headers of `bytes` under `function`.
    pub fn new(bytes: &'a [u8], function: FunctionCode, limits: Limits) -> Self {
        Objects { rest: bytes, function, limits, headers: 0, points: 0, anomalies: AnomalyList::new(), done: false }
    }

    /// Anomalies found so far.
    pub fn anomalies(&self) -> AnomalyList {
        self.anomalies
    }

    /// Object headers yielded so far.
    pub fn headers(&self) -> usize {
        self.headers
    }

    /// Points counted so far (objects carrying data).
    pub fn points(&self) -> u64 {
        self.points
    }

    /// The bytes not yet walked (after a stop: where the walk stopped).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }

    fn stop(&mut self, anomaly: &'static AnomalyKind) -> Option<Object<'a>> {
        self.anomalies.push(anomaly);
        self.done = true;
        None
    }

    /// The length of a header's objects at the front of `rest`.
    fn objects_len(&self, header: &ObjectHeader, with_data: bool, rest: &[u8]) -> Result<usize, &'static AnomalyKind> {
        let qualifier = header.qualifier;
        let prefix = qualifier.prefix_len().ok_or(&INVALID_QUALIFIER)?;
        let count = header.count();
        let size = if with_data || qualifier.size_prefix() {
            object_size(header.group, header.variation).ok_or(&UNKNOWN_OBJECT)?
        } else {
            // Headers only: objects are index prefixes, if any.
            ObjectSize::Fixed(0)
        };
        let fixed = |each: u64| -> Result<usize, &'static AnomalyKind> {
            let total = count.checked_mul(each).ok_or(&TRUNCATED_OBJECT)?;
            usize::try_from(total).ok().filter(|&t| t <= rest.len()).ok_or(&TRUNCATED_OBJECT)
        };
        match size {
            ObjectSize::HeaderOnly => Ok(0),
            ObjectSize::Packed(bits) => {
                if prefix != 0 {
                    return Err(&INVALID_QUALIFIER);
                }
                let total = count.checked_mul(u64::from(bits)).ok_or(&TRUNCATED_OBJECT)?.div_ceil(8);
                usize::try_from(total).ok().filter(|&t| t <= rest.len()).ok_or(&TRUNCATED_OBJECT)
            }
            ObjectSize::Fixed(len) if !qualifier.size_prefix() => fixed(prefix as u64 + u64::from(len)),
            ObjectSize::VariationLength if !qualifier.size_prefix() => {
                fixed(prefix as u64 + u64::from(header.variation))
            }
            ObjectSize::Attribute if !qualifier.size_prefix() => {
                // Each: prefix, data type, length, value. At least 2 octets, so the loop is
                // bounded by the bytes present.
                let mut offset = 0usize;
                for _ in 0..count {
                    let length = *rest.get(offset + prefix + 1).ok_or(&TRUNCATED_OBJECT)?;
                    offset += prefix + 2 + usize::from(length);
                    if offset > rest.len() {
                        return Err(&TRUNCATED_OBJECT);
                    }
                }
                Ok(offset)
            }
            _ if qualifier.size_prefix() => {
                // Each: a size prefix, then that many octets; at least 1 octet each.
                let mut offset = 0usize;
                for _ in 0..count {
                    let size_bytes = rest.get(offset..offset + prefix).ok_or(&TRUNCATED_OBJECT)?;
                    let size = usize::try_from(le(size_bytes)).map_err(|_| &TRUNCATED_OBJECT)?;
                    offset = offset.checked_add(prefix + size).ok_or(&TRUNCATED_OBJECT)?;
                    if offset > rest.len() {
                        return Err(&TRUNCATED_OBJECT);
                    }
                }
                Ok(offset)
            }
            // A variable-size group without a size prefix cannot be sized.
            _ => Err(&INVALID_QUALIFIER),
        }
    }
}

impl<'a> Iterator for Objects<'a> {
    type Item = Object<'a>;

    fn next(&mut self) -> Option<Object<'a>> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        if self.headers >= self.limits.max_objects {
            return self.stop(&TOO_MANY_OBJECTS);
        }
        let &[group, variation, qualifier, ref rest @ ..] = self.rest else {
            return self.stop(&TRUNCATED_OBJECT);
        };
        let qualifier = Qualifier(qualifier);
        let Some(range_len) = qualifier.range_len().filter(|_| qualifier.is_valid()) else {
            return self.stop(&INVALID_QUALIFIER);
        };
        let Some((range_bytes, rest)) = rest.split_at_checked(range_len) else {
            return self.stop(&TRUNCATED_OBJECT);
        };
        let half = range_len / 2;
        let range = match qualifier.range_code() {
            0..=5 => {
                let start = le(range_bytes.get(..half).unwrap_or(&[])) as u32;
                let stop = le(range_bytes.get(half..).unwrap_or(&[])) as u32;
                if stop < start {
                    return self.stop(&INVALID_QUALIFIER);
                }
                if qualifier.range_code() <= 2 {
                    Range::StartStop { start, stop }
                } else {
                    Range::VirtualStartStop { start, stop }
                }
            }
            6 => Range::All,
            _ => Range::Count(le(range_bytes) as u32),
        };
        let header = ObjectHeader { group, variation, qualifier, range };
        let with_data = carries_data(self.function, group);
        if group_name(group).is_none() || (with_data && object_size(group, variation).is_none()) {
            return self.stop(&UNKNOWN_OBJECT);
        }
        // A header declaring more points than the limit is flagged before its data is looked
        // at: a flood of points is the anomaly, whether or not the bytes are all there.
        if with_data && self.points.saturating_add(header.count()) > u64::from(self.limits.max_points) {
            self.anomalies.push(&TOO_MANY_POINTS);
        }
        let len = match self.objects_len(&header, with_data, rest) {
            Ok(len) => len,
            Err(anomaly) => return self.stop(anomaly),
        };
        let Some((data, rest)) = rest.split_at_checked(len) else {
            return self.stop(&TRUNCATED_OBJECT);
        };
        let mut point_budget = 0;
        if with_data {
            let budget = u64::from(self.limits.max_points).saturating_sub(self.points);
            self.points = self.points.saturating_add(header.count());
            if self.points > u64::from(self.limits.max_points) {
                self.anomalies.push(&TOO_MANY_POINTS);
            }
            point_budget = u32::try_from(budget.min(header.count())).unwrap_or(u32::MAX);
        }
        self.rest = rest;
        self.headers += 1;
        Some(Object { header, data, with_data, point_budget })
    }
}

impl fmt::Display for ObjectHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}v{} q0x{:02X}", self.group, self.variation, self.qualifier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(bytes: &[u8], function: u8) -> (Vec<Object<'_>>, AnomalyList) {
        let mut objects = Objects::new(bytes, FunctionCode(function), Limits::DEFAULT);
        let list: Vec<_> = objects.by_ref().collect();
        (list, objects.anomalies())
    }

    #[test]
    fn deconstruct() {
        let q = Qualifier(0x28);
        assert_eq!((q.prefix_code(), q.range_code()), (2, 8));
        assert_eq!((q.prefix_len(), q.range_len()), (Some(2), Some(2)));
        assert!(q.index_prefix() && !q.size_prefix() && q.is_valid());
        let q = Qualifier(0x5B);
        assert!(q.size_prefix());
        assert_eq!(q.range_len(), Some(1));
        assert!(!Qualifier(0x0A).is_valid());
        assert!(!Qualifier(0x70).is_valid());
        assert!(!Qualifier(0x86).is_valid());
        assert_eq!(Range::StartStop { start: 3, stop: 5 }.count(), 3);
        assert_eq!(Range::All.count(), 0);
        assert_eq!(object_size(12, 1), Some(ObjectSize::Fixed(11)));
        assert_eq!(object_size(41, 2), Some(ObjectSize::Fixed(3)));
        assert_eq!(object_size(50, 1), Some(ObjectSize::Fixed(6)));
        assert_eq!(object_size(50, 4), Some(ObjectSize::Fixed(11)));
        assert_eq!(object_size(52, 2), Some(ObjectSize::Fixed(2)));
        assert_eq!(object_size(32, 8), Some(ObjectSize::Fixed(15)));
        assert_eq!(object_size(21, 5), Some(ObjectSize::Fixed(11)));
        assert_eq!(object_size(2, 3), Some(ObjectSize::Fixed(3)));
        assert_eq!(object_size(1, 1), Some(ObjectSize::Packed(1)));
        assert_eq!(object_size(3, 1), Some(ObjectSize::Packed(2)));
        assert_eq!(object_size(112, 7), Some(ObjectSize::VariationLength));
        assert_eq!(object_size(70, 3), Some(ObjectSize::SizePrefixed));
        assert_eq!(object_size(60, 1), Some(ObjectSize::HeaderOnly));
        assert_eq!(object_size(1, 9), None);
        assert_eq!(object_size(200, 1), None);
        assert_eq!(group_name(12), Some("binary_output_command"));
        assert!(!carries_data(FunctionCode::READ, 30));
        assert!(carries_data(FunctionCode::RESPONSE, 30));
        assert!(carries_data(FunctionCode(11), 50));
        assert!(!carries_data(FunctionCode(11), 20));
    }

    #[test]
    fn parse() {
        // Response objects (read_and_response.pcap, shortened): g1v2 start 0 stop 2 with flags,
        // then g30v1 qualifier 0x17 count 1 with a 1-octet index, then g12v1 via 0x28.
        let bytes = [
            0x01, 0x02, 0x00, 0x00, 0x02, // g1v2, start 0, stop 2
            0x81, 0x01, 0x02, // online+state, online, restart
            0x1E, 0x01, 0x17, 0x01, // g30v1, count 1, 1-octet index
            0x07, 0x01, 0xFE, 0xFF, 0xFF, 0xFF, // index 7, online, -2
            0x0C, 0x01, 0x28, 0x01, 0x00, // g12v1, count 1, 2-octet index
            0x03, 0x00, // index 3
            0x41, 0x01, 0xE8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // CROB
        ];
        let (objects, anomalies) = walk(&bytes, 129);
        assert!(anomalies.is_empty(), "{anomalies:?}");
        assert_eq!(objects.len(), 3);
        let points: Vec<_> = objects[0].points().collect();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].value, PointValue::Binary(true));
        assert_eq!(points[1].value, PointValue::Binary(false));
        assert_eq!(points[2].index, 2);
        assert!(points[2].flags.is_some_and(|f| f.restart() && !f.online()));
        let analog: Vec<_> = objects[1].points().collect();
        assert_eq!(analog[0].index, 7);
        assert_eq!(analog[0].value, PointValue::Signed(-2));
        let crob: Vec<_> = objects[2].points().collect();
        assert_eq!(crob[0].index, 3);
        let PointValue::Crob(crob) = crob[0].value else { panic!() };
        assert_eq!(crob.op_type_name(), Some("pulse_on"));
        assert_eq!(crob.trip_close_name(), Some("close"));
        assert_eq!((crob.count, crob.on_time, crob.off_time, crob.status), (1, 1000, 0, 0));
        assert_eq!(command_status_name(crob.status), Some("success"));
    }

    #[test]
    fn packed_and_time() {
        let bytes = [
            0x01,
            0x01,
            0x00,
            0x00,
            0x09,
            0b1010_0101,
            0b0000_0010, // g1v1 0..=9 packed
            0x03,
            0x01,
            0x00,
            0x00,
            0x03,
            0b1110_0100, // g3v1 0..=3, 2 bits each
            0x32,
            0x01,
            0x07,
            0x01,
            0x10,
            0x27,
            0x00,
            0x00,
            0x00,
            0x00, // g50v1 count 1: 10000 ms
            0x34,
            0x02,
            0x07,
            0x01,
            0xF4,
            0x01, // g52v2 count 1: 500 ms
            0x6E,
            0x03,
            0x00,
            0x05,
            0x05,
            b'a',
            b'b',
            b'c', // g110v3 index 5
        ];
        let (objects, anomalies) = walk(&bytes, 129);
        assert!(anomalies.is_empty(), "{anomalies:?}");
        let bits: Vec<_> = objects[0].points().map(|p| p.value).collect();
        assert_eq!(bits.len(), 10);
        assert_eq!(bits[0], PointValue::Binary(true));
        assert_eq!(bits[1], PointValue::Binary(false));
        assert_eq!(bits[9], PointValue::Binary(true));
        let double: Vec<_> = objects[1].points().map(|p| p.value).collect();
        assert_eq!(double, [0, 1, 2, 3].map(PointValue::DoubleBit));
        let time: Vec<_> = objects[2].points().map(|p| p.value).collect();
        assert_eq!(time, [PointValue::Time { millis: 10_000, interval: None, units: None }]);
        assert_eq!(objects[3].points().next().map(|p| p.value), Some(PointValue::Delay(500)));
        let octets = objects[4].points().next().unwrap();
        assert_eq!((octets.index, octets.value), (5, PointValue::Octets(b"abc")));
    }

    #[test]
    fn truncated() {
        for bytes in [&[0x01, 0x02][..], &[0x01, 0x02, 0x01, 0x00], &[0x1E, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00]] {
            let (_, anomalies) = walk(bytes, 129);
            assert!(anomalies.contains(&TRUNCATED_OBJECT), "{bytes:02X?}");
        }
        // Size-prefixed g70 object whose size runs past the end.
        let (_, anomalies) = walk(&[0x46, 0x03, 0x5B, 0x01, 0x10, 0x00, 0x01], 25);
        assert!(anomalies.contains(&TRUNCATED_OBJECT));
    }

    #[test]
    fn impossible_len() {
        // Stop below start.
        let (_, anomalies) = walk(&[0x01, 0x02, 0x00, 0x05, 0x01], 129);
        assert!(anomalies.contains(&INVALID_QUALIFIER));
        // A huge 4-octet count of fixed objects.
        let (_, anomalies) = walk(&[0x1E, 0x01, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0x00], 129);
        assert!(anomalies.contains(&TRUNCATED_OBJECT));
        // A huge count of zero-length octet strings: sized by multiplication, not a loop.
        let (objects, anomalies) = walk(&[0x6E, 0x00, 0x09, 0xFF, 0xFF, 0xFF, 0xFF], 129);
        assert!(anomalies.contains(&TOO_MANY_POINTS));
        assert_eq!(objects[0].points().count(), 16384);
    }

    #[test]
    fn anomalies() {
        // Unknown group stops the walk.
        let (objects, anomalies) = walk(&[0x01, 0x02, 0x06, 0xC8, 0x01, 0x06, 0x01, 0x02, 0x06], 1);
        assert_eq!(objects.len(), 1);
        assert!(anomalies.contains(&UNKNOWN_OBJECT));
        // Unknown variation with data.
        let (_, anomalies) = walk(&[0x1E, 0x09, 0x00, 0x00, 0x00, 0x00], 129);
        assert!(anomalies.contains(&UNKNOWN_OBJECT));
        // Reserved qualifier.
        let (_, anomalies) = walk(&[0x1E, 0x01, 0x0A], 1);
        assert!(anomalies.contains(&INVALID_QUALIFIER));
        // Too many objects: a read of 8 class headers with a limit of 7 (as Suricata's
        // dnp3-max-objects test configures).
        let read = [0x3C, 0x01, 0x06].repeat(8);
        let mut objects = Objects::new(&read, FunctionCode::READ, Limits { max_objects: 7, max_points: 10 });
        assert_eq!(objects.by_ref().count(), 7);
        assert!(objects.anomalies().contains(&TOO_MANY_OBJECTS));
        // Header-only read with a large range counts no points.
        let (_, anomalies) = walk(&[0x01, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF], 1);
        assert!(anomalies.is_empty());
        // Packed bits with an index prefix cannot be sized.
        let (_, anomalies) = walk(&[0x01, 0x01, 0x17, 0x01, 0x00, 0x01], 129);
        assert!(anomalies.contains(&INVALID_QUALIFIER));
    }
}
