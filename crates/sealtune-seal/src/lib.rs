//! Encryption, key management and signing for sealtune releases.
//!
//! - [`format`](mod@format): the sealed file format (chunked AES-256-GCM, key
//!   commitment, header bound into HKDF-SHA-512), documented in
//!   `docs/FORMAT.md`; [`seal_file`], [`unseal_file`], [`open_sealed`] and
//!   [`verify_sealed`] apply it to files.
//! - [`keys`]: KEKs, passphrases, KMS commands, [`keygen`] and the
//!   `[release]` recipient configuration [`RecipientConfig`].
//! - [`oms`]: OpenSSF Model Signing v1.0 bundles (`model.sig`).
//! - [`dsse`]: DSSE-signed in-toto statements (provenance, test results).
//! - [`release`]: [`sign_release`] and [`verify_release`] over a directory.
//!
//! # Threat model, briefly
//!
//! - Sealed files may be copied, truncated, reordered or edited by anyone:
//!   the header is bound into key derivation, the key commitment is checked
//!   (constant time) before any chunk, and each chunk's nonce carries its
//!   index and a last-chunk flag. Plaintext is released only after every
//!   chunk verified; in memory it lives in zeroizing buffers.
//! - Key files must be private (mode 0600); readable ones are refused, so a
//!   leaked-by-permissions key is noticed rather than used.
//! - KMS programs run without a shell; their output is trusted only through
//!   the key commitment.
//! - Signature verification fails closed: a wrong key hint, a bad signature,
//!   a changed, missing or unsigned file, a symlink or a malformed bundle
//!   are all errors that name the file.
//!
//! ```
//! use sealtune_seal::{format, Kek, KeySource};
//! let kek = KeySource::Kek(Kek::from_bytes([7; 32]));
//! let mut sealed = Vec::new();
//! format::encrypt(&b"weights"[..], 7, &mut sealed, &[kek.clone()], "application/octet-stream")?;
//! let (plain, _info) = format::decrypt_to_vec(&sealed[..], &[kek], None)?;
//! assert_eq!(&plain[..], b"weights");
//! # Ok::<(), sealtune_seal::FormatError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod at_rest;
pub mod dsse;
pub mod error;
pub mod format;
mod fsutil;
pub mod keys;
pub mod oms;
pub mod release;
pub mod seal;

pub use error::{FailureCategory, FormatError, Mismatch, SealError};
pub use keys::{
    Argon2Settings, Kek, KeySource, KeygenOutput, KmsCommand, Passphrase, RecipientConfig, keygen,
};
pub use release::{VerifiedRelease, VerifyReport, open_release, sign_release, verify_release};
pub use seal::{open_sealed, seal_bytes, seal_file, unseal_file, verify_sealed};
