//! Commands in real captures raise `unexpected_command` with the right category (issue 6).
//!
//! Every capture of `pcaps/MANIFEST.md` section "(b) Write / control / program-change commands"
//! that jobwatch dissects (Modbus/TCP, DNP3, S7comm and S7comm-plus) is replayed twice:
//! - with no baseline (`jobwatch -r CAPTURE --events alert`): jobwatch is learning, but the first
//!   occurrence of a command is reported all the same;
//! - with a baseline learned from *other* traffic (`jobwatch learn -r OTHER`), where possible a
//!   capture of the same hosts without these commands (`tia_s300_goOnline` for the TIA/snap7
//!   S300 captures, `dnp3_read` for the Zeek DNP3 traces, `read_and_response` for the ITI
//!   192.168.60.x ones, ...).
//!
//! The expected alerts are written as `app_proto:category` (the alert's `app_proto` and
//! `alert.category`). They come from tshark's dissection of each capture (every request
//! classified with `docs/CLASSIFICATION.md`, categories `read` and `other` left out), as
//! `scripts/commands-vs-tshark CAPTURE --baseline-from OTHER` prints them with their frames;
//! the `evidence` of each case names the first frames. A case lists:
//! - `required`: raised at least once in both modes;
//! - `unless_baselined`: raised at least once without a baseline; with the baseline it may be
//!   missing, because the baseline capture has the same operations between the same hosts;
//! - `tolerated`: may be raised but need not be, where the classification is in doubt (see the
//!   case's comment).
//!
//! Any other `unexpected_command` category is a failure too (surplus).
//!
//! `program_change_is_one_alert_per_incident` checks that a program download (or upload, or
//! copy RAM to ROM) raises exactly one `program` alert per incident, not one per block, and that
//! this alert names every block the tshark dissection shows downloaded.
//!
//! Out of scope (not dissected by jobwatch, so not checked here; the files are not copied into
//! `pcaps/`): the EtherNet/IP/CIP captures `cip_stop_plc.pcap`, `cip_start_plc.pcap`,
//! `EIP-RebootorRestart.pcap`, `EIP-RemoteModeChangeAttempt.pcap`, `EIP-FirmwareChange*.pcap`,
//! `EIP-ChangeDateAttempt.pcap`, `EIP-ChangePortConfigurationAttempt.pcap`, and the IEC-104
//! capture `other/iec104/090813_diverse.pcap`.
//!
//! Run with `--nocapture` for the table of what was raised.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    /// Under `pcaps/`.
    capture: &'static str,
    /// Under `pcaps/`: the capture the baseline is learned from.
    baseline_from: &'static str,
    required: &'static [&'static str],
    unless_baselined: &'static [&'static str],
    tolerated: &'static [&'static str],
    /// tshark frames of the commands (what the expectation rests on).
    evidence: &'static str,
}

const fn case(
    capture: &'static str,
    baseline_from: &'static str,
    required: &'static [&'static str],
    evidence: &'static str,
) -> Case {
    Case { capture, baseline_from, required, unless_baselined: &[], tolerated: &[], evidence }
}

const S7COMM: &[Case] = &[
    case(
        "s7comm/step7_s300_download.pcapng",
        "s7comm/wincc_s300_setup-alarm-read.pcapng",
        &["s7comm:program", "s7comm:diagnostic"],
        "request download DB1 #87, download block #89, download ended #91, insert #93; \
         message service #3, get block info #5, list blocks of type #33",
    ),
    Case {
        unless_baselined: &["s7comm:diagnostic"],
        ..case(
            "s7comm/tia_s300_downloadOb1.pcapng",
            "s7comm/tia_s300_goOnline.pcapng",
            &["s7comm:program"],
            "request download OB1 #57, download block #59 #61, download ended #63, insert #65; \
             read job list #1, get block info #5",
        )
    },
    Case {
        unless_baselined: &["s7comm:diagnostic"],
        ..case(
            "s7comm/tia_s300_downloadHwConfig.pcapng",
            "s7comm/tia_s300_goOnline.pcapng",
            &["s7comm:control", "s7comm:program"],
            "PLC stop #57; delete SDB2000/SDB1000/SDB4 #60 #62 #64; 7 request downloads #66..#128 \
             and inserts #72..#134; start (P_PROGRAM) #136; message service #3",
        )
    },
    case(
        "s7comm/s7comm_downloading_block_db1.pcap",
        "s7comm/s7comm_reading_plc_status.pcap",
        &["s7comm:program", "s7comm:diagnostic"],
        "request download DB1 #43, download block #46, download ended #55, insert #58; \
         list blocks #22, get block info #37",
    ),
    Case {
        unless_baselined: &["s7comm:diagnostic"],
        ..case(
            "s7comm/snap7_s300_everything.pcapng",
            "s7comm/tia_s300_goOnline.pcapng",
            &["s7comm:program", "s7comm:time", "s7comm:write", "s7comm:control"],
            "start upload #17, set clock #47, write var #49, PLC stop #57, copy RAM to ROM #59, \
             compress #61, start (P_PROGRAM) #63; read SZL #3",
        )
    },
    case("s7comm/snap7_s300_stop.pcapng", "s7comm/snap7_s300_readVar.pcapng", &["s7comm:control"], "PLC stop #1"),
    case("s7comm/step7_s300_stop.pcapng", "s7comm/s7comm_clean.pcap", &["s7comm:control"], "PLC stop #1"),
    case(
        "s7comm/step7_s300_copyRamToRom.pcapng",
        "s7comm/s7comm_clean.pcap",
        &["s7comm:program"],
        "copy RAM to ROM (_MODU) #1",
    ),
    Case {
        unless_baselined: &["s7comm:diagnostic"],
        ..case(
            "s7comm/step7_s300_rwVarTab.pcapng",
            "s7comm/step7_s300_readVarTab.pcapng",
            &["s7comm:write"],
            "modify variable #1 #9; enable job #4",
        )
    },
    Case {
        unless_baselined: &["s7comm:diagnostic"],
        ..case(
            "s7comm/s7comm_reading_setting_plc_time.pcap",
            "s7comm/s7comm_reading_plc_status.pcap",
            &["s7comm:time"],
            "set clock #43; read SZL #12",
        )
    },
    case(
        "s7comm/step7_s300_AuthPassword.pcapng",
        "s7comm/s7comm_clean.pcap",
        &["s7comm:security", "s7comm:diagnostic"],
        "PLC password #3; read SZL #1",
    ),
    case(
        "s7comm/s7comm_varservice_libnodavedemo_bench.pcap",
        "s7comm/s7comm_reading_plc_status.pcap",
        &["s7comm:write"],
        "write var x2002 from #13",
    ),
    // The write is the SetMultiVariables of attribute 306 (ServerSessionVersion) on the
    // session object that every S7comm-plus client sends right after CreateObject (#10):
    // session set-up rather than a process write, so it is tolerated, not required.
    Case {
        tolerated: &["s7comm_plus:write"],
        ..case(
            "s7comm/S7-1200-Uploading-OB1-TIAV12.pcap",
            "s7comm/s7-1200-hmi.pcap",
            &["s7comm_plus:program", "s7comm_plus:diagnostic"],
            "begin sequence #121 #124, end sequence #130 #137; explore #57; set multi variables #10",
        )
    },
];

const MODBUS: &[Case] = &[
    // Also two S7comm-plus flows; their 230 SetVariable requests (#28, ...) go to object
    // 0x7000000a every ~250 ms alongside the notifications (a subscription, it seems), so
    // `s7comm_plus:write` is tolerated, not required.
    Case {
        tolerated: &["s7comm_plus:write"],
        ..case(
            "mixed/modbusBig.pcap",
            "modbus/modbus_test_2.pcap",
            &["modbus:write", "s7comm_plus:diagnostic"],
            "FC5 x1387 from #5; S7comm-plus explore #447",
        )
    },
    case(
        "modbus/ModbusTCP_Plant1.pcap",
        "modbus/modbus_test_2.pcap",
        &["modbus:write"],
        "FC15 x2115 from #28, FC16 x14 from #6023",
    ),
    case("modbus/modbus_test.pcap", "modbus/modbus_test_2.pcap", &["modbus:write"], "FC6 x63 from #2"),
    case("modbus/modbusSmall.pcap", "modbus/modbus_test_2.pcap", &["modbus:write"], "FC15 x8 from #4"),
    case(
        "modbus/modbus_example.pcap",
        "modbus/modbus_test_2.pcap",
        &["modbus:write", "modbus:diagnostic", "modbus:file"],
        "FC5 #36, FC6 #40, FC7 #44, FC8/2 #48, FC15 #52, FC16 #56, FC17 #60, FC20 #64, FC21 #68, \
         FC22 #72, FC23 #80, FC43/14 #92",
    ),
];

const DNP3: &[Case] = &[
    case("dnp3/dnp3_example.pcap", "dnp3/dnp3_read.pcap", &["dnp3:write"], "select #292, operate #294"),
    case("dnp3/DNP3-SelectOperate.pcap", "dnp3/DNP3-Read.pcap", &["dnp3:write"], "select #4, operate #8"),
    case("dnp3/dnp3_select_operate.pcap", "dnp3/dnp3_read.pcap", &["dnp3:write"], "select #4, operate #7"),
    case(
        "dnp3/select_operate_and_responses.pcap",
        "dnp3/read_and_response.pcap",
        &["dnp3:write"],
        "select #4, operate #7",
    ),
    case("dnp3/dnp3_udp_select_operate.pcap", "dnp3/dnp3_udp_read.pcap", &["dnp3:write"], "select #1, operate #3"),
    case("dnp3/directoperate_and_response.pcap", "dnp3/read_and_response.pcap", &["dnp3:write"], "direct operate #4"),
    case("dnp3/direct_operate_analog_output.pcap", "dnp3/dnp3_read.pcap", &["dnp3:write"], "direct operate g41 #1"),
    case("dnp3/direct_operate_no_ack_crob.pcap", "dnp3/dnp3_read.pcap", &["dnp3:write"], "direct operate no ack #1"),
    case(
        "dnp3/direct_operate_crob_malform_but_good_crc.pcap",
        "dnp3/dnp3_read.pcap",
        &["dnp3:write"],
        "direct operate (malformed CROB) #1",
    ),
    case("dnp3/DNP3-Write.pcap", "dnp3/DNP3-Read.pcap", &["dnp3:time"], "write g50v1 #4"),
    case("dnp3/dnp3_write.pcap", "dnp3/dnp3_read.pcap", &["dnp3:time"], "write g50v1 #4"),
    case("dnp3/dnp3_udp_write.pcap", "dnp3/dnp3_udp_read.pcap", &["dnp3:diagnostic"], "write g80v1 (IIN) #1"),
    case("dnp3/write_binary_output.pcap", "dnp3/dnp3_read.pcap", &["dnp3:write"], "write g10v1 #1"),
    case("dnp3/write_iin_and_response.pcap", "dnp3/read_and_response.pcap", &["dnp3:diagnostic"], "write g80v1 #4"),
    // The file data goes in a write (FC2) of g70v5, which docs/CLASSIFICATION.md has as
    // `write` (no 2/70 row); a file transfer is `file`, so `write` is tolerated, not required.
    Case {
        tolerated: &["dnp3:write"],
        ..case(
            "dnp3/dnp3_file_write.pcap",
            "dnp3/dnp3_read.pcap",
            &["dnp3:file"],
            "open #4, write g70v5 #13, close #16",
        )
    },
    Case {
        tolerated: &["dnp3:write"],
        ..case(
            "dnp3/file_write.pcap",
            "dnp3/immediate_freeze.pcap",
            &["dnp3:file"],
            "open #1, write g70v5 #3, close #5",
        )
    },
    case("dnp3/dnp3_file_del.pcap", "dnp3/dnp3_read.pcap", &["dnp3:file"], "delete file #4"),
    case("dnp3/file_delete.pcap", "dnp3/immediate_freeze.pcap", &["dnp3:file"], "delete file #1"),
    case("dnp3/cold_restart_and_response.pcap", "dnp3/read_and_response.pcap", &["dnp3:control"], "cold restart #4"),
    case("dnp3/warm_restart_and_response.pcap", "dnp3/read_and_response.pcap", &["dnp3:control"], "warm restart #4"),
    case(
        "dnp3/enable_unsolicited_and_response.pcap",
        "dnp3/read_and_response.pcap",
        &["dnp3:config"],
        "enable unsolicited #4",
    ),
    case(
        "dnp3/disable_unsolcited_and_response.pcap",
        "dnp3/read_and_response.pcap",
        &["dnp3:config"],
        "disable unsolicited #4",
    ),
    case("dnp3/dnp3_en_spon.pcap", "dnp3/dnp3_read.pcap", &["dnp3:config"], "enable unsolicited #4"),
    case("dnp3/dnp3_udp_en_spon.pcap", "dnp3/dnp3_udp_read.pcap", &["dnp3:config"], "enable unsolicited #1"),
    case(
        "dnp3/auth_change_session_keys.pcap",
        "dnp3/immediate_freeze.pcap",
        &["dnp3:security"],
        "authenticate request #4 #6",
    ),
    case(
        "dnp3/auth_control_challenge_response.pcap",
        "dnp3/immediate_freeze.pcap",
        &["dnp3:write", "dnp3:security"],
        "direct operate #1, authenticate request #3",
    ),
    // An aggressive-mode request: a direct operate whose first object is g120v3 (and g120v9
    // after the CROB); jobwatch classifies it by its function, `write`.
    Case {
        tolerated: &["dnp3:security"],
        ..case(
            "dnp3/operate_aggressive_mode.pcap",
            "dnp3/immediate_freeze.pcap",
            &["dnp3:write"],
            "direct operate with g120v3 #1",
        )
    },
];

/// Program changes: capture, baseline capture, protocol, incidents, blocks downloaded (tshark).
const PROGRAM_CHANGES: &[(&str, &str, &str, usize, &[&str])] = &[
    ("s7comm/step7_s300_download.pcapng", "s7comm/wincc_s300_setup-alarm-read.pcapng", "s7comm", 1, &["DB1"]),
    ("s7comm/tia_s300_downloadOb1.pcapng", "s7comm/tia_s300_goOnline.pcapng", "s7comm", 1, &["OB1"]),
    // Deletes SDB2000, SDB1000, SDB4 (#60-#64), then downloads seven SDBs, each with its own
    // request download and insert (#66-#134), within 0.5 s: one incident.
    (
        "s7comm/tia_s300_downloadHwConfig.pcapng",
        "s7comm/tia_s300_goOnline.pcapng",
        "s7comm",
        1,
        &["SDB7", "SDB4", "SDB2000", "SDB1000", "SDB1", "SDB3", "SDB0"],
    ),
    ("s7comm/s7comm_downloading_block_db1.pcap", "s7comm/s7comm_reading_plc_status.pcap", "s7comm", 1, &["DB1"]),
    // Five uploads, copy RAM to ROM and compress within 0.5 s.
    ("s7comm/snap7_s300_everything.pcapng", "s7comm/tia_s300_goOnline.pcapng", "s7comm", 1, &[]),
    ("s7comm/step7_s300_copyRamToRom.pcapng", "s7comm/s7comm_clean.pcap", "s7comm", 1, &[]),
    // Two begin/end sequence pairs within 0.2 s.
    ("s7comm/S7-1200-Uploading-OB1-TIAV12.pcap", "s7comm/s7-1200-hmi.pcap", "s7comm_plus", 1, &[]),
];

fn pcaps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("pcaps")
}

/// Baselines learned so far, by the capture they were learned from.
struct Baselines {
    dir: tempfile::TempDir,
    learned: BTreeMap<&'static str, PathBuf>,
}

impl Baselines {
    fn new() -> Baselines {
        Baselines { dir: tempfile::tempdir().unwrap(), learned: BTreeMap::new() }
    }

    fn get(&mut self, capture: &'static str) -> PathBuf {
        if let Some(p) = self.learned.get(capture) {
            return p.clone();
        }
        let out = self.dir.path().join(format!("b{}.yaml", self.learned.len()));
        let status = Command::new(env!("CARGO_BIN_EXE_jobwatch"))
            .arg("learn")
            .arg("-r")
            .arg(pcaps().join(capture))
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(status.status.success(), "jobwatch learn -r {capture}: {}", String::from_utf8_lossy(&status.stderr));
        self.learned.insert(capture, out.clone());
        out
    }
}

/// `unexpected_command` alerts as (app_proto:category, message).
fn unexpected_commands(capture: &str, baseline: Option<&Path>) -> Vec<(String, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jobwatch"));
    cmd.arg("-r").arg(pcaps().join(capture)).args(["--events", "alert"]);
    if let Some(b) = baseline {
        cmd.arg("--baseline").arg(b);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "jobwatch -r {capture}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event_type"] == "alert" && e["alert"]["kind"] == "unexpected_command")
        .map(|e| {
            let key = format!(
                "{}:{}",
                e["app_proto"].as_str().unwrap_or("?"),
                e["alert"]["category"].as_str().unwrap_or("(no category)")
            );
            (key, e["alert"]["message"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn check(cases: &[Case]) {
    let mut baselines = Baselines::new();
    let mut table = String::new();
    let mut failures = String::new();
    for c in cases {
        let baseline = baselines.get(c.baseline_from);
        for (mode, alerts) in [
            ("no baseline", unexpected_commands(c.capture, None)),
            ("baseline", unexpected_commands(c.capture, Some(&baseline))),
        ] {
            let raised: BTreeSet<&str> = alerts.iter().map(|(k, _)| k.as_str()).collect();
            let with_baseline = mode == "baseline";
            let mut must: Vec<&str> = c.required.to_vec();
            if !with_baseline {
                must.extend(c.unless_baselined);
            }
            let missing: Vec<&str> = must.iter().copied().filter(|k| !raised.contains(k)).collect();
            let surplus: Vec<&str> = raised
                .iter()
                .copied()
                .filter(|k| !c.required.contains(k) && !c.unless_baselined.contains(k) && !c.tolerated.contains(k))
                .collect();
            let raised_list: Vec<&str> = raised.iter().copied().collect();
            let _ = writeln!(
                table,
                "{:<52} {:<11} expected {:<45} raised {} ({} alerts)",
                c.capture,
                mode,
                must.join(","),
                raised_list.join(","),
                alerts.len()
            );
            if !missing.is_empty() || !surplus.is_empty() {
                let _ = writeln!(
                    failures,
                    "{} ({mode}, baseline from {}): missing {:?}, surplus {:?}; tshark: {}",
                    c.capture, c.baseline_from, missing, surplus, c.evidence
                );
                for (k, m) in &alerts {
                    let _ = writeln!(failures, "    raised {k}: {m}");
                }
            }
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "unexpected_command alerts differ from the commands tshark shows:\n{failures}");
}

#[test]
fn s7comm_commands_raise_unexpected_command() {
    check(S7COMM);
}

#[test]
fn modbus_commands_raise_unexpected_command() {
    check(MODBUS);
}

#[test]
fn dnp3_commands_raise_unexpected_command() {
    check(DNP3);
}

/// Whether `message` names block `name` as a whole word (`DB1` is not in `DB10`).
fn names_block(message: &str, name: &str) -> bool {
    message.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == name)
}

#[test]
fn program_change_is_one_alert_per_incident() {
    let mut baselines = Baselines::new();
    let mut failures = String::new();
    for &(capture, baseline_from, proto, incidents, blocks) in PROGRAM_CHANGES {
        let baseline = baselines.get(baseline_from);
        for (mode, alerts) in [
            ("no baseline", unexpected_commands(capture, None)),
            ("baseline", unexpected_commands(capture, Some(&baseline))),
        ] {
            let key = format!("{proto}:program");
            let program: Vec<&String> = alerts.iter().filter(|(k, _)| *k == key).map(|(_, m)| m).collect();
            println!("{capture} ({mode}): {} program alert(s)", program.len());
            for m in &program {
                println!("    {m}");
            }
            if program.len() != incidents {
                let _ = writeln!(
                    failures,
                    "{capture} ({mode}): {} `{key}` alerts, expected {incidents} (one per incident): {program:#?}",
                    program.len()
                );
            }
            let unnamed: Vec<&str> =
                blocks.iter().copied().filter(|b| !program.iter().any(|m| names_block(m, b))).collect();
            if !unnamed.is_empty() {
                let _ =
                    writeln!(failures, "{capture} ({mode}): the program alert does not name {unnamed:?}: {program:#?}");
            }
        }
    }
    assert!(failures.is_empty(), "program changes:\n{failures}");
}
