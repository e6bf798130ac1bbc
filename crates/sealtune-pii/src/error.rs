//! The crate's error type and its mapping to sealtune exit codes.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

/// Everything that can go wrong while configuring or running the masker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PiiError {
    /// A `[mask]` setting is invalid.
    #[error("config [mask].{key}: {message}")]
    Config {
        /// The offending key, e.g. `recognizers[2].pattern`.
        key: String,
        /// What was expected and what to do.
        message: String,
    },
    /// A custom recognizer's regular expression does not compile.
    #[error("config [mask].recognizers[{index}].pattern: invalid regex, fix the pattern")]
    Regex {
        /// Index of the recognizer in the config.
        index: usize,
        /// The regex compiler's error. Deliberately not the error's `source`: its text
        /// quotes the pattern, a config value, and sealtune prints every cause in a
        /// chain (`sealtune_contract::with_causes`).
        compile: regex::Error,
    },
    /// The masking key is missing, empty or too short.
    #[error("masking key: {0}")]
    Key(String),
    /// A record is not of the expected shape (e.g. a masked field is not a string).
    #[error("record {record}: {message}")]
    Record {
        /// Record position or id.
        record: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A detect-mode input line is not `{"id":..., "text":...}`.
    #[error("line {line}: {reason}; expected a JSON object {{\"id\":..., \"text\": string}}")]
    DetectLine {
        /// 1-based line number.
        line: u64,
        /// What is wrong, in our words: never the JSON parser's message,
        /// which can quote the line.
        reason: String,
    },
    /// A line of a JSON Lines input cannot be masked (`sealtune mask`).
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong, in our words (never the record's content).
        reason: String,
    },
    /// A fingerprint file is truncated, tampered with or not a fingerprint file.
    #[error("{}: corrupt fingerprint file: {message}", path.display())]
    CorruptFingerprints {
        /// The file.
        path: PathBuf,
        /// What check failed.
        message: String,
    },
    /// Masking was asked to stop (SIGINT/SIGTERM) before it finished.
    #[error("interrupted")]
    Interrupted,
    /// Reading or writing a file failed.
    #[error("{}: {action}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ExitStatus for PiiError {
    /// The sealtune exit code for this error (see DESIGN.md).
    fn exit(&self) -> Exit {
        match self {
            PiiError::Config { .. } | PiiError::Regex { .. } => Exit::Config,
            PiiError::Key(_) => Exit::NoPerm,
            PiiError::Interrupted => Exit::TempFail,
            PiiError::Record { .. }
            | PiiError::DetectLine { .. }
            | PiiError::Line { .. }
            | PiiError::CorruptFingerprints { .. } => Exit::DataErr,
            PiiError::Io { source, action, .. } => match source.kind() {
                std::io::ErrorKind::NotFound if *action == "read" || *action == "open" => {
                    Exit::NoInput
                }
                std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
                _ if *action == "create" => Exit::CantCreate,
                _ => Exit::IoErr,
            },
        }
    }
}
