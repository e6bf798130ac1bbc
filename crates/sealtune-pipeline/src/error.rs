//! The error a stage or the engine reports, with exactly one exit code.

use std::fmt;
use std::path::Path;

use crate::config::ConfigError;
use sealtune_contract::{Exit, ExitStatus};

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a stage or from the engine. The message says what went wrong,
/// where (file and line, or config key) and what to do; [`StageError::exit`]
/// is the process exit status it maps to.
#[derive(Debug)]
pub struct StageError {
    exit: Exit,
    message: String,
    source: Option<Source>,
}

impl StageError {
    /// An error with an explicit exit status.
    pub fn new(exit: Exit, message: impl Into<String>) -> StageError {
        StageError {
            exit,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl Into<Source>) -> StageError {
        self.source = Some(source.into());
        self
    }

    /// Malformed input data (65).
    pub fn data(message: impl Into<String>) -> StageError {
        StageError::new(Exit::DataErr, message)
    }

    /// A missing input (66).
    pub fn missing(message: impl Into<String>) -> StageError {
        StageError::new(Exit::NoInput, message)
    }

    /// An internal error (70).
    pub fn internal(message: impl Into<String>) -> StageError {
        StageError::new(Exit::Software, message)
    }

    /// Interrupted by a signal at a safe point (75).
    pub fn interrupted() -> StageError {
        StageError::new(
            Exit::TempFail,
            "interrupted by a signal; no partial output was kept; run the same command again to continue",
        )
    }

    /// An I/O error on `path` while doing `what`. A missing file maps to 66,
    /// a permission problem to 77, anything else to 74.
    pub fn io(what: &str, path: &Path, e: std::io::Error) -> StageError {
        let exit = match e.kind() {
            std::io::ErrorKind::NotFound => Exit::NoInput,
            std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
            _ => Exit::IoErr,
        };
        StageError::new(exit, format!("{}: {what}: {e}", path.display())).with_source(e)
    }

    /// Could not create an output at `path` (73).
    pub fn cant_create(path: &Path, e: std::io::Error) -> StageError {
        StageError::new(
            Exit::CantCreate,
            format!("{}: cannot create: {e}", path.display()),
        )
        .with_source(e)
    }

    /// A library error as a stage error: its own exit status, its message with every
    /// cause (see [`sealtune_contract::with_causes`]), and the error kept as the source.
    pub fn from_error<E>(e: E) -> StageError
    where
        E: ExitStatus + Send + Sync + 'static,
    {
        StageError::new(e.exit(), sealtune_contract::with_causes(&e)).with_source(e)
    }

    /// The process exit status for this error.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The message without the cause chain.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl ExitStatus for StageError {
    fn exit(&self) -> Exit {
        self.exit
    }
}

impl ExitStatus for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Config
    }
}

impl From<ConfigError> for StageError {
    fn from(e: ConfigError) -> StageError {
        StageError::new(e.exit(), e.to_string())
    }
}

impl ExitStatus for crate::lock::LockError {
    fn exit(&self) -> Exit {
        match self {
            crate::lock::LockError::Io { .. } => Exit::CantCreate,
            crate::lock::LockError::Unsupported { .. } => Exit::Config,
            _ => Exit::TempFail,
        }
    }
}

impl From<crate::lock::LockError> for StageError {
    fn from(e: crate::lock::LockError) -> StageError {
        StageError::new(e.exit(), e.to_string())
    }
}

impl ExitStatus for crate::audit::AuditError {
    fn exit(&self) -> Exit {
        match self {
            crate::audit::AuditError::Io { .. } => Exit::IoErr,
            _ => Exit::DataErr,
        }
    }
}

impl From<crate::audit::AuditError> for StageError {
    fn from(e: crate::audit::AuditError) -> StageError {
        let exit = e.exit();
        StageError::new(
            exit,
            format!(
                "{e}. sealtune appends only to an intact log: restore audit.jsonl from a backup, or keep this run directory as evidence and start the run in a new one (`sealtune audit --run-dir DIR` shows the first bad entry)"
            ),
        )
    }
}
