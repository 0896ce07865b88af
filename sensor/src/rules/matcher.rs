//! The compiled matchers: who (selectors), what (protocol, category, function), where
//! (units, addresses, points, DBs, areas, blocks) and when (time windows). Everything here is
//! immutable after compilation and cheap to evaluate on every transaction.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use dissectors::Category;
use jiff::tz::TimeZone;

use super::functions::FunctionSel;
use super::net::{self, Cidr};
use super::{Asset, Role};
use crate::transaction::{ProtocolDetail, Transaction};

// ---------------------------------------------------------------------------------------------
// Assets

/// The assets of a rule set, indexed for "most specific network wins" lookups.
#[derive(Debug, Default)]
pub struct AssetTable {
    assets: Vec<Asset>,
    /// One map per prefix length and address family, longest prefix first.
    by_prefix: Vec<(u8, bool, HashMap<IpAddr, usize>)>,
}

impl AssetTable {
    pub(super) fn new(assets: Vec<Asset>) -> AssetTable {
        let mut by_prefix: Vec<(u8, bool, HashMap<IpAddr, usize>)> = Vec::new();
        for (i, asset) in assets.iter().enumerate() {
            for net in &asset.networks {
                let v4 = net.network().is_ipv4();
                let pos = match by_prefix.iter().position(|(p, f, _)| *p == net.prefix() && *f == v4) {
                    Some(pos) => pos,
                    None => {
                        by_prefix.push((net.prefix(), v4, HashMap::new()));
                        by_prefix.len() - 1
                    }
                };
                if let Some((_, _, map)) = by_prefix.get_mut(pos) {
                    map.entry(net.network()).or_insert(i);
                }
            }
        }
        by_prefix.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        AssetTable { assets, by_prefix }
    }

    /// The asset `ip` belongs to: of the assets whose networks contain it, the one with the
    /// longest prefix.
    pub fn get(&self, ip: IpAddr) -> Option<&Asset> {
        let ip = ip.to_canonical();
        let v4 = ip.is_ipv4();
        self.by_prefix
            .iter()
            .filter(|(_, family, _)| *family == v4)
            .find_map(|(prefix, _, map)| map.get(&net::mask(ip, *prefix)))
            .and_then(|i| self.assets.get(*i))
    }

    /// The asset with this name.
    pub fn by_name(&self, name: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.name == name)
    }

    /// Every asset, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Asset> {
        self.assets.iter()
    }

    pub fn len(&self) -> usize {
        self.assets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Selectors

/// Which hosts a rule applies to: `any`, asset names, roles, addresses and networks. A host
/// matches when it matches any of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    atoms: Vec<Atom>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Atom {
    Any,
    Net(Cidr),
    /// An asset, with its networks (so that matching needs no table).
    Asset {
        name: String,
        nets: Vec<Cidr>,
    },
    /// Hosts whose asset (most specific network) has this role.
    Role(Role),
}

impl Selector {
    /// Every host.
    pub fn any() -> Selector {
        Selector { atoms: vec![Atom::Any] }
    }

    pub(super) fn new(atoms: Vec<Atom>) -> Selector {
        if atoms.is_empty() || atoms.contains(&Atom::Any) {
            Selector::any()
        } else {
            Selector { atoms }
        }
    }

    pub fn is_any(&self) -> bool {
        self.atoms.contains(&Atom::Any)
    }

    /// Whether `ip` is selected; roles are looked up in `assets`.
    pub fn matches(&self, ip: IpAddr, assets: &AssetTable) -> bool {
        let mut role: Option<Option<Role>> = None;
        self.atoms.iter().any(|atom| match atom {
            Atom::Any => true,
            Atom::Net(net) => net.contains(ip),
            Atom::Asset { nets, .. } => nets.iter().any(|n| n.contains(ip)),
            Atom::Role(r) => *role.get_or_insert_with(|| assets.get(ip).map(|a| a.role)) == Some(*r),
        })
    }

    /// Whether every host `other` selects is certainly selected by `self` (conservative: false
    /// when unsure).
    pub(super) fn covers(&self, other: &Selector) -> bool {
        if self.is_any() {
            return true;
        }
        if other.is_any() {
            return false;
        }
        other.atoms.iter().all(|o| {
            self.atoms.iter().any(|s| match (s, o) {
                (Atom::Net(a), Atom::Net(b)) => a.covers(b),
                (Atom::Asset { name: a, .. }, Atom::Asset { name: b, .. }) => a == b,
                (Atom::Asset { nets, .. }, Atom::Net(b)) => nets.iter().any(|n| n.covers(b)),
                (Atom::Net(a), Atom::Asset { nets, .. }) => nets.iter().all(|n| a.covers(n)),
                (Atom::Role(a), Atom::Role(b)) => a == b,
                _ => false,
            })
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, atom) in self.atoms.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match atom {
                Atom::Any => f.write_str("any")?,
                Atom::Net(n) => write!(f, "{n}")?,
                Atom::Asset { name, .. } => f.write_str(name)?,
                Atom::Role(r) => f.write_str(r.as_str())?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Ranges and targets

/// Sorted, merged, inclusive ranges of numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    pub(super) fn new(mut ranges: Vec<(u64, u64)>) -> RangeSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        RangeSet(merged)
    }

    /// Whether `lo..=hi` lies within the set.
    pub fn contains(&self, lo: u64, hi: u64) -> bool {
        self.0.iter().any(|(a, b)| *a <= lo && hi <= *b)
    }

    /// Whether `lo..=hi` has a number in the set.
    pub fn overlaps(&self, lo: u64, hi: u64) -> bool {
        self.0.iter().any(|(a, b)| *a <= hi && lo <= *b)
    }

    fn covers(&self, other: &RangeSet) -> bool {
        other.0.iter().all(|(lo, hi)| self.contains(*lo, *hi))
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.0
    }
}

/// How a target must relate to what a transaction touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Everything the transaction touches lies within the target (allow, ignore, jobs,
    /// thresholds: the rule vouches for all of it).
    Within,
    /// The transaction touches the target somewhere (alert: touching is enough).
    Touches,
}

/// An S7 block pattern: a type (`OB`), with a number range or any number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BlockPattern {
    pub kind: &'static str,
    pub numbers: Option<(u64, u64)>,
}

/// S7 block types, as the sensor names blocks (`OB1`, `DB10`).
pub(super) const BLOCK_TYPES: [&str; 7] = ["OB", "DB", "SDB", "FC", "SFC", "FB", "SFB"];

/// Splits `DB10` into its type and number.
pub(super) fn split_block(name: &str) -> Option<(&'static str, &str)> {
    let digits = name.find(|c: char| c.is_ascii_digit()).unwrap_or(name.len());
    let (kind, rest) = name.split_at(digits);
    let kind = BLOCK_TYPES.iter().copied().find(|k| k.eq_ignore_ascii_case(kind))?;
    Some((kind, rest))
}

impl BlockPattern {
    fn matches(&self, block: &str) -> bool {
        let Some((kind, number)) = split_block(block) else { return false };
        if kind != self.kind {
            return false;
        }
        match self.numbers {
            None => true,
            Some((lo, hi)) => number.parse::<u64>().is_ok_and(|n| lo <= n && n <= hi),
        }
    }

    fn covers(&self, other: &BlockPattern) -> bool {
        self.kind == other.kind
            && match (self.numbers, other.numbers) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some((a, b)), Some((c, d))) => a <= c && d <= b,
            }
    }
}

/// Where a command may act: units, addresses, points, DBs, areas, blocks. A key that is
/// absent does not constrain; a key that is present limits the rule to the protocols that have
/// that kind of target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub(super) fit: Fit,
    pub(super) units: Option<RangeSet>,
    pub(super) addresses: Option<RangeSet>,
    pub(super) points: Option<RangeSet>,
    pub(super) dbs: Option<RangeSet>,
    pub(super) areas: Option<Vec<u8>>,
    pub(super) blocks: Option<Vec<BlockPattern>>,
}

impl Target {
    pub fn is_unconstrained(&self) -> bool {
        self.units.is_none()
            && self.addresses.is_none()
            && self.points.is_none()
            && self.dbs.is_none()
            && self.areas.is_none()
            && self.blocks.is_none()
    }

    /// Whether the transaction acts on this target.
    pub fn matches(&self, t: &Transaction) -> bool {
        if self.is_unconstrained() {
            return true;
        }
        let fit = self.fit;
        let ranges_fit = |set: &RangeSet, touched: &[(u64, u64)]| -> bool {
            !touched.is_empty()
                && match fit {
                    Fit::Within => touched.iter().all(|(lo, hi)| set.contains(*lo, *hi)),
                    Fit::Touches => touched.iter().any(|(lo, hi)| set.overlaps(*lo, *hi)),
                }
        };
        match &t.detail {
            ProtocolDetail::Modbus(m) => {
                if self.points.is_some() || self.dbs.is_some() || self.areas.is_some() || self.blocks.is_some() {
                    return false;
                }
                if let Some(units) = &self.units {
                    let u = u64::from(m.unit_id);
                    if !units.contains(u, u) {
                        return false;
                    }
                }
                if let Some(addresses) = &self.addresses {
                    // FC 23 reads one range and writes another: the written one is what a
                    // command rule is about.
                    let (address, quantity) = match m.write_address {
                        Some(a) => (Some(a), m.write_quantity),
                        None => (m.address, m.quantity),
                    };
                    let Some(address) = address else { return false };
                    let lo = u64::from(address);
                    let hi = lo + u64::from(quantity.unwrap_or(1).max(1)) - 1;
                    if !ranges_fit(addresses, &[(lo, hi)]) {
                        return false;
                    }
                }
                true
            }
            ProtocolDetail::Dnp3(d) => {
                if self.addresses.is_some() || self.dbs.is_some() || self.areas.is_some() || self.blocks.is_some() {
                    return false;
                }
                if let Some(units) = &self.units {
                    let u = u64::from(d.destination);
                    if !units.contains(u, u) {
                        return false;
                    }
                }
                if let Some(points) = &self.points {
                    let mut touched: Vec<(u64, u64)> = d
                        .objects
                        .iter()
                        .filter_map(|o| Some((u64::from(o.start?), u64::from(o.stop?))))
                        .map(|(a, b)| (a.min(b), a.max(b)))
                        .collect();
                    touched.extend(d.points.iter().map(|p| (u64::from(p.index), u64::from(p.index))));
                    if !ranges_fit(points, &touched) {
                        return false;
                    }
                }
                true
            }
            ProtocolDetail::S7comm(d) => {
                if self.units.is_some() || self.addresses.is_some() || self.points.is_some() {
                    return false;
                }
                if let Some(dbs) = &self.dbs {
                    let ok = match fit {
                        Fit::Within => {
                            !d.items.is_empty()
                                && d.items.iter().all(|i| i.db.is_some_and(|db| dbs.contains(db.into(), db.into())))
                        }
                        Fit::Touches => {
                            d.items.iter().any(|i| i.db.is_some_and(|db| dbs.contains(db.into(), db.into())))
                        }
                    };
                    if !ok {
                        return false;
                    }
                }
                if let Some(areas) = &self.areas {
                    let listed = |area: Option<u8>| area.is_some_and(|a| areas.contains(&a));
                    let ok = match fit {
                        Fit::Within => !d.items.is_empty() && d.items.iter().all(|i| listed(i.area)),
                        Fit::Touches => d.items.iter().any(|i| listed(i.area)),
                    };
                    if !ok {
                        return false;
                    }
                }
                if let Some(blocks) = &self.blocks {
                    let names: Vec<&str> = d.blocks.iter().map(String::as_str).chain(d.block.as_deref()).collect();
                    let listed = |name: &&str| blocks.iter().any(|p| p.matches(name));
                    let ok = match fit {
                        Fit::Within => !names.is_empty() && names.iter().all(listed),
                        Fit::Touches => names.iter().any(listed),
                    };
                    if !ok {
                        return false;
                    }
                }
                true
            }
            ProtocolDetail::S7commPlus(_) => false,
        }
    }

    /// Whether every transaction `other` matches is certainly matched by `self`.
    fn covers(&self, other: &Target) -> bool {
        if self.is_unconstrained() {
            return true;
        }
        // A target that must contain what is touched can be escaped by touching more.
        if self.fit == Fit::Within && other.fit == Fit::Touches {
            return false;
        }
        fn dim<T>(a: &Option<T>, b: &Option<T>, covers: impl Fn(&T, &T) -> bool) -> bool {
            match (a, b) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => covers(a, b),
            }
        }
        dim(&self.units, &other.units, RangeSet::covers)
            && dim(&self.addresses, &other.addresses, RangeSet::covers)
            && dim(&self.points, &other.points, RangeSet::covers)
            && dim(&self.dbs, &other.dbs, RangeSet::covers)
            && dim(&self.areas, &other.areas, |a, b| b.iter().all(|x| a.contains(x)))
            && dim(&self.blocks, &other.blocks, |a, b| b.iter().all(|x| a.iter().any(|y| y.covers(x))))
    }

    /// The same constraints, ignoring how they must fit.
    fn same_constraints(&self, other: &Target) -> bool {
        Target { fit: other.fit, ..self.clone() } == *other
    }
}

// ---------------------------------------------------------------------------------------------
// Time windows

/// Days of the week and a time of day in a time zone: a maintenance window.
#[derive(Clone, Debug)]
pub struct Window {
    /// Monday first.
    pub(super) days: [bool; 7],
    /// Minutes after local midnight: the window is `start..end`; `end` may be 1440 (24:00);
    /// `end < start` crosses midnight, and then belongs to the day it starts on.
    pub(super) start: u16,
    pub(super) end: u16,
    pub(super) tz: TimeZone,
    pub(super) tz_name: String,
}

impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.days == other.days && self.start == other.start && self.end == other.end && self.tz_name == other.tz_name
    }
}

impl Window {
    /// Whether the capture time (µs since the Unix epoch) falls in the window.
    pub fn contains(&self, time_us: u64) -> bool {
        let Ok(us) = i64::try_from(time_us) else { return false };
        let Ok(ts) = jiff::Timestamp::from_microsecond(us) else { return false };
        let local = self.tz.to_datetime(ts);
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        let on = |d: usize| self.days.get(d % 7).copied().unwrap_or(false);
        if self.start < self.end {
            on(day) && self.start <= minute && minute < self.end
        } else {
            (on(day) && minute >= self.start) || (on(day + 6) && minute < self.end)
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days: Vec<&str> = NAMES.iter().zip(self.days).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        write!(
            f,
            "{} {:02}:{:02}-{:02}:{:02} {}",
            days.join(","),
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60,
            self.tz_name
        )
    }
}

// ---------------------------------------------------------------------------------------------
// What a rule matches

/// The conditions shared by command rules, declared jobs and threshold entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// The protocols the rule can apply to (from `protocol`, its functions and its targets);
    /// `None` for all.
    pub(super) protocols: Option<Vec<&'static str>>,
    /// `category` and `function` widen each other: either may match. Both empty: every
    /// category but `read` (reads are not commands unless a rule names them), or every
    /// category when `reads_by_default`.
    pub(super) categories: Vec<Category>,
    pub(super) functions: Vec<FunctionSel>,
    pub(super) master: Selector,
    pub(super) outstation: Selector,
    pub(super) target: Target,
    /// Whether naming no category and no function matches reads too (thresholds), rather
    /// than every category but reads (command rules).
    pub(super) reads_by_default: bool,
}

impl Match {
    /// Whether the transaction matches every condition but the time.
    pub fn matches(&self, t: &Transaction, assets: &AssetTable) -> bool {
        if let Some(protocols) = &self.protocols {
            if !protocols.contains(&t.app_proto) {
                return false;
            }
        }
        let what = if self.categories.is_empty() && self.functions.is_empty() {
            self.reads_by_default || t.category != Category::Read
        } else {
            self.categories.contains(&t.category) || self.functions.iter().any(|f| f.matches(t))
        };
        what && self.master.matches(t.flow.client.ip, assets)
            && self.outstation.matches(t.flow.server.ip, assets)
            && self.target.matches(t)
    }

    /// Whether the rule names reads explicitly (category `read`, or a read function).
    pub fn names_reads(&self) -> bool {
        self.categories.contains(&Category::Read)
            || self.functions.iter().any(|f| f.category().is_none_or(|c| c == Category::Read))
    }

    /// Whether every transaction `other` matches is certainly matched by `self`.
    pub(super) fn covers(&self, other: &Match) -> bool {
        let protocols = match (&self.protocols, &other.protocols) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b.iter().all(|p| a.contains(p)),
        };
        let self_all = self.categories.is_empty() && self.functions.is_empty();
        let other_all = other.categories.is_empty() && other.functions.is_empty();
        let what = if self_all {
            self.reads_by_default || !(other.names_reads() || other_all && other.reads_by_default)
        } else if other_all {
            let needed = Category::ALL.iter().filter(|c| other.reads_by_default || **c != Category::Read);
            needed.into_iter().all(|c| self.categories.contains(c))
        } else {
            other.categories.iter().all(|c| self.categories.contains(c))
                && other
                    .functions
                    .iter()
                    .all(|f| self.functions.contains(f) || f.category().is_some_and(|c| self.categories.contains(&c)))
        };
        protocols
            && what
            && self.master.covers(&other.master)
            && self.outstation.covers(&other.outstation)
            && self.target.covers(&other.target)
    }

    /// Whether the two match exactly the same way (up to how targets must fit).
    pub(super) fn same_as(&self, other: &Match) -> bool {
        self.protocols == other.protocols
            && self.categories == other.categories
            && self.functions == other.functions
            && self.master == other.master
            && self.outstation == other.outstation
            && self.target.same_constraints(&other.target)
            && self.reads_by_default == other.reads_by_default
    }
}
