//! Every input that once crashed jobwatch (fuzzing finds them; see fuzz/README.md) stays here as
//! a regression: `tests/regressions/*` are replayed through the real binary, which must exit 0
//! or 2 (input error) without a panic, writing only valid JSON events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

#[test]
fn former_crashes_are_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no regression inputs in {}", dir.display());
    for input in inputs {
        let out = Command::new(env!("CARGO_BIN_EXE_jobwatch")).arg("-r").arg(&input).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(matches!(code, Some(0) | Some(2)), "{}: exit {code:?}, stderr: {stderr}", input.display());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", input.display());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut events = 0;
        for line in stdout.lines() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(event["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
            events += 1;
        }
        // The final stats event is always written, whatever the input.
        assert!(events >= 1, "{}: no events", input.display());
    }
}
