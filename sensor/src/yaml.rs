//! Loading YAML files written or edited by people: the baseline now, user rules files later.
//!
//! Everything goes through [`from_str`] so that every YAML file jobwatch reads gets the same
//! treatment:
//!
//! - **A budget against hostile documents.** A file may come from anywhere, so it is parsed
//!   under limits that a legitimate file never reaches: at most [`MAX_INPUT_BYTES`] of text,
//!   nesting at most [`MAX_DEPTH`] levels deep, bounded numbers of nodes, anchors and aliases,
//!   and a cap on how much aliases may expand to. An alias bomb ("billion laughs") is refused
//!   once its expansion passes 100 000 nodes, in milliseconds, instead of being expanded.
//! - **Strictness that catches typos.** Duplicate keys are errors (the second one would
//!   silently win otherwise), only `true`/`false` are booleans (`no`, `on`, … stay strings and
//!   so fail where a boolean is expected, instead of turning a country code into `false`),
//!   unknown tags are refused. Merge keys (`<<: *defaults`) are allowed, within the budget:
//!   they are how a rules file shares settings between entries.
//! - **Errors a person can act on.** A [`YamlError`] prints as `file:line:col: message` on a
//!   single line, the format compilers use, so editors and terminals link it to the place.
//!   serde-saphyr's own multi-line snippet rendering is switched off.
//!
//! Validation past the YAML level ("tolerance too wide") points at the offending value too:
//! deserialize the value as a [`Spanned`] and report it with [`error_at`].

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{DuplicateKeyPolicy, Error as SaphyrError, MergeKeyPolicy, MessageFormatter, UserMessageFormatter};

/// Where a value was found in its file, as carried by [`Spanned`]. Re-exported so that users
/// of this module need not name serde-saphyr.
pub use serde_saphyr::Location;
/// A deserialized value together with its position in the file, for validation errors that
/// point at the value (see [`error_at`]).
pub use serde_saphyr::Spanned;

/// Largest text accepted, in bytes. A real baseline or rules file is kilobytes to a few
/// megabytes; refusing anything larger up front keeps a wrong or malicious path (a capture
/// file, `/dev/zero`) from being read into memory and parsed.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of mappings and sequences accepted. jobwatch's files nest three or four
/// levels; the limit protects the parser's and serde's recursion.
pub const MAX_DEPTH: usize = 64;

/// Most nodes (scalars, mappings, sequences) in a document: about forty per baseline job, so
/// tens of thousands of jobs fit, while memory stays bounded whatever the file.
const MAX_NODES: usize = 2_000_000;
/// Most parser events (nodes plus their ends), consistent with [`MAX_NODES`].
const MAX_EVENTS: usize = 5_000_000;
/// Most anchors and most aliases. jobwatch never writes them; a person may use a few.
const MAX_ANCHORS: usize = 10_000;
const MAX_ALIASES: usize = 10_000;
/// Most events that alias expansion may add in total. This is what stops an alias bomb: the
/// document is small but each level multiplies the previous one, so the expansion hits this cap
/// long before it costs noticeable time or memory.
const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Most events copied while recording anchored nodes, for the same reason.
const MAX_RECORDED_ANCHOR_EVENTS: usize = 100_000;
/// Most merge keys in a document.
const MAX_MERGE_KEYS: usize = 10_000;

/// A YAML file that could not be loaded, or a value in it that is not valid.
///
/// Displayed as `file:line:col: message`, or `file: message` when there is no position
/// (unreadable file, a limit that applies to the whole document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line of the offending text, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending text, when known.
    pub column: Option<usize>,
    /// What is wrong, on one line.
    pub message: String,
}

impl YamlError {
    /// An error about the whole file, with no position.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        YamlError { file: file.to_owned(), line: None, column: None, message: one_line(&message.into()) }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for YamlError {}

/// An error pointing at a value in the file, for validation done after deserialization.
///
/// `at` is usually `spanned.referenced` of a [`Spanned`] field: where the value is written
/// (for an alias, the alias rather than its anchor, since that is the entry being validated).
/// An unknown location gives a `file: message` error.
pub fn error_at(file: &str, at: &Location, message: impl Into<String>) -> YamlError {
    let (line, column) = position(at);
    YamlError { file: file.to_owned(), line, column, message: one_line(&message.into()) }
}

/// Parses `text`, the contents of `file` (used in error messages only), into a `T` under the
/// module's budget and strictness rules.
pub fn from_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(too_large(file, text.len() as u64));
    }
    // A byte-order mark is legal at the start of a UTF-8 file (some Windows editors add one)
    // and carries no content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // First walk the whole document without a target type, so that the budget applies to all
    // of it: a typed pass stops at the first type error, and would report that rather than the
    // alias bomb or the nesting that makes the file hostile.
    serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(text, options()).map_err(|e| convert(file, &e))?;
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| convert(file, &e))
}

/// Reads and parses the YAML file at `path`.
///
/// The file is read at most [`MAX_INPUT_BYTES`] + 1 bytes far, so a huge file (or a device
/// that never ends) is refused without being read whole.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, YamlError> {
    let file = path.display().to_string();
    let bytes = read_bounded(path).map_err(|e| YamlError::whole_file(&file, format!("cannot read: {e}")))?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(too_large(&file, bytes.len() as u64));
    }
    let text = utf8(&file, &bytes)?;
    from_str(&file, text)
}

/// Reads up to one byte more than the limit, which is enough to tell that the file is too
/// large. The metadata check refuses big regular files before any reading.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let limit = MAX_INPUT_BYTES as u64 + 1;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The text of a file, or an error at the first byte that is not UTF-8. YAML files are
/// UTF-8; a UTF-16 file (some Windows editors' "Unicode") gets a message that says so.
fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, YamlError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(YamlError::whole_file(file, "the file is UTF-16; save it as UTF-8"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        YamlError {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column),
            message: "the file is not valid UTF-8 text; save it as UTF-8".to_owned(),
        }
    })
}

fn too_large(file: &str, len: u64) -> YamlError {
    YamlError::whole_file(
        file,
        format!("too large: more than {} MiB ({len} bytes read), refusing to parse it", MAX_INPUT_BYTES >> 20),
    )
}

/// The parser options: the budget and strictness described in the module documentation.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_INPUT_BYTES),
            max_events: MAX_EVENTS,
            max_nodes: MAX_NODES,
            max_depth: MAX_DEPTH,
            max_anchors: MAX_ANCHORS,
            max_aliases: MAX_ALIASES,
            max_recorded_anchor_events: MAX_RECORDED_ANCHOR_EVENTS,
            max_recorded_anchor_bytes: MAX_INPUT_BYTES,
            max_total_scalar_bytes: MAX_INPUT_BYTES,
            max_merge_keys: MAX_MERGE_KEYS,
            max_documents: 1,
            max_inclusion_depth: 0,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: MAX_DEPTH,
        },
        emit_comments: false,
        duplicate_keys: DuplicateKeyPolicy::Error,
        merge_keys: MergeKeyPolicy::Merge,
        strict_booleans: true,
        reject_unsupported_tags: true,
        with_snippet: false,
    }
}

/// Turns a serde-saphyr error into a one-line [`YamlError`] with a 1-based position.
fn convert(file: &str, err: &SaphyrError) -> YamlError {
    let err = err.without_snippet();
    let (line, column) = err.location().map_or((None, None), |l| position(&l));
    YamlError { file: file.to_owned(), line, column, message: one_line(&message(err)) }
}

/// serde-saphyr's user-facing wording, except where it speaks of its own API (budget
/// internals, policy settings) rather than of the file.
fn message(err: &SaphyrError) -> String {
    match err {
        SaphyrError::Budget { breach, .. } => budget_message(breach),
        SaphyrError::AliasReplayLimitExceeded { .. }
        | SaphyrError::AliasExpansionLimitExceeded { .. }
        | SaphyrError::AliasReplayCounterOverflow { .. } => {
            format!("aliases expand to more than {MAX_REPLAYED_EVENTS} nodes (an alias bomb?); refusing to expand them")
        }
        SaphyrError::AliasReplayStackDepthExceeded { .. } => {
            format!("aliases nested more than {MAX_DEPTH} levels deep; refusing to expand them")
        }
        SaphyrError::DuplicateMappingKey { key: Some(key), .. } => format!("duplicate key `{key}`"),
        SaphyrError::DuplicateMappingKey { key: None, .. } => "duplicate key".to_owned(),
        SaphyrError::InvalidBooleanStrict { .. } => "invalid boolean: write true or false".to_owned(),
        SaphyrError::InvalidScalar { ty, .. } => scalar_message(ty),
        SaphyrError::IOError { cause } => format!("cannot read: {cause}"),
        SaphyrError::AliasError { msg, locations } => alias_message(msg, &locations.defined_location),
        other => UserMessageFormatter.format_message(other).into_owned(),
    }
}

/// An error met while expanding an alias. serde-saphyr has already rendered the inner error
/// to text, with its positions appended (once per alias level), so the text is cut at the
/// first position and classified: a limit hit while expanding is an alias bomb, anything else
/// (a wrong type in the aliased value) is reported with the anchor's line.
fn alias_message(msg: &str, defined: &Location) -> String {
    let inner = msg.split(" at line ").next().unwrap_or(msg).trim();
    let limit_hit = ["budget breached", "alias replay", "alias expansion", "too large or too complex"]
        .iter()
        .any(|needle| inner.contains(needle));
    if limit_hit && inner.to_ascii_lowercase().contains("depth") {
        format!("aliases nested more than {MAX_DEPTH} levels deep; refusing to expand them")
    } else if limit_hit {
        format!("aliases expand to more than {MAX_REPLAYED_EVENTS} nodes (an alias bomb?); refusing to expand them")
    } else {
        // The inner text is serde-saphyr's developer wording; translate the common one.
        let inner = match inner.strip_prefix("invalid ") {
            Some(ty) if !ty.contains(' ') => scalar_message(ty),
            _ => inner.to_owned(),
        };
        match position(defined) {
            (Some(line), _) => format!("{inner} (in the value of the anchor at line {line})"),
            _ => inner,
        }
    }
}

/// What a scalar of a Rust type must look like, in the file's terms rather than Rust's.
fn scalar_message(ty: &str) -> String {
    match ty {
        "u8" => "expected a whole number from 0 to 255".to_owned(),
        "u16" => "expected a whole number from 0 to 65535".to_owned(),
        "u32" => "expected a whole number from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "expected a whole number from 0 to 18446744073709551615".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => format!("expected a whole number (fits in {ty})"),
        "f32" | "f64" => "expected a number".to_owned(),
        "bool" => "expected true or false".to_owned(),
        other => format!("invalid {other}"),
    }
}

fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!("nested more than {MAX_DEPTH} levels deep; refusing to parse it"),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
            format!("more than {MAX_NODES} values; refusing to parse it")
        }
        BudgetBreach::Aliases { .. } => format!("more than {MAX_ALIASES} aliases; refusing to parse it"),
        BudgetBreach::Anchors { .. } => format!("more than {MAX_ANCHORS} anchors; refusing to parse it"),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases for {anchors} anchors (an alias bomb?); refusing to parse it")
        }
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            "anchored values too large (an alias bomb?); refusing to parse it".to_owned()
        }
        BudgetBreach::Documents { .. } => "more than one YAML document; expected one".to_owned(),
        BudgetBreach::MergeKeys { .. } => format!("more than {MAX_MERGE_KEYS} merge keys; refusing to parse it"),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => {
            format!("more than {} MiB of text; refusing to parse it", MAX_INPUT_BYTES >> 20)
        }
        other => format!("document too large or too complex ({other:?}); refusing to parse it"),
    }
}

/// 1-based line and column of a location; serde-saphyr uses line 0 for "unknown".
fn position(at: &Location) -> (Option<usize>, Option<usize>) {
    let line = usize::try_from(at.line()).ok().filter(|&l| l > 0);
    let column = usize::try_from(at.column()).ok().filter(|&c| c > 0);
    match line {
        Some(line) => (Some(line), column),
        None => (None, None),
    }
}

/// Collapses a message to one line: line breaks and tabs become spaces, other control
/// characters (which could come from the file's own text) are escaped.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut last_space = false;
    for c in message.trim().chars() {
        if c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\u{2028}' || c == '\u{2029}' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else if c.is_control() {
            out.extend(c.escape_default());
            last_space = false;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        enabled: bool,
        #[serde(default)]
        items: Vec<String>,
    }

    fn err(text: &str) -> String {
        from_str::<Doc>("t.yaml", text).unwrap_err().to_string()
    }

    #[test]
    fn good_document() {
        let doc: Doc = from_str("t.yaml", "name: a\ncount: 3\nenabled: true\nitems: [x, 'y']\n").unwrap();
        assert_eq!(doc, Doc { name: "a".into(), count: 3, enabled: true, items: vec!["x".into(), "y".into()] });
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let doc: Doc = from_str("t.yaml", "\u{feff}name: a\n").unwrap();
        assert_eq!(doc.name, "a");
    }

    #[test]
    fn display_formats() {
        let e = YamlError { file: "f".into(), line: Some(3), column: Some(7), message: "bad".into() };
        assert_eq!(e.to_string(), "f:3:7: bad");
        assert_eq!(YamlError::whole_file("f", "bad\nthing").to_string(), "f: bad thing");
    }

    #[test]
    fn syntax_error_has_position() {
        let e = from_str::<Doc>("t.yaml", "name: a\nitems: [x, y\ncount: 3\n").unwrap_err();
        assert_eq!(e.file, "t.yaml");
        assert!(e.line.is_some() && e.column.is_some(), "{e}");
        assert!(!e.message.contains('\n'));
        let e = from_str::<Doc>("t.yaml", "name: a\n  count: 3\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn unknown_key_names_it_and_its_place() {
        assert_eq!(
            err("name: a\ncuont: 3\n"),
            "t.yaml:2:1: unknown field `cuont`, expected one of name, count, enabled, items"
        );
    }

    #[test]
    fn wrong_type_points_at_value() {
        assert_eq!(err("name: a\ncount: many\n"), "t.yaml:2:8: expected a whole number from 0 to 4294967295");
        let e = err("name: a\nitems: 3\n");
        assert!(e.starts_with("t.yaml:2:8: "), "{e}");
    }

    #[test]
    fn strict_booleans() {
        assert_eq!(err("name: a\nenabled: yes\n"), "t.yaml:2:10: invalid boolean: write true or false");
    }

    #[test]
    fn duplicate_key_is_an_error() {
        assert_eq!(err("name: a\ncount: 1\ncount: 2\n"), "t.yaml:3:1: duplicate key `count`");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text =
            String::from("a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
        }
        text.push_str("name: *a9\n");
        let e = from_str::<serde_json::Value>("t.yaml", &text).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
        let e = from_str::<Doc>("t.yaml", &text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yaml:6:10: aliases expand to more than 100000 nodes (an alias bomb?); refusing to expand them"
        );
    }

    #[test]
    fn type_error_in_an_alias_names_the_anchor() {
        let e = from_str::<Doc>("t.yaml", "name: &n [a]\n").unwrap_err();
        assert_eq!(e.to_string(), "t.yaml:1:10: expected string scalar");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Two {
            a: Vec<String>,
            b: Vec<u32>,
        }
        let e = from_str::<Two>("t.yaml", "a: &x [p, q]\nb: *x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.yaml:2:4: expected a whole number from 0 to 4294967295 (in the value of the anchor at line 1)"
        );
    }

    #[test]
    fn merge_keys_share_settings() {
        #[derive(Debug, Deserialize)]
        struct Rules {
            rules: Vec<Doc>,
        }
        let text =
            "defaults: &d {count: 5, enabled: true}\nrules:\n  - {<<: *d, name: a}\n  - {<<: *d, name: b, count: 1}\n";
        #[derive(Debug, Deserialize)]
        struct WithDefaults {
            #[allow(dead_code)]
            defaults: serde::de::IgnoredAny,
            #[serde(flatten)]
            rules: Rules,
        }
        let r: WithDefaults = from_str("t.yaml", text).unwrap();
        let counts: Vec<_> = r.rules.rules.iter().map(|d| (d.name.as_str(), d.count, d.enabled)).collect();
        assert_eq!(counts, [("a", 5, true), ("b", 1, true)]);
    }

    #[test]
    fn many_aliases_are_refused() {
        let mut text = String::from("a: &a x\nitems: [");
        for _ in 0..(MAX_ALIASES + 1) {
            text.push_str("*a,");
        }
        text.push_str("]\nname: b\n");
        let e = from_str::<Doc>("t.yaml", &text).unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("name: {}x{}\n", "[".repeat(200), "]".repeat(200));
        let e = from_str::<serde_json::Value>("t.yaml", &text).unwrap_err();
        assert!(e.message.contains("deep") || e.message.contains("nest"), "{e}");
        let mut block = String::new();
        for i in 0..(MAX_DEPTH + 5) {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        let e = from_str::<serde_json::Value>("t.yaml", &block).unwrap_err();
        assert!(e.message.contains("deep"), "{e}");
    }

    #[test]
    fn huge_input_is_refused_up_front() {
        let text = "#".repeat(MAX_INPUT_BYTES + 1);
        let e = from_str::<Doc>("t.yaml", &text).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("t.yaml: too large: more than 16 MiB ({} bytes read), refusing to parse it", MAX_INPUT_BYTES + 1)
        );
    }

    #[test]
    fn huge_file_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_INPUT_BYTES as u64 * 4).unwrap();
        let e = load::<Doc>(&path).unwrap_err();
        assert!(e.message.starts_with("too large"), "{e}");
        assert_eq!(e.line, None);
    }

    #[test]
    fn non_utf8_is_refused_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"name: a\nitems: [caf\xe9]\n").unwrap();
        let e = load::<Doc>(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2:12: the file is not valid UTF-8 text; save it as UTF-8", path.display())
        );
        std::fs::write(&path, b"\xff\xfen\x00a\x00").unwrap();
        let e = load::<Doc>(&path).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: the file is UTF-16; save it as UTF-8", path.display()));
    }

    #[test]
    fn unreadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.yaml");
        let e = load::<Doc>(&path).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{}: cannot read: ", path.display())), "{e}");
        let e = load::<Doc>(dir.path()).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn load_good_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.yaml");
        std::fs::write(&path, "name: a\n").unwrap();
        assert_eq!(load::<Doc>(&path).unwrap().name, "a");
    }

    #[test]
    fn spanned_values_give_positions() {
        #[derive(Deserialize)]
        struct S {
            port: Spanned<u32>,
        }
        let s: S = from_str("t.yaml", "\nport:   70000\n").unwrap();
        let e = error_at("t.yaml", &s.port.referenced, format!("port {} out of range", s.port.value));
        assert_eq!(e.to_string(), "t.yaml:2:9: port 70000 out of range");
        assert_eq!(error_at("t.yaml", &Location::UNKNOWN, "x").to_string(), "t.yaml: x");
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  b\r\nc\u{1b}d"), "a b c\\u{1b}d");
        for text in ["name: [\n", "name: \"abc\n", "- a\nb: c\n", "name: a\n---\nname: b\n", "name: !custom a\n", ""] {
            let e = from_str::<Doc>("t.yaml", text).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e:?}");
            assert!(e.starts_with("t.yaml:"), "{e:?}");
        }
    }
}
