//! The serde mirror of a rules file: every value that validation may complain about is
//! [`Spanned`], so that the complaint points at it. Names, numbers, ranges and addresses are
//! read as [`List`]s of [`Scalar`]s (one value or a YAML list of them) and checked in
//! `compile`, where the messages can speak of the rule rather than of serde types.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::yaml::{Location, Spanned};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
    #[serde(default)]
    pub assets: Option<Vec<Spanned<RawAsset>>>,
    #[serde(default)]
    pub commands: Option<Vec<Spanned<RawCommand>>>,
    #[serde(default)]
    pub jobs: Option<Vec<Spanned<RawJob>>>,
    #[serde(default)]
    pub thresholds: Option<Vec<Spanned<RawThreshold>>>,
    #[serde(default)]
    pub suppress: Option<Vec<Spanned<RawSuppress>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAsset {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub address: Spanned<List>,
    #[serde(default)]
    pub description: Option<String>,
}

/// What a command rule, a declared job or a threshold entry matches: the keys they share,
/// moved out of the entry for validation. (serde's `flatten` would share the keys between
/// the entries, but it buffers the map and so loses positions and `deny_unknown_fields`; the
/// keys are repeated in each entry instead.)
#[derive(Default)]
pub(super) struct RawMatch {
    pub master: Option<Spanned<List>>,
    pub outstation: Option<Spanned<List>>,
    pub protocol: Option<Spanned<List>>,
    pub category: Option<Spanned<List>>,
    pub function: Option<Spanned<List>>,
    pub unit: Option<Spanned<List>>,
    pub address: Option<Spanned<List>>,
    pub point: Option<Spanned<List>>,
    pub db: Option<Spanned<List>>,
    pub area: Option<Spanned<List>>,
    pub block: Option<Spanned<List>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommand {
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub master: Option<Spanned<List>>,
    #[serde(default)]
    pub outstation: Option<Spanned<List>>,
    #[serde(default)]
    pub protocol: Option<Spanned<List>>,
    #[serde(default)]
    pub category: Option<Spanned<List>>,
    #[serde(default)]
    pub function: Option<Spanned<List>>,
    #[serde(default)]
    pub unit: Option<Spanned<List>>,
    #[serde(default)]
    pub address: Option<Spanned<List>>,
    #[serde(default)]
    pub point: Option<Spanned<List>>,
    #[serde(default)]
    pub db: Option<Spanned<List>>,
    #[serde(default)]
    pub area: Option<Spanned<List>>,
    #[serde(default)]
    pub block: Option<Spanned<List>>,
    #[serde(default)]
    pub when: Option<Spanned<RawWindow>>,
    pub action: Spanned<String>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    #[serde(default)]
    pub days: Option<Spanned<List>>,
    #[serde(default)]
    pub time: Option<Spanned<String>>,
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub master: Spanned<List>,
    pub outstation: Spanned<List>,
    pub protocol: Spanned<List>,
    pub function: Spanned<List>,
    #[serde(default)]
    pub unit: Option<Spanned<List>>,
    #[serde(default)]
    pub address: Option<Spanned<List>>,
    #[serde(default)]
    pub point: Option<Spanned<List>>,
    #[serde(default)]
    pub db: Option<Spanned<List>>,
    #[serde(default)]
    pub area: Option<Spanned<List>>,
    #[serde(default)]
    pub block: Option<Spanned<List>>,
    pub period: Spanned<Scalar>,
    pub tolerance: Spanned<Scalar>,
    #[serde(default)]
    pub stop_after: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub response_limit: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThreshold {
    pub id: Spanned<String>,
    /// For people; jobwatch does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub job: Option<Spanned<String>>,
    #[serde(default)]
    pub master: Option<Spanned<List>>,
    #[serde(default)]
    pub outstation: Option<Spanned<List>>,
    #[serde(default)]
    pub protocol: Option<Spanned<List>>,
    #[serde(default)]
    pub category: Option<Spanned<List>>,
    #[serde(default)]
    pub function: Option<Spanned<List>>,
    #[serde(default)]
    pub unit: Option<Spanned<List>>,
    #[serde(default)]
    pub address: Option<Spanned<List>>,
    #[serde(default)]
    pub point: Option<Spanned<List>>,
    #[serde(default)]
    pub db: Option<Spanned<List>>,
    #[serde(default)]
    pub area: Option<Spanned<List>>,
    #[serde(default)]
    pub block: Option<Spanned<List>>,
    #[serde(default)]
    pub tolerance: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub stop_after: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub response_limit: Option<Spanned<Scalar>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSuppress {
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kind: Option<Spanned<List>>,
    #[serde(default)]
    pub anomaly: Option<Spanned<List>>,
    #[serde(default)]
    pub rule_id: Option<Spanned<List>>,
    #[serde(default)]
    pub severity: Option<Spanned<List>>,
    #[serde(default)]
    pub src: Option<Spanned<List>>,
    #[serde(default)]
    pub dst: Option<Spanned<List>>,
    #[serde(default)]
    pub key: Option<Spanned<List>>,
    pub max: Spanned<Scalar>,
    pub per: Spanned<Scalar>,
}

impl RawCommand {
    /// The match keys, moved out.
    pub fn take_match(&mut self) -> RawMatch {
        RawMatch {
            master: self.master.take(),
            outstation: self.outstation.take(),
            protocol: self.protocol.take(),
            category: self.category.take(),
            function: self.function.take(),
            unit: self.unit.take(),
            address: self.address.take(),
            point: self.point.take(),
            db: self.db.take(),
            area: self.area.take(),
            block: self.block.take(),
        }
    }
}

impl RawThreshold {
    pub fn take_match(&mut self) -> RawMatch {
        RawMatch {
            master: self.master.take(),
            outstation: self.outstation.take(),
            protocol: self.protocol.take(),
            category: self.category.take(),
            function: self.function.take(),
            unit: self.unit.take(),
            address: self.address.take(),
            point: self.point.take(),
            db: self.db.take(),
            area: self.area.take(),
            block: self.block.take(),
        }
    }
}

impl RawJob {
    pub fn take_match(&mut self) -> RawMatch {
        RawMatch {
            master: Some(self.master.clone()),
            outstation: Some(self.outstation.clone()),
            protocol: Some(self.protocol.clone()),
            category: None,
            function: Some(self.function.clone()),
            unit: self.unit.take(),
            address: self.address.take(),
            point: self.point.take(),
            db: self.db.take(),
            area: self.area.take(),
            block: self.block.take(),
        }
    }
}

/// A single YAML scalar, typed as YAML's core schema reads a plain scalar (`16` is a number,
/// `0x10` too, `write` and `4000-4099` are text).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Scalar {
    Text(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Text(s) => f.write_str(s),
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Null => f.write_str("null"),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value (a name, a number or a range)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
        Ok(i128::try_from(v).map_or_else(|_| Scalar::Text(v.to_string()), Scalar::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// One value or a YAML list of values. Items of a list carry their own position; a single
/// value gets the position of the key's value when it is converted with [`List::items`].
#[derive(Clone, Debug)]
pub(super) struct List(Vec<(Scalar, Option<Location>)>);

impl List {
    /// The values with their positions; `at` is the position of the whole value.
    pub fn items(list: &Spanned<List>) -> Vec<(Scalar, Location)> {
        list.value.0.iter().map(|(value, loc)| (value.clone(), loc.unwrap_or(list.referenced))).collect()
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = List;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or a list of values")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<List, E> {
        Ok(List(vec![(Scalar::Bool(v), None)]))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<List, E> {
        ScalarVisitor.visit_i64(v).map(|s| List(vec![(s, None)]))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<List, E> {
        ScalarVisitor.visit_u64(v).map(|s| List(vec![(s, None)]))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<List, E> {
        Ok(List(vec![(Scalar::Int(v), None)]))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<List, E> {
        ScalarVisitor.visit_u128(v).map(|s| List(vec![(s, None)]))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<List, E> {
        Ok(List(vec![(Scalar::Float(v), None)]))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<List, E> {
        Ok(List(vec![(Scalar::Text(v.to_owned()), None)]))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<List, E> {
        Ok(List(vec![(Scalar::Text(v), None)]))
    }

    fn visit_unit<E: de::Error>(self) -> Result<List, E> {
        Ok(List(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<List, E> {
        Ok(List(Vec::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<List, D::Error> {
        d.deserialize_any(ListVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Scalar>>()? {
            items.push((item.value, Some(item.referenced)));
        }
        Ok(List(items))
    }
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<List, D::Error> {
        d.deserialize_any(ListVisitor)
    }
}
