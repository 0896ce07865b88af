//! Validation of the parsed files and their compilation into a [`RuleSet`].
//!
//! Every entry is checked on its own, in file order, and every problem is collected (an entry
//! with a problem is left out, and the next one checked), so that one run of
//! `jobwatch rules check` lists all of them. Names are resolved once all files' assets are
//! known, so that a folder can keep its assets in one file and its rules in others. The
//! cross-entry checks (duplicate ids, contradictions) come last.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dissectors::{Category, Severity};
use jiff::tz::TimeZone;

use super::functions::{self, did_you_mean, FunctionSel, PROTOCOLS};
use super::matcher::{split_block, Atom, BlockPattern, Fit, Match, RangeSet, Selector, Target, Window, BLOCK_TYPES};
use super::net::Cidr;
use super::raw::{List, RawAsset, RawCommand, RawFile, RawJob, RawMatch, RawSuppress, RawThreshold, RawWindow, Scalar};
use super::{
    Action, Asset, AssetTable, CommandRule, DeclaredJob, KeyField, Origin, Role, RuleSet, Source, Suppression,
    ThresholdRule, Thresholds, ALERT_KINDS, DEFAULT_TEXT, VERSION,
};
use crate::event::AlertKind;
use crate::yaml::{self, Location, Spanned, YamlError};

/// Rewrites serde's wording for keys in the file's terms, with a suggestion for a misspelt
/// key: `unknown key `sevrity`; did you mean `severity`?`.
pub(super) fn polish(mut e: YamlError) -> YamlError {
    if let Some(rest) = e.message.strip_prefix("unknown field `") {
        if let Some((name, expected)) = rest.split_once('`') {
            let expected = expected.trim_start_matches(',').trim();
            let list = expected.strip_prefix("expected one of ").or_else(|| expected.strip_prefix("expected "));
            let keys: Vec<String> = list
                .unwrap_or_default()
                .split(',')
                .map(|k| k.trim().trim_matches('`').to_owned())
                .filter(|k| !k.is_empty())
                .collect();
            e.message = match did_you_mean(name, keys.iter().map(String::as_str)) {
                Some(best) => format!("unknown key `{name}`; did you mean `{best}`?"),
                None if keys.is_empty() => format!("unknown key `{name}`"),
                None => format!("unknown key `{name}`; expected one of {}", keys.join(", ")),
            };
        }
    } else if let Some(rest) = e.message.strip_prefix("missing field `") {
        e.message = format!("missing key `{rest}");
    } else if let Some(rest) = e.message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = match found {
                "map" => "a mapping (`key: value` lines)",
                "sequence" => "a list",
                other => other,
            };
            e.message = format!("expected {expected}, not {found}");
        }
    } else if e.message == "expected sequence start" {
        e.message = "expected a list (entries starting with `- `)".to_owned();
    } else if e.message == "expected string scalar" {
        e.message = "expected a single value (text), not a list or a mapping".to_owned();
    } else if e.message == "expected mapping start" {
        e.message = "expected a mapping (`key: value` lines)".to_owned();
    }
    e
}

/// A target key, its value, and the protocols it applies to.
type TargetKey<'a> = (&'static str, &'a Option<Spanned<List>>, &'static [&'static str]);

/// A compiled threshold entry, where it was written, and where each of its values is.
type PlacedThreshold = (ThresholdRule, Origin, [Option<Location>; 3]);

/// What the numbers of a range key are, for messages.
struct Bounds {
    max: u64,
    what: &'static str,
}

struct Compiler {
    files: Vec<String>,
    builtin: Vec<bool>,
    errors: Vec<(usize, YamlError)>,
    /// Some file could not be parsed: the names it defines are unknown, so names that do not
    /// resolve are not reported (they would be noise after the real error).
    incomplete: bool,
    /// Some asset has a problem: asset names that do not resolve are not reported.
    assets_incomplete: bool,
    /// The file being compiled.
    cur: usize,
    /// Per file: its `time_zone`.
    file_tz: Vec<Option<(TimeZone, String)>>,
    assets: Vec<Asset>,
    /// Asset name → where it was defined.
    asset_at: HashMap<String, (usize, u64)>,
    /// Ids of command rules and declared jobs (what alerts carry as `rule_id`).
    rule_ids: HashSet<String>,
    /// Ids of the declared jobs written in the files (also those with a problem).
    job_ids: HashSet<String>,
}

pub(super) fn compile(sources: Vec<Source>) -> Result<RuleSet, Vec<YamlError>> {
    let mut c = Compiler {
        files: sources.iter().map(|s| s.file.clone()).collect(),
        builtin: sources.iter().map(|s| s.builtin).collect(),
        errors: Vec::new(),
        incomplete: false,
        assets_incomplete: false,
        cur: 0,
        file_tz: vec![None; sources.len()],
        assets: Vec::new(),
        asset_at: HashMap::new(),
        rule_ids: HashSet::new(),
        job_ids: HashSet::new(),
    };
    let mut raws: Vec<(usize, RawFile)> = Vec::new();
    for (i, source) in sources.into_iter().enumerate() {
        match source.raw {
            Ok(raw) => raws.push((i, raw)),
            Err(e) => {
                c.errors.push((i, e));
                c.incomplete = true;
            }
        }
    }

    for (i, raw) in &mut raws {
        c.cur = *i;
        if raw.version.value != VERSION {
            c.err(
                &raw.version.referenced,
                format!("unsupported rules version {}: this jobwatch reads version {VERSION}", raw.version.value),
            );
        }
        if let Some(tz) = &raw.time_zone {
            let found = c.time_zone(tz);
            if let Some(slot) = c.file_tz.get_mut(*i) {
                *slot = found;
            }
        }
        for asset in raw.assets.take().unwrap_or_default() {
            c.asset(asset);
        }
    }
    c.ids(&raws);

    let assets = Arc::new(AssetTable::new(c.assets.clone()));
    let mut commands = Vec::new();
    let mut jobs = Vec::new();
    let mut job_fields: HashMap<(usize, &'static str), (usize, u64)> = HashMap::new();
    let mut thresholds: Vec<PlacedThreshold> = Vec::new();
    let mut suppressions = Vec::new();
    for (i, raw) in &mut raws {
        c.cur = *i;
        for rule in raw.commands.take().unwrap_or_default() {
            let at = rule.referenced;
            if let Some(rule) = c.checked(at, |c| c.command(rule)) {
                commands.push(rule);
            }
        }
        for job in raw.jobs.take().unwrap_or_default() {
            let at = job.referenced;
            if let Some(job) = c.checked(at, |c| c.job(job, &assets)) {
                for (field, set) in [("stop_after", job.stop_after_us), ("response_limit", job.response_limit_us)] {
                    if set.is_some() {
                        job_fields.insert((jobs.len(), field), (job.origin.file, line(&job.origin.at)));
                    }
                }
                job_fields.insert((jobs.len(), "tolerance"), (job.origin.file, line(&job.origin.at)));
                jobs.push(job);
            }
        }
    }
    for (i, raw) in &mut raws {
        c.cur = *i;
        for entry in raw.thresholds.take().unwrap_or_default() {
            if let Some(rule) = c.threshold(entry, &mut jobs, &mut job_fields) {
                thresholds.push(rule);
            }
        }
        for entry in raw.suppress.take().unwrap_or_default() {
            let at = entry.referenced;
            if let Some(s) = c.checked(at, |c| c.suppression(entry)) {
                suppressions.push(s);
            }
        }
    }

    c.command_contradictions(&commands);
    c.job_duplicates(&jobs);
    c.threshold_shadows(&thresholds);
    c.suppression_shadows(&suppressions);

    if !c.errors.is_empty() {
        let mut errors = c.errors;
        errors.sort_by_key(|(file, e)| (*file, e.line.unwrap_or(0), e.column.unwrap_or(0)));
        return Err(errors.into_iter().map(|(_, e)| e).collect());
    }
    Ok(RuleSet {
        files: c.files,
        assets,
        commands,
        jobs,
        thresholds: thresholds.into_iter().map(|(t, _, _)| t).collect(),
        suppressions: suppressions.into_iter().map(|(s, _)| s).collect(),
    })
}

/// Shipped-default ids, for rules files that refer to them (suppressing a default rule's
/// alerts) while being checked on their own.
fn default_rule_ids() -> Vec<String> {
    let Ok(raw) = yaml::from_str::<RawFile>("", DEFAULT_TEXT) else { return Vec::new() };
    let commands = raw.commands.iter().flatten().map(|r| r.value.id.value.clone());
    commands.chain(raw.jobs.iter().flatten().map(|j| j.value.id.value.clone())).collect()
}

fn line(at: &Location) -> u64 {
    at.line()
}

fn fmt_duration(us: u64) -> String {
    humantime::format_duration(Duration::from_micros(us)).to_string()
}

fn list_text(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Compiler {
    /// Compiles an entry; an entry left out must have been reported, and one that was not is
    /// reported here rather than silently dropped.
    fn checked<T>(&mut self, at: Location, f: impl FnOnce(&mut Compiler) -> Option<T>) -> Option<T> {
        let before = self.errors.len();
        let out = f(self);
        if out.is_none() && self.errors.len() == before && !self.incomplete && !self.assets_incomplete {
            self.err(&at, "this entry could not be compiled (a jobwatch bug: please report it with the entry)");
        }
        out
    }

    fn err(&mut self, at: &Location, message: impl Into<String>) {
        let file = self.files.get(self.cur).map_or("", String::as_str);
        let e = yaml::error_at(file, at, message);
        self.errors.push((self.cur, e));
    }

    /// Where another entry is, as seen from the current file.
    fn place(&self, file: usize, line: u64) -> String {
        if file == self.cur {
            format!("line {line}")
        } else if self.builtin.get(file).copied().unwrap_or(false) {
            format!("{}:{line} (shipped defaults)", self.files.get(file).map_or("", String::as_str))
        } else {
            format!("{}:{line}", self.files.get(file).map_or("", String::as_str))
        }
    }

    fn origin(&self, at: &Location) -> Origin {
        Origin { file: self.cur, at: *at, builtin: self.builtin.get(self.cur).copied().unwrap_or(false) }
    }

    /// The text of a scalar that must be a name or an address.
    fn text(&mut self, what: &str, item: &(Scalar, Location)) -> Option<String> {
        match &item.0 {
            Scalar::Text(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Scalar::Text(_) | Scalar::Null => {
                self.err(&item.1, format!("expected {what}, not an empty value"));
                None
            }
            other => {
                self.err(&item.1, format!("expected {what}, not `{other}`"));
                None
            }
        }
    }

    /// The items of a list key, or an error when it is empty.
    fn items(&mut self, key: &str, list: &Spanned<List>) -> Option<Vec<(Scalar, Location)>> {
        let items = List::items(list);
        if items.is_empty() {
            self.err(&list.referenced, format!("`{key}` is empty"));
            return None;
        }
        Some(items)
    }

    fn time_zone(&mut self, name: &Spanned<String>) -> Option<(TimeZone, String)> {
        let text = name.value.trim();
        match TimeZone::get(text) {
            Ok(tz) => {
                let canonical = tz.iana_name().unwrap_or(text).to_owned();
                Some((tz, canonical))
            }
            Err(_) => {
                let names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_owned()).collect();
                let message = match did_you_mean(text, names.iter().map(String::as_str)) {
                    Some(best) => format!("unknown time zone `{text}`; did you mean `{best}`?"),
                    None => format!("unknown time zone `{text}`: write an IANA name such as Europe/Berlin, or UTC"),
                };
                self.err(&name.referenced, message);
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Assets and ids

    fn asset(&mut self, raw: Spanned<RawAsset>) {
        let at = raw.referenced;
        let raw = raw.value;
        let name = raw.name.value.trim().to_owned();
        let mut ok = true;
        if name.is_empty() {
            self.err(&raw.name.referenced, "an asset name must not be empty");
            ok = false;
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            self.err(
                &raw.name.referenced,
                format!("asset name `{name}` may contain only letters, digits, `-`, `_` and `.`"),
            );
            ok = false;
        } else if name == "any" || Role::from_name(&name).is_some() {
            self.err(
                &raw.name.referenced,
                format!("asset name `{name}` is a role name (or `any`); rules could not tell them apart"),
            );
            ok = false;
        } else if Cidr::parse(&name).is_ok() {
            self.err(&raw.name.referenced, format!("asset name `{name}` looks like an address; give it a name"));
            ok = false;
        } else if let Some((file, l)) = self.asset_at.get(&name).copied() {
            let place = self.place(file, l);
            self.err(&raw.name.referenced, format!("duplicate asset name `{name}`: already defined at {place}"));
            ok = false;
        }
        let role = Role::from_name(&raw.role.value);
        if role.is_none() {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            let text = raw.role.value.trim();
            let message = match did_you_mean(text, names.iter().copied()) {
                Some(best) => format!("unknown role `{text}`; did you mean `{best}`?"),
                None => format!("unknown role `{text}`: expected one of {}", names.join(", ")),
            };
            self.err(&raw.role.referenced, message);
        }
        let mut networks = Vec::new();
        if let Some(items) = self.items("address", &raw.address) {
            for item in items {
                let Some(text) = self.text("an IP address or CIDR block", &item) else { continue };
                match Cidr::parse(&text) {
                    Ok(net) => {
                        let taken = self.assets.iter().find(|a| a.networks.contains(&net)).map(|a| a.name.clone());
                        match taken {
                            Some(other) => {
                                let (file, l) = self.asset_at.get(&other).copied().unwrap_or((self.cur, 0));
                                let place = self.place(file, l);
                                self.err(&item.1, format!("{net} is already asset `{other}` ({place})"));
                            }
                            None if networks.contains(&net) => {
                                self.err(&item.1, format!("{net} is listed twice"));
                            }
                            None => networks.push(net),
                        }
                    }
                    Err(message) => self.err(&item.1, message),
                }
            }
        }
        if let (true, Some(role), false) = (ok, role, networks.is_empty()) {
            self.asset_at.insert(name.clone(), (self.cur, line(&at)));
            self.assets.push(Asset { name, role, description: raw.description, networks });
        } else if ok {
            // Known, so that rules naming it are not reported as naming an unknown asset.
            self.asset_at.insert(name.clone(), (self.cur, line(&at)));
            self.assets_incomplete = true;
        }
    }

    /// Checks every id of every entry and finds duplicates across all files.
    fn ids(&mut self, raws: &[(usize, RawFile)]) {
        let mut seen: HashMap<String, (usize, u64)> = HashMap::new();
        // The shipped defaults first, so that a user's id that clashes with one of theirs is
        // reported in the user's file.
        let builtin = |i: &usize| self.builtin.get(*i).copied().unwrap_or(false);
        let order: Vec<&(usize, RawFile)> =
            raws.iter().filter(|(i, _)| builtin(i)).chain(raws.iter().filter(|(i, _)| !builtin(i))).collect();
        for (i, raw) in order {
            self.cur = *i;
            let commands = raw.commands.iter().flatten().map(|r| (&r.value.id, "rule"));
            let jobs = raw.jobs.iter().flatten().map(|r| (&r.value.id, "job"));
            let thresholds = raw.thresholds.iter().flatten().map(|r| (&r.value.id, "threshold"));
            let suppress = raw.suppress.iter().flatten().map(|r| (&r.value.id, "suppression"));
            let all: Vec<_> = commands.chain(jobs).chain(thresholds).chain(suppress).collect();
            for (id, kind) in all {
                let text = id.value.trim();
                if text.is_empty() {
                    self.err(&id.referenced, "an id must not be empty");
                    continue;
                }
                if !text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
                    self.err(
                        &id.referenced,
                        format!("id `{text}` may contain only letters, digits, `-`, `_`, `.` and `:`"),
                    );
                    continue;
                }
                if let Some((file, l)) = seen.get(text).copied() {
                    let place = self.place(file, l);
                    self.err(&id.referenced, format!("duplicate id `{text}`: already used at {place}"));
                    continue;
                }
                seen.insert(text.to_owned(), (*i, line(&id.referenced)));
                if matches!(kind, "rule" | "job") {
                    self.rule_ids.insert(text.to_owned());
                }
                if kind == "job" {
                    self.job_ids.insert(text.to_owned());
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Matchers

    fn selector(&mut self, key: &str, list: &Option<Spanned<List>>) -> Option<Selector> {
        let Some(list) = list else { return Some(Selector::any()) };
        let items = self.items(key, list)?;
        let mut atoms = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.text("an asset name, a role, an IP address or a CIDR block", &item) else {
                ok = false;
                continue;
            };
            if text == "any" {
                atoms.push(Atom::Any);
            } else if let Some(role) = Role::from_name(&text) {
                atoms.push(Atom::Role(role));
            } else if let Some(asset) = self.assets.iter().find(|a| a.name == text) {
                atoms.push(Atom::Asset { name: asset.name.clone(), nets: asset.networks.clone() });
            } else if self.asset_at.contains_key(&text) {
                ok = false; // An asset with a problem of its own, already reported.
            } else if text.contains(['.', ':', '/']) || text.starts_with(|c: char| c.is_ascii_digit()) {
                match Cidr::parse(&text) {
                    Ok(net) => atoms.push(Atom::Net(net)),
                    Err(message) => {
                        self.err(&item.1, message);
                        ok = false;
                    }
                }
            } else {
                ok = false;
                if !self.incomplete && !self.assets_incomplete {
                    let mut names: Vec<&str> = self.assets.iter().map(|a| a.name.as_str()).collect();
                    names.extend(Role::ALL.iter().map(|r| r.as_str()));
                    names.push("any");
                    let message = match did_you_mean(&text, names) {
                        Some(best) => format!("unknown asset or role `{text}`; did you mean `{best}`?"),
                        None => format!(
                            "unknown asset or role `{text}`: name an asset of `assets`, a role ({}), an address or \
                             `any`",
                            Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(&item.1, message);
                }
            }
        }
        ok.then(|| Selector::new(atoms))
    }

    fn protocols(&mut self, list: &Option<Spanned<List>>) -> Option<Option<Vec<&'static str>>> {
        let Some(list) = list else { return Some(None) };
        let items = self.items("protocol", list)?;
        let mut out = Vec::new();
        for item in items {
            let text = self.text("a protocol name", &item)?;
            match functions::protocol(&text.to_ascii_lowercase()) {
                Some(p) if !out.contains(&p) => out.push(p),
                Some(_) => {}
                None => {
                    let message = match did_you_mean(&text, PROTOCOLS) {
                        Some(best) => format!("unknown protocol `{text}`; did you mean `{best}`?"),
                        None => format!("unknown protocol `{text}`: expected one of {}", PROTOCOLS.join(", ")),
                    };
                    self.err(&item.1, message);
                    return None;
                }
            }
        }
        Some(Some(out))
    }

    fn categories(&mut self, list: &Option<Spanned<List>>) -> Option<Vec<Category>> {
        let Some(list) = list else { return Some(Vec::new()) };
        let items = self.items("category", list)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.text("a category", &item) else {
                ok = false;
                continue;
            };
            match Category::from_name(&text.to_ascii_lowercase()) {
                Some(c) => out.push(c),
                None => {
                    let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                    let message = match did_you_mean(&text, names.iter().copied()) {
                        Some(best) => format!("unknown category `{text}`; did you mean `{best}`?"),
                        None => format!("unknown category `{text}`: expected one of {}", names.join(", ")),
                    };
                    self.err(&item.1, message);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn functions(&mut self, scope: &[&'static str], list: &Option<Spanned<List>>) -> Option<Vec<FunctionSel>> {
        let Some(list) = list else { return Some(Vec::new()) };
        let items = self.items("function", list)?;
        let mut out: Vec<FunctionSel> = Vec::new();
        let mut ok = true;
        for (value, at) in items {
            match functions::resolve(scope, &value) {
                Ok(sels) => out.extend(sels.into_iter().filter(|s| !out.contains(s)).collect::<Vec<_>>()),
                Err(message) => {
                    self.err(&at, message);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// One `FROM-TO` range or single number, within `0..=bounds.max`.
    fn range(&mut self, bounds: &Bounds, item: &(Scalar, Location)) -> Option<(u64, u64)> {
        let (lo, hi, text) = match &item.0 {
            Scalar::Int(n) => (u64::try_from(*n).ok(), u64::try_from(*n).ok(), n.to_string()),
            Scalar::Text(s) => {
                let s = s.trim();
                match s.split_once('-') {
                    Some((a, b)) => (functions::number(a), functions::number(b), s.to_owned()),
                    None => (functions::number(s), functions::number(s), s.to_owned()),
                }
            }
            other => {
                self.err(&item.1, format!("expected a number or a range FROM-TO, not `{other}`"));
                return None;
            }
        };
        let (Some(lo), Some(hi)) = (lo, hi) else {
            if matches!(item.0, Scalar::Int(_)) {
                self.err(&item.1, format!("`{text}` is out of range: {} are 0 to {}", bounds.what, bounds.max));
            } else {
                self.err(&item.1, format!("bad range `{text}`: write a number or FROM-TO, e.g. 4000-4099"));
            }
            return None;
        };
        if lo > hi {
            self.err(&item.1, format!("impossible range `{text}`: the start is greater than the end"));
            return None;
        }
        if hi > bounds.max {
            self.err(&item.1, format!("`{text}` is out of range: {} are 0 to {}", bounds.what, bounds.max));
            return None;
        }
        Some((lo, hi))
    }

    fn ranges(&mut self, key: &str, list: &Option<Spanned<List>>, bounds: Bounds) -> Option<Option<RangeSet>> {
        let Some(list) = list else { return Some(None) };
        let items = self.items(key, list)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.range(&bounds, &item) {
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
        ok.then(|| Some(RangeSet::new(out)))
    }

    fn areas(&mut self, list: &Option<Spanned<List>>) -> Option<Option<Vec<u8>>> {
        let Some(list) = list else { return Some(None) };
        let items = self.items("area", list)?;
        const ALIASES: [(&str, u8); 13] = [
            ("i", 0x81),
            ("e", 0x81),
            ("q", 0x82),
            ("a", 0x82),
            ("m", 0x83),
            ("db", 0x84),
            ("di", 0x85),
            ("l", 0x86),
            ("p", 0x80),
            ("c", 0x1C),
            ("z", 0x1C),
            ("t", 0x1D),
            ("v", 0x87),
        ];
        let names: Vec<(&'static str, u8)> =
            (0..=255u8).filter_map(|c| dissectors::s7comm::Area(c).name().map(|n| (n, c))).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.text("an S7 memory area", &item) else {
                ok = false;
                continue;
            };
            let lower = text.to_ascii_lowercase();
            match names.iter().chain(ALIASES.iter()).find(|(n, _)| *n == lower) {
                Some((_, code)) => {
                    if !out.contains(code) {
                        out.push(*code);
                    }
                }
                None => {
                    let message = match did_you_mean(&lower, names.iter().map(|(n, _)| *n)) {
                        Some(best) => format!("unknown S7 area `{text}`; did you mean `{best}`?"),
                        None => format!(
                            "unknown S7 area `{text}`: expected inputs (I), outputs (Q), flags (M), data_block (DB), \
                             instance_data_block (DI), timer (T), counter (C), peripheral (P), local_data (L) or \
                             another area name of the sensor's events"
                        ),
                    };
                    self.err(&item.1, message);
                    ok = false;
                }
            }
        }
        ok.then_some(Some(out))
    }

    fn blocks(&mut self, list: &Option<Spanned<List>>) -> Option<Option<Vec<BlockPattern>>> {
        let Some(list) = list else { return Some(None) };
        let items = self.items("block", list)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.text("an S7 block such as OB1 or DB10-20", &item) else {
                ok = false;
                continue;
            };
            let Some((kind, rest)) = split_block(&text) else {
                self.err(
                    &item.1,
                    format!(
                        "unknown block `{text}`: write a block type ({}) with a number or a range, e.g. OB1 or DB10-20",
                        BLOCK_TYPES.join(", ")
                    ),
                );
                ok = false;
                continue;
            };
            let numbers = if rest.trim().is_empty() {
                None
            } else {
                let bounds = Bounds { max: 65535, what: "block numbers" };
                match self.range(&bounds, &(Scalar::Text(rest.to_owned()), item.1)) {
                    Some(r) => Some(r),
                    None => {
                        ok = false;
                        continue;
                    }
                }
            };
            out.push(BlockPattern { kind, numbers });
        }
        ok.then_some(Some(out))
    }

    /// The shared match keys. `fit` is how targets must fit; `reads_by_default` whether no
    /// category and no function means reads too.
    fn matcher(&mut self, m: RawMatch, fit: Fit, reads_by_default: bool) -> Option<Match> {
        let explicit = self.protocols(&m.protocol);
        let mut effective: Vec<&'static str> = match &explicit {
            Some(Some(p)) => p.clone(),
            _ => PROTOCOLS.to_vec(),
        };
        let mut narrowed: Option<(&'static str, Vec<&'static str>)> = None;
        let mut ok = explicit.is_some();
        let keyed: [TargetKey<'_>; 6] = [
            ("unit", &m.unit, &["modbus", "dnp3"]),
            ("address", &m.address, &["modbus"]),
            ("point", &m.point, &["dnp3"]),
            ("db", &m.db, &["s7comm"]),
            ("area", &m.area, &["s7comm"]),
            ("block", &m.block, &["s7comm"]),
        ];
        for (key, list, applies) in keyed {
            let Some(list) = list else { continue };
            let within: Vec<&'static str> = effective.iter().copied().filter(|p| applies.contains(p)).collect();
            if within.is_empty() {
                let message = match &narrowed {
                    Some((other, _)) => format!(
                        "`{key}` ({}) and `{other}` ({}) cannot both apply: no transaction has both",
                        list_text(applies),
                        list_text(&effective)
                    ),
                    None => format!(
                        "`{key}` applies to {} only, but the rule's protocol is {}",
                        list_text(applies),
                        list_text(&effective)
                    ),
                };
                self.err(&list.referenced, message);
                ok = false;
            } else {
                effective = within;
                narrowed = Some((key, effective.clone()));
            }
        }
        let categories = self.categories(&m.category);
        let functions = self.functions(&effective, &m.function);
        if let (Some(categories), Some(functions)) = (&categories, &functions) {
            if categories.is_empty() && !functions.is_empty() {
                effective.retain(|p| functions.iter().any(|f| f.protocol() == *p));
                narrowed = narrowed.or(Some(("function", effective.clone())));
            }
        }
        let unit_bounds = if effective == ["modbus"] {
            Bounds { max: 255, what: "Modbus unit ids" }
        } else if effective == ["dnp3"] {
            Bounds { max: 65535, what: "DNP3 link addresses" }
        } else {
            Bounds { max: 65535, what: "unit ids and link addresses" }
        };
        let units = self.ranges("unit", &m.unit, unit_bounds);
        let addresses = self.ranges("address", &m.address, Bounds { max: 65535, what: "Modbus addresses" });
        let points = self.ranges("point", &m.point, Bounds { max: u64::from(u32::MAX), what: "DNP3 point indices" });
        let dbs = self.ranges("db", &m.db, Bounds { max: 65535, what: "DB numbers" });
        let areas = self.areas(&m.area);
        let blocks = self.blocks(&m.block);
        let master = self.selector("master", &m.master);
        let outstation = self.selector("outstation", &m.outstation);
        let protocols = if matches!(explicit, Some(Some(_))) || narrowed.is_some() { Some(effective) } else { None };
        if !ok {
            return None;
        }
        Some(Match {
            protocols,
            categories: categories?,
            functions: functions?,
            master: master?,
            outstation: outstation?,
            target: Target {
                fit,
                units: units?,
                addresses: addresses?,
                points: points?,
                dbs: dbs?,
                areas: areas?,
                blocks: blocks?,
            },
            reads_by_default,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Time windows, durations, names

    fn window(&mut self, w: &Spanned<RawWindow>) -> Option<Window> {
        let mut ok = true;
        let days = match &w.value.days {
            None => [true; 7],
            Some(list) => match self.days(list) {
                Some(days) => days,
                None => {
                    ok = false;
                    [false; 7]
                }
            },
        };
        let (start, end) = match &w.value.time {
            None => (0, 1440),
            Some(t) => match parse_time(&t.value) {
                Ok(range) => range,
                Err(message) => {
                    self.err(&t.referenced, message);
                    ok = false;
                    (0, 0)
                }
            },
        };
        let tz = match &w.value.time_zone {
            Some(name) => self.time_zone(name),
            None => {
                let file_tz = self.file_tz.get(self.cur).cloned().flatten();
                if file_tz.is_none() {
                    self.err(
                        &w.referenced,
                        "a time window needs a `time_zone` (an IANA name such as Europe/Berlin, or UTC), in `when` \
                         or at the top of the file",
                    );
                }
                file_tz
            }
        };
        let (tz, tz_name) = tz?;
        ok.then_some(Window { days, start, end, tz, tz_name })
    }

    fn days(&mut self, list: &Spanned<List>) -> Option<[bool; 7]> {
        const SHORT: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        const LONG: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        let day = |s: &str| SHORT.iter().position(|d| *d == s).or_else(|| LONG.iter().position(|d| *d == s));
        let items = self.items("days", list)?;
        let mut days = [false; 7];
        let mut ok = true;
        for item in items {
            let Some(text) = self.text("a weekday", &item) else {
                ok = false;
                continue;
            };
            let lower = text.to_ascii_lowercase();
            let found: Option<Vec<usize>> = match lower.as_str() {
                "weekdays" => Some((0..5).collect()),
                "weekend" => Some(vec![5, 6]),
                _ => match lower.split_once('-') {
                    Some((a, b)) => match (day(a.trim()), day(b.trim())) {
                        (Some(a), Some(b)) => Some((0..7).map(|i| (a + i) % 7).take((b + 7 - a) % 7 + 1).collect()),
                        _ => None,
                    },
                    None => day(&lower).map(|d| vec![d]),
                },
            };
            match found {
                Some(list) => {
                    for d in list {
                        if let Some(slot) = days.get_mut(d) {
                            *slot = true;
                        }
                    }
                }
                None => {
                    let bad = lower.split('-').map(str::trim).find(|p| day(p).is_none()).unwrap_or(&lower).to_owned();
                    let mut names: Vec<&str> = SHORT.to_vec();
                    names.extend(LONG);
                    names.extend(["weekdays", "weekend"]);
                    let message = match did_you_mean(&bad, names) {
                        Some(best) => format!("unknown weekday `{bad}`; did you mean `{best}`?"),
                        None => format!(
                            "unknown weekday `{bad}`: write mon, tue, wed, thu, fri, sat or sun, a range such as \
                             mon-fri, weekdays or weekend"
                        ),
                    };
                    self.err(&item.1, message);
                    ok = false;
                }
            }
        }
        ok.then_some(days)
    }

    /// A duration with a unit (`500ms`, `5s`, `2m`, `1h 30m`), in µs.
    fn duration(&mut self, key: &str, value: &Spanned<Scalar>) -> Option<u64> {
        let text = match &value.value {
            Scalar::Text(s) => s.trim().to_owned(),
            Scalar::Int(n) => {
                self.err(&value.referenced, format!("`{key}: {n}` needs a unit, e.g. {n}ms or {n}s"));
                return None;
            }
            other => {
                self.err(&value.referenced, format!("expected a duration such as 500ms or 5s, not `{other}`"));
                return None;
            }
        };
        match humantime::parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.err(&value.referenced, format!("`{key}` must be longer than 0"));
                None
            }
            Ok(d) => Some(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            Err(_) => {
                self.err(
                    &value.referenced,
                    format!("bad duration `{text}`: write a number and a unit, e.g. 500ms, 5s, 2m or 1h"),
                );
                None
            }
        }
    }

    fn optional_duration(&mut self, key: &str, value: &Option<Spanned<Scalar>>) -> Result<Option<u64>, ()> {
        match value {
            None => Ok(None),
            Some(v) => self.duration(key, v).map(Some).ok_or(()),
        }
    }

    fn severity(&mut self, value: &Spanned<String>) -> Option<Severity> {
        severity_name(value.value.trim()).or_else(|| {
            self.err(
                &value.referenced,
                format!("unknown severity `{}`: expected low, medium, high or critical", value.value.trim()),
            );
            None
        })
    }

    // -----------------------------------------------------------------------------------------
    // Entries

    fn command(&mut self, raw: Spanned<RawCommand>) -> Option<CommandRule> {
        let at = raw.referenced;
        let mut r = raw.value;
        let action = match r.action.value.trim() {
            "allow" => Some(Action::Allow),
            "alert" => Some(Action::Alert),
            "ignore" => Some(Action::Ignore),
            other => {
                let hint = if matches!(other, "deny" | "block" | "drop") {
                    " (jobwatch only watches and cannot block: use alert)"
                } else {
                    ""
                };
                self.err(
                    &r.action.referenced,
                    format!("unknown action `{other}`: expected allow, alert or ignore{hint}"),
                );
                None
            }
        };
        let severity = match &r.severity {
            None => Ok(None),
            Some(s) => {
                let parsed = self.severity(s);
                if parsed.is_some() && matches!(action, Some(Action::Allow | Action::Ignore)) {
                    self.err(&s.referenced, "`severity` applies to `action: alert` only");
                    Err(())
                } else {
                    parsed.map(Some).ok_or(())
                }
            }
        };
        let fit = if action == Some(Action::Alert) { Fit::Touches } else { Fit::Within };
        let matcher = self.matcher(r.take_match(), fit, false);
        let when = match &r.when {
            None => Ok(None),
            Some(w) => self.window(w).map(Some).ok_or(()),
        };
        Some(CommandRule {
            id: r.id.value.trim().to_owned(),
            description: r.description,
            matcher: matcher?,
            when: when.ok()?,
            action: action?,
            severity: severity.ok()?,
            origin: self.origin(&at),
        })
    }

    fn job(&mut self, raw: Spanned<RawJob>, assets: &Arc<AssetTable>) -> Option<DeclaredJob> {
        let at = raw.referenced;
        let mut r = raw.value;
        let mut ok = true;
        for (key, list) in [("protocol", &r.protocol), ("function", &r.function)] {
            if List::items(list).len() > 1 {
                self.err(&list.referenced, format!("a job has one {key}; declare one job for each"));
                ok = false;
            }
        }
        let matcher = if ok { self.matcher(r.take_match(), Fit::Within, true) } else { None };
        let period = self.duration("period", &r.period);
        let tolerance = self.duration("tolerance", &r.tolerance);
        let stop_after = self.optional_duration("stop_after", &r.stop_after);
        let response_limit = self.optional_duration("response_limit", &r.response_limit);
        let severity = match &r.severity {
            None => Ok(None),
            Some(s) => self.severity(s).map(Some).ok_or(()),
        };
        if let Some(period) = period {
            if let Some(tolerance) = tolerance {
                self.check_against_period(&r.tolerance.referenced, "tolerance", tolerance, period);
            }
            if let (Ok(Some(stop)), Some(s)) = (stop_after, &r.stop_after) {
                self.check_against_period(&s.referenced, "stop_after", stop, period);
            }
        }
        let matcher = matcher?;
        let function = matcher.functions.first()?.clone();
        let protocol = function.protocol();
        let (period_us, tolerance_us) = (period?, tolerance?);
        if tolerance_us.saturating_mul(2) >= period_us {
            return None;
        }
        if stop_after.ok()?.is_some_and(|s| s <= period_us) {
            return None;
        }
        Some(DeclaredJob {
            id: r.id.value.trim().to_owned(),
            description: r.description,
            master: matcher.master.clone(),
            outstation: matcher.outstation.clone(),
            protocol,
            function_code: function.function_code(),
            function,
            target: matcher.target.clone(),
            period_us,
            tolerance_us,
            stop_after_us: stop_after.ok()?,
            response_limit_us: response_limit.ok()?,
            severity: severity.ok()?,
            matcher,
            assets: Arc::clone(assets),
            origin: self.origin(&at),
        })
    }

    /// A tolerance must be less than half the period; a stop must come after a period.
    fn check_against_period(&mut self, at: &Location, key: &str, value: u64, period: u64) {
        match key {
            "tolerance" if value.saturating_mul(2) >= period => self.err(
                at,
                format!(
                    "tolerance {} must be less than half the period ({})",
                    fmt_duration(value),
                    fmt_duration(period)
                ),
            ),
            "stop_after" if value <= period => self.err(
                at,
                format!("stop_after {} must be longer than the period ({})", fmt_duration(value), fmt_duration(period)),
            ),
            _ => {}
        }
    }

    fn threshold(
        &mut self,
        raw: Spanned<RawThreshold>,
        jobs: &mut [DeclaredJob],
        job_fields: &mut HashMap<(usize, &'static str), (usize, u64)>,
    ) -> Option<PlacedThreshold> {
        let at = raw.referenced;
        let mut r = raw.value;
        let keys = r.take_match();
        let has_keys = [
            &keys.master,
            &keys.outstation,
            &keys.protocol,
            &keys.category,
            &keys.function,
            &keys.unit,
            &keys.address,
            &keys.point,
            &keys.db,
            &keys.area,
            &keys.block,
        ]
        .iter()
        .any(|k| k.is_some());
        let tolerance = self.optional_duration("tolerance", &r.tolerance);
        let stop_after = self.optional_duration("stop_after", &r.stop_after);
        let response_limit = self.optional_duration("response_limit", &r.response_limit);
        let (Ok(tolerance), Ok(stop_after), Ok(response_limit)) = (tolerance, stop_after, response_limit) else {
            return None;
        };
        let values =
            Thresholds { tolerance_us: tolerance, stop_after_us: stop_after, response_limit_us: response_limit };
        if values == Thresholds::default() {
            self.err(&at, "this threshold entry sets nothing: give `tolerance`, `stop_after` or `response_limit`");
            return None;
        }
        let positions = [
            r.tolerance.as_ref().map(|v| v.referenced),
            r.stop_after.as_ref().map(|v| v.referenced),
            r.response_limit.as_ref().map(|v| v.referenced),
        ];
        let Some(job_id) = &r.job else {
            if !has_keys {
                self.err(
                    &at,
                    "a threshold entry needs a `job`, or keys saying what it applies to (e.g. `protocol: modbus`)",
                );
                return None;
            }
            let matcher = self.matcher(keys, Fit::Within, true)?;
            let id = r.id.value.trim().to_owned();
            return Some((ThresholdRule { id, matcher, values }, self.origin(&at), positions));
        };
        if has_keys {
            self.err(
                &job_id.referenced,
                "a threshold entry names either a `job` or what it applies to (protocol, master, ...), not both",
            );
            return None;
        }
        let id = job_id.value.trim();
        let Some(index) = jobs.iter().position(|j| j.id == id) else {
            if !self.job_ids.contains(id) && !self.incomplete {
                let message = match did_you_mean(id, self.job_ids.iter().map(String::as_str)) {
                    Some(best) => format!("unknown job `{id}`; did you mean `{best}`?"),
                    None => format!("unknown job `{id}`: name the id of an entry of `jobs`"),
                };
                self.err(&job_id.referenced, message);
            }
            return None;
        };
        let job = jobs.get_mut(index)?;
        let fields: [(&'static str, Option<u64>, Option<Location>); 3] = [
            ("tolerance", values.tolerance_us, positions[0]),
            ("stop_after", values.stop_after_us, positions[1]),
            ("response_limit", values.response_limit_us, positions[2]),
        ];
        let mut ok = true;
        for (field, value, pos) in fields {
            let (Some(value), Some(pos)) = (value, pos) else { continue };
            if let Some((file, l)) = job_fields.get(&(index, field)).copied() {
                let place = self.place(file, l);
                self.err(&pos, format!("`{field}` of job `{id}` is already set at {place}"));
                ok = false;
                continue;
            }
            let before = self.errors.len();
            self.check_against_period(&pos, field, value, job.period_us);
            if self.errors.len() != before {
                ok = false;
                continue;
            }
            job_fields.insert((index, field), (self.cur, line(&pos)));
        }
        if ok {
            job.tolerance_us = values.tolerance_us.unwrap_or(job.tolerance_us);
            job.stop_after_us = values.stop_after_us.or(job.stop_after_us);
            job.response_limit_us = values.response_limit_us.or(job.response_limit_us);
        }
        None
    }

    fn suppression(&mut self, raw: Spanned<RawSuppress>) -> Option<(Suppression, Origin)> {
        let at = raw.referenced;
        let r = raw.value;
        let mut ok = true;

        let mut kinds = Vec::new();
        if let Some(list) = &r.kind {
            for item in self.items("kind", list).unwrap_or_default() {
                let Some(text) = self.text("an alert kind", &item) else {
                    ok = false;
                    continue;
                };
                match ALERT_KINDS.iter().find(|k| k.as_str() == text) {
                    Some(k) => kinds.push(*k),
                    None => {
                        let names: Vec<&str> = ALERT_KINDS.iter().map(|k| k.as_str()).collect();
                        let message = match did_you_mean(&text, names.iter().copied()) {
                            Some(best) => format!("unknown alert kind `{text}`; did you mean `{best}`?"),
                            None => format!("unknown alert kind `{text}`: expected one of {}", names.join(", ")),
                        };
                        self.err(&item.1, message);
                        ok = false;
                    }
                }
            }
        }

        let mut anomalies = Vec::new();
        if let Some(list) = &r.anomaly {
            for item in self.items("anomaly", list).unwrap_or_default() {
                let Some(text) = self.text("an anomaly id", &item) else {
                    ok = false;
                    continue;
                };
                match check_anomaly(&text) {
                    Ok(pattern) => anomalies.push(pattern),
                    Err(message) => {
                        self.err(&item.1, message);
                        ok = false;
                    }
                }
            }
            let carriers = [AlertKind::ProtocolAnomaly, AlertKind::SensorHealth];
            if !kinds.is_empty() && !kinds.iter().any(|k| carriers.contains(k)) {
                self.err(
                    &list.referenced,
                    "`anomaly` never matches: only protocol_anomaly and sensor_health alerts carry an anomaly id",
                );
                ok = false;
            }
        }

        let mut rule_ids = Vec::new();
        if let Some(list) = &r.rule_id {
            let mut defaults: Option<Vec<String>> = None;
            for item in self.items("rule_id", list).unwrap_or_default() {
                let Some(text) = self.text("a rule id", &item) else {
                    ok = false;
                    continue;
                };
                let known = self.rule_ids.contains(&text)
                    || defaults.get_or_insert_with(default_rule_ids).contains(&text)
                    || self.incomplete;
                if !known {
                    let names: Vec<&str> = self.rule_ids.iter().map(String::as_str).collect();
                    let message = match did_you_mean(&text, names) {
                        Some(best) => format!("unknown rule id `{text}`; did you mean `{best}`?"),
                        None => format!("unknown rule id `{text}`: name the id of a command rule or a job"),
                    };
                    self.err(&item.1, message);
                    ok = false;
                    continue;
                }
                rule_ids.push(text);
            }
        }

        let mut severities = Vec::new();
        if let Some(list) = &r.severity {
            for item in self.items("severity", list).unwrap_or_default() {
                let Some(text) = self.text("a severity", &item) else {
                    ok = false;
                    continue;
                };
                match severity_name(&text) {
                    Some(s) => severities.push(s),
                    None => {
                        self.err(&item.1, format!("unknown severity `{text}`: expected low, medium, high or critical"));
                        ok = false;
                    }
                }
            }
        }

        let src = match &r.src {
            None => Some(None),
            some => self.selector("src", some).map(Some),
        };
        let dst = match &r.dst {
            None => Some(None),
            some => self.selector("dst", some).map(Some),
        };

        let mut key = Vec::new();
        match &r.key {
            None => key.extend([KeyField::Kind, KeyField::RuleId, KeyField::Anomaly, KeyField::SrcIp, KeyField::DstIp]),
            Some(list) => {
                for item in self.items("key", list).unwrap_or_default() {
                    let Some(text) = self.text("an alert field", &item) else {
                        ok = false;
                        continue;
                    };
                    match KeyField::ALL.iter().find(|f| f.as_str() == text) {
                        Some(f) if !key.contains(f) => key.push(*f),
                        Some(_) => {}
                        None => {
                            let names: Vec<&str> = KeyField::ALL.iter().map(|f| f.as_str()).collect();
                            let message = match did_you_mean(&text, names.iter().copied()) {
                                Some(best) => format!("unknown key field `{text}`; did you mean `{best}`?"),
                                None => format!("unknown key field `{text}`: expected one of {}", names.join(", ")),
                            };
                            self.err(&item.1, message);
                            ok = false;
                        }
                    }
                }
            }
        }

        let max = match &r.max.value {
            Scalar::Int(n) if *n >= 1 && *n <= i128::from(u32::MAX) => u32::try_from(*n).ok(),
            other => {
                self.err(
                    &r.max.referenced,
                    format!("`max` must be a whole number from 1 to 4294967295, not `{other}`"),
                );
                None
            }
        };
        let per = self.duration("per", &r.per);

        if !ok {
            return None;
        }
        Some((
            Suppression {
                id: r.id.value.trim().to_owned(),
                description: r.description,
                max: max?,
                per_us: per?,
                key,
                kinds,
                anomalies,
                rule_ids,
                severities,
                src: src?,
                dst: dst?,
            },
            self.origin(&at),
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Cross-entry checks

    /// Two rules (of the same origin: the user's rules may shadow the shipped defaults) with
    /// another action or severity contradict each other when the earlier always matches first
    /// (the later can never apply), or when both have the same conditions (the later applies at
    /// most to commands that spill out of its targets, which is not what was meant).
    fn command_contradictions(&mut self, rules: &[CommandRule]) {
        for (j, later) in rules.iter().enumerate() {
            let mut found = None;
            for earlier in rules.iter().take(j) {
                if earlier.origin.builtin != later.origin.builtin
                    || (earlier.action == later.action && earlier.severity == later.severity)
                {
                    continue;
                }
                let when_covers = match (&earlier.when, &later.when) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a == b,
                    (Some(_), None) => false,
                };
                if !when_covers {
                    continue;
                }
                if earlier.matcher.covers(&later.matcher) {
                    found = Some((earlier, true));
                    break;
                }
                if earlier.when == later.when && earlier.matcher.same_as(&later.matcher) {
                    found = Some((earlier, false));
                    break;
                }
            }
            let Some((earlier, never)) = found else { continue };
            self.cur = later.origin.file;
            let place = self.place(earlier.origin.file, line(&earlier.origin.at));
            let what = if earlier.action != later.action {
                format!("action {}", earlier.action.as_str())
            } else {
                format!("severity {}", earlier.severity.map_or("(by category)", |s| s.as_str()))
            };
            let message = if never {
                format!(
                    "contradiction: rule `{}` can never apply: rule `{}` at {place} comes first and matches everything \
                     it matches, with {what}",
                    later.id, earlier.id
                )
            } else {
                format!(
                    "contradiction: rule `{}` has the same conditions as rule `{}` at {place}, which comes first with \
                     {what}",
                    later.id, earlier.id
                )
            };
            self.err(&later.origin.at, message);
        }
    }

    fn job_duplicates(&mut self, jobs: &[DeclaredJob]) {
        for (j, later) in jobs.iter().enumerate() {
            let Some(earlier) = jobs.iter().take(j).find(|e| e.matcher.same_as(&later.matcher)) else { continue };
            self.cur = later.origin.file;
            let place = self.place(earlier.origin.file, line(&earlier.origin.at));
            let message = format!(
                "job `{}` declares the same requests as job `{}` at {place}; a job is declared once",
                later.id, earlier.id
            );
            self.err(&later.origin.at, message);
        }
    }

    fn threshold_shadows(&mut self, rules: &[PlacedThreshold]) {
        const FIELDS: [&str; 3] = ["tolerance", "stop_after", "response_limit"];
        for (j, (later, origin, positions)) in rules.iter().enumerate() {
            let set =
                |t: &Thresholds| [t.tolerance_us.is_some(), t.stop_after_us.is_some(), t.response_limit_us.is_some()];
            let later_set = set(&later.values);
            'fields: for f in 0..3 {
                if !later_set.get(f).copied().unwrap_or(false) {
                    continue;
                }
                for (earlier, e_origin, _) in rules.iter().take(j) {
                    if set(&earlier.values).get(f).copied().unwrap_or(false) && earlier.matcher.covers(&later.matcher) {
                        self.cur = origin.file;
                        let place = self.place(e_origin.file, line(&e_origin.at));
                        let field = FIELDS.get(f).copied().unwrap_or("");
                        let message = format!(
                            "`{field}` here never applies: threshold entry `{}` at {place} comes first, matches \
                             everything this one does and sets it too",
                            earlier.id
                        );
                        if let Some(Some(pos)) = positions.get(f) {
                            self.err(pos, message);
                        }
                        continue 'fields;
                    }
                }
            }
        }
    }

    fn suppression_shadows(&mut self, entries: &[(Suppression, Origin)]) {
        fn covers<T: PartialEq>(a: &[T], b: &[T]) -> bool {
            a.is_empty() || (!b.is_empty() && b.iter().all(|x| a.contains(x)))
        }
        fn host(a: &Option<Selector>, b: &Option<Selector>) -> bool {
            match (a, b) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => a.covers(b),
            }
        }
        for (j, (later, origin)) in entries.iter().enumerate() {
            let shadow = entries.iter().take(j).find(|(e, _)| {
                covers(&e.kinds, &later.kinds)
                    && covers(&e.anomalies, &later.anomalies)
                    && covers(&e.rule_ids, &later.rule_ids)
                    && covers(&e.severities, &later.severities)
                    && host(&e.src, &later.src)
                    && host(&e.dst, &later.dst)
            });
            let Some((earlier, e_origin)) = shadow else { continue };
            self.cur = origin.file;
            let place = self.place(e_origin.file, line(&e_origin.at));
            let message = format!(
                "suppression `{}` never applies: suppression `{}` at {place} comes first and applies to every alert \
                 it does",
                later.id, earlier.id
            );
            self.err(&origin.at, message);
        }
    }
}

fn severity_name(text: &str) -> Option<Severity> {
    match text.to_ascii_lowercase().as_str() {
        "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// `HH:MM-HH:MM` as minutes after midnight; the end may be `24:00`.
fn parse_time(text: &str) -> Result<(u16, u16), String> {
    let text = text.trim();
    let bad = || format!("bad time `{text}`: write FROM-TO as HH:MM-HH:MM, e.g. 06:00-10:00");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let clock = |s: &str, end: bool| -> Result<u16, String> {
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let (h, m) = (h.trim(), m.trim());
        let digits =
            |s: &str, n: std::ops::RangeInclusive<usize>| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h, 1..=2) || !digits(m, 2..=2) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) if m < 60 => (h, m),
            _ => return Err(bad()),
        };
        if h < 24 || (end && h == 24 && m == 0) {
            Ok(h * 60 + m)
        } else {
            Err(format!("bad time `{text}`: hours are 00 to 23 (24:00 only as the end)"))
        }
    };
    let (start, end) = (clock(a, false)?, clock(b, true)?);
    if start == end {
        return Err(format!("time window `{text}` is empty; leave `time` out for the whole day"));
    }
    Ok((start, end))
}

/// An anomaly id or `namespace.*` prefix, checked against the dissectors' registries.
fn check_anomaly(text: &str) -> Result<(String, bool), String> {
    let registries: [&[&dissectors::AnomalyKind]; 3] =
        [dissectors::modbus::anomalies::ALL, dissectors::dnp3::anomalies::ALL, dissectors::s7comm::anomalies::ALL];
    let known: Vec<&str> = registries.iter().flat_map(|r| r.iter().map(|k| k.id)).collect();
    let mut namespaces: Vec<&str> = known.iter().filter_map(|id| id.split_once('.').map(|(ns, _)| ns)).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    // Raised by the sensor itself rather than a dissector: not enumerated here.
    let open = ["tcp", "sensor"];
    let Some((ns, rest)) = text.split_once('.') else {
        return Err(format!(
            "bad anomaly `{text}`: write an id such as modbus.invalid_length, or a prefix such as modbus.*"
        ));
    };
    if !namespaces.contains(&ns) && !open.contains(&ns) {
        let all: Vec<&str> = namespaces.iter().chain(open.iter()).copied().collect();
        return Err(format!("unknown anomaly `{text}`: ids start with {}", list_text(&all)));
    }
    if rest == "*" {
        return Ok((format!("{ns}."), true));
    }
    if open.contains(&ns) || known.contains(&text) {
        return Ok((text.to_owned(), false));
    }
    match did_you_mean(text, known.iter().copied()) {
        Some(best) => Err(format!("unknown anomaly `{text}`; did you mean `{best}`?")),
        None => Err(format!("unknown anomaly `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("06:00-10:00"), Ok((360, 600)));
        assert_eq!(parse_time("22:30 - 02:00"), Ok((1350, 120)));
        assert_eq!(parse_time("00:00-24:00"), Ok((0, 1440)));
        assert!(parse_time("24:00-01:00").unwrap_err().contains("hours are 00 to 23"));
        assert!(parse_time("6-10").unwrap_err().starts_with("bad time `6-10`"));
        assert!(parse_time("06:00-06:00").unwrap_err().contains("is empty"));
        assert!(parse_time("06:60-07:00").is_err());
    }

    #[test]
    fn anomalies() {
        assert_eq!(check_anomaly("modbus.invalid_length"), Ok(("modbus.invalid_length".to_owned(), false)));
        assert_eq!(check_anomaly("dnp3.*"), Ok(("dnp3.".to_owned(), true)));
        assert_eq!(check_anomaly("tcp.gap"), Ok(("tcp.gap".to_owned(), false)));
        assert_eq!(
            check_anomaly("modbus.invalid_lenght").unwrap_err(),
            "unknown anomaly `modbus.invalid_lenght`; did you mean `modbus.invalid_length`?"
        );
        assert!(check_anomaly("modbsu.x").unwrap_err().starts_with("unknown anomaly `modbsu.x`: ids start with"));
    }

    #[test]
    fn polished_messages() {
        let e = |m: &str| polish(YamlError { file: "f".into(), line: Some(1), column: Some(1), message: m.into() });
        assert_eq!(
            e("unknown field `sevrity`, expected one of id, action, severity").message,
            "unknown key `sevrity`; did you mean `severity`?"
        );
        assert_eq!(
            e("unknown field `xyz`, expected one of id, action").message,
            "unknown key `xyz`; expected one of id, action"
        );
        assert_eq!(e("missing field `action`").message, "missing key `action`");
    }
}
