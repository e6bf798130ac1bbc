//! Error types: [`FormatError`] for the sealed-file format itself and
//! [`SealError`] for the file-level operations the CLI calls.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

/// What went wrong while reading or writing the sealed format.
///
/// The variants are grouped by [`FormatError::category`] so that test vectors
/// and callers can tell a damaged header from a wrong key from a damaged body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with the sealtune magic bytes.
    #[error("not a sealtune sealed file (bad magic bytes)")]
    BadMagic,
    /// The header length field is zero or above the limit.
    #[error("header length {len} is outside 1..={max} bytes")]
    HeaderLength {
        /// Length read from the file.
        len: u32,
        /// Largest accepted length.
        max: u32,
    },
    /// The JSON header could not be parsed or has an invalid value.
    #[error("invalid header: {reason}")]
    HeaderInvalid {
        /// What is wrong with the header.
        reason: String,
    },
    /// The header names a format version this build does not read.
    #[error("unsupported format version {found} (this build reads version 1)")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u64,
    },
    /// The file ended inside the header or the commitment.
    #[error("file ends inside the header")]
    TruncatedHeader,
    /// None of the supplied keys unwrapped any recipient's data key.
    #[error(
        "no supplied key opens this file: wrong KEK, wrong passphrase or KMS refused \
         ({tried} recipient(s) tried)"
    )]
    NoMatchingRecipient {
        /// How many recipient entries were tried.
        tried: usize,
    },
    /// A data key was unwrapped but the key commitment does not match: the
    /// header was edited or belongs to another file.
    #[error("key commitment mismatch: the header was modified or belongs to another file")]
    CommitmentMismatch,
    /// A chunk failed AES-GCM authentication (flipped byte, reordered or
    /// duplicated chunk).
    #[error("chunk {index} failed authentication (modified, reordered or duplicated data)")]
    ChunkAuthentication {
        /// Zero-based index of the first chunk that failed.
        index: u64,
    },
    /// The file ended before the last chunk.
    #[error("file is truncated: expected {expected} bytes of chunks, found {found}")]
    Truncated {
        /// Encrypted body length implied by the header.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// Bytes follow the last chunk.
    #[error("unexpected data after the last chunk")]
    TrailingData,
    /// The input being encrypted changed size while it was read.
    #[error("input length changed while encrypting: expected {expected} bytes")]
    InputChanged {
        /// Length announced before encryption started.
        expected: u64,
    },
    /// Encryption was asked for with no recipient.
    #[error("no recipient given: add at least one KEK file, passphrase or KMS command")]
    NoRecipients,
    /// Argon2 parameters are out of the accepted range.
    #[error("Argon2id parameters rejected: {reason}")]
    Argon2Params {
        /// Why the parameters were refused.
        reason: String,
    },
    /// The external KMS command failed.
    #[error("KMS command `{program}` {op} failed: {reason}")]
    Kms {
        /// Program that was run.
        program: String,
        /// `wrap` or `unwrap`.
        op: &'static str,
        /// Exit status, stderr tail or I/O problem.
        reason: String,
    },
    /// Reading or writing the underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
    /// A cryptographic primitive failed where it cannot fail with valid input.
    #[error("internal cryptographic error: {0}")]
    Internal(&'static str),
}

/// Broad class of a [`FormatError`], used by test vectors (`expect: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCategory {
    /// The header is malformed, unsupported or was modified.
    Header,
    /// No supplied key unwraps the data key.
    Key,
    /// The encrypted chunks are damaged, truncated, reordered or extended.
    Payload,
    /// Anything else (I/O, configuration, internal).
    Other,
}

impl FormatError {
    /// Which broad class of failure this is.
    pub fn category(&self) -> FailureCategory {
        match self {
            Self::BadMagic
            | Self::HeaderLength { .. }
            | Self::HeaderInvalid { .. }
            | Self::UnsupportedVersion { .. }
            | Self::TruncatedHeader
            | Self::CommitmentMismatch => FailureCategory::Header,
            Self::NoMatchingRecipient { .. } | Self::Kms { .. } => FailureCategory::Key,
            Self::ChunkAuthentication { .. } | Self::Truncated { .. } | Self::TrailingData => {
                FailureCategory::Payload
            }
            Self::InputChanged { .. }
            | Self::NoRecipients
            | Self::Argon2Params { .. }
            | Self::Io(_)
            | Self::Internal(_) => FailureCategory::Other,
        }
    }
}

impl ExitStatus for FormatError {
    /// Exit code following DESIGN.md.
    fn exit(&self) -> Exit {
        match self {
            Self::NoMatchingRecipient { .. } | Self::Kms { .. } => Exit::NoPerm,
            Self::NoRecipients | Self::Argon2Params { .. } => Exit::Config,
            Self::Io(_) | Self::InputChanged { .. } => Exit::IoErr,
            Self::Internal(_) => Exit::Software,
            _ => Exit::DataErr,
        }
    }
}

impl From<std::io::Error> for FormatError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// One way in which a signed directory differs from its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// A file is present that the signature does not cover.
    Extra(String),
    /// A signed file (or shard) is missing.
    Missing(String),
    /// A file (or shard) has a different SHA-256 than signed.
    Digest {
        /// Resource name (`path` or `path:start:end`).
        name: String,
        /// Digest recorded in the signature (hex).
        expected: String,
        /// Digest of the local bytes (hex).
        actual: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Extra(n) => write!(f, "{n}: present but not signed"),
            Self::Missing(n) => write!(f, "{n}: signed but missing"),
            Self::Digest {
                name,
                expected,
                actual,
            } => write!(f, "{name}: sha256 {actual} but signed {expected}"),
        }
    }
}

/// Errors of the file-level operations (keygen, seal, unseal, sign, verify).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// An input file or directory does not exist.
    #[error("{path}: not found; check the path")]
    NotFound {
        /// Missing path.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{path}: I/O error")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An output file could not be created (exists already, or no permission).
    #[error("{path}: cannot create output; remove it or choose another path")]
    CreateOutput {
        /// Output path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A private key or KEK file can be read by group or others.
    #[error("{path}: mode {mode:04o} lets group/others read this secret; run `chmod 600` on it")]
    InsecurePermissions {
        /// Key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file is malformed.
    #[error("{path}: invalid key file: {reason}")]
    InvalidKey {
        /// Key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A recipient or key option is invalid.
    #[error("{field}: {reason}")]
    Config {
        /// Config key or option name.
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A sealed file failed to encrypt, decrypt or verify.
    #[error("{path}: {source}")]
    Sealed {
        /// Sealed file (or its plaintext input when encrypting).
        path: PathBuf,
        /// What failed.
        #[source]
        source: FormatError,
    },
    /// The signature bundle is not a valid OMS v1.0 bundle.
    #[error("{path}: invalid signature bundle: {reason}")]
    BundleInvalid {
        /// Bundle file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The signature does not verify with the given public key.
    #[error("{path}: signature does not verify with public key {public_key}: {reason}")]
    BadSignature {
        /// Bundle or envelope file.
        path: PathBuf,
        /// Public key file used.
        public_key: PathBuf,
        /// Which check failed.
        reason: String,
    },
    /// The directory content does not match the signed manifest.
    #[error("{dir}: content does not match the signature: {}", list(.mismatches))]
    ContentMismatch {
        /// Signed directory.
        dir: PathBuf,
        /// Every difference found.
        mismatches: Vec<Mismatch>,
    },
    /// The directory holds something that cannot be signed (symlink, socket...).
    #[error("{path}: {reason}")]
    UnsupportedEntry {
        /// Offending path.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// A failure that indicates a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(m: &[Mismatch]) -> String {
    m.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl SealError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::NotFound { path }
        } else {
            Self::Io { path, source }
        }
    }
}

impl ExitStatus for SealError {
    /// Exit code following DESIGN.md (65 data, 66 missing, 70 internal,
    /// 73 cannot create, 74 I/O, 77 key/permission, 78 configuration).
    fn exit(&self) -> Exit {
        match self {
            Self::NotFound { .. } => Exit::NoInput,
            Self::Io { .. } => Exit::IoErr,
            Self::CreateOutput { .. } => Exit::CantCreate,
            Self::InsecurePermissions { .. } | Self::InvalidKey { .. } => Exit::NoPerm,
            Self::BadSignature { .. } => Exit::NoPerm,
            Self::Config { .. } => Exit::Config,
            Self::Sealed { source, .. } => source.exit(),
            Self::BundleInvalid { .. }
            | Self::ContentMismatch { .. }
            | Self::UnsupportedEntry { .. } => Exit::DataErr,
            Self::Internal(_) => Exit::Software,
        }
    }
}
