//! The eval crate's error type and its exit codes.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

/// Everything that can go wrong while evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`read`, `write`).
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An input file is not in its expected format.
    #[error("{}:{line}: {message}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when not line-oriented).
        line: u64,
        /// What was expected and what to do.
        message: String,
    },
    /// A JSON input does not parse.
    #[error("{}: {message}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the file should be.
        message: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A CSV input does not parse.
    #[error("{}: not a valid CSV file: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// An `[eval]` setting is invalid.
    #[error("config [eval].{key}: {message}")]
    Config {
        /// The key, e.g. `gates.mia_auc.threshold`.
        key: String,
        /// What was expected.
        message: String,
    },
    /// The model failed to load or run.
    #[error("model: {0}")]
    Model(#[from] sealtune_model::ModelError),
    /// The PII detector, key or fingerprints failed.
    #[error("pii: {0}")]
    Pii(#[from] sealtune_pii::PiiError),
}

impl ExitStatus for EvalError {
    /// The sealtune exit code for this error (see DESIGN.md).
    fn exit(&self) -> Exit {
        match self {
            EvalError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => Exit::NoInput,
                std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
                _ => Exit::IoErr,
            },
            EvalError::Data { .. } | EvalError::Json { .. } | EvalError::Csv { .. } => {
                Exit::DataErr
            }
            EvalError::Config { .. } => Exit::Config,
            EvalError::Model(e) => e.exit(),
            EvalError::Pii(e) => e.exit(),
        }
    }
}

/// Result with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })
}
