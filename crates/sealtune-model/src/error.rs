//! The error type of the model crate and its exit codes.

use sealtune_contract::{Exit, ExitStatus};
use std::path::PathBuf;

/// Everything that can go wrong while reading, converting or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A required input file does not exist.
    #[error("{path}: not found; {hint}")]
    Missing {
        /// The file that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// Reading a file failed.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// Writing an output file or directory failed.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, index, adapter config) does not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file being parsed.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A model configuration is inconsistent or unsupported.
    #[error("{path}: {field}: {message}")]
    Config {
        /// The config file (or a description of where the config came from).
        path: PathBuf,
        /// The offending key.
        field: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A weights file is malformed (bad header, truncated data, wrong dtype).
    #[error("{path}: {message}")]
    Format {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor the model needs is missing, has the wrong shape, or is not used.
    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor {
        /// The weights file or directory.
        path: PathBuf,
        /// The tensor name (HF key).
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("{context}: tokenizer error: {source}")]
    Tokenizer {
        /// The tokenizer file or the operation that failed.
        context: String,
        /// The tokenizers crate's error.
        #[source]
        source: tokenizers::Error,
    },
    /// A tensor operation failed inside the backend (a bug, not bad input).
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
    /// The requested compute device is not available in this build or on this machine.
    #[error("{key} = \"{choice}\": {message}")]
    Device {
        /// Where the choice came from: `[compute] device` or `--device`.
        key: String,
        /// The device asked for.
        choice: String,
        /// Why it is not available and what to do.
        message: String,
    },
    /// An argument passed to the API is invalid (empty batch, bad sampling parameter, ...).
    #[error("invalid argument `{name}`: {message}")]
    Argument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl ExitStatus for ModelError {
    /// The process exit code for this error, following sealtune's exit-code table.
    fn exit(&self) -> Exit {
        match self {
            ModelError::Missing { .. } => Exit::NoInput,
            ModelError::Read { .. } => Exit::IoErr,
            ModelError::Write { .. } => Exit::CantCreate,
            ModelError::Json { .. }
            | ModelError::Format { .. }
            | ModelError::Tensor { .. }
            | ModelError::Tokenizer { .. } => Exit::DataErr,
            ModelError::Config { .. } | ModelError::Device { .. } => Exit::Config,
            ModelError::Argument { .. } => Exit::Usage,
            ModelError::Internal { .. } => Exit::Software,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

pub(crate) fn read_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ModelError::Missing {
                path: path.to_path_buf(),
                hint: "check the path or run scripts/fetch-smollm2.sh",
            }
        } else {
            ModelError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

pub(crate) fn write_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Write {
        path: path.to_path_buf(),
        source,
    }
}
