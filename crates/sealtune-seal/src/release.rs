//! Command-level operations over a release directory: sign it, verify it.

use std::path::{Path, PathBuf};

use sealtune_contract::{Exit, ExitStatus};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::dsse::Statement;
use crate::error::{Mismatch, SealError};
use crate::format::SealInfo;
use crate::keys::{self, Kek, KeySource};
use crate::oms::{self, SignOptions, SignedManifest};

/// Name of the provenance file whose lines are DSSE envelopes.
pub const PROVENANCE_FILE: &str = sealtune_contract::artifacts::release::PROVENANCE;

/// What `sealtune verify` checked.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The verified manifest.
    pub manifest: SignedManifest,
    /// DSSE statements in `provenance.intoto.jsonl` whose signatures verified.
    pub provenance_statements: usize,
    /// Those statements, parsed (empty when the release has no provenance).
    pub statements: Vec<Statement>,
    /// Sealed files whose every chunk authenticated (only with a KEK).
    pub sealed_checked: Vec<PathBuf>,
}

/// Signs `dir` with the private key at `private_key` (refused when group or
/// others can read it), writing `dir/model.sig`.
pub fn sign_release(
    dir: &Path,
    private_key: &Path,
    opts: &SignOptions,
) -> Result<SignedManifest, SealError> {
    let key = keys::load_signing_key(private_key)?;
    oms::sign_dir(dir, &key, opts)
}

/// `sealtune verify DIR --public-key FILE [--kek FILE]`: checks `model.sig`,
/// every file digest, that nothing is missing or unsigned, the signature of
/// every provenance statement, and with a KEK every sealed file's chunks
/// (no plaintext is written anywhere).
pub fn verify_release(
    dir: &Path,
    public_key: &Path,
    kek: Option<&Path>,
) -> Result<VerifyReport, SealError> {
    if !dir.is_dir() {
        return Err(SealError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let key = keys::load_public_key(public_key)?;
    let manifest = oms::verify_dir(dir, &dir.join(oms::SIGNATURE_FILE), &key, public_key)?;
    let mut statements = Vec::new();
    if manifest.files.iter().any(|f| f == PROVENANCE_FILE) {
        let path = dir.join(PROVENANCE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| SealError::io(&path, e))?;
        let sts = crate::dsse::verify_jsonl(&text, &key).map_err(|(line, e)| {
            let reason = format!("line {line}: {e}");
            if e.exit() == Exit::NoPerm {
                SealError::BadSignature {
                    path: path.clone(),
                    public_key: public_key.to_path_buf(),
                    reason,
                }
            } else {
                SealError::BundleInvalid {
                    path: path.clone(),
                    reason,
                }
            }
        })?;
        statements = sts;
    }
    let mut sealed_checked = Vec::new();
    if let Some(kek_path) = kek {
        let ids = [KeySource::Kek(Kek::load(kek_path)?)];
        for f in oms::sealed_files(dir, &manifest) {
            crate::seal::verify_sealed(&f, &ids)?;
            sealed_checked.push(f);
        }
    }
    Ok(VerifyReport {
        manifest,
        provenance_statements: statements.len(),
        statements,
        sealed_checked,
    })
}

/// A release directory that passed [`verify_release`] with a KEK, from which
/// files are read into memory only: each read is checked again against the
/// digest the signature records (so a file swapped after verification is
/// refused), and sealed files are decrypted into zeroizing memory, handed out
/// only after every chunk authenticated. Nothing is written anywhere.
pub struct VerifiedRelease {
    dir: PathBuf,
    report: VerifyReport,
    identities: Vec<KeySource>,
}

impl std::fmt::Debug for VerifiedRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedRelease")
            .field("dir", &self.dir)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Verifies `dir` exactly as `sealtune verify DIR --public-key PUB --kek KEK`
/// does (same checks, same errors) and keeps the KEK to open its sealed files.
pub fn open_release(
    dir: &Path,
    public_key: &Path,
    kek: &Path,
) -> Result<VerifiedRelease, SealError> {
    let report = verify_release(dir, public_key, Some(kek))?;
    Ok(VerifiedRelease {
        dir: dir.to_path_buf(),
        report,
        identities: vec![KeySource::Kek(Kek::load(kek)?)],
    })
}

impl VerifiedRelease {
    /// The release directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What verification found.
    pub fn report(&self) -> &VerifyReport {
        &self.report
    }

    /// Whether the signature covers `name` (a relative POSIX path).
    pub fn has(&self, name: &str) -> bool {
        self.report.manifest.files.iter().any(|f| f == name)
    }

    /// Reads a signed file into memory, checking its SHA-256 against the
    /// signature again. A file the signature does not cover is `NotFound`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, SealError> {
        let path = self.dir.join(name);
        if !self.has(name) {
            return Err(SealError::NotFound { path });
        }
        let bytes = std::fs::read(&path).map_err(|e| SealError::io(&path, e))?;
        self.check_digest(name, &bytes)?;
        Ok(bytes)
    }

    fn check_digest(&self, name: &str, bytes: &[u8]) -> Result<(), SealError> {
        // With the `files` serialization each file is one resource; with
        // `shards` the file was re-hashed shard by shard by verify_dir.
        if let Some(expected) = self.report.manifest.resources.get(name) {
            let actual = hex::encode(Sha256::digest(bytes));
            if &actual != expected {
                return Err(SealError::ContentMismatch {
                    dir: self.dir.clone(),
                    mismatches: vec![Mismatch::Digest {
                        name: name.to_owned(),
                        expected: expected.clone(),
                        actual,
                    }],
                });
            }
        }
        Ok(())
    }

    /// Decrypts the signed sealed file `name` (e.g.
    /// `adapter_model.safetensors.seal`) into memory. The ciphertext is read
    /// once, checked against the signature, then every chunk authenticated
    /// before the plaintext is returned; the buffers are zeroized on drop.
    pub fn unseal(&self, name: &str) -> Result<(Zeroizing<Vec<u8>>, SealInfo), SealError> {
        let sealed = self.read(name)?;
        let path = self.dir.join(name);
        crate::format::decrypt_to_vec(&sealed[..], &self.identities, Some(sealed.len() as u64))
            .map_err(|source| SealError::Sealed { path, source })
    }
}
