//! S7comm and S7comm-plus function classification.
//!
//! Sources: "WS" is Wireshark's `packet-s7comm.c` (function, PI service, userdata group and
//! subfunction names; Siemens publishes no S7comm specification); "S7+" is Thomas Wiens'
//! `s7comm_plus` Wireshark plugin (function codes); behaviour notes come from the Siemens Step 7
//! and TIA Portal manuals (memory reset, copy RAM to ROM, compress) and from public research on
//! S7 attacks (Beresford, "Exploiting Siemens Simatic S7 PLCs", Black Hat 2011; Stuxnet analyses
//! for block download and insertion).

use super::{Category, FunctionInfo};

const fn row(code: u16, name: &'static str, category: Category, source: &'static str) -> FunctionInfo {
    FunctionInfo { code, name, category, source }
}

use Category::*;

/// The row for an unknown job function.
pub static UNKNOWN: FunctionInfo = row(0, "unknown", Other, "not a function WS knows");
/// The row for an ack (ROSCTR 2) without parameter: classified by its request.
pub static ACK: FunctionInfo = row(0, "ack", Other, "WS ROSCTR 2; an acknowledgement, classified by its job");

/// Job functions (the first parameter byte of a job and its ack_data).
pub static FUNCTIONS: &[FunctionInfo] = &[
    row(0x00, "cpu_services", Other, "WS function 0x00"),
    row(0x04, "read_var", Read, "WS function 0x04"),
    row(0x05, "write_var", Write, "WS function 0x05"),
    row(
        0x1A,
        "request_download",
        Program,
        "WS function 0x1A; program because it starts a block transfer into the PLC (Stuxnet's \
         infection path)",
    ),
    row(0x1B, "download_block", Program, "WS function 0x1B; program because it carries block code into the PLC"),
    row(0x1C, "download_ended", Program, "WS function 0x1C; program because it completes a block download"),
    row(
        0x1D,
        "start_upload",
        Program,
        "WS function 0x1D; program because it starts copying a block's code out of the PLC \
         (engineering traffic, and how attackers read the logic)",
    ),
    row(0x1E, "upload", Program, "WS function 0x1E; program because it carries block code out of the PLC"),
    row(0x1F, "end_upload", Program, "WS function 0x1F; program because it ends a block upload"),
    row(
        0x28,
        "pi_service",
        Control,
        "WS function 0x28 (PLC control); control because PI services start programs; a PI \
         service row overrides this one when known",
    ),
    row(0x29, "plc_stop", Control, "WS function 0x29; control because it stops the CPU"),
    row(
        0xF0,
        "setup_communication",
        Other,
        "WS function 0xF0; other because it only negotiates the connection's queue depths and \
         PDU size, and changes nothing on the PLC",
    ),
];

/// A PI (program invocation) service of a PLC control job, by its name on the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct PiService {
    pub service: &'static str,
    pub info: FunctionInfo,
}

const fn pi(service: &'static str, info: FunctionInfo) -> PiService {
    PiService { service, info }
}

/// PI services of function 0x28 (WS `pi_service_names`).
pub static PI_SERVICES: &[PiService] = &[
    pi(
        "_INSE",
        row(
            0x28,
            "pi_insert_block",
            Program,
            "WS PI service _INSE; program because it activates downloaded blocks in the CPU",
        ),
    ),
    pi("_DELE", row(0x28, "pi_delete_block", Program, "WS PI service _DELE; program because it deletes blocks")),
    pi(
        "P_PROGRAM",
        row(
            0x28,
            "pi_start_program",
            Control,
            "WS PI service P_PROGRAM with function 0x28; control because it starts (runs) the CPU",
        ),
    ),
    pi(
        "_MODU",
        row(
            0x28,
            "pi_copy_ram_to_rom",
            Program,
            "WS PI service _MODU; program because it copies the program in RAM to the load \
             memory (ROM), making it permanent",
        ),
    ),
    pi(
        "_GARB",
        row(
            0x28,
            "pi_compress_memory",
            Program,
            "WS PI service _GARB; program because it reorganises (compresses) the program memory",
        ),
    ),
    pi(
        "_N_LOGIN_",
        row(0x28, "pi_nc_login", Security, "WS PI service _N_LOGIN_ (Sinumerik NC); security because it logs in"),
    ),
    pi(
        "_N_LOGOUT",
        row(0x28, "pi_nc_logout", Security, "WS PI service _N_LOGOUT (Sinumerik NC); security because it logs out"),
    ),
];

/// Userdata function groups: the row a (group, subfunction) takes when the subfunction is not
/// listed. Codes are the group number.
pub static GROUPS: &[FunctionInfo] = &[
    row(0x0, "mode_transition", Control, "WS userdata group 0; control because it reports or sets the CPU mode"),
    row(1, "programmer_commands", Diagnostic, "WS userdata group 1 (online test and debug functions)"),
    row(2, "cyclic_data", Read, "WS userdata group 2; read because it subscribes to process values"),
    row(3, "block_functions", Diagnostic, "WS userdata group 3; diagnostic because it lists blocks"),
    row(4, "cpu_functions", Diagnostic, "WS userdata group 4 (SZL, alarms and messages)"),
    row(5, "security", Security, "WS userdata group 5"),
    row(
        6,
        "pbc_bsend_brecv",
        Other,
        "WS userdata group 6; other because BSEND/BRECV carry peer-to-peer data whose meaning the \
         programs define",
    ),
    row(7, "time_functions", Time, "WS userdata group 7"),
    row(15, "nc_programming", Program, "WS userdata group 15 (Sinumerik NC program transfer)"),
];

/// Userdata (group, subfunction) rows; `code` is `group << 8 | subfunction`.
pub static USERDATA: &[FunctionInfo] = &[
    // Group 0: mode transition (subfunction = the new mode).
    row(0x0000, "mode_stop", Control, "WS mode-transition subfunction 0 (STOP)"),
    row(0x0001, "mode_warm_restart", Control, "WS mode-transition subfunction 1"),
    row(0x0002, "mode_run", Control, "WS mode-transition subfunction 2"),
    row(0x0003, "mode_hot_restart", Control, "WS mode-transition subfunction 3"),
    row(0x0004, "mode_hold", Control, "WS mode-transition subfunction 4"),
    row(0x0006, "mode_cold_restart", Control, "WS mode-transition subfunction 6"),
    row(0x0009, "mode_run_redundant", Control, "WS mode-transition subfunction 9 (RUN_R, H systems)"),
    row(0x000B, "mode_link_up", Control, "WS mode-transition subfunction 11"),
    row(0x000C, "mode_update", Control, "WS mode-transition subfunction 12"),
    // Group 1: programmer commands.
    row(
        0x0101,
        "block_status",
        Diagnostic,
        "WS programmer subfunction 1; diagnostic because it monitors block execution",
    ),
    row(
        0x0102,
        "variable_status",
        Read,
        "WS programmer subfunction 2 (variable table monitoring); read because it reads process values",
    ),
    row(0x0103, "output_istack", Diagnostic, "WS programmer subfunction 3"),
    row(0x0104, "output_bstack", Diagnostic, "WS programmer subfunction 4"),
    row(0x0105, "output_lstack", Diagnostic, "WS programmer subfunction 5"),
    row(0x0106, "time_measurement", Diagnostic, "WS programmer subfunction 6"),
    row(
        0x0107,
        "force_selection",
        Diagnostic,
        "WS programmer subfunction 7; diagnostic because it reads the force list",
    ),
    row(
        0x0108,
        "modify_variable",
        Write,
        "WS programmer subfunction 8; write because it changes process values from a variable table",
    ),
    row(
        0x0109,
        "force",
        Write,
        "WS programmer subfunction 9; write because it forces inputs and outputs regardless of the program",
    ),
    row(0x010A, "breakpoint", Control, "WS programmer subfunction 10; control because it halts program execution"),
    row(0x010B, "exit_hold", Control, "WS programmer subfunction 11; control because it resumes execution"),
    row(
        0x010C,
        "memory_reset",
        Program,
        "WS programmer subfunction 12; program because a memory reset (MRES) erases the user \
         program and data in work memory (Step 7 manual)",
    ),
    row(0x010D, "disable_job", Diagnostic, "WS programmer subfunction 13 (test jobs)"),
    row(0x010E, "enable_job", Diagnostic, "WS programmer subfunction 14 (test jobs)"),
    row(0x010F, "delete_job", Diagnostic, "WS programmer subfunction 15 (test jobs)"),
    row(0x0110, "read_job_list", Diagnostic, "WS programmer subfunction 16 (test jobs)"),
    row(0x0111, "read_job", Diagnostic, "WS programmer subfunction 17 (test jobs)"),
    row(0x0112, "replace_job", Diagnostic, "WS programmer subfunction 18 (test jobs)"),
    row(0x0113, "block_status_v2", Diagnostic, "WS programmer subfunction 19"),
    row(
        0x0116,
        "flash_led",
        Diagnostic,
        "WS programmer subfunction 22; diagnostic because it only blinks the CPU LEDs to identify it",
    ),
    // Group 2: cyclic data.
    row(0x0201, "cyclic_transfer", Read, "WS cyclic subfunction 1"),
    row(0x0204, "cyclic_unsubscribe", Read, "WS cyclic subfunction 4; read because it ends a subscription"),
    row(0x0205, "change_driven_transfer", Read, "WS cyclic subfunction 5"),
    row(0x0207, "change_driven_transfer_modify", Read, "WS cyclic subfunction 7"),
    row(0x0208, "rdrec", Read, "WS cyclic subfunction 8 (read data record)"),
    // Group 3: block functions.
    row(0x0301, "list_blocks", Diagnostic, "WS block subfunction 1"),
    row(0x0302, "list_blocks_of_type", Diagnostic, "WS block subfunction 2"),
    row(0x0303, "get_block_info", Diagnostic, "WS block subfunction 3"),
    // Group 4: CPU functions.
    row(0x0401, "read_szl", Diagnostic, "WS CPU subfunction 1 (system status list)"),
    row(0x0402, "message_service", Diagnostic, "WS CPU subfunction 2; diagnostic because it subscribes to messages"),
    row(0x0403, "diagnostic_message", Diagnostic, "WS CPU subfunction 3"),
    row(0x0405, "alarm8_indication", Diagnostic, "WS CPU subfunction 5"),
    row(0x0406, "notify_indication", Diagnostic, "WS CPU subfunction 6"),
    row(
        0x0407,
        "alarm8_lock",
        Other,
        "WS CPU subfunction 7; other because it changes alarm state, not the process or program",
    ),
    row(0x0408, "alarm8_unlock", Other, "WS CPU subfunction 8; other because it changes alarm state"),
    row(0x0409, "scan_indication", Diagnostic, "WS CPU subfunction 9"),
    row(0x040B, "alarm_ack", Other, "WS CPU subfunction 11; other because it acknowledges alarms"),
    row(0x040C, "alarm_ack_indication", Diagnostic, "WS CPU subfunction 12"),
    row(0x040D, "alarm_lock_indication", Diagnostic, "WS CPU subfunction 13"),
    row(0x040E, "alarm_unlock_indication", Diagnostic, "WS CPU subfunction 14"),
    row(0x0411, "alarm_sq_indication", Diagnostic, "WS CPU subfunction 17"),
    row(0x0412, "alarm_s_indication", Diagnostic, "WS CPU subfunction 18"),
    row(0x0413, "alarm_query", Diagnostic, "WS CPU subfunction 19"),
    row(0x0416, "notify8_indication", Diagnostic, "WS CPU subfunction 22"),
    // Group 5: security.
    row(0x0501, "plc_password", Security, "WS security subfunction 1; security because it unlocks a protected CPU"),
    row(0x0502, "clean_session", Security, "WS security subfunction 2; security because it ends the password session"),
    // Group 7: time.
    row(
        0x0701,
        "read_clock",
        Read,
        "WS time subfunction 1; read rather than time because it changes nothing (HMIs poll it), \
         time being kept for what sets the clock",
    ),
    row(0x0702, "set_clock", Time, "WS time subfunction 2; time because it sets the CPU clock"),
    row(0x0703, "read_clock_following", Read, "WS time subfunction 3; read for the reason read_clock is"),
    row(0x0704, "set_clock_2", Time, "WS time subfunction 4 (set clock); time because it sets the CPU clock"),
    // Group 15: NC programming.
    row(0x0F01, "nc_request_download", Program, "WS NC subfunction 1"),
    row(0x0F02, "nc_download_block", Program, "WS NC subfunction 2"),
    row(0x0F03, "nc_continue_download", Program, "WS NC subfunction 3"),
    row(0x0F04, "nc_download_ended", Program, "WS NC subfunction 4"),
    row(0x0F06, "nc_start_upload", Program, "WS NC subfunction 6"),
    row(0x0F07, "nc_upload", Program, "WS NC subfunction 7"),
    row(0x0F08, "nc_continue_upload", Program, "WS NC subfunction 8"),
];

/// The row of an unknown userdata group.
pub static UNKNOWN_USERDATA: FunctionInfo = row(0, "unknown_userdata", Other, "not a userdata group WS knows");

/// S7comm-plus function codes (S7+ `data_functioncode_names`).
pub static PLUS_FUNCTIONS: &[FunctionInfo] = &[
    row(0x04B1, "error", Other, "S7+ function 0x04B1 (error reply)"),
    row(
        0x04BB,
        "explore",
        Diagnostic,
        "S7+ function 0x04BB; diagnostic because it browses the PLC's object tree (tags, blocks)",
    ),
    row(
        0x04CA,
        "create_object",
        Other,
        "S7+ function 0x04CA; other because it mostly creates the session object at connect (it \
         also creates objects during a download, which jobwatch cannot tell apart without \
         decoding the object payload)",
    ),
    row(
        0x04D4,
        "delete_object",
        Other,
        "S7+ function 0x04D4; other because it mostly ends the session (same caveat as create_object)",
    ),
    row(
        0x04F2,
        "set_variable",
        Write,
        "S7+ function 0x04F2; write because it sets an object attribute (session settings, and the \
         CPU operating state from TIA Portal)",
    ),
    row(0x04FC, "get_variable", Read, "S7+ function 0x04FC (older S7-1200 firmware)"),
    row(0x0506, "add_link", Other, "S7+ function 0x0506"),
    row(0x051A, "remove_link", Other, "S7+ function 0x051A"),
    row(0x0524, "get_link", Read, "S7+ function 0x0524"),
    row(0x0542, "set_multi_variables", Write, "S7+ function 0x0542; write because it writes tag values"),
    row(0x054C, "get_multi_variables", Read, "S7+ function 0x054C; read because it reads tag values"),
    row(
        0x0556,
        "begin_sequence",
        Program,
        "S7+ function 0x0556; program because TIA Portal brackets downloads and configuration \
         changes with begin/end sequence",
    ),
    row(0x0560, "end_sequence", Program, "S7+ function 0x0560; program for the reason begin_sequence is"),
    row(
        0x056B,
        "invoke",
        Control,
        "S7+ function 0x056B; control because it invokes an object's method (e.g. operating state \
         changes, memory reset)",
    ),
    row(0x057C, "set_var_sub_streamed", Write, "S7+ function 0x057C; write because it writes a streamed attribute"),
    row(0x0586, "get_var_sub_streamed", Read, "S7+ function 0x0586; read because it reads a streamed attribute"),
    row(0x0590, "get_variables_address", Read, "S7+ function 0x0590"),
    row(0x059A, "abort", Other, "S7+ function 0x059A"),
];

/// An S7comm-plus notification (subscribed values pushed by the PLC).
pub static PLUS_NOTIFICATION: FunctionInfo =
    row(0x33, "notification", Read, "S7+ opcode 0x33; read because it delivers subscribed values");
/// An S7comm-plus keep-alive.
pub static PLUS_KEEP_ALIVE: FunctionInfo = row(0xFF, "keep_alive", Other, "S7+ protocol version 0xFF");
/// An unknown S7comm-plus function.
pub static PLUS_UNKNOWN: FunctionInfo = row(0, "unknown", Other, "not a function S7+ knows");

fn find(table: &'static [FunctionInfo], code: u16) -> Option<&'static FunctionInfo> {
    table.iter().find(|info| info.code == code)
}

/// The row of a job function, or of its PI service when the service is listed.
pub fn lookup_job(function: u8, pi_service: Option<&[u8]>) -> &'static FunctionInfo {
    let Some(row) = find(FUNCTIONS, u16::from(function)) else {
        return &UNKNOWN;
    };
    if function == 0x28 {
        if let Some(service) = pi_service.and_then(|s| PI_SERVICES.iter().find(|p| p.service.as_bytes() == s)) {
            return &service.info;
        }
    }
    row
}

/// The row of a userdata (group, subfunction) when the subfunction is listed.
pub fn userdata_subfunction(group: u8, subfunction: u8) -> Option<&'static FunctionInfo> {
    find(USERDATA, u16::from_be_bytes([group, subfunction]))
}

/// The row of a userdata PDU: its subfunction's row, else its group's row.
pub fn lookup_userdata(group: u8, subfunction: u8) -> &'static FunctionInfo {
    userdata_subfunction(group, subfunction).or_else(|| find(GROUPS, u16::from(group))).unwrap_or(&UNKNOWN_USERDATA)
}

/// The row of an S7comm-plus function code, if known.
pub fn plus_lookup(code: u16) -> Option<&'static FunctionInfo> {
    find(PLUS_FUNCTIONS, code)
}

/// Every row, for the rendered document and name checks.
pub fn all_rows() -> impl Iterator<Item = &'static FunctionInfo> {
    FUNCTIONS
        .iter()
        .chain(PI_SERVICES.iter().map(|p| &p.info))
        .chain(GROUPS.iter())
        .chain(USERDATA.iter())
        .chain(PLUS_FUNCTIONS.iter())
        .chain([&PLUS_NOTIFICATION, &PLUS_KEEP_ALIVE])
}

/// Renders the S7comm and S7comm-plus sections of `docs/CLASSIFICATION.md`.
pub fn render_markdown(out: &mut String, push_row: fn(&mut String, &str, &FunctionInfo)) {
    out.push_str("\n## S7comm\n\n");
    out.push_str(
        "\"WS\" is Wireshark's `packet-s7comm.c` (Siemens publishes no specification). Job functions are \
         written in hex; a PLC control (0x28) job takes its PI service's row when listed (`0x28/_INSE`). \
         Userdata is written `group/subfunction`; an unlisted subfunction takes its group's row (`group/*`). \
         Responses are classified by their request.\n\n",
    );
    out.push_str("| Code | Name | Category | Source |\n| --- | --- | --- | --- |\n");
    for function in FUNCTIONS {
        push_row(out, &format!("0x{:02X}", function.code), function);
        if function.code == 0x28 {
            for service in PI_SERVICES {
                push_row(out, &format!("0x28/{}", service.service), &service.info);
            }
        }
    }
    for group in GROUPS {
        push_row(out, &format!("{}/*", group.code), group);
        for sub in USERDATA.iter().filter(|u| u.code >> 8 == group.code) {
            push_row(out, &format!("{}/{}", group.code, sub.code & 0xFF), sub);
        }
    }
    out.push_str("\n## S7comm-plus\n\n");
    out.push_str(
        "\"S7+\" is Thomas Wiens' `s7comm_plus` Wireshark plugin (tshark 4.0 has none). Function codes in hex; \
         notifications and keep-alives have their own rows. Responses are classified by their request.\n\n",
    );
    out.push_str("| Code | Name | Category | Source |\n| --- | --- | --- | --- |\n");
    for function in PLUS_FUNCTIONS.iter().chain([&PLUS_NOTIFICATION, &PLUS_KEEP_ALIVE]) {
        push_row(out, &format!("0x{:04X}", function.code), function);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(lookup_job(0x04, None).category, Read);
        assert_eq!(lookup_job(0x05, None).category, Write);
        assert_eq!(lookup_job(0x28, Some(b"_INSE")).name, "pi_insert_block");
        assert_eq!(lookup_job(0x28, Some(b"P_PROGRAM")).category, Control);
        assert_eq!(lookup_job(0x28, Some(b"_XYZ")).name, "pi_service");
        assert_eq!(lookup_job(0x29, Some(b"P_PROGRAM")).name, "plc_stop");
        assert_eq!(lookup_job(0x77, None), &UNKNOWN);
        assert_eq!(lookup_userdata(4, 1).name, "read_szl");
        assert_eq!(lookup_userdata(1, 8).category, Write);
        assert_eq!(lookup_userdata(1, 0x99).name, "programmer_commands");
        assert_eq!(lookup_userdata(7, 2).category, Time);
        assert_eq!(lookup_userdata(7, 1).category, Read);
        assert_eq!(lookup_userdata(5, 1).category, Security);
        assert_eq!(lookup_userdata(9, 1), &UNKNOWN_USERDATA);
        assert_eq!(plus_lookup(0x054C).map(|i| i.category), Some(Read));
        assert_eq!(plus_lookup(0x1234), None);
    }

    #[test]
    fn names_unique_and_snake_case() {
        let mut names: Vec<&str> = all_rows().map(|i| i.name).collect();
        for name in &names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate names");
    }

    #[test]
    fn codes_sorted() {
        for table in [FUNCTIONS, GROUPS, USERDATA, PLUS_FUNCTIONS] {
            assert!(table.windows(2).all(|w| w[0].code < w[1].code));
        }
    }

    #[test]
    fn function_names_match_codes() {
        for code in 0..=255u8 {
            if let Some(name) = crate::s7comm::Function(code).name() {
                assert_eq!(lookup_job(code, None).name, name);
            }
            if let Some(name) = crate::s7comm::UserdataGroup(code).name() {
                assert_eq!(lookup_userdata(code, 0xFF).name, name);
            }
        }
    }
}
