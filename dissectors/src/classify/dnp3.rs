//! DNP3 function classification.
//!
//! Sources: "1815" is IEEE 1815-2012 (DNP3), clause 4.4 (one subclause per function) and table
//! 4-3 (function codes); the "no ack" codes behave as their acknowledged twins. Category choices
//! follow INTERFACE.md's definitions and this table's Modbus rows: commanding an output (a CROB
//! or an analog output block, by select/operate or direct operate) changes process outputs, as
//! Modbus FC 5/6 do, so it is `write`; `control` is kept for starting, stopping and restarting
//! the device or its applications. Zeek's ICSNPP and Suricata name the codes alike but assign no
//! categories.

use super::{Category, FunctionInfo};

const fn row(code: u16, name: &'static str, category: Category, source: &'static str) -> FunctionInfo {
    FunctionInfo { code, name, category, source }
}

use Category::*;

const OPERATE: &str = "1815 4.4.4; write because it commands outputs (CROB g12, analog output g41), \
    as Modbus FC 5/6 do";
const FREEZE: &str = "1815 4.4.5; other because it copies counters into frozen counters inside the \
    outstation, changing no output and reading nothing back";
const FREEZE_CLEAR: &str = "1815 4.4.5.2; write because it also clears the running counters";

/// The row returned for a function code IEEE 1815 does not define.
pub static UNKNOWN: FunctionInfo = row(0, "unknown", Other, "not an IEEE 1815-2012 function code");

/// DNP3 application function codes (1815 table 4-3).
pub static FUNCTIONS: &[FunctionInfo] = &[
    row(0, "confirm", Other, "1815 4.4.1; other because it only acknowledges a fragment"),
    row(1, "read", Read, "1815 4.4.2"),
    row(2, "write", Write, "1815 4.4.3; a row for the first object group overrides this one when known"),
    row(3, "select", Write, OPERATE),
    row(4, "operate", Write, OPERATE),
    row(5, "direct_operate", Write, OPERATE),
    row(6, "direct_operate_no_ack", Write, OPERATE),
    row(7, "immediate_freeze", Other, FREEZE),
    row(8, "immediate_freeze_no_ack", Other, FREEZE),
    row(9, "freeze_and_clear", Write, FREEZE_CLEAR),
    row(10, "freeze_and_clear_no_ack", Write, FREEZE_CLEAR),
    row(11, "freeze_at_time", Other, FREEZE),
    row(12, "freeze_at_time_no_ack", Other, FREEZE),
    row(13, "cold_restart", Control, "1815 4.4.6"),
    row(14, "warm_restart", Control, "1815 4.4.6"),
    row(15, "initialize_data", Control, "1815 4.4.7 (obsolete); control because it resets the outstation's data"),
    row(16, "initialize_application", Control, "1815 4.4.8"),
    row(17, "start_application", Control, "1815 4.4.8"),
    row(18, "stop_application", Control, "1815 4.4.8"),
    row(19, "save_configuration", Config, "1815 4.4.9 (obsolete)"),
    row(20, "enable_unsolicited", Config, "1815 4.4.10; config because it changes what the outstation reports"),
    row(21, "disable_unsolicited", Config, "1815 4.4.10; config because it changes what the outstation reports"),
    row(22, "assign_class", Config, "1815 4.4.11; config because it changes which class reports each point"),
    row(23, "delay_measure", Time, "1815 4.4.12; time because it measures the delay for time synchronisation"),
    row(24, "record_current_time", Time, "1815 4.4.13 (LAN time synchronisation)"),
    row(25, "open_file", File, "1815 4.4.14"),
    row(26, "close_file", File, "1815 4.4.14"),
    row(27, "delete_file", File, "1815 4.4.14"),
    row(28, "get_file_info", File, "1815 4.4.14"),
    row(29, "authenticate_file", File, "1815 4.4.14"),
    row(30, "abort_file", File, "1815 4.4.14"),
    row(31, "activate_config", Config, "1815 4.4.15"),
    row(32, "authenticate_request", Security, "1815 4.4.16 and clause 7 (secure authentication)"),
    row(33, "authenticate_request_no_ack", Security, "1815 4.4.16 and clause 7 (secure authentication)"),
    row(129, "response", Other, "1815 4.4.17; responses are classified by their request"),
    row(
        130,
        "unsolicited_response",
        Other,
        "1815 4.4.18; other because it reports events the outstation chose to send, with no request",
    ),
    row(
        131,
        "authenticate_response",
        Security,
        "1815 4.4.19 and clause 7; security because the outstation sends it to challenge the master, \
         not only to answer",
    ),
];

/// Writes (FC 2) whose meaning depends on the first object group (codes are group numbers).
pub static WRITE_GROUPS: &[FunctionInfo] = &[
    row(
        34,
        "write_deadband",
        Config,
        "1815 4.4.3, clause 11 (g34 analog input deadband); config because it changes reporting",
    ),
    row(50, "write_time", Time, "1815 4.4.3, clause 11 (g50 time and date); time because it sets the outstation clock"),
    row(
        70,
        "write_file_data",
        File,
        "1815 4.4.3 and clause 11 (g70 file-control objects: file transport data written after an open); \
         file because it writes a file on the outstation",
    ),
    row(
        80,
        "write_iin",
        Diagnostic,
        "1815 4.4.3, clause 11 (g80 internal indications); diagnostic because it clears the device-restart \
         indication",
    ),
    row(112, "write_virtual_terminal", Other, "1815 4.4.3, clause 11 (g112 virtual terminal output)"),
];

/// Classifies a function code and, for a write, the group of its first object header.
pub fn lookup(function_code: u8, first_group: Option<u8>) -> &'static FunctionInfo {
    let Some(function) = FUNCTIONS.iter().find(|info| info.code == u16::from(function_code)) else {
        return &UNKNOWN;
    };
    if function_code != 2 {
        return function;
    }
    first_group.and_then(|group| WRITE_GROUPS.iter().find(|info| info.code == u16::from(group))).unwrap_or(function)
}

/// Finds a row by its stable name in any of the DNP3 tables.
pub fn by_name(name: &str) -> Option<&'static FunctionInfo> {
    tables().iter().flat_map(|(_, table)| table.iter()).find(|info| info.name == name)
}

/// Every table with the function code its rows belong under (`None` for [`FUNCTIONS`]).
pub fn tables() -> [(Option<u8>, &'static [FunctionInfo]); 2] {
    [(None, FUNCTIONS), (Some(2), WRITE_GROUPS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_write_groups() {
        assert_eq!(lookup(2, Some(50)).category, Time);
        assert_eq!(lookup(2, Some(80)).name, "write_iin");
        assert_eq!(lookup(2, Some(10)).name, "write");
        assert_eq!(lookup(2, None).name, "write");
        assert_eq!(lookup(1, Some(50)).name, "read");
        assert_eq!(lookup(34, None), &UNKNOWN);
        assert_eq!(lookup(128, None), &UNKNOWN);
    }

    #[test]
    fn names_unique_and_snake_case() {
        let mut names: Vec<&str> = tables().iter().flat_map(|(_, t)| t.iter().map(|i| i.name)).collect();
        for name in &names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
            assert_eq!(by_name(name).map(|i| i.name), Some(*name));
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate names");
    }

    #[test]
    fn every_code_and_sorted() {
        let codes: Vec<u16> = FUNCTIONS.iter().map(|i| i.code).collect();
        let expected: Vec<u16> = (0..=33).chain(129..=131).collect();
        assert_eq!(codes, expected);
        assert!(WRITE_GROUPS.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn categories_from_the_brief() {
        for code in [13, 14, 15, 16, 17, 18] {
            assert_eq!(lookup(code, None).category, Control);
        }
        for code in [19, 20, 21, 22, 31] {
            assert_eq!(lookup(code, None).category, Config);
        }
        for code in 25..=30 {
            assert_eq!(lookup(code, None).category, File);
        }
        for code in [3, 4, 5, 6] {
            assert_eq!(lookup(code, None).category, Write);
        }
        assert_eq!(lookup(23, None).category, Time);
        assert_eq!(lookup(24, None).category, Time);
        assert_eq!(lookup(32, None).category, Security);
        assert_eq!(lookup(0, None).category, Other);
        assert_eq!(lookup(129, None).category, Other);
    }
}
