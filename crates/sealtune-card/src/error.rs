//! The error type of the card crate.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

/// Why a card, a BOM or an attestation could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The run directory does not exist.
    #[error("{path}: run directory not found; pass the directory a `sealtune run` wrote")]
    RunDirMissing {
        /// The directory given.
        path: PathBuf,
    },
    /// A required input (such as `release/model.sig` for an attestation) is missing.
    #[error("{path}: not found: {what}")]
    Missing {
        /// The missing file.
        path: PathBuf,
        /// What it is needed for and how to produce it.
        what: String,
    },
    /// An artifact exists but does not follow its contract (docs/CONTRACTS.md).
    #[error(
        "{path}: {reason}; the artifact is corrupt or from another version: rerun the stage that wrote it"
    )]
    Artifact {
        /// The artifact.
        path: PathBuf,
        /// What is wrong (field and expectation, never record content).
        reason: String,
    },
    /// Reading a file failed.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing an output failed.
    #[error("{path}: cannot write")]
    Write {
        /// The output.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An output already exists and is never overwritten (attestations).
    #[error("{path}: already exists; attestations are never overwritten")]
    Exists {
        /// The output.
        path: PathBuf,
    },
    /// Regenerating the card inside a signed release directory would break its signature.
    #[error(
        "{path}: is a signed release directory; write the regenerated card elsewhere (e.g. <run>/card)"
    )]
    SignedDir {
        /// The directory.
        path: PathBuf,
    },
    /// Loading the signing key or signing failed.
    #[error("signing failed")]
    Seal(#[from] sealtune_seal::SealError),
    /// The DSSE signature could not be made.
    #[error("signing the statement failed")]
    Signature(#[from] sealtune_seal::dsse::SignatureError),
    /// A plot could not be drawn.
    #[error("drawing the {plot} plot failed: {reason}")]
    Plot {
        /// Which plot.
        plot: &'static str,
        /// What the plotting library said.
        reason: String,
    },
    /// A command-line value is not one of the allowed ones.
    #[error("{what}: {found:?} is not allowed; use {allowed}")]
    BadValue {
        /// What the value is for.
        what: &'static str,
        /// The value given.
        found: String,
        /// The allowed values.
        allowed: &'static str,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CardError {
    pub(crate) fn artifact(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Artifact {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl ExitStatus for CardError {
    /// Exit code following DESIGN.md: 64 bad command-line value, 65 corrupt artifact, 66 missing input,
    /// 70 internal, 73 cannot create, 74 I/O, 77 key error.
    fn exit(&self) -> Exit {
        match self {
            Self::RunDirMissing { .. } | Self::Missing { .. } => Exit::NoInput,
            Self::Artifact { .. } => Exit::DataErr,
            Self::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Exit::NoInput
            }
            Self::Read { .. } => Exit::IoErr,
            Self::Write { .. } | Self::Exists { .. } | Self::SignedDir { .. } => Exit::CantCreate,
            Self::Seal(e) => e.exit(),
            Self::Signature(e) => e.exit(),
            Self::BadValue { .. } => Exit::Usage,
            Self::Plot { .. } | Self::Internal(_) => Exit::Software,
        }
    }
}
