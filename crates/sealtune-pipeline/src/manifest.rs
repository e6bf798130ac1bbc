//! Stage manifests and the run's `status.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::Head;
use crate::fsutil::{FileDigest, sha256_file, sha256_hex};

/// Schema identifier of [`Manifest`].
pub const MANIFEST_SCHEMA: &str = sealtune_contract::artifacts::run::MANIFEST_SCHEMA;
/// Schema identifier of [`Status`].
pub const STATUS_SCHEMA: &str = sealtune_contract::artifacts::run::STATUS_SCHEMA;

/// An external input file and its digest at the time the key was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalInput {
    /// The path as resolved from the config.
    pub path: String,
    /// Its digest.
    #[serde(flatten)]
    pub digest: FileDigest,
}

/// `<stage>/manifest.json`: written last, so its presence means the stage's
/// outputs are complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Stage name.
    pub stage: String,
    /// The stage key the outputs were produced under.
    pub key: String,
    /// The stage's code version.
    pub code_version: String,
    /// The sealtune version that wrote it.
    pub sealtune_version: String,
    /// Start time (RFC 3339 UTC).
    pub started: String,
    /// End time (RFC 3339 UTC).
    pub finished: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// Upstream stage → its `outputs_digest`.
    pub upstream: BTreeMap<String, String>,
    /// External input files.
    pub external: Vec<ExternalInput>,
    /// Output files (relative to the stage directory) → digest.
    pub outputs: BTreeMap<String, FileDigest>,
    /// Digest over all outputs: identifies this stage's result for downstream keys.
    pub outputs_digest: String,
    /// Stage-specific summary (counts, metrics).
    pub summary: serde_json::Value,
    /// The audit log's head after this stage's `stage.start` entry: an anchor
    /// the log must keep (see [`crate::audit::Anchor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<Head>,
}

/// The combined digest of a set of outputs.
pub fn outputs_digest(outputs: &BTreeMap<String, FileDigest>) -> String {
    let mut s = String::new();
    for (p, d) in outputs {
        s.push_str(p);
        s.push('\0');
        s.push_str(&d.sha256);
        s.push('\n');
    }
    sha256_hex(s.as_bytes())
}

impl Manifest {
    /// Read `dir/manifest.json`; `None` when absent or unreadable.
    pub fn read(dir: &Path) -> Option<Manifest> {
        let bytes = std::fs::read(dir.join("manifest.json")).ok()?;
        let m: Manifest = serde_json::from_slice(&bytes).ok()?;
        (m.schema == MANIFEST_SCHEMA).then_some(m)
    }

    /// Check that every listed output still has its digest and that no other
    /// file appeared. Returns the first mismatch.
    pub fn verify_outputs(&self, dir: &Path) -> Result<(), OutputsChanged> {
        for (rel, want) in &self.outputs {
            let path = dir.join(rel);
            match sha256_file(&path) {
                Ok(got) if got == *want => {}
                Ok(_) => return Err(OutputsChanged::Modified { path }),
                Err(source) => return Err(OutputsChanged::Unreadable { path, source }),
            }
        }
        if let Ok(files) = crate::fsutil::list_files(dir) {
            for f in files {
                if f != "manifest.json" && !self.outputs.contains_key(&f) {
                    return Err(OutputsChanged::Extra { path: dir.join(f) });
                }
            }
        }
        Ok(())
    }
}

/// How a stage's committed outputs differ from its manifest (the stage shows as stale).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputsChanged {
    /// A file's digest is not the recorded one.
    #[error("{} was modified after the stage wrote it", path.display())]
    Modified {
        /// The file.
        path: PathBuf,
    },
    /// A recorded file cannot be read (or is gone).
    #[error("{}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is there that the stage did not write.
    #[error("{} is not an output of this stage", path.display())]
    Extra {
        /// The file.
        path: PathBuf,
    },
}

/// `status.json` is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusFileError {
    /// It cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It is not a status file (its own text, written by sealtune: no record content).
    #[error("{}: not a valid status file: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The state of a stage, as `sealtune status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Never run in this run directory.
    NotStarted,
    /// Running now (the run lock is held).
    Running,
    /// Ran and completed.
    Done,
    /// Was up to date and skipped on the last run.
    Skipped,
    /// Failed; see `error`.
    Failed,
    /// Stopped by a signal, or its process died.
    Interrupted,
    /// Completed, but its config, inputs or outputs changed since: it will rerun.
    Stale,
}

impl State {
    /// The name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            State::NotStarted => "not started",
            State::Running => "running",
            State::Done => "done",
            State::Skipped => "skipped",
            State::Failed => "failed",
            State::Interrupted => "interrupted",
            State::Stale => "stale",
        }
    }
}

/// One stage's entry in `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStatus {
    /// State at the last transition.
    pub state: State,
    /// Stage key of the last attempt.
    #[serde(default)]
    pub key: Option<String>,
    /// Start of the last attempt.
    #[serde(default)]
    pub started: Option<String>,
    /// End of the last attempt.
    #[serde(default)]
    pub finished: Option<String>,
    /// Wall time of the last completed run, seconds.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Output digest of the completed result.
    #[serde(default)]
    pub outputs_digest: Option<String>,
    /// Error message of a failed attempt.
    #[serde(default)]
    pub error: Option<String>,
    /// Exit code of a failed attempt.
    #[serde(default)]
    pub exit_code: Option<u8>,
}

impl StageStatus {
    /// A stage that never ran.
    pub fn not_started() -> StageStatus {
        StageStatus {
            state: State::NotStarted,
            key: None,
            started: None,
            finished: None,
            duration_s: None,
            outputs_digest: None,
            error: None,
            exit_code: None,
        }
    }
}

/// The config a run directory was last used with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRef {
    /// Path as given on the command line (absolute when possible).
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// `status.json`: machine-readable state of every stage, kept current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Always [`STATUS_SCHEMA`].
    pub schema: String,
    /// Run identifier.
    pub run_id: String,
    /// The config last used.
    pub config: Option<ConfigRef>,
    /// Last update (RFC 3339 UTC).
    pub updated: String,
    /// Head of the audit log after the last entry, to detect truncation.
    pub audit_head: Option<Head>,
    /// Stage name → state.
    pub stages: BTreeMap<String, StageStatus>,
}

impl Status {
    /// Read `dir/status.json`; `None` when absent or unreadable (see
    /// [`Status::read_checked`] to tell the two apart).
    pub fn read(dir: &Path) -> Option<Status> {
        Status::read_checked(dir).ok().flatten()
    }

    /// Read `dir/status.json`: `Ok(None)` when absent, `Err` (what is wrong)
    /// when present but not a valid status file.
    pub fn read_checked(dir: &Path) -> Result<Option<Status>, StatusFileError> {
        let path = dir.join("status.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StatusFileError::Read { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StatusFileError::Invalid { path, source })
    }

    /// Write `dir/status.json` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        // Strings, numbers and maps with string keys: serialization cannot fail.
        let bytes = serde_json::to_vec_pretty(self).expect("status is plain JSON data");
        crate::fsutil::atomic_write(&dir.join("status.json"), &bytes)
    }
}
