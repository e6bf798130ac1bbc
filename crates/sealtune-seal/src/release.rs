//! Command-level operations over a release directory: sign it, verify it.

use std::path::{Path, PathBuf};

use crate::error::SealError;
use crate::keys::{self, Kek, KeySource};
use crate::oms::{self, SignOptions, SignedManifest};

/// Name of the provenance file whose lines are DSSE envelopes.
pub const PROVENANCE_FILE: &str = "provenance.intoto.jsonl";

/// What `sealtune verify` checked.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The verified manifest.
    pub manifest: SignedManifest,
    /// DSSE statements in `provenance.intoto.jsonl` whose signatures verified.
    pub provenance_statements: usize,
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
    let mut provenance_statements = 0;
    if manifest.files.iter().any(|f| f == PROVENANCE_FILE) {
        let path = dir.join(PROVENANCE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| SealError::io(&path, e))?;
        let sts = crate::dsse::verify_jsonl(&text, &key).map_err(|(line, e)| {
            let reason = format!("line {line}: {e}");
            if e.exit_code() == 77 {
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
        provenance_statements = sts.len();
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
        provenance_statements,
        sealed_checked,
    })
}
