//! `docs/CLASSIFICATION.md` is rendered from the classification tables. Run with
//! `UPDATE_CLASSIFICATION=1` to regenerate it; otherwise the committed file must match.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn classification_doc_is_current() {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "docs", "CLASSIFICATION.md"].iter().collect();
    let rendered = dissectors::classify::render_markdown();
    if std::env::var_os("UPDATE_CLASSIFICATION").is_some_and(|v| v == "1") {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{} is out of date; regenerate it with \
         `UPDATE_CLASSIFICATION=1 cargo test -p jobwatch-dissectors --test classification`",
        path.display()
    );
}

#[test]
fn every_row_is_rendered() {
    let rendered = dissectors::classify::render_markdown();
    for (_, table) in dissectors::classify::modbus::tables() {
        for info in table {
            assert!(rendered.contains(&format!("`{}`", info.name)), "{}", info.name);
        }
    }
}
