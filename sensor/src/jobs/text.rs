//! Wording of durations and failures in alert messages: sentences a control engineer reads at a
//! glance ("every 1.0 s", "12 s ago", "exception 2 (illegal data address)").

use crate::transaction::{ProtocolDetail, Status, Transaction};

/// `250 ms`, `1.0 s`, `2.5 min`, `1.2 h`.
pub fn duration(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        format!("{us} µs")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 7_200_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

/// Milliseconds for event fields (a whole number of µs gives at most three decimals).
pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// DNP3 internal indications that mean the outstation is in trouble or refused the request:
/// IIN1.6 device trouble, IIN2.0 function not supported, IIN2.1 object unknown, IIN2.2
/// parameter error, IIN2.3 event buffer overflow, IIN2.4 already executing, IIN2.5
/// configuration corrupt. (IIN1 is the low byte of the raw value.)
pub const DNP3_TROUBLE_IIN: u16 = 0x0040 | 0x3F00;

/// Why a transaction counts as a failure of its job, in words; `None` when it succeeded.
pub fn failure(t: &Transaction) -> Option<String> {
    match t.status {
        Status::NoResponse => return Some("no response".to_string()),
        Status::Exception => {}
        Status::Ok => {
            if let ProtocolDetail::Dnp3(d) = &t.detail {
                if d.iin.is_some_and(|iin| iin & DNP3_TROUBLE_IIN != 0) {
                    return Some(format!("IIN {}", d.iin_flags.join(", ")));
                }
            }
            return None;
        }
        Status::Unsolicited | Status::Pending => return None,
    }
    Some(match &t.detail {
        ProtocolDetail::Modbus(m) => match (m.exception_code, m.exception) {
            (Some(c), Some(name)) => format!("exception {c} ({})", name.replace('_', " ")),
            (Some(c), None) => format!("exception {c}"),
            _ => "an exception".to_string(),
        },
        ProtocolDetail::Dnp3(d) => {
            if d.iin_flags.is_empty() {
                "an error response".to_string()
            } else {
                format!("IIN {}", d.iin_flags.join(", "))
            }
        }
        ProtocolDetail::S7comm(s) => match (s.error, s.error_name) {
            (Some(e), Some(name)) => format!("error 0x{e:04x} ({name})"),
            (Some(e), None) => format!("error 0x{e:04x}"),
            _ => "an error".to_string(),
        },
        ProtocolDetail::S7commPlus(_) => "an error".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(250_000), "250 ms");
        assert_eq!(duration(1_000_000), "1.0 s");
        assert_eq!(duration(12_400_000), "12.4 s");
        assert_eq!(duration(300_000_000), "5.0 min");
        assert_eq!(duration(10_800_000_000), "3.0 h");
        assert_eq!(ms(1_234_567), 1234.567);
    }
}
