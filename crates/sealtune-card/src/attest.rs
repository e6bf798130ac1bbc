//! Reviewer sign-off: `sealtune attest`.
//!
//! An attestation is a DSSE-signed in-toto statement whose subject is the
//! release's OMS root digest (from `release/model.sig`), with the reviewer's
//! decision and note. It is written under `<run>/attestations/`, outside the
//! signed release directory, so adding one never invalidates `model.sig`;
//! `sealtune card --run-dir DIR` lists every attestation.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use sealtune_seal::dsse::{self, ResourceDescriptor, Statement};

use crate::error::CardError;
use crate::facts::{ATTESTATIONS_DIR, Fact, read_signature};

/// Predicate type of a reviewer's decision.
pub const REVIEW_PREDICATE_TYPE: &str = "https://sealtune.dev/attestation/review/v1";

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The reviewer approves the release for its intended use.
    Approve,
    /// The reviewer rejects it.
    Reject,
}

impl Decision {
    /// `approve` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

impl std::str::FromStr for Decision {
    type Err = CardError;
    fn from_str(s: &str) -> Result<Self, CardError> {
        match s {
            "approve" => Ok(Self::Approve),
            "reject" => Ok(Self::Reject),
            other => Err(CardError::BadValue {
                what: "--decision",
                found: other.to_owned(),
                allowed: "approve or reject",
            }),
        }
    }
}

/// What [`attest`] wrote.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// The new file (`<run>/attestations/<time>-<decision>-<key>.intoto.json`).
    pub path: PathBuf,
    /// OMS root digest the statement refers to.
    pub root_digest: String,
    /// Reviewer key hint.
    pub reviewer_key: String,
    /// The statement that was signed.
    pub statement: Statement,
}

/// Signs a reviewer's `decision` and `note` about the release of `run_dir`
/// with the private key at `key` (PKCS#8 PEM P-256, mode 0600), referencing
/// the OMS root digest of `<run_dir>/release/model.sig`. Never overwrites.
///
/// The signature in `model.sig` is not verified here: verify the release with
/// `sealtune verify` before attesting it.
pub fn attest(
    run_dir: &Path,
    key: &Path,
    decision: Decision,
    note: &str,
) -> Result<Attestation, CardError> {
    if !run_dir.is_dir() {
        return Err(CardError::RunDirMissing {
            path: run_dir.to_path_buf(),
        });
    }
    let sig_path = run_dir
        .join("release")
        .join(sealtune_seal::oms::SIGNATURE_FILE);
    let sig = match read_signature(&sig_path)? {
        Fact::Known(s) => s,
        Fact::NotAvailable(_) => {
            return Err(CardError::Missing {
                path: sig_path,
                what: "an attestation refers to the signed release; run the release stage first"
                    .into(),
            });
        }
    };
    let sk = sealtune_seal::keys::load_signing_key(key)?;
    let reviewer_key = sealtune_seal::keys::key_hint(sk.verifying_key())?;
    let time = sealtune_pipeline::time::now_rfc3339();
    let statement = Statement::new(
        vec![ResourceDescriptor {
            name: Some(sig.model_name.clone()),
            uri: None,
            digest: BTreeMap::from([("sha256".to_owned(), sig.root_digest.clone())]),
        }],
        REVIEW_PREDICATE_TYPE,
        json!({
            "decision": decision.as_str(),
            "note": note,
            "reviewer_key": reviewer_key,
            "time": time,
            "signature_file": "release/model.sig",
        }),
    );
    let env = dsse::sign_statement(&statement, &sk)?;
    let dir = run_dir.join(ATTESTATIONS_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| CardError::Write {
        path: dir.clone(),
        source,
    })?;
    let stamp: String = time.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let path = dir.join(format!(
        "{stamp}-{}-{}.intoto.json",
        decision.as_str(),
        &reviewer_key[..12]
    ));
    let mut bytes = serde_json::to_vec(&env).map_err(|e| CardError::Internal(e.to_string()))?;
    bytes.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                CardError::Exists { path: path.clone() }
            } else {
                CardError::Write {
                    path: path.clone(),
                    source,
                }
            }
        })?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|source| CardError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(Attestation {
        path,
        root_digest: sig.root_digest,
        reviewer_key,
        statement,
    })
}
