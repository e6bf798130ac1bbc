//! The release stage's error type.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

use sealtune_pipeline::StageError;

/// Why the release stage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// An eval gate failed and was not accepted: nothing is sealed (exit 3).
    #[error("release refused, nothing was sealed: {0}")]
    GateFailed(String),
    /// An input the release needs is missing.
    #[error("{path}: missing: {what}")]
    Missing {
        /// The missing path.
        path: PathBuf,
        /// Why it is needed and how to produce it.
        what: String,
    },
    /// An input does not follow its contract.
    #[error("{path}: {reason}")]
    BadInput {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {what}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Sealing, keys or signing failed.
    #[error(transparent)]
    Seal(#[from] sealtune_seal::SealError),
    /// A provenance statement could not be signed.
    #[error("signing a provenance statement failed")]
    Signature(#[from] sealtune_seal::dsse::SignatureError),
    /// The card could not be written.
    #[error(transparent)]
    Card(#[from] sealtune_card::CardError),
}

impl ExitStatus for ReleaseError {
    /// Exit code following DESIGN.md: 3 gate failed, 65 bad input, 66
    /// missing input, 74 I/O, and the seal and card errors' own codes.
    fn exit(&self) -> Exit {
        match self {
            Self::GateFailed(_) => Exit::GateFailed,
            Self::Missing { .. } => Exit::NoInput,
            Self::BadInput { .. } => Exit::DataErr,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Exit::NoInput
            }
            Self::Io { .. } => Exit::IoErr,
            Self::Seal(e) => e.exit(),
            Self::Signature(e) => e.exit(),
            Self::Card(e) => e.exit(),
        }
    }
}

impl From<ReleaseError> for StageError {
    fn from(e: ReleaseError) -> StageError {
        StageError::from_error(e)
    }
}
