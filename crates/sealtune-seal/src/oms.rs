//! OpenSSF Model Signing (OMS) v1.0 signatures over a directory: a Sigstore
//! bundle v0.3 holding a DSSE envelope whose in-toto statement lists the
//! SHA-256 of every file (or file shard), signed with an ECDSA P-256 key.
//! The bundle carries the key hint, so `model_signing verify key` accepts it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use p256::ecdsa::{SigningKey, VerifyingKey};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE, ResourceDescriptor, Statement};
use crate::error::{Mismatch, SealError};
use crate::fsutil::AtomicFile;
use crate::keys;

/// Media type of the Sigstore bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// OMS v1.0 predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Default signature file name, always excluded from what it signs.
pub const SIGNATURE_FILE: &str = sealtune_contract::artifacts::release::SIGNATURE;
/// Shard size used by the `shards` serialization unless configured.
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;
/// The run engine's manifest, written into the release directory after it
/// is signed: the one path sealtune's verifier passes over (besides the
/// signature itself), when the signature's ignore list names it.
pub const ENGINE_MANIFEST: &str = "manifest.json";

/// Paths the stock tool ignores by default; we list them so both agree.
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];
const MAX_BUNDLE: u64 = 256 << 20;

/// How files become manifest resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serialization {
    /// One SHA-256 per file (`method: files`).
    Files,
    /// Files cut into shards of `shard_size` bytes, one SHA-256 per shard
    /// (`method: shards`); large files hash in parallel.
    Shards {
        /// Bytes per shard.
        shard_size: u64,
    },
}

/// The default is [`Serialization::Files`]: the stock `model_signing verify`
/// command line always re-hashes with the files method, so only that
/// method verifies there (shards verify through its Python API).
impl Default for Serialization {
    fn default() -> Self {
        Self::Files
    }
}

/// Options for [`sign_dir`].
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Serialization method. Default: files (what `model_signing verify key` re-hashes with).
    pub serialization: Serialization,
    /// Extra paths (relative to the directory) left out of the signature.
    pub ignore_paths: Vec<String>,
    /// Subject name recorded in the statement. Default: the directory's name.
    pub model_name: Option<String>,
}

/// What a signature covers, as recovered by [`verify_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// Subject name (the directory's name when signed).
    pub model_name: String,
    /// Root digest (hex SHA-256 over all resource digests).
    pub root_digest: String,
    /// Resource name → hex digest, sorted.
    pub resources: BTreeMap<String, String>,
    /// Files covered (relative POSIX paths).
    pub files: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: VerificationMaterial,
    dsse_envelope: Envelope,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<PublicKeyId>,
    #[serde(default)]
    tlog_entries: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PublicKeyId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Resource {
    algorithm: String,
    digest: String,
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SerializationArgs {
    method: String,
    hash_type: String,
    allow_symlinks: bool,
    /// The stock tool writes this through a protobuf Struct, as a float.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_size: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore_paths: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Predicate {
    serialization: SerializationArgs,
    resources: Vec<Resource>,
}

/// A unit to hash: a whole file or a byte range of one.
#[derive(Debug, Clone)]
struct Item {
    rel: String,
    start: u64,
    end: u64,
    sharded: bool,
}

impl Item {
    fn name(&self) -> String {
        if self.sharded {
            format!("{}:{}:{}", self.rel, self.start, self.end)
        } else {
            self.rel.clone()
        }
    }
}

fn ignored(rel: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|p| {
        let p = p.trim_end_matches('/');
        rel == p || rel.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
    })
}

/// What a listing passes over.
#[derive(Debug, Clone, Copy)]
enum Skip<'a> {
    /// Signing (and the stock verifier): each path and everything under it.
    Prefixes(&'a [String]),
    /// sealtune's verifier: exactly these regular files, nothing under a
    /// directory of the same name.
    Files(&'a [String]),
}

impl Skip<'_> {
    fn skips(&self, rel: &str, is_dir: bool) -> bool {
        match self {
            Skip::Prefixes(ignore) => ignored(rel, ignore),
            Skip::Files(files) => !is_dir && files.iter().any(|f| f == rel),
        }
    }
}

/// Every regular file under `root` (relative POSIX paths), minus skipped
/// ones. Symlinks and special files are refused.
fn list_files(root: &Path, skip: Skip<'_>) -> Result<Vec<(String, u64)>, SealError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| SealError::io(&dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| SealError::io(&dir, e))?;
            let path = entry.path();
            let name =
                entry
                    .file_name()
                    .into_string()
                    .map_err(|_| SealError::UnsupportedEntry {
                        path: path.clone(),
                        reason: "file name is not UTF-8".into(),
                    })?;
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().map_err(|e| SealError::io(&path, e))?;
            if skip.skips(&rel, ft.is_dir()) {
                continue;
            }
            if ft.is_symlink() {
                return Err(SealError::UnsupportedEntry {
                    path,
                    reason: "symbolic links are not signed; replace it with the file".into(),
                });
            } else if ft.is_dir() {
                stack.push((path, rel));
            } else if ft.is_file() {
                let len = entry.metadata().map_err(|e| SealError::io(&path, e))?.len();
                out.push((rel, len));
            } else {
                return Err(SealError::UnsupportedEntry {
                    path,
                    reason: "not a regular file or directory".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Sort key matching the stock tool: path components, then shard offsets.
fn sort_key(item: &Item) -> (Vec<&str>, u64, u64) {
    (item.rel.split('/').collect(), item.start, item.end)
}

fn items_for(files: &[(String, u64)], ser: Serialization) -> Vec<Item> {
    let mut items = Vec::new();
    for (rel, len) in files {
        match ser {
            Serialization::Files => items.push(Item {
                rel: rel.clone(),
                start: 0,
                end: *len,
                sharded: false,
            }),
            Serialization::Shards { shard_size } => {
                let mut start = 0;
                while start < *len {
                    let end = (start + shard_size).min(*len);
                    items.push(Item {
                        rel: rel.clone(),
                        start,
                        end,
                        sharded: true,
                    });
                    start = end;
                }
            }
        }
    }
    items.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    items
}

fn hash_item(root: &Path, item: &Item) -> Result<[u8; 32], SealError> {
    let path = root.join(&item.rel);
    let mut f = File::open(&path).map_err(|e| SealError::io(&path, e))?;
    f.seek(SeekFrom::Start(item.start))
        .map_err(|e| SealError::io(&path, e))?;
    let mut r = f.take(item.end - item.start);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| SealError::io(&path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    if total != item.end - item.start {
        return Err(SealError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while hashing",
            ),
        });
    }
    Ok(h.finalize().into())
}

/// Resource digests in manifest order, and the sorted file list.
type HashedDir = (Vec<(String, [u8; 32])>, Vec<String>);

/// Hashes `dir` into (resource name → digest), in parallel on the current rayon pool.
fn hash_dir(dir: &Path, ignore: &[String], ser: Serialization) -> Result<HashedDir, SealError> {
    let files = list_files(dir, Skip::Prefixes(ignore))?;
    if let (Serialization::Shards { .. }, Some((rel, _))) =
        (ser, files.iter().find(|(_, len)| *len == 0))
    {
        return Err(SealError::UnsupportedEntry {
            path: dir.join(rel),
            reason: "empty files cannot be covered by the shards serialization; remove it or sign with files".into(),
        });
    }
    if let (Serialization::Shards { .. }, Some((rel, _))) =
        (ser, files.iter().find(|(r, _)| r.contains(':')))
    {
        return Err(SealError::UnsupportedEntry {
            path: dir.join(rel),
            reason: "`:` in a file name is ambiguous in shard names (path:start:end); rename it or sign with files"
                .into(),
        });
    }
    let items = items_for(&files, ser);
    let digests = items
        .par_iter()
        .map(|it| hash_item(dir, it).map(|d| (it.name(), d)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names: Vec<String> = files.into_iter().map(|(r, _)| r).collect();
    names.sort();
    Ok((digests, names))
}

fn model_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Signs every file of `dir` (minus `model.sig`, git paths and
/// `opts.ignore_paths`) and writes `dir/model.sig`, refusing to overwrite it.
pub fn sign_dir(
    dir: &Path,
    key: &SigningKey,
    opts: &SignOptions,
) -> Result<SignedManifest, SealError> {
    let mut ignore: Vec<String> = vec![SIGNATURE_FILE.to_owned()];
    ignore.extend(GIT_PATHS.iter().map(|s| (*s).to_owned()));
    ignore.extend(opts.ignore_paths.iter().cloned());
    let (digests, files) = hash_dir(dir, &ignore, opts.serialization)?;
    let (algorithm, shard_size, method) = match opts.serialization {
        Serialization::Files => ("sha256".to_owned(), None, "files"),
        Serialization::Shards { shard_size } => (
            format!("sha256-sharded-{shard_size}"),
            Some(shard_size),
            "shards",
        ),
    };
    let mut root = Sha256::new();
    let mut resources = Vec::new();
    for (name, d) in &digests {
        root.update(d);
        resources.push(Resource {
            algorithm: algorithm.clone(),
            digest: hex::encode(d),
            name: name.clone(),
        });
    }
    let root_digest = hex::encode(root.finalize());
    let model_name = opts.model_name.clone().unwrap_or_else(|| model_name(dir));
    let predicate = Predicate {
        serialization: SerializationArgs {
            method: method.into(),
            hash_type: "sha256".into(),
            allow_symlinks: false,
            shard_size: shard_size.map(serde_json::Number::from),
            ignore_paths: ignore,
        },
        resources,
    };
    let st = Statement::new(
        vec![ResourceDescriptor {
            name: Some(model_name.clone()),
            uri: None,
            digest: BTreeMap::from([("sha256".to_owned(), root_digest.clone())]),
        }],
        PREDICATE_TYPE,
        serde_json::to_value(&predicate).map_err(|e| SealError::Internal(e.to_string()))?,
    );
    let payload = serde_json::to_vec_pretty(&st).map_err(|e| SealError::Internal(e.to_string()))?;
    let hint = keys::key_hint(key.verifying_key())?;
    let env = dsse::sign_envelope(IN_TOTO_PAYLOAD_TYPE, &payload, key, "")
        .map_err(|e| SealError::Internal(e.to_string()))?;
    let bundle = Bundle {
        media_type: BUNDLE_MEDIA_TYPE.into(),
        verification_material: VerificationMaterial {
            public_key: Some(PublicKeyId { hint: Some(hint) }),
            tlog_entries: Vec::new(),
        },
        dsse_envelope: env,
    };
    let json =
        serde_json::to_vec_pretty(&bundle).map_err(|e| SealError::Internal(e.to_string()))?;
    let target = dir.join(SIGNATURE_FILE);
    let mut out = AtomicFile::create(&target, 0o644)?;
    out.file()
        .write_all(&json)
        .map_err(|e| SealError::io(&target, e))?;
    out.commit()?;
    Ok(SignedManifest {
        model_name,
        root_digest,
        resources: digests
            .into_iter()
            .map(|(n, d)| (n, hex::encode(d)))
            .collect(),
        files,
    })
}

fn bad(path: &Path, reason: impl Into<String>) -> SealError {
    SealError::BundleInvalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Parses a bundle and checks its signature; returns the signed predicate
/// and the subject. Exposed for fuzzing through [`parse_bundle`].
fn check_bundle(
    sig_path: &Path,
    bytes: &[u8],
    key: &VerifyingKey,
    key_path: &Path,
) -> Result<(Predicate, String, String), SealError> {
    let bundle: Bundle = serde_json::from_slice(bytes).map_err(|e| bad(sig_path, e.to_string()))?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(bad(
            sig_path,
            format!(
                "mediaType {:?}, expected {BUNDLE_MEDIA_TYPE:?}",
                bundle.media_type
            ),
        ));
    }
    let bad_sig = |reason: String| SealError::BadSignature {
        path: sig_path.to_path_buf(),
        public_key: key_path.to_path_buf(),
        reason,
    };
    if let Some(hint) = bundle
        .verification_material
        .public_key
        .as_ref()
        .and_then(|p| p.hint.as_ref())
    {
        let ours = keys::key_hint(key)?;
        if *hint != ours {
            return Err(bad_sig(format!(
                "bundle names key {hint}, the given public key is {ours}"
            )));
        }
    }
    let payload = dsse::verify_envelope(&bundle.dsse_envelope, key, IN_TOTO_PAYLOAD_TYPE).map_err(
        |e| match e {
            dsse::SignatureError::NoValidSignature => bad_sig(e.to_string()),
            other => bad(sig_path, other.to_string()),
        },
    )?;
    let st: Statement =
        serde_json::from_slice(&payload).map_err(|e| bad(sig_path, format!("statement: {e}")))?;
    if st.type_ != dsse::STATEMENT_TYPE || st.predicate_type != PREDICATE_TYPE {
        return Err(bad(
            sig_path,
            format!(
                "statement type {:?} / predicate {:?} not OMS v1.0",
                st.type_, st.predicate_type
            ),
        ));
    }
    let [subject] = st.subject.as_slice() else {
        return Err(bad(sig_path, "expected exactly one subject"));
    };
    let root = subject
        .digest
        .get("sha256")
        .ok_or_else(|| bad(sig_path, "subject has no sha256 digest"))?
        .clone();
    let pred: Predicate = serde_json::from_value(st.predicate)
        .map_err(|e| bad(sig_path, format!("predicate: {e}")))?;
    Ok((pred, root, subject.name.clone().unwrap_or_default()))
}

/// Parses an OMS bundle without verifying it (fuzzing entry point); returns
/// the number of DSSE signatures.
pub fn parse_bundle(bytes: &[u8]) -> Result<usize, serde_json::Error> {
    serde_json::from_slice::<Bundle>(bytes).map(|b| b.dsse_envelope.signatures.len())
}

/// Verifies `dir` against `signature` (usually `dir/model.sig`): the
/// signature under `key`, the root digest, every file digest, and that no
/// file is missing and no unsigned file is present. Every difference is
/// reported in [`SealError::ContentMismatch`].
pub fn verify_dir(
    dir: &Path,
    signature: &Path,
    key: &VerifyingKey,
    key_path: &Path,
) -> Result<SignedManifest, SealError> {
    let meta = std::fs::metadata(signature).map_err(|e| SealError::io(signature, e))?;
    if meta.len() > MAX_BUNDLE {
        return Err(bad(signature, "larger than 256 MiB"));
    }
    let bytes = std::fs::read(signature).map_err(|e| SealError::io(signature, e))?;
    let (pred, root, model_name) = check_bundle(signature, &bytes, key, key_path)?;
    let s = &pred.serialization;
    if s.hash_type != "sha256" {
        return Err(bad(
            signature,
            format!("hash_type {:?} unsupported (sha256 only)", s.hash_type),
        ));
    }
    if s.allow_symlinks {
        return Err(bad(signature, "allow_symlinks = true is not supported"));
    }
    let shard_size = s.shard_size.as_ref().and_then(|n| {
        n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 2f64.powi(53))
                .map(|f| f as u64)
        })
    });
    let (ser, algorithm) = match (s.method.as_str(), shard_size) {
        ("files", _) => (Serialization::Files, "sha256".to_owned()),
        ("shards", Some(n)) if n > 0 => (
            Serialization::Shards { shard_size: n },
            format!("sha256-sharded-{n}"),
        ),
        (m, _) => {
            return Err(bad(
                signature,
                format!("serialization method {m:?} unsupported"),
            ));
        }
    };
    let mut expected = BTreeMap::new();
    let mut h = Sha256::new();
    for r in &pred.resources {
        if r.algorithm != algorithm {
            return Err(bad(
                signature,
                format!(
                    "{}: algorithm {:?}, expected {algorithm:?}",
                    r.name, r.algorithm
                ),
            ));
        }
        let d = hex::decode(&r.digest)
            .ok()
            .filter(|d| d.len() == 32)
            .ok_or_else(|| {
                bad(
                    signature,
                    format!("{}: digest is not 64 hex digits", r.name),
                )
            })?;
        h.update(&d);
        if expected
            .insert(r.name.clone(), r.digest.to_ascii_lowercase())
            .is_some()
        {
            return Err(bad(signature, format!("{}: listed twice", r.name)));
        }
    }
    if hex::encode(h.finalize()) != root.to_ascii_lowercase() {
        return Err(bad(
            signature,
            "root digest does not match the listed resources",
        ));
    }
    // Strict: the signed ignore list (the stock tool's git paths included)
    // is not honoured, except for the run engine's own `manifest.json`,
    // written after signing, and only as a regular file at the top. Any
    // other file present and unsigned is an extra file.
    let mut skip: Vec<String> = s
        .ignore_paths
        .iter()
        .filter(|p| p.trim_end_matches('/') == ENGINE_MANIFEST)
        .map(|_| ENGINE_MANIFEST.to_owned())
        .collect();
    if let Ok(rel) = signature.strip_prefix(dir) {
        skip.push(rel.to_string_lossy().replace('\\', "/"));
    }
    // Empty files are never covered by shards; refuse them rather than skip.
    let files = list_files(dir, Skip::Files(&skip))?;
    let mut mismatches = Vec::new();
    if let Serialization::Shards { .. } = ser {
        for (rel, len) in &files {
            if *len == 0 {
                mismatches.push(Mismatch::Extra(rel.clone()));
            }
        }
    }
    let items = items_for(&files, ser);
    let actual = items
        .par_iter()
        .map(|it| hash_item(dir, it).map(|d| (it.name(), hex::encode(d))))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    for (name, digest) in &actual {
        match expected.get(name) {
            None => mismatches.push(Mismatch::Extra(name.clone())),
            Some(e) if e != digest => mismatches.push(Mismatch::Digest {
                name: name.clone(),
                expected: e.clone(),
                actual: digest.clone(),
            }),
            Some(_) => {}
        }
    }
    for name in expected.keys() {
        if !actual.contains_key(name) {
            mismatches.push(Mismatch::Missing(name.clone()));
        }
    }
    if !mismatches.is_empty() {
        return Err(SealError::ContentMismatch {
            dir: dir.to_path_buf(),
            mismatches,
        });
    }
    let mut names: Vec<String> = files.into_iter().map(|(r, _)| r).collect();
    names.sort();
    Ok(SignedManifest {
        model_name,
        root_digest: root,
        resources: expected,
        files: names,
    })
}

/// Paths of a verified manifest's files that end in `.seal`.
pub fn sealed_files(dir: &Path, m: &SignedManifest) -> Vec<PathBuf> {
    m.files
        .iter()
        .filter(|f| f.ends_with(".seal"))
        .map(|f| dir.join(f))
        .collect()
}
