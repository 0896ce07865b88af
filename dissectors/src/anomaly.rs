//! Protocol anomalies: stable identifiers that users alert on and count.
//!
//! Anomalies are static descriptors (`&'static AnomalyKind`) so attaching one to a message costs
//! nothing and needs no allocation. The `id` is part of jobwatch's public interface (it becomes the
//! `anomaly` field of a `protocol_anomaly` alert) and must never change once released.

use std::fmt;

/// Alert severity, as in INTERFACE.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The lower-case name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One kind of protocol anomaly.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AnomalyKind {
    /// Stable id, `protocol.snake_case_name` (e.g. `modbus.invalid_length`).
    pub id: &'static str,
    /// Default severity of the `protocol_anomaly` alert.
    pub severity: Severity,
    /// One plain sentence saying what was wrong.
    pub description: &'static str,
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.id, self.description)
    }
}

/// A small inline set of anomalies attached to one message: no allocation.
///
/// Holds up to [`AnomalyList::CAPACITY`] distinct anomalies; further ones set `overflowed`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct AnomalyList {
    items: [Option<&'static AnomalyKind>; AnomalyList::CAPACITY],
    len: u8,
    overflowed: bool,
}

impl AnomalyList {
    /// How many distinct anomalies one message can carry.
    pub const CAPACITY: usize = 4;

    /// An empty list.
    pub const fn new() -> Self {
        AnomalyList { items: [None; Self::CAPACITY], len: 0, overflowed: false }
    }

    /// Adds `kind` unless it is already present.
    pub fn push(&mut self, kind: &'static AnomalyKind) {
        if self.iter().any(|k| std::ptr::eq(k, kind)) {
            return;
        }
        match self.items.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = Some(kind);
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// The anomalies, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &'static AnomalyKind> + '_ {
        self.items.iter().take(self.len as usize).filter_map(|k| *k)
    }

    /// True when no anomaly was found.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct anomalies held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when more anomalies were found than the list can hold.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// True when `kind` is in the list.
    pub fn contains(&self, kind: &'static AnomalyKind) -> bool {
        self.iter().any(|k| std::ptr::eq(k, kind))
    }
}

impl fmt::Debug for AnomalyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|k| k.id)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: AnomalyKind = AnomalyKind { id: "t.a", severity: Severity::Low, description: "a" };
    static B: AnomalyKind = AnomalyKind { id: "t.b", severity: Severity::Low, description: "b" };

    #[test]
    fn push_dedups_and_overflows() {
        let mut list = AnomalyList::new();
        list.push(&A);
        list.push(&A);
        assert_eq!(list.len(), 1);
        for _ in 0..AnomalyList::CAPACITY {
            list.push(&B);
        }
        assert_eq!(list.len(), 2);
        assert!(!list.overflowed());
        assert!(list.contains(&B));
    }
}
