//! Functions as rules name them: by the stable names of `docs/CLASSIFICATION.md`
//! (`write_single_register`, `direct_operate`, `plc_stop`), by number (`16`, `0x29`), or by a
//! function and its sub-function (`8/4`, `2/50`, `4/1`, `7/*`).
//!
//! A name with sub-functions under it names them all: Modbus `diagnostics` is every FC 8
//! request, DNP3 `write` every write (including `write_time`), S7 `pi_service` every PLC
//! control job, an S7 userdata group name (`time_functions`) every subfunction of the group.

use dissectors::classify::{dnp3, modbus, s7comm};
use dissectors::{Category, FunctionInfo};

use super::raw::Scalar;
use crate::transaction::{ProtocolDetail, Transaction};

/// Protocol names, as in the sensor's events.
pub const PROTOCOLS: [&str; 4] = ["modbus", "dnp3", "s7comm", "s7comm_plus"];

/// The protocol name as the `&'static str` the sensor uses, if it is one.
pub(super) fn protocol(name: &str) -> Option<&'static str> {
    PROTOCOLS.iter().copied().find(|p| *p == name)
}

/// One function a rule names, in one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSel {
    protocol: &'static str,
    kind: Kind,
    /// The category of every transaction it matches, when they all share one.
    category: Option<Category>,
    label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The transaction's `function` is this row's name.
    Named(&'static str),
    /// The transaction's `function_code` (for S7, of a job, not of userdata).
    Code(u16),
    /// Modbus function and sub-function (FC 8 sub-function, FC 43 MEI type, FC 90 UMAS code).
    ModbusSub(u8, u16),
    /// DNP3 write (FC 2) whose first object header is of this group.
    Dnp3WriteGroup(u8),
    /// S7 userdata of this group, any subfunction.
    S7Group(u8),
    /// S7 userdata group and subfunction.
    S7Userdata(u8, u8),
}

impl FunctionSel {
    /// The protocol the function belongs to.
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// The function as the rule wrote it (a name, `16`, `8/4`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The category of the transactions it matches, when they all have the same.
    pub fn category(&self) -> Option<Category> {
        self.category
    }

    /// The `function_code` its transactions carry, when there is a single one.
    pub fn function_code(&self) -> Option<u16> {
        match self.kind {
            Kind::Code(c) => Some(c),
            Kind::ModbusSub(fc, _) => Some(u16::from(fc)),
            Kind::Dnp3WriteGroup(_) => Some(2),
            Kind::S7Userdata(g, s) => Some(u16::from(g) << 8 | u16::from(s)),
            Kind::S7Group(_) => None,
            Kind::Named(name) => named_code(self.protocol, name),
        }
    }

    /// Whether the transaction is a call of this function.
    pub fn matches(&self, t: &Transaction) -> bool {
        if t.app_proto != self.protocol {
            return false;
        }
        match self.kind {
            Kind::Named(name) => t.function == name,
            Kind::Code(code) => {
                t.function_code == code && !matches!(&t.detail, ProtocolDetail::S7comm(d) if d.rosctr == 7)
            }
            Kind::ModbusSub(fc, sub) => {
                t.function_code == u16::from(fc)
                    && matches!(&t.detail, ProtocolDetail::Modbus(m) if m.sub_function == Some(sub))
            }
            Kind::Dnp3WriteGroup(group) => {
                t.function_code == 2
                    && matches!(&t.detail, ProtocolDetail::Dnp3(d) if d.objects.first().map(|o| o.group) == Some(group))
            }
            Kind::S7Group(group) => {
                matches!(&t.detail, ProtocolDetail::S7comm(d) if d.rosctr == 7 && d.userdata_group == Some(group))
            }
            Kind::S7Userdata(group, sub) => matches!(
                &t.detail,
                ProtocolDetail::S7comm(d)
                    if d.rosctr == 7 && d.userdata_group == Some(group) && d.userdata_subfunction == Some(sub)
            ),
        }
    }
}

/// The function code of a named row, for the rows whose transactions carry a single one.
fn named_code(protocol: &str, name: &str) -> Option<u16> {
    match protocol {
        "modbus" => {
            let parent = modbus::tables().into_iter().find(|(_, t)| t.iter().any(|i| i.name == name))?.0?;
            Some(u16::from(parent))
        }
        "dnp3" => dnp3::WRITE_GROUPS.iter().any(|i| i.name == name).then_some(2),
        "s7comm" => {
            if s7comm::PI_SERVICES.iter().any(|p| p.info.name == name) {
                Some(0x28)
            } else {
                s7comm::USERDATA.iter().find(|i| i.name == name).map(|i| i.code)
            }
        }
        _ => s7_plus_rows().find(|i| i.name == name).map(|i| i.code),
    }
}

fn s7_plus_rows() -> impl Iterator<Item = &'static FunctionInfo> {
    s7comm::PLUS_FUNCTIONS.iter().chain([&s7comm::PLUS_NOTIFICATION, &s7comm::PLUS_KEEP_ALIVE])
}

/// Every function name of a protocol, for suggestions.
pub(super) fn names(protocol: &str) -> Vec<&'static str> {
    match protocol {
        "modbus" => modbus::tables().into_iter().flat_map(|(_, t)| t.iter().map(|i| i.name)).collect(),
        "dnp3" => dnp3::tables().into_iter().flat_map(|(_, t)| t.iter().map(|i| i.name)).collect(),
        "s7comm" => s7comm::FUNCTIONS
            .iter()
            .chain(s7comm::PI_SERVICES.iter().map(|p| &p.info))
            .chain(s7comm::GROUPS)
            .chain(s7comm::USERDATA)
            .map(|i| i.name)
            .collect(),
        "s7comm_plus" => s7_plus_rows().map(|i| i.name).collect(),
        _ => Vec::new(),
    }
}

/// The function of `protocol` with this name.
fn by_name(protocol: &'static str, name: &str) -> Option<FunctionSel> {
    let sel = |kind, category| FunctionSel { protocol, kind, category, label: name.to_owned() };
    let find = |table: &'static [FunctionInfo]| table.iter().find(|i| i.name == name);
    match protocol {
        "modbus" => {
            if let Some(row) = find(modbus::FUNCTIONS) {
                // FC 8, 43 and 90 have sub-functions of other categories.
                let category = (!matches!(row.code, 8 | 43 | 90)).then_some(row.category);
                return Some(sel(Kind::Code(row.code), category));
            }
            modbus::by_name(name).map(|row| sel(Kind::Named(row.name), Some(row.category)))
        }
        "dnp3" => {
            if let Some(row) = find(dnp3::FUNCTIONS) {
                let category = (row.code != 2).then_some(row.category);
                return Some(sel(Kind::Code(row.code), category));
            }
            dnp3::by_name(name).map(|row| sel(Kind::Named(row.name), Some(row.category)))
        }
        "s7comm" => {
            if let Some(row) = find(s7comm::FUNCTIONS) {
                let category = (row.code != 0x28).then_some(row.category);
                return Some(sel(Kind::Code(row.code), category));
            }
            if let Some(p) = s7comm::PI_SERVICES.iter().find(|p| p.info.name == name) {
                return Some(sel(Kind::Named(p.info.name), Some(p.info.category)));
            }
            if let Some(group) = find(s7comm::GROUPS) {
                let group = u8::try_from(group.code).ok()?;
                return Some(sel(Kind::S7Group(group), None));
            }
            find(s7comm::USERDATA).map(|row| sel(Kind::Named(row.name), Some(row.category)))
        }
        _ => s7_plus_rows().find(|i| i.name == name).map(|row| sel(Kind::Named(row.name), Some(row.category))),
    }
}

/// A number as rules write it: decimal or `0x` hexadecimal.
pub(super) fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

/// Resolves one value of a `function:` key within the protocols in scope.
///
/// Names are looked up in each protocol of `scope` and match in every protocol that has them;
/// numbers need a single protocol, since each protocol numbers its functions differently.
pub(super) fn resolve(scope: &[&'static str], value: &Scalar) -> Result<Vec<FunctionSel>, String> {
    let text = match value {
        Scalar::Int(n) => n.to_string(),
        Scalar::Text(s) => s.trim().to_owned(),
        other => return Err(format!("expected a function name or number, not `{other}`")),
    };
    let numeric = matches!(value, Scalar::Int(_)) || number(&text).is_some() || text.contains('/');
    if numeric {
        let [protocol] = scope else {
            return Err(format!(
                "function `{text}` is a number, which means something different in each protocol: give the rule a \
                 `protocol`, or use the function's name"
            ));
        };
        return by_number(protocol, &text).map(|sel| vec![sel]);
    }
    let name = text.to_ascii_lowercase();
    let found: Vec<FunctionSel> = scope.iter().filter_map(|p| by_name(p, &name)).collect();
    if !found.is_empty() {
        return Ok(found);
    }
    let what = match scope {
        [protocol] => format!("unknown {protocol} function `{text}`"),
        _ => format!("unknown function `{text}`"),
    };
    let elsewhere: Vec<&str> = PROTOCOLS.iter().copied().filter(|p| by_name(p, &name).is_some()).collect();
    if let Some(other) = elsewhere.first() {
        return Err(format!("{what} (it is a {other} function)"));
    }
    let candidates: Vec<&str> = scope.iter().flat_map(|p| names(p)).collect();
    match did_you_mean(&name, candidates.iter().copied()) {
        Some(best) => Err(format!("{what}; did you mean `{best}`?")),
        None => Err(format!("{what}; the names are listed in docs/CLASSIFICATION.md")),
    }
}

fn by_number(protocol: &'static str, text: &str) -> Result<FunctionSel, String> {
    let bad = |why: &str| Err(format!("bad {protocol} function `{text}`: {why}"));
    let sel = |kind, category: Option<Category>| FunctionSel { protocol, kind, category, label: text.to_owned() };
    if let Some((main, sub)) = text.split_once('/') {
        let Some(main) = number(main) else { return bad("expected FUNCTION/SUB with numbers") };
        let sub = sub.trim();
        return match protocol {
            "modbus" => {
                let Some(fc @ (8 | 43 | 90)) = u8::try_from(main).ok() else {
                    return bad("only functions 8, 43 and 90 have sub-functions");
                };
                let max = if fc == 8 { 0xFFFF } else { 0xFF };
                match number(sub).filter(|s| *s <= max).and_then(|s| u16::try_from(s).ok()) {
                    Some(s) => Ok(sel(Kind::ModbusSub(fc, s), Some(modbus::lookup(fc, Some(s)).category))),
                    None => bad(&format!("the sub-function must be a number from 0 to {max}")),
                }
            }
            "dnp3" => {
                if main != 2 {
                    return bad("only write (2) takes an object group, as in 2/50");
                }
                match number(sub).and_then(|g| u8::try_from(g).ok()) {
                    Some(g) => Ok(sel(Kind::Dnp3WriteGroup(g), Some(dnp3::lookup(2, Some(g)).category))),
                    None => bad("the object group must be a number from 0 to 255"),
                }
            }
            "s7comm" => {
                let Some(group) = u8::try_from(main).ok().filter(|g| *g <= 15) else {
                    return bad("the userdata group must be a number from 0 to 15");
                };
                if sub == "*" {
                    return Ok(sel(Kind::S7Group(group), None));
                }
                match number(sub).and_then(|s| u8::try_from(s).ok()) {
                    Some(s) => {
                        Ok(sel(Kind::S7Userdata(group, s), s7comm::userdata_subfunction(group, s).map(|i| i.category)))
                    }
                    None => bad("the subfunction must be a number from 0 to 255, or *"),
                }
            }
            _ => bad("s7comm_plus functions have no sub-functions"),
        };
    }
    let Some(code) = number(text) else { return bad("expected a number") };
    match protocol {
        "modbus" => match u8::try_from(code).ok().filter(|c| (1..=127).contains(c)) {
            Some(fc) => {
                let category = (!matches!(fc, 8 | 43 | 90)).then_some(modbus::lookup(fc, None).category);
                Ok(sel(Kind::Code(u16::from(fc)), category))
            }
            None => bad("Modbus function codes are 1 to 127"),
        },
        "dnp3" => match u8::try_from(code) {
            Ok(fc) => Ok(sel(Kind::Code(u16::from(fc)), (fc != 2).then_some(dnp3::lookup(fc, None).category))),
            Err(_) => bad("DNP3 function codes are 0 to 255"),
        },
        "s7comm" => match u8::try_from(code) {
            Ok(f) => Ok(sel(Kind::Code(u16::from(f)), (f != 0x28).then_some(s7comm::lookup_job(f, None).category))),
            Err(_) => bad("S7 job functions are 0 to 255 (write userdata as GROUP/SUBFUNCTION, e.g. 4/1)"),
        },
        _ => match u16::try_from(code) {
            Ok(c) => Ok(sel(Kind::Code(c), s7comm::plus_lookup(c).map(|i| i.category))),
            Err(_) => bad("S7comm-plus function codes are 0 to 0xFFFF"),
        },
    }
}

/// The candidate closest to `word` in edit distance, when it is close enough to be a typo:
/// at most a third of the word's length, and at least one edit.
pub(super) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + cost;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = del.min(ins).min(sub);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.get(b.len()).copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(scope: &[&'static str], text: &str) -> Result<FunctionSel, String> {
        resolve(scope, &Scalar::Text(text.to_owned())).map(|mut v| v.remove(0))
    }

    #[test]
    fn names_resolve_in_their_protocol() {
        let s = one(&["modbus"], "write_single_register").unwrap();
        assert_eq!((s.protocol(), s.function_code(), s.category()), ("modbus", Some(6), Some(Category::Write)));
        let s = one(&PROTOCOLS, "direct_operate").unwrap();
        assert_eq!((s.protocol(), s.function_code()), ("dnp3", Some(5)));
        let s = one(&PROTOCOLS, "plc_stop").unwrap();
        assert_eq!((s.protocol(), s.function_code(), s.category()), ("s7comm", Some(0x29), Some(Category::Control)));
        let s = one(&["s7comm"], "pi_insert_block").unwrap();
        assert_eq!((s.function_code(), s.category()), (Some(0x28), Some(Category::Program)));
        let s = one(&["s7comm"], "read_szl").unwrap();
        assert_eq!(s.function_code(), Some(0x0401));
        assert_eq!(one(&["s7comm"], "time_functions").unwrap().function_code(), None);
        assert_eq!(one(&["modbus"], "umas_stop_plc").unwrap().function_code(), Some(90));
        assert_eq!(one(&["modbus"], "diagnostics").unwrap().category(), None);
        assert_eq!(one(&["dnp3"], "write_time").unwrap().function_code(), Some(2));
        assert_eq!(one(&["s7comm_plus"], "set_multi_variables").unwrap().function_code(), Some(0x0542));
    }

    #[test]
    fn numbers() {
        assert_eq!(one(&["modbus"], "0x10").unwrap().function_code(), Some(16));
        assert_eq!(resolve(&["modbus"], &Scalar::Int(16)).unwrap()[0].category(), Some(Category::Write));
        assert_eq!(one(&["modbus"], "8/4").unwrap().category(), Some(Category::Control));
        assert_eq!(one(&["modbus"], "90/0x41").unwrap().category(), Some(Category::Control));
        assert_eq!(one(&["dnp3"], "2/50").unwrap().category(), Some(Category::Time));
        assert_eq!(one(&["s7comm"], "7/*").unwrap().function_code(), None);
        assert_eq!(one(&["s7comm"], "4/1").unwrap().function_code(), Some(0x0401));
        assert_eq!(
            one(&["modbus"], "200").unwrap_err(),
            "bad modbus function `200`: Modbus function codes are 1 to 127"
        );
        assert_eq!(
            one(&["modbus"], "3/1").unwrap_err(),
            "bad modbus function `3/1`: only functions 8, 43 and 90 have sub-functions"
        );
        assert!(one(&PROTOCOLS, "16").unwrap_err().contains("give the rule a `protocol`"));
    }

    #[test]
    fn unknown_names() {
        assert_eq!(
            one(&["modbus"], "write_single_registr").unwrap_err(),
            "unknown modbus function `write_single_registr`; did you mean `write_single_register`?"
        );
        assert_eq!(
            one(&["modbus"], "direct_operate").unwrap_err(),
            "unknown modbus function `direct_operate` (it is a dnp3 function)"
        );
        assert_eq!(
            one(&PROTOCOLS, "frobnicate").unwrap_err(),
            "unknown function `frobnicate`; the names are listed in docs/CLASSIFICATION.md"
        );
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(did_you_mean("hmii", ["hmi", "plc"]), Some("hmi"));
        assert_eq!(did_you_mean("xyz", ["hmi", "plc"]), None);
    }
}
