//! S7comm codes as open newtypes: an unknown code is a value, not an error.
//!
//! Siemens publishes no S7comm specification; the names follow Wireshark's `packet-s7comm.c`
//! (Thomas Wiens' S7comm dissector, shipped with Wireshark since 1.12), whose value strings are
//! the de-facto reference shared by snap7, plcscan and the ICSNPP S7comm Zeek plugin. The
//! snake_case names are jobwatch's stable event names.

use std::fmt;

macro_rules! open_code {
    ($(#[$doc:meta])* $name:ident($repr:ty) { $($(#[$cdoc:meta])* $konst:ident = $value:expr => $text:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $repr);

        impl $name {
            $($(#[$cdoc])* pub const $konst: $name = $name($value);)*

            /// The stable snake_case name, or `None` for a code jobwatch does not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }

            /// True for a code with a name.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "unknown(0x{:02X})", self.0),
                }
            }
        }
    };
}

open_code! {
    /// The header's message type (ROSCTR).
    Rosctr(u8) {
        JOB = 0x01 => "job",
        ACK = 0x02 => "ack",
        ACK_DATA = 0x03 => "ack_data",
        USERDATA = 0x07 => "userdata",
    }
}

impl Rosctr {
    /// The header length for this ROSCTR: ack and ack_data add error class and code.
    pub fn header_len(self) -> usize {
        if self == Rosctr::ACK || self == Rosctr::ACK_DATA {
            12
        } else {
            10
        }
    }
}

open_code! {
    /// A job / ack_data parameter function code.
    Function(u8) {
        CPU_SERVICES = 0x00 => "cpu_services",
        READ_VAR = 0x04 => "read_var",
        WRITE_VAR = 0x05 => "write_var",
        REQUEST_DOWNLOAD = 0x1A => "request_download",
        DOWNLOAD_BLOCK = 0x1B => "download_block",
        DOWNLOAD_ENDED = 0x1C => "download_ended",
        START_UPLOAD = 0x1D => "start_upload",
        UPLOAD = 0x1E => "upload",
        END_UPLOAD = 0x1F => "end_upload",
        /// PLC control: a PI (program invocation) service.
        PI_SERVICE = 0x28 => "pi_service",
        PLC_STOP = 0x29 => "plc_stop",
        SETUP_COMMUNICATION = 0xF0 => "setup_communication",
    }
}

impl Function {
    /// True for the block transfer functions 0x1A..=0x1F.
    pub fn is_block_transfer(self) -> bool {
        (0x1A..=0x1F).contains(&self.0)
    }
}

open_code! {
    /// The header error class of an ack or ack_data.
    ErrorClass(u8) {
        NO_ERROR = 0x00 => "no_error",
        APPLICATION_RELATIONSHIP = 0x81 => "application_relationship",
        OBJECT_DEFINITION = 0x82 => "object_definition",
        NO_RESOURCES = 0x83 => "no_resources_available",
        SERVICE_PROCESSING = 0x84 => "error_on_service_processing",
        SUPPLIES = 0x85 => "error_on_supplies",
        ACCESS = 0x87 => "access_error",
    }
}

open_code! {
    /// A memory area of an S7ANY address.
    Area(u8) {
        DATA_RECORD = 0x01 => "data_record",
        SYSTEM_INFO_200 = 0x03 => "system_info_200",
        SYSTEM_FLAGS_200 = 0x05 => "system_flags_200",
        ANALOG_INPUTS_200 = 0x06 => "analog_inputs_200",
        ANALOG_OUTPUTS_200 = 0x07 => "analog_outputs_200",
        COUNTER = 0x1C => "counter",
        TIMER = 0x1D => "timer",
        IEC_COUNTER_200 = 0x1E => "iec_counter_200",
        IEC_TIMER_200 = 0x1F => "iec_timer_200",
        PERIPHERAL = 0x80 => "peripheral",
        INPUTS = 0x81 => "inputs",
        OUTPUTS = 0x82 => "outputs",
        FLAGS = 0x83 => "flags",
        DATA_BLOCK = 0x84 => "data_block",
        INSTANCE_DATA_BLOCK = 0x85 => "instance_data_block",
        LOCAL_DATA = 0x86 => "local_data",
        V = 0x87 => "v",
    }
}

open_code! {
    /// The syntax id of a read/write item's variable specification.
    SyntaxId(u8) {
        S7ANY = 0x10 => "s7any",
        PBC_R_ID = 0x13 => "pbc_r_id",
        ALARM_LOCKFREE = 0x15 => "alarm_lockfree",
        ALARM_IND = 0x16 => "alarm_ind",
        ALARM_ACK = 0x19 => "alarm_ack",
        ALARM_QUERYREQ = 0x1A => "alarm_queryreq",
        NOTIFY_IND = 0x1C => "notify_ind",
        NCK = 0x82 => "nck",
        NCK_M = 0x83 => "nck_m",
        NCK_I = 0x84 => "nck_i",
        DRIVEESANY = 0xA2 => "driveesany",
        DBREAD = 0xB0 => "dbread",
        SYM1200 = 0xB2 => "1200sym",
    }
}

open_code! {
    /// The transport size (element type) of an S7ANY item.
    TransportSize(u8) {
        BIT = 0x01 => "bit",
        BYTE = 0x02 => "byte",
        CHAR = 0x03 => "char",
        WORD = 0x04 => "word",
        INT = 0x05 => "int",
        DWORD = 0x06 => "dword",
        DINT = 0x07 => "dint",
        REAL = 0x08 => "real",
        TOD = 0x0A => "tod",
        TIME = 0x0B => "time",
        S5TIME = 0x0C => "s5time",
        DATE_AND_TIME = 0x0F => "date_and_time",
        COUNTER = 0x1C => "counter",
        TIMER = 0x1D => "timer",
        IEC_TIMER = 0x1E => "iec_timer",
        IEC_COUNTER = 0x1F => "iec_counter",
        HS_COUNTER = 0x20 => "hs_counter",
    }
}

open_code! {
    /// The transport size of a data item (how its length counts).
    DataTransportSize(u8) {
        NULL = 0x00 => "null",
        BIT = 0x03 => "bit",
        BYTE_WORD_DWORD = 0x04 => "byte_word_dword",
        INTEGER = 0x05 => "integer",
        DINTEGER = 0x06 => "dinteger",
        REAL = 0x07 => "real",
        OCTET_STRING = 0x09 => "octet_string",
        NCK_ADDRESS1 = 0x11 => "nck_address1",
        NCK_ADDRESS2 = 0x12 => "nck_address2",
    }
}

impl DataTransportSize {
    /// True when the length field counts bits rather than bytes (Wireshark: BIT, BYTE/WORD/DWORD,
    /// INTEGER).
    pub fn length_in_bits(self) -> bool {
        matches!(self.0, 0x03..=0x05)
    }
}

open_code! {
    /// The return code of a data item.
    ReturnCode(u8) {
        RESERVED = 0x00 => "reserved",
        HARDWARE_ERROR = 0x01 => "hardware_error",
        ACCESS_NOT_ALLOWED = 0x03 => "accessing_object_not_allowed",
        INVALID_ADDRESS = 0x05 => "invalid_address",
        DATA_TYPE_NOT_SUPPORTED = 0x06 => "data_type_not_supported",
        DATA_TYPE_INCONSISTENT = 0x07 => "data_type_inconsistent",
        OBJECT_DOES_NOT_EXIST = 0x0A => "object_does_not_exist",
        SUCCESS = 0xFF => "success",
    }
}

open_code! {
    /// A userdata function group (low nibble of the type/group byte).
    UserdataGroup(u8) {
        MODE_TRANSITION = 0x0 => "mode_transition",
        PROGRAMMER_COMMANDS = 0x1 => "programmer_commands",
        CYCLIC_DATA = 0x2 => "cyclic_data",
        BLOCK_FUNCTIONS = 0x3 => "block_functions",
        CPU_FUNCTIONS = 0x4 => "cpu_functions",
        SECURITY = 0x5 => "security",
        PBC = 0x6 => "pbc_bsend_brecv",
        TIME = 0x7 => "time_functions",
        NC_PROGRAMMING = 0xF => "nc_programming",
    }
}

open_code! {
    /// A userdata type (high nibble of the type/group byte).
    UserdataType(u8) {
        PUSH = 0x0 => "push",
        NC_PUSH = 0x3 => "nc_push",
        REQUEST = 0x4 => "request",
        NC_REQUEST = 0x7 => "nc_request",
        RESPONSE = 0x8 => "response",
        NC_RESPONSE = 0xB => "nc_response",
    }
}

impl UserdataType {
    /// True for a request (4, or NC request 7).
    pub fn is_request(self) -> bool {
        self == Self::REQUEST || self == Self::NC_REQUEST
    }

    /// True for a response (8, or NC response 11).
    pub fn is_response(self) -> bool {
        self == Self::RESPONSE || self == Self::NC_RESPONSE
    }

    /// True for a push (0, or NC push 3): unsolicited, paired with nothing.
    pub fn is_push(self) -> bool {
        self == Self::PUSH || self == Self::NC_PUSH
    }
}

open_code! {
    /// A block type, as written in hex ASCII in file names (`_0A00001P`: `0A`, a DB) and as the
    /// second byte of block-function requests.
    BlockType(u8) {
        OB = 0x08 => "ob",
        DB = 0x0A => "db",
        SDB = 0x0B => "sdb",
        FC = 0x0C => "fc",
        SFC = 0x0D => "sfc",
        FB = 0x0E => "fb",
        SFB = 0x0F => "sfb",
    }
}

/// Wireshark's description of a parameter error code (the ack/ack_data header's class and code
/// as one big-endian u16, or a userdata parameter's error code), `None` when unknown.
pub fn error_description(code: u16) -> Option<&'static str> {
    Some(match code {
        0x0000 => "No error",
        0x0110 => "Invalid block number",
        0x0111 => "Invalid request length",
        0x0112 => "Invalid parameter",
        0x0113 => "Invalid block type",
        0x0114 => "Block not found",
        0x0115 => "Block already exists",
        0x0116 => "Block is write-protected",
        0x0117 => "The block/operating system update is too large",
        0x0118 => "Invalid block number",
        0x0119 => "Incorrect password entered",
        0x011A => "PG resource error",
        0x011B => "PLC resource error",
        0x011C => "Protocol error",
        0x011D => "Too many blocks (module-related restriction)",
        0x011E => "There is no longer a connection to the database, or S7DOS handle is invalid",
        0x011F => "Result buffer too small",
        0x0120 => "End of block list",
        0x0140 => "Insufficient memory available",
        0x0141 => "Job cannot be processed because of a lack of resources",
        0x8001 => "The requested service cannot be performed while the block is in the current status",
        0x8003 => "S7 protocol error: Error occurred while transferring the block",
        0x8100 => "Application, general error: Service unknown to remote module",
        0x8104 => "This service is not implemented on the module or a frame error was reported",
        0x8204 => "The type specification for the object is inconsistent",
        0x8205 => "A copied block already exists and is not linked",
        0x8301 => "Insufficient memory space or work memory on the module, or specified storage medium not accessible",
        0x8302 => "Too few resources available or the processor resources are not available",
        0x8304 => "No further parallel upload possible. There is a resource bottleneck",
        0x8305 => "Function not available",
        0x8306 => "Insufficient work memory (for copying, linking, loading AWP)",
        0x8307 => "Not enough retentive work memory (for copying, linking, loading AWP)",
        0x8401 => "S7 protocol error: Invalid service sequence (for example, loading or uploading a block)",
        0x8402 => "Service cannot execute owing to status of the addressed object",
        0x8404 => "S7 protocol: The function cannot be performed",
        0x8405 => "Remote block is in DISABLE state (CFB). The function cannot be performed",
        0x8500 => "S7 protocol error: Wrong frames",
        0x8503 => "Alarm from the module: Service canceled prematurely",
        0x8701 => "Error addressing the object on the communications partner (for example, area length error)",
        0x8702 => "The requested service is not supported by the module",
        0x8703 => "Access to object refused",
        0x8704 => "Access error: Object damaged",
        0xD001 => "Protocol error: Illegal job number",
        0xD002 => "Parameter error: Illegal job variant",
        0xD003 => "Parameter error: Debugging function not supported by module",
        0xD004 => "Parameter error: Illegal job status",
        0xD005 => "Parameter error: Illegal job termination",
        0xD006 => "Parameter error: Illegal link disconnection ID",
        0xD007 => "Parameter error: Illegal number of buffer elements",
        0xD008 => "Parameter error: Illegal scan rate",
        0xD009 => "Parameter error: Illegal number of executions",
        0xD00A => "Parameter error: Illegal trigger event",
        0xD00B => "Parameter error: Illegal trigger condition",
        0xD011 => "Parameter error in path of the call environment: Block does not exist",
        0xD012 => "Parameter error: Wrong address in block",
        0xD014 => "Parameter error: Block being deleted/overwritten",
        0xD015 => "Parameter error: Illegal tag address",
        0xD016 => "Parameter error: Test jobs not possible, because of errors in user program",
        0xD017 => "Parameter error: Illegal trigger number",
        0xD025 => "Parameter error: Invalid path",
        0xD026 => "Parameter error: Illegal access type",
        0xD027 => "Parameter error: This number of data blocks is not permitted",
        0xD031 => "Internal protocol error",
        0xD032 => "Parameter error: Wrong result buffer length",
        0xD033 => "Protocol error: Wrong job length",
        0xD03F => "Coding error: Error in parameter section (for example, reserve bytes not equal to 0)",
        0xD041 => "Data error: Illegal status list ID",
        0xD042 => "Data error: Illegal tag address",
        0xD043 => "Data error: Referenced job not found, check job data",
        0xD044 => "Data error: Illegal tag value, check job data",
        0xD045 => "Data error: Exiting the ODIS control is not allowed in HOLD",
        0xD046 => "Data error: Illegal measuring stage during run-time measurement",
        0xD047 => "Data error: Illegal hierarchy in 'Read job list'",
        0xD048 => "Data error: Illegal deletion ID in 'Delete job'",
        0xD049 => "Invalid substitute ID in 'Replace job'",
        0xD04A => "Error executing 'program status'",
        0xD05F => "Coding error: Error in data section (for example, reserve bytes not equal to 0, ...)",
        0xD061 => "Resource error: No memory space for job",
        0xD062 => "Resource error: Job list full",
        0xD063 => "Resource error: Trigger event occupied",
        0xD064 => "Resource error: Not enough memory space for one result buffer element",
        0xD065 => "Resource error: Not enough memory space for several  result buffer elements",
        0xD066 => "Resource error: The timer available for run-time measurement is occupied by another job",
        0xD067 => "Resource error: Too many 'modify tag' jobs active (in particular multi-processor operation)",
        0xD081 => "Function not permitted in current mode",
        0xD082 => "Mode error: Cannot exit HOLD mode",
        0xD0A1 => "Function not permitted in current protection level",
        0xD0A2 => "Function not possible at present, because a function is running that modifies memory",
        0xD0A3 => "Too many 'modify tag' jobs active on the I/O (in particular multi-processor operation)",
        0xD0A4 => "'Forcing' has already been established",
        0xD0A5 => "Referenced job not found",
        0xD0A6 => "Job cannot be disabled/enabled",
        0xD0A7 => "Job cannot be deleted, for example because it is currently being read",
        0xD0A8 => "Job cannot be replaced, for example because it is currently being read or deleted",
        0xD0A9 => "Job cannot be read, for example because it is currently being deleted",
        0xD0AA => "Time limit exceeded in processing operation",
        0xD0AB => "Invalid job parameters in process operation",
        0xD0AC => "Invalid job data in process operation",
        0xD0AD => "Operating mode already set",
        0xD0AE => "The job was set up over a different connection and can only be handled over this connection",
        0xD0C1 => "At least one error has been detected while accessing the tag(s)",
        0xD0C2 => "Change to STOP/HOLD mode",
        0xD0C3 => "At least one error was detected while accessing the tag(s). Mode change to STOP/HOLD",
        0xD0C4 => "Timeout during run-time measurement",
        0xD0C5 => "Display of block stack inconsistent, because blocks were deleted/reloaded",
        0xD0C6 => "Job was automatically deleted as the jobs it referenced have been deleted",
        0xD0C7 => "The job was automatically deleted because STOP mode was exited",
        0xD0C8 => "'Block status' aborted because of inconsistencies between test job and running program",
        0xD0C9 => "Exit the status area by resetting OB90",
        0xD0CA => "Exiting the status range by resetting OB90 and access error reading tags before exiting",
        0xD0CB => "The output disable for the peripheral outputs has been activated again",
        0xD0CC => "The amount of data for the debugging functions is restricted by the time limit",
        0xD201 => "Syntax error in block name",
        0xD202 => "Syntax error in function parameters",
        0xD205 => "Linked block already exists in RAM: Conditional copying is not possible",
        0xD206 => "Linked block already exists in EPROM: Conditional copying is not possible",
        0xD208 => "Maximum number of copied (not linked) blocks on module exceeded",
        0xD209 => "(At least) one of the given blocks not found on the module",
        0xD20A => "The maximum number of blocks that can be linked with one job was exceeded",
        0xD20B => "The maximum number of blocks that can be deleted with one job was exceeded",
        0xD20C => "OB cannot be copied because the associated priority class does not exist",
        0xD20D => "SDB cannot be interpreted (for example, unknown number)",
        0xD20E => "No (further) block available",
        0xD20F => "Module-specific maximum block size exceeded",
        0xD210 => "Invalid block number",
        0xD212 => "Incorrect header attribute (run-time relevant)",
        0xD213 => "Too many SDBs. Note the restrictions on the module being used",
        0xD216 => "Invalid user program - reset module",
        0xD217 => "Protection level specified in module properties not permitted",
        0xD218 => "Incorrect attribute (active/passive)",
        0xD219 => "Incorrect block lengths (for example, incorrect length of first section or of the whole block)",
        0xD21A => "Incorrect local data length or write-protection code faulty",
        0xD21B => "Module cannot compress or compression was interrupted early",
        0xD21D => "The volume of dynamic project data transferred is illegal",
        0xD21E => "Unable to assign parameters to a module (such as FM, CP). The system data could not be linked",
        0xD220 => "Invalid programming language. Note the restrictions on the module being used",
        0xD221 => "The system data for connections or routing are not valid",
        0xD222 => "The system data of the global data definition contain invalid parameters",
        0xD223 => "Error in instance data block for communication function block or maximum number of instance DBs exceeded",
        0xD224 => "The SCAN system data block contains invalid parameters",
        0xD225 => "The DP system data block contains invalid parameters",
        0xD226 => "A structural error occurred in a block",
        0xD230 => "A structural error occurred in a block",
        0xD231 => "At least one loaded OB cannot be copied because the associated priority class does not exist",
        0xD232 => "At least one block number of a loaded block is illegal",
        0xD234 => "Block exists twice in the specified memory medium or in the job",
        0xD235 => "The block contains an incorrect checksum",
        0xD236 => "The block does not contain a checksum",
        0xD237 => "You are about to load the block twice, i.e. a block with the same time stamp already exists on the CPU",
        0xD238 => "At least one of the blocks specified is not a DB",
        0xD239 => "At least one of the DBs specified is not available as a linked variant in the load memory",
        0xD23A => "At least one of the specified DBs is considerably different from the copied and linked variant",
        0xD240 => "Coordination rules violated",
        0xD241 => "The function is not permitted in the current protection level",
        0xD242 => "Protection violation while processing F blocks",
        0xD250 => "Update and module ID or version do not match",
        0xD251 => "Incorrect sequence of operating system components",
        0xD252 => "Checksum error",
        0xD253 => "No executable loader available; update only possible using a memory card",
        0xD254 => "Storage error in operating system",
        0xD280 => "Error compiling block in S7-300 CPU",
        0xD2A1 => "Another block function or a trigger on a block is active",
        0xD2A2 => "A trigger is active on a block. Complete the debugging function first",
        0xD2A3 => "The block is not active (linked), the block is occupied or the block is currently marked for deletion",
        0xD2A4 => "The block is already being processed by another block function",
        0xD2A6 => "It is not possible to save and change the user program simultaneously",
        0xD2A7 => "The block has the attribute 'unlinked' or is not processed",
        0xD2A8 => "An active debugging function is preventing parameters from being assigned to the CPU",
        0xD2A9 => "New parameters are being assigned to the CPU",
        0xD2AA => "New parameters are currently being assigned to the modules",
        0xD2AB => "The dynamic configuration limits are currently being changed",
        0xD2AC => "A running active or deactivate assignment (SFC 12) is temporarily preventing R-KiR process",
        0xD2B0 => "An error occurred while configuring in RUN (CiR)",
        0xD2C0 => "The maximum number of technological objects has been exceeded",
        0xD2C1 => "The same technology data block already exists on the module",
        0xD2C2 => "Downloading the user program or downloading the hardware configuration is not possible",
        0xD401 => "Information function unavailable",
        0xD402 => "Information function unavailable",
        0xD403 => "Service has already been logged on/off (Diagnostics/PMC)",
        0xD404 => "Maximum number of nodes reached. No more logons possible for diagnostics/PMC",
        0xD405 => "Service not supported or syntax error in function parameters",
        0xD406 => "Required information currently unavailable",
        0xD407 => "Diagnostics error occurred",
        0xD408 => "Update aborted",
        0xD409 => "Error on DP bus",
        0xD601 => "Syntax error in function parameter",
        0xD602 => "Incorrect password entered",
        0xD603 => "The connection has already been legitimized",
        0xD604 => "The connection has already been enabled",
        0xD605 => "Legitimization not possible because password does not exist",
        0xD801 => "At least one tag address is invalid",
        0xD802 => "Specified job does not exist",
        0xD803 => "Illegal job status",
        0xD804 => "Illegal cycle time (illegal time base or multiple)",
        0xD805 => "No more cyclic read jobs can be set up",
        0xD806 => "The referenced job is in a state in which the requested function cannot be performed",
        0xD807 => "Function aborted due to overload, meaning executing the read cycle takes longer than the set scan cycle time",
        0xDC01 => "Date and/or time invalid",
        0xE201 => "CPU is already the master",
        0xE202 => "Connect and update not possible due to different user program in flash module",
        0xE203 => "Connect and update not possible due to different firmware",
        0xE204 => "Connect and update not possible due to different memory configuration",
        0xE205 => "Connect/update aborted due to synchronization error",
        0xE206 => "Connect/update denied due to coordination violation",
        0xEF01 => "S7 protocol error: Error at ID2; only 00H permitted in job",
        0xEF02 => "S7 protocol error: Error at ID2; set of resources does not exist",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Rosctr::ACK_DATA.name(), Some("ack_data"));
        assert_eq!(Rosctr(9).to_string(), "unknown(0x09)");
        assert_eq!(Rosctr::ACK.header_len(), 12);
        assert_eq!(Rosctr::USERDATA.header_len(), 10);
        assert_eq!(Function(0x28).name(), Some("pi_service"));
        assert!(Function::UPLOAD.is_block_transfer());
        assert_eq!(Area(0x84).name(), Some("data_block"));
        assert_eq!(SyntaxId(0xB0).name(), Some("dbread"));
        assert_eq!(ErrorClass(0x85).to_string(), "error_on_supplies");
        assert_eq!(UserdataGroup(4).name(), Some("cpu_functions"));
        assert!(UserdataType(8).is_response());
        assert!(DataTransportSize(4).length_in_bits());
        assert!(!DataTransportSize(9).length_in_bits());
        assert_eq!(
            error_description(0x8104),
            Some("This service is not implemented on the module or a frame error was reported")
        );
        assert_eq!(error_description(0xFFFE), None);
    }
}
