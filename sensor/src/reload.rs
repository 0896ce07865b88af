//! Hot reload of the rules in live capture: on SIGHUP, and when a rules file changes (checked
//! once a second by modification time and size). The new files are validated first; good
//! ones replace the rules in force at once (between two packets), a bad one keeps the old
//! rules running and raises a `sensor_health` alert naming the first problem.

use crate::event::Alert;
use crate::monitor::Monitor;
use crate::rules::RuleSet;
use dissectors::Severity;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// What a rules path looks like on disk: each YAML file with its modification time and size.
type Snapshot = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn snapshot(path: &Path) -> Snapshot {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (p, modified, len)
        })
        .collect()
}

/// Watches the user's rules path and the SIGHUP flag.
#[derive(Debug)]
pub struct RulesReloader {
    path: Option<PathBuf>,
    hangup: Arc<AtomicBool>,
    seen: Snapshot,
}

impl RulesReloader {
    /// `path`: the `--rules` path (none: only SIGHUP, which reloads the shipped defaults).
    pub fn new(path: Option<PathBuf>, hangup: Arc<AtomicBool>) -> RulesReloader {
        let seen = path.as_deref().map(snapshot).unwrap_or_default();
        RulesReloader { path, hangup, seen }
    }

    /// Reloads when asked (SIGHUP) or when the files changed.
    pub fn poll(&mut self, monitor: &mut Monitor) {
        let asked = self.hangup.swap(false, Ordering::Relaxed);
        let now = self.path.as_deref().map(snapshot).unwrap_or_default();
        let changed = now != self.seen;
        if !asked && !changed {
            return;
        }
        self.seen = now;
        let loaded = match &self.path {
            None => Ok(RuleSet::defaults()),
            Some(path) => RuleSet::load_with_defaults(path),
        };
        let ts = monitor.now().unwrap_or_default();
        match loaded {
            Ok(rules) => {
                monitor.set_rules(Arc::new(rules));
                eprintln!("jobwatch: rules reloaded");
            }
            Err(problems) => {
                let first = problems.first().map(ToString::to_string).unwrap_or_default();
                let more =
                    if problems.len() > 1 { format!(" (and {} more)", problems.len() - 1) } else { String::new() };
                monitor.raise(Alert::sensor_health(
                    ts,
                    Severity::High,
                    "sensor.rules_reload_failed",
                    format!("The rules were not reloaded, the previous ones stay in force: {first}{more}"),
                ));
                eprintln!("jobwatch: rules not reloaded: {first}{more}");
            }
        }
    }
}
