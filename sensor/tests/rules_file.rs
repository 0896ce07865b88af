//! Rules files as a user would write them, through the public API: the shipped defaults and
//! the example load; each kind of bad file gets its exact `file:line:col: message` (the format
//! users and editors rely on); and rules match transactions as the README says.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;

use dissectors::classify::{dnp3, modbus, s7comm};
use dissectors::{Category, Severity};
use sensor::event::{Alert, AlertKind};
use sensor::flow::{Endpoint, FlowInfo, Transport};
use sensor::rules::{Action, CommandCtx, Role, RuleSet};
use sensor::time::Timestamp;
use sensor::transaction::{
    Dnp3Detail, Dnp3Object, Dnp3Point, Dnp3Value, ModbusDetail, ProtocolDetail, S7Detail, S7Item, Status, Transaction,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn flow(src: &str, dst: &str, port: u16) -> FlowInfo {
    FlowInfo {
        flow_id: 1,
        transport: Transport::Tcp,
        client: Endpoint { ip: ip(src), port: 50000 },
        server: Endpoint { ip: ip(dst), port },
    }
}

fn transaction(
    src: &str,
    dst: &str,
    app_proto: &'static str,
    code: u16,
    info: &'static dissectors::FunctionInfo,
    detail: ProtocolDetail,
) -> Transaction {
    let port = match app_proto {
        "modbus" => 502,
        "dnp3" => 20000,
        _ => 102,
    };
    Transaction {
        flow: flow(src, dst, port),
        app_proto,
        request_ts: Some(Timestamp(1_700_000_000_000_000)),
        response_ts: Some(Timestamp(1_700_000_000_004_000)),
        function_code: code,
        function: info.name,
        category: info.category,
        status: Status::Ok,
        job_id: None,
        detail,
    }
}

/// A Modbus request: function, unit, address and quantity.
fn modbus(src: &str, dst: &str, fc: u8, unit: u8, address: u16, quantity: u16) -> Transaction {
    let detail =
        ModbusDetail { unit_id: unit, address: Some(address), quantity: Some(quantity), ..ModbusDetail::default() };
    transaction(src, dst, "modbus", u16::from(fc), modbus::lookup(fc, None), ProtocolDetail::Modbus(detail))
}

/// A DNP3 request carrying points (CROB controls).
fn dnp3(src: &str, dst: &str, fc: u8, indices: &[u32]) -> Transaction {
    let points = indices
        .iter()
        .map(|i| Dnp3Point {
            group: 12,
            variation: 1,
            index: *i,
            value: Dnp3Value::Unsigned(0),
            flags: None,
            time_ms: None,
            status: None,
        })
        .collect();
    let objects = vec![Dnp3Object {
        group: 12,
        variation: 1,
        name: None,
        qualifier: 0x28,
        start: None,
        stop: None,
        count: indices.len() as u64,
    }];
    let detail = Dnp3Detail { destination: 10, source: 1, objects, points, ..Dnp3Detail::default() };
    transaction(src, dst, "dnp3", u16::from(fc), dnp3::lookup(fc, None), ProtocolDetail::Dnp3(detail))
}

/// An S7 job touching DB items, or naming blocks.
fn s7(src: &str, dst: &str, function: u8, dbs: &[u16], blocks: &[&str]) -> Transaction {
    let items = dbs
        .iter()
        .map(|db| S7Item {
            syntax_id: 0x10,
            area: Some(0x84),
            area_name: Some("data_block"),
            db: Some(*db),
            address: Some(0),
            bit: None,
            transport_size: None,
            length: Some(4),
        })
        .collect();
    let detail =
        S7Detail { rosctr: 1, items, blocks: blocks.iter().map(|b| (*b).to_owned()).collect(), ..S7Detail::default() };
    transaction(
        src,
        dst,
        "s7comm",
        u16::from(function),
        s7comm::lookup_job(function, None),
        ProtocolDetail::S7comm(detail),
    )
}

/// The verdict on a transaction at a capture time (seconds since the epoch).
fn verdict(rules: &RuleSet, t: &Transaction, at_s: u64) -> Option<(String, Action, Option<Severity>)> {
    rules
        .command(&CommandCtx { transaction: t, time_us: at_s * 1_000_000 })
        .map(|hit| (hit.rule_id.to_owned(), hit.action, hit.severity))
}

fn rule_id(rules: &RuleSet, t: &Transaction, at_s: u64) -> Option<String> {
    verdict(rules, t, at_s).map(|(id, _, _)| id)
}

fn rules(text: &str) -> RuleSet {
    RuleSet::from_str("rules.yaml", text)
        .unwrap_or_else(|e| panic!("{}\n{text}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
}

fn errors(text: &str) -> Vec<String> {
    match RuleSet::from_str("rules.yaml", text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap()
}

const EXAMPLE: &str = include_str!("../../rules/examples/plant.yaml");

// 2024-03-30 and 2024-10-26 are Saturdays; Berlin is UTC+1 on the first (winter time) and
// UTC+2 on the second (summer time, until the 27th).
const MAR30_0530Z: u64 = 1_711_776_600;
const MAR30_0430Z: u64 = 1_711_773_000;
const OCT26_0430Z: u64 = 1_729_917_000;
const OCT26_0759Z: u64 = 1_729_929_540;
const OCT26_0800Z: u64 = 1_729_929_600;
const FRI_MAR29_0530Z: u64 = 1_711_690_200;

// ---------------------------------------------------------------------------------------------
// Shipped files

#[test]
fn shipped_defaults_are_valid() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/default.yaml")).unwrap();
    assert_eq!(text, sensor::rules::DEFAULT_TEXT, "the built-in copy is the file");
    let defaults = RuleSet::from_str("default.yaml", &text).unwrap();
    assert!(!defaults.is_empty());
    let built_in = RuleSet::defaults();
    assert_eq!(built_in.commands().len(), defaults.commands().len());
    assert!(built_in.suppressions().iter().all(|c| c.id.starts_with("default.")));

    // No command rule by default: a command never seen is `unexpected_command` (the engine's
    // baseline judgement), and a learned one is normal; no rule decides for them.
    let download = s7("10.0.0.9", "10.0.0.20", 0x1A, &[], &["OB1"]);
    assert_eq!(verdict(&built_in, &download, 0), None);
    let stop = s7("10.0.0.9", "10.0.0.20", 0x29, &[], &[]);
    assert_eq!(verdict(&built_in, &stop, 0), None);
    assert_eq!(verdict(&built_in, &modbus("10.0.0.1", "10.0.0.2", 6, 1, 10, 1), 0), None);
    assert_eq!(verdict(&built_in, &modbus("10.0.0.1", "10.0.0.2", 3, 1, 10, 1), 0), None);
}

#[test]
fn example_loads_and_merges_with_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/examples/plant.yaml");
    let example = RuleSet::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(example.files(), [path.display().to_string()]);
    assert!(example.commands().len() >= 8 && example.declared_jobs().len() == 2);
    let merged = RuleSet::load_with_defaults(&path).unwrap();
    assert_eq!(merged.commands().len(), example.commands().len() + RuleSet::defaults().commands().len());
    assert_eq!(merged.files().last().map(String::as_str), Some(sensor::rules::DEFAULT_FILE));

    // The example's own rules decide before the defaults.
    let eng_ws_download = s7("10.10.1.50", "10.10.2.20", 0x1A, &[], &["OB1"]);
    assert_eq!(rule_id(&merged, &eng_ws_download, MAR30_0530Z).as_deref(), Some("ews-program-window"));
    assert_eq!(rule_id(&merged, &eng_ws_download, FRI_MAR29_0530Z).as_deref(), Some("program-change-outside-window"));
    // A PLC stop is not covered by the example's program rules, and falls to the default.
    let stop = s7("10.10.1.50", "10.10.2.20", 0x29, &[], &[]);
    assert_eq!(rule_id(&merged, &stop, 0).as_deref(), Some("plc-stop"));
    let restart = dnp3("10.10.1.5", "10.10.3.9", 13, &[]);
    assert_eq!(rule_id(&merged, &restart, 0).as_deref(), None, "left to the baseline (unexpected_command)");

    // Assets: most specific network wins, and names go into messages.
    let a = merged.asset(ip("10.10.3.7")).unwrap();
    assert_eq!((a.name.as_str(), a.role), ("rtu-pump-station", Role::Rtu));
    assert_eq!(merged.asset(ip("10.10.3.8")).unwrap().name, "field-rtus");
    assert_eq!(merged.describe(ip("10.10.1.21")), "10.10.1.21 (hmi-1, HMI)");
    assert_eq!(merged.describe(ip("192.0.2.1")), "192.0.2.1");
}

#[test]
fn a_folder_is_its_yaml_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-assets.yaml"),
        "version: 1\nassets:\n  - {name: hmi-1, role: hmi, address: 10.0.0.5}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("20-commands.yml"),
        "version: 1\ncommands:\n  - {id: hmi-writes, master: hmi-1, category: write, action: allow}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not rules").unwrap();
    std::fs::write(dir.path().join(".#20-commands.yml"), "garbage: [").unwrap();
    let rules = RuleSet::load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(rules.files().len(), 2);
    let write = modbus("10.0.0.5", "10.0.0.9", 6, 1, 0, 1);
    assert_eq!(rule_id(&rules, &write, 0).as_deref(), Some("hmi-writes"));

    // Every problem of every file, each with its file.
    std::fs::write(
        dir.path().join("10-assets.yaml"),
        "version: 1\nassets:\n  - {name: hmi-1, role: hmii, address: 10.0.0.5}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("30-bad.yaml"), "version: 1\ncommands:\n  - {id: x, action: deny}\n").unwrap();
    let errors: Vec<String> = RuleSet::load(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
    let a = dir.path().join("10-assets.yaml").display().to_string();
    let c = dir.path().join("30-bad.yaml").display().to_string();
    assert_eq!(
        errors,
        [
            format!("{a}:3:25: unknown role `hmii`; did you mean `hmi`?"),
            format!(
                "{c}:3:21: unknown action `deny`: expected allow, alert or ignore (jobwatch only watches and cannot \
                 block: use alert)"
            ),
        ]
    );

    let empty = tempfile::tempdir().unwrap();
    let e = RuleSet::load(empty.path()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        format!("{}: no rules files (*.yaml or *.yml) in this folder", empty.path().display())
    );
    let e = RuleSet::load(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(e[0].to_string().contains("cannot read"), "{}", e[0]);
}

// ---------------------------------------------------------------------------------------------
// Bad files: the exact messages

#[test]
fn unknown_keys_and_wrong_types() {
    assert_eq!(
        error("version: 1\ncommands:\n  - id: a\n    sevrity: high\n    action: alert\n"),
        "rules.yaml:4:5: unknown key `sevrity`; did you mean `severity`?"
    );
    assert_eq!(
        error("version: 1\nassets: []\nrulez: []\n"),
        "rules.yaml:3:1: unknown key `rulez`; expected one of version, time_zone, assets, commands, jobs, \
         thresholds, suppress"
    );
    assert_eq!(error("version: 1\nasets: []\n"), "rules.yaml:2:1: unknown key `asets`; did you mean `assets`?");
    assert_eq!(
        error("version: 1\ncommands: {id: a}\n"),
        "rules.yaml:2:11: expected a list (entries starting with `- `)"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - id: a\n    action: [alert]\n"),
        "rules.yaml:4:13: expected a single value (text), not a list or a mapping"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - id: a\n    master: {asset: x}\n    action: alert\n"),
        "rules.yaml:4:13: expected a value or a list of values, not a mapping (`key: value` lines)"
    );
    assert_eq!(error("version: one\n"), "rules.yaml:1:10: expected a whole number from 0 to 4294967295");
    assert_eq!(error("version: 2\n"), "rules.yaml:1:10: unsupported rules version 2: this jobwatch reads version 1");
    assert_eq!(error("commands: []\n"), "rules.yaml:1:1: missing key `version`");
    assert_eq!(error("version: 1\ncommands:\n  - id: a\n"), "rules.yaml:3:5: missing key `action`");
    assert_eq!(
        error("version: 1\nsuppress:\n  - {id: a, max: 0, per: 1m}\n"),
        "rules.yaml:3:18: `max` must be a whole number from 1 to 4294967295, not `0`"
    );
}

#[test]
fn bad_addresses_and_roles() {
    let asset = |role: &str, address: &str| {
        format!("version: 1\nassets:\n  - name: x\n    role: {role}\n    address: {address}\n")
    };
    assert_eq!(
        error(&asset("plc", "10.0.1.5/24")),
        "rules.yaml:5:14: bad CIDR `10.0.1.5/24`: host bits are set; did you mean `10.0.1.0/24`?"
    );
    assert_eq!(
        error(&asset("plc", "10.0.1.0/33")),
        "rules.yaml:5:14: bad CIDR `10.0.1.0/33`: the prefix length must be a number from 0 to 32"
    );
    assert_eq!(
        error(&asset("plc", "[10.0.1.1, 300.1.1.1]")),
        "rules.yaml:5:25: `300.1.1.1` is not an IP address or CIDR block"
    );
    assert_eq!(error(&asset("hmii", "10.0.0.1")), "rules.yaml:4:11: unknown role `hmii`; did you mean `hmi`?");
    assert_eq!(
        error(&asset("operator", "10.0.0.1")),
        "rules.yaml:4:11: unknown role `operator`: expected one of hmi, scada, engineering_workstation, historian, \
         plc, rtu, ied, gateway, other"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - {id: a, master: hmii, action: alert}\n"),
        "rules.yaml:3:21: unknown asset or role `hmii`; did you mean `hmi`?"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - {id: a, outstation: 10.0.2.0/16, action: alert}\n"),
        "rules.yaml:3:25: bad CIDR `10.0.2.0/16`: host bits are set; did you mean `10.0.0.0/16`?"
    );
    assert_eq!(
        error("version: 1\nassets:\n  - {name: a, role: plc, address: 10.0.0.1}\n  - {name: b, role: plc, address: 10.0.0.1}\n"),
        "rules.yaml:4:35: 10.0.0.1 is already asset `a` (line 3)"
    );
    assert_eq!(
        error("version: 1\nassets:\n  - {name: plc, role: plc, address: 10.0.0.1}\n"),
        "rules.yaml:3:12: asset name `plc` is a role name (or `any`); rules could not tell them apart"
    );
}

#[test]
fn unknown_functions_and_categories() {
    let cmd = |keys: &str| format!("version: 1\ncommands:\n  - id: a\n{keys}    action: alert\n");
    assert_eq!(
        error(&cmd("    protocol: modbus\n    function: write_single_registr\n")),
        "rules.yaml:5:15: unknown modbus function `write_single_registr`; did you mean `write_single_register`?"
    );
    assert_eq!(
        error(&cmd("    protocol: modbus\n    function: [read_coils, direct_operate]\n")),
        "rules.yaml:5:28: unknown modbus function `direct_operate` (it is a dnp3 function)"
    );
    assert_eq!(
        error(&cmd("    function: plc_stopp\n")),
        "rules.yaml:4:15: unknown function `plc_stopp`; did you mean `plc_stop`?"
    );
    assert_eq!(
        error(&cmd("    function: 16\n")),
        "rules.yaml:4:15: function `16` is a number, which means something different in each protocol: give the \
         rule a `protocol`, or use the function's name"
    );
    assert_eq!(
        error(&cmd("    protocol: modbus\n    function: 200\n")),
        "rules.yaml:5:15: bad modbus function `200`: Modbus function codes are 1 to 127"
    );
    assert_eq!(
        error(&cmd("    category: writes\n")),
        "rules.yaml:4:15: unknown category `writes`; did you mean `write`?"
    );
    assert_eq!(
        error(&cmd("    protocol: modbuss\n")),
        "rules.yaml:4:15: unknown protocol `modbuss`; did you mean `modbus`?"
    );
    assert_eq!(
        error(&cmd("    address: 0-9\n    function: direct_operate\n")),
        "rules.yaml:5:15: unknown modbus function `direct_operate` (it is a dnp3 function)"
    );
}

#[test]
fn impossible_ranges() {
    let cmd = |keys: &str| format!("version: 1\ncommands:\n  - id: a\n{keys}    action: alert\n");
    assert_eq!(
        error(&cmd("    address: 4099-4000\n")),
        "rules.yaml:4:14: impossible range `4099-4000`: the start is greater than the end"
    );
    assert_eq!(
        error(&cmd("    address: [0-9, 70000]\n")),
        "rules.yaml:4:20: `70000` is out of range: Modbus addresses are 0 to 65535"
    );
    assert_eq!(
        error(&cmd("    unit: 1-300\n    protocol: modbus\n")),
        "rules.yaml:4:11: `1-300` is out of range: Modbus unit ids are 0 to 255"
    );
    assert_eq!(
        error(&cmd("    db: ten\n")),
        "rules.yaml:4:9: bad range `ten`: write a number or FROM-TO, e.g. 4000-4099"
    );
    assert_eq!(
        error(&cmd("    block: DB20-10\n")),
        "rules.yaml:4:12: impossible range `20-10`: the start is greater than the end"
    );
    assert_eq!(
        error(&cmd("    block: XB1\n")),
        "rules.yaml:4:12: unknown block `XB1`: write a block type (OB, DB, SDB, FC, SFC, FB, SFB) with a number or a \
         range, e.g. OB1 or DB10-20"
    );
    // Targets of different protocols, or of another protocol than the rule's.
    assert_eq!(
        error(&cmd("    protocol: dnp3\n    address: 0-9\n")),
        "rules.yaml:5:14: `address` applies to modbus only, but the rule's protocol is dnp3"
    );
    assert_eq!(
        error(&cmd("    address: 0-9\n    point: 0-9\n")),
        "rules.yaml:5:12: `point` (dnp3) and `address` (modbus) cannot both apply: no transaction has both"
    );
    let job = "version: 1\njobs:\n  - id: j\n    master: any\n    outstation: any\n    protocol: modbus\n    \
               function: read_coils\n    period: 1s\n    tolerance: 500ms\n";
    assert_eq!(error(job), "rules.yaml:9:16: tolerance 500ms must be less than half the period (1s)");
    assert_eq!(
        error(&format!("{job}    stop_after: 1s\n").replace("500ms", "100ms")),
        "rules.yaml:10:17: stop_after 1s must be longer than the period (1s)"
    );
}

#[test]
fn bad_windows_and_time_zones() {
    let cmd = |when: &str| {
        format!("version: 1\ncommands:\n  - id: a\n    category: write\n    when: {when}\n    action: allow\n")
    };
    assert_eq!(
        error(&cmd("{days: [sat], time: 06:00-10:00, time_zone: Europe/Berln}")),
        "rules.yaml:5:55: unknown time zone `Europe/Berln`; did you mean `Europe/Berlin`?"
    );
    assert_eq!(
        error(&cmd("{days: [sat], time: 06:00-10:00, time_zone: Mars/Olympus}")),
        "rules.yaml:5:55: unknown time zone `Mars/Olympus`: write an IANA name such as Europe/Berlin, or UTC"
    );
    assert_eq!(
        error(&cmd("{days: [sat, sundy], time_zone: UTC}")),
        "rules.yaml:5:24: unknown weekday `sundy`; did you mean `sunday`?"
    );
    assert_eq!(
        error(&cmd("{days: [mon-fry], time_zone: UTC}")),
        "rules.yaml:5:19: unknown weekday `fry`; did you mean `fri`?"
    );
    assert_eq!(
        error(&cmd("{time: 25:00-26:00, time_zone: UTC}")),
        "rules.yaml:5:18: bad time `25:00-26:00`: hours are 00 to 23 (24:00 only as the end)"
    );
    assert_eq!(
        error(&cmd("{time: 6-10, time_zone: UTC}")),
        "rules.yaml:5:18: bad time `6-10`: write FROM-TO as HH:MM-HH:MM, e.g. 06:00-10:00"
    );
    assert_eq!(
        error(&cmd("{days: [sat]}")),
        "rules.yaml:5:11: a time window needs a `time_zone` (an IANA name such as Europe/Berlin, or UTC), in `when` \
         or at the top of the file"
    );
    assert_eq!(
        error("version: 1\ntime_zone: Europe/Berlim\n"),
        "rules.yaml:2:12: unknown time zone `Europe/Berlim`; did you mean `Europe/Berlin`?"
    );
}

#[test]
fn duplicate_ids_and_contradictions() {
    assert_eq!(
        error("version: 1\ncommands:\n  - {id: a, category: write, action: alert}\n  - {id: a, category: program, action: alert}\n"),
        "rules.yaml:4:10: duplicate id `a`: already used at line 3"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - {id: a, category: write, action: alert}\njobs: []\nsuppress:\n  - {id: a, max: 1, per: 1m}\n"),
        "rules.yaml:6:10: duplicate id `a`: already used at line 3"
    );
    assert_eq!(
        error("version: 1\ncommands:\n  - {id: 'two words', category: write, action: alert}\n"),
        "rules.yaml:3:10: id `two words` may contain only letters, digits, `-`, `_`, `.` and `:`"
    );

    // Same selectors and ranges, opposite actions: the second can never apply.
    let text = "version: 1
commands:
  - id: allow-hmi-writes
    master: hmi
    category: write
    address: 4000-4099
    action: allow
  - id: alert-hmi-writes
    master: hmi
    category: write
    address: 4000-4099
    action: alert
";
    assert_eq!(
        error(text),
        "rules.yaml:8:5: contradiction: rule `alert-hmi-writes` has the same conditions as rule `allow-hmi-writes` \
         at line 3, which comes first with action allow"
    );
    // Without targets, the later rule can never apply at all.
    assert_eq!(
        error(&text.replace("    address: 4000-4099\n", "")),
        "rules.yaml:7:5: contradiction: rule `alert-hmi-writes` can never apply: rule `allow-hmi-writes` at line 3 \
         comes first and matches everything it matches, with action allow"
    );
    // Same action, other severity: also a contradiction.
    assert_eq!(
        error(
            "version: 1\ncommands:\n  - {id: a, category: write, action: alert, severity: low}\n  - {id: b, \
             function: direct_operate, action: alert, severity: high}\n"
        ),
        "rules.yaml:4:5: contradiction: rule `b` can never apply: rule `a` at line 3 comes first and matches \
         everything it matches, with severity low"
    );
    // An alert on any write to a range shadows a later allow of part of it.
    let text = "version: 1
commands:
  - {id: no-writes, protocol: modbus, category: write, address: 0-9999, action: alert}
  - {id: hmi-setpoints, master: hmi, function: write_single_register, address: 4000-4099, action: allow}
";
    assert_eq!(
        error(text),
        "rules.yaml:4:5: contradiction: rule `hmi-setpoints` can never apply: rule `no-writes` at line 3 comes first \
         and matches everything it matches, with action alert"
    );
    // The other way round is the intended pattern: no contradiction.
    let text = "version: 1
commands:
  - {id: hmi-setpoints, master: hmi, function: write_single_register, address: 4000-4099, action: allow}
  - {id: no-writes, protocol: modbus, category: write, address: 0-9999, action: alert}
";
    rules(text);
    // A window makes the earlier rule narrower: no contradiction either.
    rules(
        "version: 1
time_zone: UTC
commands:
  - {id: window, category: program, when: {days: [sat]}, action: allow}
  - {id: always, category: program, action: alert}
",
    );
    // Declared jobs are declared once; thresholds set once.
    let job = "  - {id: JOB, master: any, outstation: any, protocol: modbus, function: read_coils, period: 1s, tolerance: 100ms}\n";
    assert_eq!(
        error(&format!("version: 1\njobs:\n{}{}", job.replace("JOB", "a"), job.replace("JOB", "b"))),
        "rules.yaml:4:5: job `b` declares the same requests as job `a` at line 3; a job is declared once"
    );
    assert_eq!(
        error(&format!(
            "version: 1\njobs:\n{}thresholds:\n  - {{id: t, job: a, tolerance: 200ms}}\n",
            job.replace("JOB", "a")
        )),
        "rules.yaml:5:32: `tolerance` of job `a` is already set at line 3"
    );
    assert_eq!(
        error(
            "version: 1\nthresholds:\n  - {id: t1, protocol: modbus, response_limit: 1s}\n  - {id: t2, protocol: modbus, \
             response_limit: 2s}\n"
        ),
        "rules.yaml:4:48: `response_limit` here never applies: threshold entry `t1` at line 3 comes first, matches \
         everything this one does and sets it too"
    );
    assert_eq!(
        error("version: 1\nsuppress:\n  - {id: s1, kind: new_job, max: 1, per: 1m}\n  - {id: s2, kind: new_job, max: 5, per: 1h}\n"),
        "rules.yaml:4:5: suppression `s2` never applies: suppression `s1` at line 3 comes first and applies to every \
         alert it does"
    );
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let text = "version: 1
assets:
  - {name: hmi-1, role: hmii, address: 10.0.0.5}
commands:
  - {id: a, master: hmi-1, category: writes, action: alert}
  - {id: b, address: 9-1, action: alert, severity: urgent}
jobs:
  - {id: j, master: any, outstation: any, protocol: dnp3, function: reed, period: 1s, tolerance: 2s}
suppress:
  - {id: s, kind: new_jobs, rule_id: nope, max: 1, per: 1 fortnight}
";
    assert_eq!(
        errors(text),
        [
            "rules.yaml:3:25: unknown role `hmii`; did you mean `hmi`?",
            "rules.yaml:5:38: unknown category `writes`; did you mean `write`?",
            "rules.yaml:6:22: impossible range `9-1`: the start is greater than the end",
            "rules.yaml:6:52: unknown severity `urgent`: expected low, medium, high or critical",
            "rules.yaml:8:69: unknown dnp3 function `reed`; did you mean `read`?",
            "rules.yaml:8:98: tolerance 2s must be less than half the period (1s)",
            "rules.yaml:10:19: unknown alert kind `new_jobs`; did you mean `new_job`?",
            "rules.yaml:10:38: unknown rule id `nope`: name the id of a command rule or a job",
            "rules.yaml:10:57: bad duration `1 fortnight`: write a number and a unit, e.g. 500ms, 5s, 2m or 1h",
        ]
    );
}

#[test]
fn hostile_documents_are_refused() {
    let mut text = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let started = std::time::Instant::now();
    let e = errors(&text);
    assert!(e[0].contains("alias"), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Damaged versions of the example give errors, never a panic.
    for (i, _) in EXAMPLE.char_indices().step_by(13) {
        let _ = RuleSet::from_str("cut.yaml", &EXAMPLE[..i]);
    }
}

// ---------------------------------------------------------------------------------------------
// Matching

const PLANT: &str = "version: 1
time_zone: Europe/Berlin
assets:
  - {name: hmi-1, role: hmi, address: 10.0.1.21}
  - {name: hmi-2, role: hmi, address: 10.0.1.22}
  - {name: eng-ws, role: ews, address: 10.0.1.50}
  - {name: scada-1, role: scada, address: 10.0.1.5}
  - {name: plc-1, role: plc, address: 10.0.2.10}
  - {name: plc-2, role: plc, address: 10.0.2.20}
  - {name: rtus, role: rtu, address: 10.0.3.0/24}
  - {name: office, role: other, address: 10.0.0.0/16}
commands:
  - id: ews-program-window
    master: engineering_workstation
    category: program
    when: {days: [sat], time: 06:00-10:00}
    action: allow
  - id: program-change
    category: [program, firmware]
    action: alert
    severity: critical
  - id: hmi-setpoints
    master: hmi
    outstation: plc-1
    function: [write_single_register, write_multiple_registers]
    unit: 1
    address: 4000-4099
    action: allow
  - id: lab-writes
    master: 10.0.9.0/24
    category: write
    action: allow
  - id: scada-breakers
    master: scada-1
    outstation: rtus
    function: [select, operate, direct_operate]
    point: 0-15
    action: allow
  - id: writes
    category: write
    action: alert
  - id: scada-time-sync
    master: scada
    category: time
    action: ignore
  - id: hmi-recipe-reads
    master: hmi
    function: read_var
    db: 100-119
    action: allow
  - id: recipe-reads
    function: read_var
    db: 100-119
    action: alert
    severity: medium
";

#[test]
fn allow_and_alert_by_role() {
    let r = rules(PLANT);
    let hmi_write = modbus("10.0.1.22", "10.0.2.10", 6, 1, 4010, 1);
    assert_eq!(verdict(&r, &hmi_write, 0), Some(("hmi-setpoints".into(), Action::Allow, None)));
    // The same write from the SCADA server (not an HMI) alerts, with the category's severity.
    let scada_write = modbus("10.0.1.5", "10.0.2.10", 6, 1, 4010, 1);
    assert_eq!(verdict(&r, &scada_write, 0), Some(("writes".into(), Action::Alert, Some(Severity::Medium))));
    // An HMI writing to the other PLC is not covered by the HMI rule.
    assert_eq!(rule_id(&r, &modbus("10.0.1.21", "10.0.2.20", 6, 1, 4010, 1), 0).as_deref(), Some("writes"));
    // Time sync from the SCADA is ignored; from an HMI it matches nothing.
    let sync = dnp3("10.0.1.5", "10.0.3.9", 24, &[]);
    assert_eq!(sync.category, Category::Time);
    assert_eq!(verdict(&r, &sync, 0), Some(("scada-time-sync".into(), Action::Ignore, None)));
    assert_eq!(verdict(&r, &dnp3("10.0.1.21", "10.0.3.9", 24, &[]), 0), None);
}

#[test]
fn allow_by_cidr() {
    let r = rules(PLANT);
    assert_eq!(rule_id(&r, &modbus("10.0.9.77", "10.0.2.10", 16, 3, 0, 10), 0).as_deref(), Some("lab-writes"));
    assert_eq!(rule_id(&r, &modbus("10.0.8.77", "10.0.2.10", 16, 3, 0, 10), 0).as_deref(), Some("writes"));
    // IPv4-mapped IPv6 addresses are the IPv4 address.
    assert_eq!(rule_id(&r, &modbus("::ffff:10.0.9.77", "10.0.2.10", 16, 3, 0, 10), 0).as_deref(), Some("lab-writes"));
    // Most specific asset wins for roles too: 10.0.1.21 is hmi-1, not the office network.
    assert_eq!(r.asset(ip("10.0.1.21")).unwrap().role, Role::Hmi);
    assert_eq!(r.asset(ip("10.0.7.1")).unwrap().name, "office");
    assert!(r.asset(ip("192.0.2.1")).is_none());
}

#[test]
fn address_ranges_must_contain_the_written_range() {
    let r = rules(PLANT);
    let write = |unit: u8, address: u16, quantity: u16| {
        let t = modbus("10.0.1.21", "10.0.2.10", 16, unit, address, quantity);
        rule_id(&r, &t, 0)
    };
    assert_eq!(write(1, 4000, 100).as_deref(), Some("hmi-setpoints"));
    assert_eq!(write(1, 4090, 10).as_deref(), Some("hmi-setpoints"));
    assert_eq!(write(1, 4090, 11).as_deref(), Some("writes"), "the range spills over 4099");
    assert_eq!(write(1, 3999, 2).as_deref(), Some("writes"));
    assert_eq!(write(2, 4000, 1).as_deref(), Some("writes"), "other unit");
    // FC 23: the written range is what counts, not the read range.
    let mut rw = modbus("10.0.1.21", "10.0.2.10", 23, 1, 0, 50);
    if let ProtocolDetail::Modbus(m) = &mut rw.detail {
        m.write_address = Some(4050);
        m.write_quantity = Some(10);
    }
    // FC 23 is not one of the HMI rule's functions: the category rule decides, and for an
    // alert touching is enough.
    assert_eq!(rule_id(&r, &rw, 0).as_deref(), Some("writes"));
    let narrow = rules(
        "version: 1\ncommands:\n  - {id: rw, function: read_write_multiple_registers, address: 4000-4099, action: allow}\n",
    );
    assert_eq!(rule_id(&narrow, &rw, 0).as_deref(), Some("rw"));

    // DNP3 points.
    assert_eq!(rule_id(&r, &dnp3("10.0.1.5", "10.0.3.9", 5, &[3, 15]), 0).as_deref(), Some("scada-breakers"));
    assert_eq!(rule_id(&r, &dnp3("10.0.1.5", "10.0.3.9", 5, &[3, 16]), 0).as_deref(), Some("writes"));
    assert_eq!(rule_id(&r, &dnp3("10.0.1.5", "10.0.4.9", 5, &[3]), 0).as_deref(), Some("writes"), "not an RTU");
}

#[test]
fn alert_targets_match_when_touched() {
    let r = rules(
        "version: 1
commands:
  - {id: safety-registers, protocol: modbus, category: write, address: 9000-9009, action: alert, severity: critical}
  - {id: safety-blocks, block: [OB1, DB10-20], action: alert}
",
    );
    let t = modbus("10.0.0.1", "10.0.0.2", 16, 1, 8995, 10);
    assert_eq!(verdict(&r, &t, 0), Some(("safety-registers".into(), Action::Alert, Some(Severity::Critical))));
    assert_eq!(verdict(&r, &modbus("10.0.0.1", "10.0.0.2", 16, 1, 8990, 10), 0), None);
    let insert = s7("10.0.0.1", "10.0.0.2", 0x1B, &[], &["FC3", "DB12"]);
    assert_eq!(verdict(&r, &insert, 0), Some(("safety-blocks".into(), Action::Alert, Some(Severity::Critical))));
    assert_eq!(verdict(&r, &s7("10.0.0.1", "10.0.0.2", 0x1B, &[], &["DB21", "OB35"]), 0), None);
}

#[test]
fn maintenance_window_with_time_zone_and_daylight_saving() {
    let r = rules(PLANT);
    let download = s7("10.0.1.50", "10.0.2.20", 0x1A, &[], &["OB1"]);
    // Winter time (UTC+1): 05:30Z is 06:30 in Berlin, inside; 04:30Z is 05:30, outside.
    assert_eq!(rule_id(&r, &download, MAR30_0530Z).as_deref(), Some("ews-program-window"));
    assert_eq!(
        verdict(&r, &download, MAR30_0430Z),
        Some(("program-change".into(), Action::Alert, Some(Severity::Critical)))
    );
    // Summer time (UTC+2): 04:30Z is 06:30 in Berlin, inside; 07:59Z is 09:59, inside; 08:00Z
    // is 10:00, the end, outside.
    assert_eq!(rule_id(&r, &download, OCT26_0430Z).as_deref(), Some("ews-program-window"));
    assert_eq!(rule_id(&r, &download, OCT26_0759Z).as_deref(), Some("ews-program-window"));
    assert_eq!(rule_id(&r, &download, OCT26_0800Z).as_deref(), Some("program-change"));
    // Friday, same time of day: outside.
    assert_eq!(rule_id(&r, &download, FRI_MAR29_0530Z).as_deref(), Some("program-change"));
    // In the window, but from another host.
    let other = s7("10.0.1.21", "10.0.2.20", 0x1A, &[], &["OB1"]);
    assert_eq!(rule_id(&r, &other, MAR30_0530Z).as_deref(), Some("program-change"));

    // A window across midnight belongs to the day it starts on: Friday 22:00 to Saturday 02:00.
    let night = rules(
        "version: 1\ncommands:\n  - {id: night, category: write, when: {days: [fri], time: 22:00-02:00, time_zone: UTC}, \
         action: allow}\n",
    );
    let w = modbus("10.0.0.1", "10.0.0.2", 6, 1, 0, 1);
    assert_eq!(rule_id(&night, &w, FRI_MAR29_0530Z + 17 * 3600).as_deref(), Some("night"), "Fri 22:30");
    assert_eq!(rule_id(&night, &w, MAR30_0530Z - 4 * 3600).as_deref(), Some("night"), "Sat 01:30");
    assert_eq!(rule_id(&night, &w, MAR30_0530Z - 3 * 3600).as_deref(), None, "Sat 02:30");
    assert_eq!(rule_id(&night, &w, MAR30_0530Z + 17 * 3600).as_deref(), None, "Sat 22:30");
}

#[test]
fn first_match_wins() {
    let text = "version: 1
commands:
  - {id: first, category: write, action: ignore}
  - {id: second, function: write_single_coil, action: alert}
";
    // `second` is narrower than `first`, with another action: a contradiction.
    assert!(errors(text)[0].contains("contradiction"));
    let r = rules(
        "version: 1
commands:
  - {id: coils, protocol: modbus, function: write_single_coil, action: alert, severity: low}
  - {id: any-write, category: write, action: alert, severity: high}
  - {id: unit-5, protocol: modbus, unit: 5, action: ignore}
",
    );
    assert_eq!(verdict(&r, &modbus("10.0.0.1", "10.0.0.2", 5, 5, 0, 1), 0).map(|v| v.0).as_deref(), Some("coils"));
    assert_eq!(verdict(&r, &modbus("10.0.0.1", "10.0.0.2", 6, 5, 0, 1), 0).map(|v| v.0).as_deref(), Some("any-write"));
    // Diagnostics on unit 5: the first rule that matches is the third.
    let diag = modbus("10.0.0.1", "10.0.0.2", 8, 5, 0, 1);
    assert_eq!(verdict(&r, &diag, 0).map(|v| v.0).as_deref(), Some("unit-5"));
    // Reads are not commands unless named: the catch-all on unit 5 leaves reads alone.
    assert_eq!(verdict(&r, &modbus("10.0.0.1", "10.0.0.2", 3, 5, 0, 1), 0), None);
}

#[test]
fn sensitive_reads() {
    let r = rules(PLANT);
    fn ctx(t: &Transaction) -> CommandCtx<'_> {
        CommandCtx { transaction: t, time_us: 0 }
    }
    let hmi_read = s7("10.0.1.21", "10.0.2.20", 0x04, &[105], &[]);
    let other_read = s7("10.0.0.99", "10.0.2.20", 0x04, &[105, 300], &[]);
    let plain_read = s7("10.0.0.99", "10.0.2.20", 0x04, &[300], &[]);
    assert!(r.sensitive_read(&ctx(&hmi_read)));
    assert_eq!(verdict(&r, &hmi_read, 0).map(|v| v.1), Some(Action::Allow));
    assert!(r.sensitive_read(&ctx(&other_read)));
    assert_eq!(verdict(&r, &other_read, 0), Some(("recipe-reads".into(), Action::Alert, Some(Severity::Medium))));
    assert!(!r.sensitive_read(&ctx(&plain_read)));
    assert_eq!(verdict(&r, &plain_read, 0), None);
    // A write is never a "sensitive read".
    let write = modbus("10.0.1.21", "10.0.2.10", 6, 1, 4010, 1);
    assert!(!r.sensitive_read(&ctx(&write)));
    // Modbus reads of a named range.
    let m = rules(
        "version: 1\ncommands:\n  - {id: secrets, category: read, protocol: modbus, address: 100-199, action: alert}\n",
    );
    assert!(m.sensitive_read(&ctx(&modbus("10.0.0.1", "10.0.0.2", 3, 1, 150, 10))));
    assert!(!m.sensitive_read(&ctx(&modbus("10.0.0.1", "10.0.0.2", 3, 1, 0, 10))));
}

#[test]
fn declared_jobs_and_thresholds() {
    let r = rules(&format!(
        "{PLANT}jobs:
  - id: scada-poll
    master: scada-1
    outstation: plc-1
    protocol: modbus
    function: read_holding_registers
    unit: 1
    address: 0-99
    period: 1s
    tolerance: 200ms
    stop_after: 10s
thresholds:
  - {{id: poll-responses, job: scada-poll, response_limit: 250ms}}
  - {{id: plc-2-slow, outstation: plc-2, response_limit: 2s}}
  - {{id: modbus, protocol: modbus, tolerance: 50ms, stop_after: 30s, response_limit: 500ms}}
  - {{id: dnp3-radio, protocol: dnp3, response_limit: 3s}}
"
    ));
    let jobs = r.declared_jobs();
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!(
        (j.id.as_str(), j.protocol, j.function_code, j.period_us, j.tolerance_us),
        ("scada-poll", "modbus", Some(3), 1_000_000, 200_000)
    );
    assert_eq!((j.stop_after_us, j.response_limit_us), (Some(10_000_000), Some(250_000)));
    assert_eq!(j.master.to_string(), "scada-1");

    let poll = modbus("10.0.1.5", "10.0.2.10", 3, 1, 0, 50);
    assert!(j.matches(&poll));
    assert!(!j.matches(&modbus("10.0.1.5", "10.0.2.10", 3, 1, 90, 20)), "outside 0-99");
    assert!(!j.matches(&modbus("10.0.1.21", "10.0.2.10", 3, 1, 0, 50)), "another master");
    assert!(!j.matches(&modbus("10.0.1.5", "10.0.2.10", 4, 1, 0, 50)), "another function");
    // The declared job's values, nothing from the protocol entry where the job sets it.
    let t = r.thresholds(&poll);
    assert_eq!(
        (t.tolerance_us, t.stop_after_us, t.response_limit_us),
        (Some(200_000), Some(10_000_000), Some(250_000))
    );
    // Another Modbus poll: the first matching entries, per value.
    let other = modbus("10.0.1.21", "10.0.2.20", 3, 1, 0, 50);
    let t = r.thresholds(&other);
    assert_eq!(
        (t.tolerance_us, t.stop_after_us, t.response_limit_us),
        (Some(50_000), Some(30_000_000), Some(2_000_000))
    );
    let t = r.thresholds(&dnp3("10.0.1.5", "10.0.3.9", 1, &[]));
    assert_eq!((t.tolerance_us, t.stop_after_us, t.response_limit_us), (None, None, Some(3_000_000)));
    assert_eq!(r.thresholds(&s7("10.0.1.5", "10.0.2.99", 4, &[1], &[])), sensor::rules::Thresholds::default());
}

fn alert(kind: AlertKind, rule_id: Option<&str>, anomaly: Option<&'static str>, src: &str, dst: &str) -> Alert {
    Alert {
        timestamp: Timestamp(0),
        flow: Some(flow(src, dst, 502)),
        app_proto: Some("modbus"),
        kind,
        severity: Severity::Medium,
        message: String::new(),
        job_id: Some(7),
        category: None,
        rule_id: rule_id.map(str::to_owned),
        anomaly,
        count: None,
    }
}

#[test]
fn suppression_lookup() {
    let r = rules(&format!(
        "{PLANT}suppress:
  - id: writes-hourly
    kind: rule_match
    rule_id: writes
    key: [rule_id, src_ip]
    max: 3
    per: 1h
  - id: modbus-anomalies
    anomaly: modbus.*
    dst: plc-1
    max: 1
    per: 10m
  - id: new-jobs
    kind: new_job
    severity: [low, medium]
    max: 1
    per: 1d
"
    ));
    let a = alert(AlertKind::RuleMatch, Some("writes"), None, "10.0.1.5", "10.0.2.10");
    let s = r.suppression(&a).unwrap();
    assert_eq!((s.id.as_str(), s.max, s.per_us), ("writes-hourly", 3, 3_600_000_000));
    assert_eq!(s.key(&a), "rule_id=writes|src_ip=10.0.1.5");
    assert!(r
        .suppression(&alert(AlertKind::RuleMatch, Some("program-change"), None, "10.0.1.5", "10.0.2.10"))
        .is_none());

    let anomaly = alert(AlertKind::ProtocolAnomaly, None, Some("modbus.invalid_length"), "10.0.9.1", "10.0.2.10");
    let s = r.suppression(&anomaly).unwrap();
    assert_eq!(s.id, "modbus-anomalies");
    assert_eq!(
        s.key(&anomaly),
        "kind=protocol_anomaly|rule_id=|anomaly=modbus.invalid_length|src_ip=10.0.9.1|dst_ip=10.0.2.10"
    );
    assert!(r
        .suppression(&alert(AlertKind::ProtocolAnomaly, None, Some("modbus.invalid_length"), "10.0.9.1", "10.0.2.20"))
        .is_none());
    assert!(r
        .suppression(&alert(AlertKind::ProtocolAnomaly, None, Some("dnp3.bad_crc"), "10.0.9.1", "10.0.2.10"))
        .is_none());

    let mut new_job = alert(AlertKind::NewJob, None, None, "10.0.1.5", "10.0.2.10");
    assert_eq!(r.suppression(&new_job).map(|s| s.id.as_str()), Some("new-jobs"));
    new_job.severity = Severity::High;
    assert!(r.suppression(&new_job).is_none());

    // The shipped default: one anomaly alert per anomaly and host pair per 10 minutes.
    let d = RuleSet::defaults();
    let s = d.suppression(&anomaly).unwrap();
    assert_eq!((s.max, s.per_us), (1, 600_000_000));
    assert_eq!(s.key(&anomaly), "anomaly=modbus.invalid_length|src_ip=10.0.9.1|dst_ip=10.0.2.10");
}

#[test]
fn user_ids_must_not_clash_with_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.yaml");
    std::fs::write(&path, "version: 1\nsuppress:\n  - {id: default.anomaly-flood, kind: new_job, max: 1, per: 1h}\n")
        .unwrap();
    let e = RuleSet::load_with_defaults(&path).unwrap_err();
    let line = sensor::rules::DEFAULT_TEXT.lines().position(|l| l.contains("id: default.anomaly-flood")).unwrap() + 1;
    assert_eq!(
        e[0].to_string(),
        format!(
            "{}:3:10: duplicate id `default.anomaly-flood`: already used at rules/default.yaml:{line} (shipped \
             defaults)",
            path.display()
        )
    );
    // Alone, the same file is fine.
    assert!(RuleSet::load(&path).is_ok());
}

#[test]
fn rule_sets_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<RuleSet>();
    shareable::<std::sync::Arc<RuleSet>>();
}

/// Every key the format accepts is documented in rules/README.md.
#[test]
fn readme_documents_every_key() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/README.md")).unwrap();
    let sections = [
        "zzzz: 1\n",
        "assets:\n  - {name: a, role: plc, address: 10.0.0.1, zzzz: 1}\n",
        "commands:\n  - {id: a, action: alert, zzzz: 1}\n",
        "commands:\n  - {id: a, action: alert, when: {zzzz: 1}}\n",
        "jobs:\n  - {id: a, zzzz: 1}\n",
        "thresholds:\n  - {id: a, zzzz: 1}\n",
        "suppress:\n  - {id: a, zzzz: 1}\n",
    ];
    for section in sections {
        let e = error(&format!("version: 1\n{section}"));
        let keys = e.split("expected one of ").nth(1).unwrap_or_else(|| panic!("{e}"));
        for key in keys.split(", ") {
            assert!(readme.contains(&format!("`{key}`")), "rules/README.md does not document `{key}`");
        }
    }
}
