//! Progress reporting: human lines on stderr, and with `--json` one JSON object
//! per line on stdout.
//!
//! Every JSON event has the envelope `{"type": TYPE, "data": {...}}`. Types:
//!
//! | type | data |
//! |---|---|
//! | `run_start` | `run_id`, `run_dir`, `config`, `config_sha256`, `stages` (planned, in order) |
//! | `stage_start` | `stage`, `key` |
//! | `stage_skipped` | `stage`, `key`, `reason` |
//! | `stage_progress` | `stage`, `done`, `total` (may be null), `unit` |
//! | `stage_end` | `stage`, `key`, `duration_s`, `outputs` (path → sha256), `summary` |
//! | `stage_failed` | `stage`, `exit_code`, `error` |
//! | `stage_interrupted` | `stage` |
//! | `warning` | `message` |
//! | `run_end` | `exit_code`, `duration_s` |
//!
//! Consumers must ignore types and fields they do not know: new ones are added
//! without a version bump; existing ones keep their meaning.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde_json::{Value, json};

/// Where events go.
#[derive(Debug)]
pub struct Events {
    json: bool,
    quiet: bool,
    stdout: Mutex<std::io::Stdout>,
    tty: bool,
}

impl Events {
    /// `json`: emit JSON Lines on stdout. `quiet`: no human progress lines.
    pub fn new(json: bool, quiet: bool) -> Events {
        Events {
            json,
            quiet,
            stdout: Mutex::new(std::io::stdout()),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Whether stderr is a terminal (progress bars are drawn only then).
    pub fn stderr_is_tty(&self) -> bool {
        self.tty && !self.quiet
    }

    /// Emit one event. `human` is the stderr line, if any.
    pub fn emit(&self, kind: &str, data: Value, human: Option<String>) {
        if self.json {
            let line = json!({ "type": kind, "data": data }).to_string();
            if let Ok(mut out) = self.stdout.lock() {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
        if let Some(h) = human.filter(|_| !self.quiet) {
            eprintln!("{h}");
        }
    }

    /// A warning, always shown on stderr.
    pub fn warn(&self, message: &str) {
        if self.json {
            self.emit("warning", json!({ "message": message }), None);
        }
        eprintln!("warning: {message}");
    }
}
