//! Function classification: every function and sub-function of every protocol mapped to one
//! category of INTERFACE.md, with the source of each choice.
//!
//! The per-protocol tables live in submodules; together they are the one reviewed table, rendered
//! for reviewers into `docs/CLASSIFICATION.md` (a test keeps that file in sync with the code).

pub mod dnp3;
pub mod modbus;
pub mod s7comm;

use std::fmt;

/// What a function does to the plant, as INTERFACE.md defines the `category` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Read,
    Write,
    Program,
    Firmware,
    /// Start, stop, restart, mode changes.
    Control,
    Diagnostic,
    File,
    Time,
    Config,
    Security,
    Other,
}

impl Category {
    /// Every category, in INTERFACE.md's order.
    pub const ALL: [Category; 11] = [
        Category::Read,
        Category::Write,
        Category::Program,
        Category::Firmware,
        Category::Control,
        Category::Diagnostic,
        Category::File,
        Category::Time,
        Category::Config,
        Category::Security,
        Category::Other,
    ];

    /// The lower-case name used in events and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Program => "program",
            Category::Firmware => "firmware",
            Category::Control => "control",
            Category::Diagnostic => "diagnostic",
            Category::File => "file",
            Category::Time => "time",
            Category::Config => "config",
            Category::Security => "security",
            Category::Other => "other",
        }
    }

    /// Parses the lower-case name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the classification table.
#[derive(Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The protocol's own number for the function (for sub-functions, the sub-function's number).
    pub code: u16,
    /// Stable snake_case name used in events and rules (e.g. `read_holding_registers`).
    pub name: &'static str,
    pub category: Category,
    /// Where the meaning and the category choice come from (spec section, vendor document).
    pub source: &'static str,
}

/// Renders every classification table as Markdown, one table per protocol (the content of
/// `docs/CLASSIFICATION.md`; a test keeps the file in sync).
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Function classification\n\n\
         Generated from `dissectors/src/classify/` by \
         `UPDATE_CLASSIFICATION=1 cargo test -p jobwatch-dissectors --test classification`; \
         do not edit by hand.\n\n\
         Every function and sub-function jobwatch knows, with the `category` it reports and \
         where the meaning and the category come from. Codes are decimal; a sub-function is \
         written `function/sub` (sub-function in hex for UMAS).\n",
    );
    out.push_str("\n## Modbus\n\n");
    out.push_str(
        "\"MB\" is the Modbus Application Protocol Specification V1.1b3. \
         A function code not listed is `unknown` (category `other`). A known function with an \
         unknown sub-function (FC 8 sub-function, FC 43 MEI type, FC 90 UMAS code) takes the \
         function's own row. Responses are classified by their request.\n\n",
    );
    out.push_str("| Code | Name | Category | Source |\n| --- | --- | --- | --- |\n");
    let sub_tables = modbus::tables();
    for function in modbus::FUNCTIONS {
        push_row(&mut out, &function.code.to_string(), function);
        for (parent, table) in &sub_tables {
            if *parent != u8::try_from(function.code).ok() {
                continue;
            }
            for sub in table.iter() {
                let code = if function.code == 90 {
                    format!("{}/0x{:02X}", function.code, sub.code)
                } else {
                    format!("{}/{}", function.code, sub.code)
                };
                push_row(&mut out, &code, sub);
            }
        }
    }
    out.push_str("\n## DNP3\n\n");
    out.push_str(
        "\"1815\" is IEEE 1815-2012. A function code not listed is `unknown` (category `other`). A write \
         (FC 2) takes the row of its first object group when one is listed (`2/50` is a write of group 50). \
         Responses are classified by their request.\n\n",
    );
    out.push_str("| Code | Name | Category | Source |\n| --- | --- | --- | --- |\n");
    for function in dnp3::FUNCTIONS {
        push_row(&mut out, &function.code.to_string(), function);
        if function.code == 2 {
            for group in dnp3::WRITE_GROUPS {
                push_row(&mut out, &format!("2/{}", group.code), group);
            }
        }
    }
    s7comm::render_markdown(&mut out, push_row);
    out
}

fn push_row(out: &mut String, code: &str, info: &FunctionInfo) {
    let source = info.source.replace('|', "\\|");
    out.push_str(&format!("| {code} | `{}` | {} | {source} |\n", info.name, info.category));
}
