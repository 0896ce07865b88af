//! Modbus codes as open newtypes: an unknown code is a value, not an error.
//!
//! Public function codes and exception codes are from the Modbus Application Protocol
//! Specification V1.1b3 (sections 5 and 7). The legacy and vendor codes (9, 10, 13, 14, 18, 19,
//! 40, 125, 126, 127) carry the names Wireshark's `packet-mbtcp.c` and Zeek's Modbus analyser give
//! them; UMAS (FC 90) codes are from public research (Airbus "Unity UMAS" write-ups, Kaspersky
//! ICS-CERT, Claroty Team82), as no official specification is published.

use std::fmt;

/// A Modbus function code (the byte after the unit identifier, exception bit cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionCode(pub u8);

impl FunctionCode {
    pub const READ_COILS: FunctionCode = FunctionCode(1);
    pub const READ_DISCRETE_INPUTS: FunctionCode = FunctionCode(2);
    pub const READ_HOLDING_REGISTERS: FunctionCode = FunctionCode(3);
    pub const READ_INPUT_REGISTERS: FunctionCode = FunctionCode(4);
    pub const WRITE_SINGLE_COIL: FunctionCode = FunctionCode(5);
    pub const WRITE_SINGLE_REGISTER: FunctionCode = FunctionCode(6);
    pub const READ_EXCEPTION_STATUS: FunctionCode = FunctionCode(7);
    pub const DIAGNOSTICS: FunctionCode = FunctionCode(8);
    pub const PROGRAM_484: FunctionCode = FunctionCode(9);
    pub const POLL_484: FunctionCode = FunctionCode(10);
    pub const GET_COMM_EVENT_COUNTER: FunctionCode = FunctionCode(11);
    pub const GET_COMM_EVENT_LOG: FunctionCode = FunctionCode(12);
    pub const PROGRAM_584_984: FunctionCode = FunctionCode(13);
    pub const POLL_584_984: FunctionCode = FunctionCode(14);
    pub const WRITE_MULTIPLE_COILS: FunctionCode = FunctionCode(15);
    pub const WRITE_MULTIPLE_REGISTERS: FunctionCode = FunctionCode(16);
    pub const REPORT_SERVER_ID: FunctionCode = FunctionCode(17);
    pub const PROGRAM_884_U84: FunctionCode = FunctionCode(18);
    pub const RESET_COMM_LINK: FunctionCode = FunctionCode(19);
    pub const READ_FILE_RECORD: FunctionCode = FunctionCode(20);
    pub const WRITE_FILE_RECORD: FunctionCode = FunctionCode(21);
    pub const MASK_WRITE_REGISTER: FunctionCode = FunctionCode(22);
    pub const READ_WRITE_MULTIPLE_REGISTERS: FunctionCode = FunctionCode(23);
    pub const READ_FIFO_QUEUE: FunctionCode = FunctionCode(24);
    pub const PROGRAM_CONCEPT: FunctionCode = FunctionCode(40);
    pub const ENCAPSULATED_INTERFACE: FunctionCode = FunctionCode(43);
    pub const UMAS: FunctionCode = FunctionCode(90);
    pub const FIRMWARE_REPLACEMENT: FunctionCode = FunctionCode(125);
    pub const PROGRAM_584_984_2: FunctionCode = FunctionCode(126);
    pub const REPORT_LOCAL_ADDRESS: FunctionCode = FunctionCode(127);

    /// The stable snake_case name, or `None` for a code jobwatch does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::READ_COILS => "read_coils",
            Self::READ_DISCRETE_INPUTS => "read_discrete_inputs",
            Self::READ_HOLDING_REGISTERS => "read_holding_registers",
            Self::READ_INPUT_REGISTERS => "read_input_registers",
            Self::WRITE_SINGLE_COIL => "write_single_coil",
            Self::WRITE_SINGLE_REGISTER => "write_single_register",
            Self::READ_EXCEPTION_STATUS => "read_exception_status",
            Self::DIAGNOSTICS => "diagnostics",
            Self::PROGRAM_484 => "program_484",
            Self::POLL_484 => "poll_484",
            Self::GET_COMM_EVENT_COUNTER => "get_comm_event_counter",
            Self::GET_COMM_EVENT_LOG => "get_comm_event_log",
            Self::PROGRAM_584_984 => "program_584_984",
            Self::POLL_584_984 => "poll_584_984",
            Self::WRITE_MULTIPLE_COILS => "write_multiple_coils",
            Self::WRITE_MULTIPLE_REGISTERS => "write_multiple_registers",
            Self::REPORT_SERVER_ID => "report_server_id",
            Self::PROGRAM_884_U84 => "program_884_u84",
            Self::RESET_COMM_LINK => "reset_comm_link",
            Self::READ_FILE_RECORD => "read_file_record",
            Self::WRITE_FILE_RECORD => "write_file_record",
            Self::MASK_WRITE_REGISTER => "mask_write_register",
            Self::READ_WRITE_MULTIPLE_REGISTERS => "read_write_multiple_registers",
            Self::READ_FIFO_QUEUE => "read_fifo_queue",
            Self::PROGRAM_CONCEPT => "program_concept",
            Self::ENCAPSULATED_INTERFACE => "encapsulated_interface_transport",
            Self::UMAS => "umas",
            Self::FIRMWARE_REPLACEMENT => "firmware_replacement",
            Self::PROGRAM_584_984_2 => "program_584_984_2",
            Self::REPORT_LOCAL_ADDRESS => "report_local_address",
            _ => return None,
        })
    }

    /// True for a code in [`FunctionCode::name`]'s table.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for FunctionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown({})", self.0),
        }
    }
}

/// A Modbus exception code (spec section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExceptionCode(pub u8);

impl ExceptionCode {
    pub const ILLEGAL_FUNCTION: ExceptionCode = ExceptionCode(1);
    pub const ILLEGAL_DATA_ADDRESS: ExceptionCode = ExceptionCode(2);
    pub const ILLEGAL_DATA_VALUE: ExceptionCode = ExceptionCode(3);
    pub const SERVER_DEVICE_FAILURE: ExceptionCode = ExceptionCode(4);
    pub const ACKNOWLEDGE: ExceptionCode = ExceptionCode(5);
    pub const SERVER_DEVICE_BUSY: ExceptionCode = ExceptionCode(6);
    /// Not in V1.1b3; kept because legacy devices still send it (Wireshark's `negative_ack`).
    pub const NEGATIVE_ACKNOWLEDGE: ExceptionCode = ExceptionCode(7);
    pub const MEMORY_PARITY_ERROR: ExceptionCode = ExceptionCode(8);
    pub const GATEWAY_PATH_UNAVAILABLE: ExceptionCode = ExceptionCode(10);
    pub const GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND: ExceptionCode = ExceptionCode(11);

    /// The stable snake_case name, or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::ILLEGAL_FUNCTION => "illegal_function",
            Self::ILLEGAL_DATA_ADDRESS => "illegal_data_address",
            Self::ILLEGAL_DATA_VALUE => "illegal_data_value",
            Self::SERVER_DEVICE_FAILURE => "server_device_failure",
            Self::ACKNOWLEDGE => "acknowledge",
            Self::SERVER_DEVICE_BUSY => "server_device_busy",
            Self::NEGATIVE_ACKNOWLEDGE => "negative_acknowledge",
            Self::MEMORY_PARITY_ERROR => "memory_parity_error",
            Self::GATEWAY_PATH_UNAVAILABLE => "gateway_path_unavailable",
            Self::GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND => "gateway_target_device_failed_to_respond",
            _ => return None,
        })
    }
}

impl fmt::Display for ExceptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown({})", self.0),
        }
    }
}

/// A Schneider Electric UMAS function code (the second data byte of an FC 90 request).
///
/// Responses carry [`UmasCode::RESPONSE_OK`] or [`UmasCode::RESPONSE_ERROR`] in that position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UmasCode(pub u8);

impl UmasCode {
    pub const INIT_COMM: UmasCode = UmasCode(0x01);
    pub const READ_ID: UmasCode = UmasCode(0x02);
    pub const READ_PROJECT_INFO: UmasCode = UmasCode(0x03);
    pub const READ_PLC_INFO: UmasCode = UmasCode(0x04);
    pub const READ_CARD_INFO: UmasCode = UmasCode(0x06);
    pub const REPEAT: UmasCode = UmasCode(0x0A);
    pub const TAKE_PLC_RESERVATION: UmasCode = UmasCode(0x10);
    pub const RELEASE_PLC_RESERVATION: UmasCode = UmasCode(0x11);
    pub const KEEP_ALIVE: UmasCode = UmasCode(0x12);
    pub const READ_MEMORY_BLOCK: UmasCode = UmasCode(0x20);
    pub const READ_VARIABLES: UmasCode = UmasCode(0x22);
    pub const WRITE_VARIABLES: UmasCode = UmasCode(0x23);
    pub const READ_COILS_REGISTERS: UmasCode = UmasCode(0x24);
    pub const WRITE_COILS_REGISTERS: UmasCode = UmasCode(0x25);
    pub const DATA_DICTIONARY: UmasCode = UmasCode(0x26);
    pub const INITIALIZE_UPLOAD: UmasCode = UmasCode(0x30);
    pub const UPLOAD_BLOCK: UmasCode = UmasCode(0x31);
    pub const END_STRATEGY_UPLOAD: UmasCode = UmasCode(0x32);
    pub const INITIALIZE_DOWNLOAD: UmasCode = UmasCode(0x33);
    pub const DOWNLOAD_BLOCK: UmasCode = UmasCode(0x34);
    pub const END_STRATEGY_DOWNLOAD: UmasCode = UmasCode(0x35);
    pub const READ_ETH_MASTER_DATA: UmasCode = UmasCode(0x39);
    pub const START_PLC: UmasCode = UmasCode(0x40);
    pub const STOP_PLC: UmasCode = UmasCode(0x41);
    pub const MONITOR_PLC: UmasCode = UmasCode(0x50);
    pub const CHECK_PLC: UmasCode = UmasCode(0x58);
    pub const READ_IO_OBJECT: UmasCode = UmasCode(0x70);
    pub const WRITE_IO_OBJECT: UmasCode = UmasCode(0x71);
    pub const GET_STATUS_MODULE: UmasCode = UmasCode(0x73);
    /// Response status: the request succeeded.
    pub const RESPONSE_OK: UmasCode = UmasCode(0xFE);
    /// Response status: the request failed.
    pub const RESPONSE_ERROR: UmasCode = UmasCode(0xFD);

    /// The request code's snake_case name (with the `umas_` prefix used in events), or the
    /// response status name, or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::RESPONSE_OK => "umas_response_ok",
            Self::RESPONSE_ERROR => "umas_response_error",
            _ => return crate::classify::modbus::umas_lookup(self.0).map(|info| info.name),
        })
    }

    /// True for a response status code (0xFE, 0xFD).
    pub fn is_response(self) -> bool {
        self == Self::RESPONSE_OK || self == Self::RESPONSE_ERROR
    }
}

/// An FC 43 MEI (Modbus Encapsulated Interface) type (spec section 6.19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MeiType(pub u8);

impl MeiType {
    pub const CANOPEN_GENERAL_REFERENCE: MeiType = MeiType(13);
    pub const READ_DEVICE_IDENTIFICATION: MeiType = MeiType(14);

    /// The stable snake_case name, or `None` when unknown.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::CANOPEN_GENERAL_REFERENCE => Some("canopen_general_reference"),
            Self::READ_DEVICE_IDENTIFICATION => Some("read_device_identification"),
            _ => None,
        }
    }
}

/// A Read Device Identification object id (spec section 6.21, table of object ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceIdObjectId(pub u8);

impl DeviceIdObjectId {
    pub const VENDOR_NAME: DeviceIdObjectId = DeviceIdObjectId(0);
    pub const PRODUCT_CODE: DeviceIdObjectId = DeviceIdObjectId(1);
    pub const MAJOR_MINOR_REVISION: DeviceIdObjectId = DeviceIdObjectId(2);
    pub const VENDOR_URL: DeviceIdObjectId = DeviceIdObjectId(3);
    pub const PRODUCT_NAME: DeviceIdObjectId = DeviceIdObjectId(4);
    pub const MODEL_NAME: DeviceIdObjectId = DeviceIdObjectId(5);
    pub const USER_APPLICATION_NAME: DeviceIdObjectId = DeviceIdObjectId(6);

    /// The snake_case name of a basic or regular object; `None` for reserved and extended
    /// (vendor-specific) objects.
    pub fn name(self) -> Option<&'static str> {
        device_id_object_name(self.0)
    }
}

/// The name of a Read Device Identification object id (0–6), `None` otherwise.
pub fn device_id_object_name(object_id: u8) -> Option<&'static str> {
    Some(match object_id {
        0 => "vendor_name",
        1 => "product_code",
        2 => "major_minor_revision",
        3 => "vendor_url",
        4 => "product_name",
        5 => "model_name",
        6 => "user_application_name",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(FunctionCode::READ_HOLDING_REGISTERS.name(), Some("read_holding_registers"));
        assert_eq!(FunctionCode(0).name(), None);
        assert_eq!(FunctionCode(126).to_string(), "program_584_984_2");
        assert_eq!(FunctionCode(200).to_string(), "unknown(200)");
        assert_eq!(ExceptionCode(2).name(), Some("illegal_data_address"));
        assert_eq!(ExceptionCode(9).name(), None);
        assert_eq!(UmasCode::STOP_PLC.name(), Some("umas_stop_plc"));
        assert_eq!(UmasCode::RESPONSE_OK.name(), Some("umas_response_ok"));
        assert_eq!(UmasCode(0xEE).name(), None);
        assert_eq!(MeiType(14).name(), Some("read_device_identification"));
        assert_eq!(DeviceIdObjectId::VENDOR_URL.name(), Some("vendor_url"));
        assert_eq!(device_id_object_name(0x80), None);
    }

    #[test]
    fn function_names_match_classification() {
        for code in 0..=255u8 {
            let fc = FunctionCode(code);
            if let Some(name) = fc.name() {
                assert_eq!(crate::classify::modbus::lookup(code, None).name, name);
            }
        }
    }
}
