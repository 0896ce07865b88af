//! Modbus function classification.
//!
//! Sources: "MB" is the Modbus Application Protocol Specification V1.1b3 (section numbers given);
//! legacy and vendor codes use the names of Wireshark's `packet-mbtcp.c` and Zeek's Modbus
//! analyser; UMAS (FC 90, Schneider Electric Unity) codes come from public research, since
//! Schneider publishes no specification.

use super::{Category, FunctionInfo};

const fn row(code: u16, name: &'static str, category: Category, source: &'static str) -> FunctionInfo {
    FunctionInfo { code, name, category, source }
}

use Category::*;

const LEGACY: &str = "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy Modicon code, \
    not in MB V1.1b3)";
const LEGACY_PROGRAM: &str = "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy Modicon \
    programming code, not in MB V1.1b3); program because it carries ladder-logic transfer";
const UMAS_SRC: &str = "Airbus \"The Unity (UMAS) protocol\" write-up, Kaspersky ICS-CERT and \
    Claroty Team82 UMAS analyses";

/// The row returned for a function code jobwatch does not know.
pub static UNKNOWN: FunctionInfo = row(0, "unknown", Other, "not a public or known vendor function code");

/// Modbus function codes (exception bit cleared).
pub static FUNCTIONS: &[FunctionInfo] = &[
    row(1, "read_coils", Read, "MB 6.1"),
    row(2, "read_discrete_inputs", Read, "MB 6.2"),
    row(3, "read_holding_registers", Read, "MB 6.3"),
    row(4, "read_input_registers", Read, "MB 6.4"),
    row(5, "write_single_coil", Write, "MB 6.5"),
    row(6, "write_single_register", Write, "MB 6.6"),
    row(7, "read_exception_status", Diagnostic, "MB 6.7 (serial line only)"),
    row(8, "diagnostics", Diagnostic, "MB 6.8; a sub-function row overrides this one when known"),
    row(9, "program_484", Program, LEGACY_PROGRAM),
    row(
        10,
        "poll_484",
        Program,
        "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy Modicon code); program because \
         it polls the status of a program transfer",
    ),
    row(11, "get_comm_event_counter", Diagnostic, "MB 6.9 (serial line only)"),
    row(12, "get_comm_event_log", Diagnostic, "MB 6.10 (serial line only)"),
    row(13, "program_584_984", Program, LEGACY_PROGRAM),
    row(
        14,
        "poll_584_984",
        Program,
        "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy Modicon code); program because \
         it polls the status of a program transfer",
    ),
    row(15, "write_multiple_coils", Write, "MB 6.11"),
    row(16, "write_multiple_registers", Write, "MB 6.12"),
    row(17, "report_server_id", Diagnostic, "MB 6.13 (serial line only)"),
    row(18, "program_884_u84", Program, LEGACY_PROGRAM),
    row(
        19,
        "reset_comm_link",
        Control,
        "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy 884/U84 code); control because \
         it resets the device's communication link",
    ),
    row(20, "read_file_record", File, "MB 6.14"),
    row(21, "write_file_record", File, "MB 6.15"),
    row(22, "mask_write_register", Write, "MB 6.16"),
    row(
        23,
        "read_write_multiple_registers",
        Write,
        "MB 6.17; write because it changes registers even though it also reads",
    ),
    row(24, "read_fifo_queue", Read, "MB 6.18"),
    row(40, "program_concept", Program, LEGACY_PROGRAM),
    row(43, "encapsulated_interface_transport", Other, "MB 6.19; an MEI type row overrides this one when known"),
    row(
        90,
        "umas",
        Program,
        "Schneider Electric UMAS (Wireshark/Zeek name it PROGRAM_UNITY); program because an \
         unrecognised UMAS code is engineering-station traffic; a UMAS row overrides this one when \
         known",
    ),
    row(
        125,
        "firmware_replacement",
        Firmware,
        "Wireshark packet-mbtcp.c and Zeek modbus analyser (legacy Modicon code, not in MB V1.1b3)",
    ),
    row(126, "program_584_984_2", Program, LEGACY_PROGRAM),
    row(127, "report_local_address", Diagnostic, LEGACY),
];

/// FC 8 Diagnostics sub-functions (MB 6.8.1).
pub static DIAGNOSTIC_SUB_FUNCTIONS: &[FunctionInfo] = &[
    row(0, "return_query_data", Diagnostic, "MB 6.8.1 sub-function 0x00"),
    row(
        1,
        "restart_communications_option",
        Control,
        "MB 6.8.1 sub-function 0x01; control because it restarts the device's serial port and \
         can take it out of listen-only mode",
    ),
    row(2, "return_diagnostic_register", Diagnostic, "MB 6.8.1 sub-function 0x02"),
    row(
        3,
        "change_ascii_input_delimiter",
        Config,
        "MB 6.8.1 sub-function 0x03; config because it changes a communication setting",
    ),
    row(
        4,
        "force_listen_only_mode",
        Control,
        "MB 6.8.1 sub-function 0x04; control because it silences the device until restarted",
    ),
    row(
        10,
        "clear_counters_and_diagnostic_register",
        Diagnostic,
        "MB 6.8.1 sub-function 0x0A; diagnostic because it only resets diagnostic counters",
    ),
    row(11, "return_bus_message_count", Diagnostic, "MB 6.8.1 sub-function 0x0B"),
    row(12, "return_bus_communication_error_count", Diagnostic, "MB 6.8.1 sub-function 0x0C"),
    row(13, "return_bus_exception_error_count", Diagnostic, "MB 6.8.1 sub-function 0x0D"),
    row(14, "return_server_message_count", Diagnostic, "MB 6.8.1 sub-function 0x0E"),
    row(15, "return_server_no_response_count", Diagnostic, "MB 6.8.1 sub-function 0x0F"),
    row(16, "return_server_nak_count", Diagnostic, "MB 6.8.1 sub-function 0x10"),
    row(17, "return_server_busy_count", Diagnostic, "MB 6.8.1 sub-function 0x11"),
    row(18, "return_bus_character_overrun_count", Diagnostic, "MB 6.8.1 sub-function 0x12"),
    row(
        20,
        "clear_overrun_counter_and_flag",
        Diagnostic,
        "MB 6.8.1 sub-function 0x14; diagnostic because it only resets a diagnostic counter",
    ),
];

/// FC 43 MEI types (MB 6.19–6.21).
pub static MEI_TYPES: &[FunctionInfo] = &[
    row(13, "canopen_general_reference", Other, "MB 6.20; other because it tunnels arbitrary CANopen requests"),
    row(
        14,
        "read_device_identification",
        Diagnostic,
        "MB 6.21; diagnostic because it reads identity, not process data",
    ),
];

/// FC 90 UMAS function codes (the request's second data byte).
pub static UMAS_FUNCTIONS: &[FunctionInfo] = &[
    row(0x01, "umas_init_comm", Diagnostic, UMAS_SRC),
    row(0x02, "umas_read_id", Diagnostic, UMAS_SRC),
    row(0x03, "umas_read_project_info", Diagnostic, UMAS_SRC),
    row(0x04, "umas_read_plc_info", Diagnostic, UMAS_SRC),
    row(0x06, "umas_read_card_info", Diagnostic, UMAS_SRC),
    row(0x0A, "umas_repeat", Diagnostic, UMAS_SRC),
    row(
        0x10,
        "umas_take_plc_reservation",
        Security,
        "Airbus, Kaspersky ICS-CERT and Claroty Team82 UMAS analyses; security because the \
         reservation is UMAS's only access control",
    ),
    row(
        0x11,
        "umas_release_plc_reservation",
        Security,
        "Airbus, Kaspersky ICS-CERT and Claroty Team82 UMAS analyses; security because the \
         reservation is UMAS's only access control",
    ),
    row(
        0x12,
        "umas_keep_alive",
        Diagnostic,
        "Airbus, Kaspersky ICS-CERT and Claroty Team82 UMAS analyses; diagnostic because it only \
         keeps a reservation alive",
    ),
    row(0x20, "umas_read_memory_block", Read, UMAS_SRC),
    row(0x22, "umas_read_variables", Read, UMAS_SRC),
    row(0x23, "umas_write_variables", Write, UMAS_SRC),
    row(0x24, "umas_read_coils_registers", Read, UMAS_SRC),
    row(0x25, "umas_write_coils_registers", Write, UMAS_SRC),
    row(
        0x26,
        "umas_data_dictionary",
        Read,
        "Airbus and Kaspersky ICS-CERT UMAS analyses; read because it reads the variable \
         dictionary",
    ),
    row(
        0x30,
        "umas_initialize_upload",
        Program,
        "Airbus, Kaspersky ICS-CERT and Claroty Team82 UMAS analyses; program because it starts \
         a program transfer from the PLC",
    ),
    row(0x31, "umas_upload_block", Program, UMAS_SRC),
    row(0x32, "umas_end_strategy_upload", Program, UMAS_SRC),
    row(
        0x33,
        "umas_initialize_download",
        Program,
        "Airbus, Kaspersky ICS-CERT and Claroty Team82 UMAS analyses; program because it starts \
         a program transfer to the PLC",
    ),
    row(0x34, "umas_download_block", Program, UMAS_SRC),
    row(0x35, "umas_end_strategy_download", Program, UMAS_SRC),
    row(0x39, "umas_read_eth_master_data", Diagnostic, UMAS_SRC),
    row(0x40, "umas_start_plc", Control, UMAS_SRC),
    row(0x41, "umas_stop_plc", Control, UMAS_SRC),
    row(0x50, "umas_monitor_plc", Diagnostic, UMAS_SRC),
    row(0x58, "umas_check_plc", Diagnostic, UMAS_SRC),
    row(0x70, "umas_read_io_object", Read, UMAS_SRC),
    row(0x71, "umas_write_io_object", Write, UMAS_SRC),
    row(0x73, "umas_get_status_module", Diagnostic, UMAS_SRC),
];

fn find(table: &'static [FunctionInfo], code: u16) -> Option<&'static FunctionInfo> {
    table.iter().find(|info| info.code == code)
}

/// The UMAS row for a UMAS function code, if known.
pub fn umas_lookup(code: u8) -> Option<&'static FunctionInfo> {
    find(UMAS_FUNCTIONS, u16::from(code))
}

/// Classifies a function code (exception bit cleared) and, for FC 8, 43 and 90, its
/// sub-function (diagnostic sub-function, MEI type, UMAS code).
///
/// A known function with an unknown or absent sub-function gets the function's own row; a
/// function code not in [`FUNCTIONS`] gets [`UNKNOWN`].
pub fn lookup(function_code: u8, sub_function: Option<u16>) -> &'static FunctionInfo {
    let Some(function) = find(FUNCTIONS, u16::from(function_code)) else {
        return &UNKNOWN;
    };
    let sub_table = match function_code {
        8 => DIAGNOSTIC_SUB_FUNCTIONS,
        43 => MEI_TYPES,
        90 => UMAS_FUNCTIONS,
        _ => return function,
    };
    sub_function.and_then(|sub| find(sub_table, sub)).unwrap_or(function)
}

/// Finds a row by its stable name in any of the Modbus tables.
pub fn by_name(name: &str) -> Option<&'static FunctionInfo> {
    tables().iter().flat_map(|(_, table)| table.iter()).find(|info| info.name == name)
}

/// Every table with the function code its rows belong under (`None` for [`FUNCTIONS`]).
pub fn tables() -> [(Option<u8>, &'static [FunctionInfo]); 4] {
    [(None, FUNCTIONS), (Some(8), DIAGNOSTIC_SUB_FUNCTIONS), (Some(43), MEI_TYPES), (Some(90), UMAS_FUNCTIONS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_sub_functions() {
        assert_eq!(lookup(3, None).name, "read_holding_registers");
        assert_eq!(lookup(3, Some(7)).name, "read_holding_registers");
        assert_eq!(lookup(8, Some(1)).category, Control);
        assert_eq!(lookup(8, Some(4)).name, "force_listen_only_mode");
        assert_eq!(lookup(8, Some(3)).category, Config);
        assert_eq!(lookup(8, Some(0x99)).name, "diagnostics");
        assert_eq!(lookup(43, Some(14)).name, "read_device_identification");
        assert_eq!(lookup(43, Some(13)).category, Other);
        assert_eq!(lookup(90, Some(0x41)).name, "umas_stop_plc");
        assert_eq!(lookup(90, Some(0xFE)).name, "umas");
        assert_eq!(lookup(90, None).name, "umas");
        assert_eq!(lookup(200, None), &UNKNOWN);
        assert_eq!(lookup(0, None).name, "unknown");
    }

    #[test]
    fn names_unique_and_snake_case() {
        let mut names: Vec<&str> = tables().iter().flat_map(|(_, t)| t.iter().map(|i| i.name)).collect();
        names.push(UNKNOWN.name);
        for name in &names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
            assert_eq!(by_name(name).map(|i| i.name), (*name != "unknown").then_some(*name));
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate names");
    }

    #[test]
    fn codes_unique_and_sorted() {
        for (_, table) in tables() {
            assert!(table.windows(2).all(|w| w[0].code < w[1].code));
        }
    }

    #[test]
    fn categories_from_the_brief() {
        for code in [1, 2, 3, 4, 24] {
            assert_eq!(lookup(code, None).category, Read);
        }
        for code in [5, 6, 15, 16, 22, 23] {
            assert_eq!(lookup(code, None).category, Write);
        }
        for code in [9, 10, 13, 14, 18, 40, 126] {
            assert_eq!(lookup(code, None).category, Program);
        }
        assert_eq!(lookup(125, None).category, Firmware);
        assert_eq!(lookup(19, None).category, Control);
        assert_eq!(lookup(90, Some(0x10)).category, Security);
        assert_eq!(lookup(90, Some(0x34)).category, Program);
        assert_eq!(lookup(90, Some(0x40)).category, Control);
    }
}
