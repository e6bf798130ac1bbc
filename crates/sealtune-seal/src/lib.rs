//! Encryption, key management and signing for sealtune releases.
#![forbid(unsafe_code)]

pub mod error;
pub mod format;
mod fsutil;
pub mod keys;

pub use error::{FailureCategory, FormatError, Mismatch, SealError};
pub use keys::{Argon2Settings, Kek, KeySource, KmsCommand, Passphrase, RecipientConfig, keygen};
pub mod dsse;
pub mod oms;
pub mod seal;
pub use seal::{open_sealed, seal_file, unseal_file, verify_sealed};
