//! Key material: KEK files, passphrases, KMS commands, signing key pairs,
//! and the `[release]` recipient configuration.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The ECDSA P-256 key types used for signing and verification.
pub use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::SealError;
use crate::fsutil;

/// Prefix of the text encoding of a KEK file: `sealtune-kek-v1:` followed by
/// 64 lowercase hex digits and a newline.
pub const KEK_TEXT_PREFIX: &str = "sealtune-kek-v1:";

/// Why KEK file content was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KekFormatError(&'static str);

/// A 256-bit key-encryption key, zeroized on drop.
#[derive(Clone)]
pub struct Kek(Zeroizing<[u8; 32]>);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(id={})", self.id())
    }
}

impl Kek {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random KEK from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, SealError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut k[..]).map_err(|e| SealError::Internal(e.to_string()))?;
        Ok(Self(k))
    }

    /// Raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Public identifier stored in sealed headers: the first 8 bytes of
    /// SHA-256("sealtune-kek-id\0" || key), hex-encoded.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"sealtune-kek-id\0");
        h.update(&self.0[..]);
        hex::encode(&h.finalize()[..8])
    }

    /// Text encoding written by [`keygen`].
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut hexed = Zeroizing::new(hex::encode(&self.0[..]));
        let s = Zeroizing::new(format!("{KEK_TEXT_PREFIX}{}\n", hexed.as_str()));
        hexed.zeroize();
        s
    }

    /// Parses a KEK file's content: the text form, or exactly 32 raw bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, KekFormatError> {
        if bytes.len() == 32 && !bytes.starts_with(KEK_TEXT_PREFIX.as_bytes()) {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(bytes);
            return Ok(Self(k));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| KekFormatError("neither text nor 32 raw bytes"))?;
        let body = text
            .trim_end_matches(['\n', '\r'])
            .strip_prefix(KEK_TEXT_PREFIX)
            .ok_or(KekFormatError(
                "expected `sealtune-kek-v1:` followed by 64 hex digits, or 32 raw bytes",
            ))?;
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(body, &mut k[..])
            .map_err(|_| KekFormatError("expected 64 hex digits after the prefix"))?;
        Ok(Self(k))
    }

    /// Loads a KEK file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let bytes = fsutil::read_secret(path, 4096)?;
        Self::parse(&bytes).map_err(|e| SealError::InvalidKey {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// A passphrase, zeroized on drop.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(p: impl Into<String>) -> Self {
        Self(Zeroizing::new(p.into()))
    }

    /// Reads a passphrase from environment variable `var` (must be non-empty).
    pub fn from_env(var: &str) -> Result<Self, SealError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Self::new(v)),
            _ => Err(SealError::Config {
                field: format!("passphrase_env = {var:?}"),
                reason: "environment variable is unset or empty; export it before running".into(),
            }),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Argon2id cost parameters used when sealing with a passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    /// Memory in KiB. Default 65536 (64 MiB, RFC 9106 second recommendation).
    pub memory_kib: u32,
    /// Passes over memory. Default 3.
    pub iterations: u32,
    /// Lanes. Default 4.
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl Argon2Settings {
    /// Smallest settings accepted for sealing (OWASP minimum: 19 MiB, 2 passes).
    pub const MIN_SEAL: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// Largest settings accepted when opening (bounds the work a header can demand).
    pub const MAX_OPEN: Self = Self {
        memory_kib: 1024 * 1024,
        iterations: 16,
        parallelism: 16,
    };
}

/// An external KMS program run directly (never through a shell) as
/// `PROGRAM ARGS... wrap` or `PROGRAM ARGS... unwrap`; it reads the input
/// bytes on stdin and writes the result on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsCommand {
    /// Program path or name (looked up in `PATH`).
    pub program: PathBuf,
    /// Arguments placed before `wrap` / `unwrap`.
    pub args: Vec<String>,
    /// How long the program may run before it is stopped.
    /// Default [`crate::format::KMS_TIMEOUT`] (120 s).
    pub timeout: std::time::Duration,
}

impl KmsCommand {
    /// Splits a command line on whitespace; no quoting or shell expansion.
    pub fn parse(cmd: &str) -> Result<Self, SealError> {
        let mut it = cmd.split_whitespace();
        let program = it.next().ok_or_else(|| SealError::Config {
            field: "kms_command".into(),
            reason: "empty command; give the KMS program path".into(),
        })?;
        Ok(Self {
            program: PathBuf::from(program),
            args: it.map(str::to_owned).collect(),
            timeout: crate::format::KMS_TIMEOUT,
        })
    }

    /// Builds a command from an argv list (`[program, args...]`).
    pub fn from_argv(argv: &[String]) -> Result<Self, SealError> {
        let (program, args) = argv.split_first().ok_or_else(|| SealError::Config {
            field: "kms_command".into(),
            reason: "empty list; give [\"program\", \"arg\", ...]".into(),
        })?;
        Ok(Self {
            program: PathBuf::from(program),
            args: args.to_vec(),
            timeout: crate::format::KMS_TIMEOUT,
        })
    }

    /// Label stored in the header: the program's file name.
    pub fn label(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// One key source: a recipient when sealing, an identity when opening.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// AES key wrap (RFC 3394) under a KEK.
    Kek(Kek),
    /// Argon2id-derived KEK; `settings` apply when sealing only (opening uses
    /// the parameters stored in the header).
    Passphrase {
        /// The passphrase.
        passphrase: Passphrase,
        /// Argon2id cost for new files.
        settings: Argon2Settings,
    },
    /// External KMS program.
    Kms(KmsCommand),
}

impl KeySource {
    /// `--kek FILE`: loads a KEK file (refused when group/others can read it).
    pub fn kek_file(path: &Path) -> Result<Self, SealError> {
        Kek::load(path).map(Self::Kek)
    }

    /// `--passphrase-env VAR`: a passphrase from the environment, default Argon2id cost.
    pub fn passphrase_env(var: &str) -> Result<Self, SealError> {
        Ok(Self::Passphrase {
            passphrase: Passphrase::from_env(var)?,
            settings: Argon2Settings::default(),
        })
    }

    /// `--kms-command CMD`: a KMS program, split on whitespace, run without a shell.
    pub fn kms_command(cmd: &str) -> Result<Self, SealError> {
        KmsCommand::parse(cmd).map(Self::Kms)
    }
}

/// One recipient in the `[release]` configuration. Exactly one field is set;
/// secrets are never inline, only paths or environment variable names.
///
/// ```toml
/// [[release.recipients]]
/// kek_file = "keys/release.kek"
/// [[release.recipients]]
/// kms_command = ["/usr/local/bin/vault-kms", "--key", "sealtune"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    /// Path of a KEK file (mode 0600, as written by `sealtune keygen`). Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_file: Option<PathBuf>,
    /// Name of an environment variable holding a passphrase. Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
    /// KMS program and arguments, run without a shell. Default: unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_command: Option<Vec<String>>,
    /// Argon2id cost for `passphrase_env`. Default: 64 MiB, 3 passes, 4 lanes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argon2: Option<Argon2Settings>,
}

impl RecipientConfig {
    /// What is wrong with this entry, without loading any key: the sub-key to name
    /// (`""` for the entry itself, `"argon2"`, `"kms_command"`) and what to do.
    fn problem(&self) -> Option<(&'static str, String)> {
        let set = [
            self.kek_file.is_some(),
            self.passphrase_env.is_some(),
            self.kms_command.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set != 1 {
            return Some((
                "",
                format!("needs exactly one of kek_file, passphrase_env, kms_command ({set} given)"),
            ));
        }
        if self.argon2.is_some() && self.passphrase_env.is_none() {
            return Some(("argon2", "only valid together with passphrase_env".into()));
        }
        if self.kms_command.as_ref().is_some_and(|c| c.is_empty()) {
            return Some((
                "kms_command",
                "must name a program, e.g. [\"/usr/local/bin/vault-kms\", \"--key\", \"sealtune\"]"
                    .into(),
            ));
        }
        None
    }

    /// [`RecipientConfig::problem`] with the configuration key to name: `entry` is the
    /// entry's own key (e.g. `release.recipients[0]`), extended by the sub-key at fault.
    pub fn problem_at(&self, entry: &str) -> Option<(String, String)> {
        self.problem().map(|(sub, reason)| {
            let key = if sub.is_empty() {
                entry.to_owned()
            } else {
                format!("{entry}.{sub}")
            };
            (key, reason)
        })
    }

    /// Loads the key this entry names; relative paths resolve against `base`.
    pub fn resolve(&self, base: &Path) -> Result<KeySource, SealError> {
        if let Some((field, reason)) = self.problem_at("release.recipients") {
            return Err(SealError::Config { field, reason });
        }
        if let Some(p) = &self.kek_file {
            return Ok(KeySource::Kek(Kek::load(&base.join(p))?));
        }
        if let Some(var) = &self.passphrase_env {
            return Ok(KeySource::Passphrase {
                passphrase: Passphrase::from_env(var)?,
                settings: self.argon2.unwrap_or_default(),
            });
        }
        let argv = self.kms_command.as_deref().unwrap_or_default();
        Ok(KeySource::Kms(KmsCommand::from_argv(argv)?))
    }

    /// A one-way name of this entry's key, safe to record and to put in a stage's
    /// key: a KEK's id (derived from the key, not the key), the passphrase
    /// variable's name with its Argon2id cost, or the KMS program's argv. Loading
    /// the KEK checks its file as [`RecipientConfig::resolve`] does.
    pub fn id(&self, base: &Path) -> Result<String, SealError> {
        if let Some(p) = &self.kek_file {
            return Ok(format!("kek:{}", Kek::load(&base.join(p))?.id()));
        }
        if let Some(var) = &self.passphrase_env {
            let a = self.argon2.unwrap_or_default();
            return Ok(format!(
                "passphrase_env:{var}:argon2id:m={},t={},p={}",
                a.memory_kib, a.iterations, a.parallelism
            ));
        }
        Ok(format!(
            "kms:{}",
            self.kms_command.as_deref().unwrap_or_default().join(" ")
        ))
    }
}

/// Paths written by [`keygen`].
#[derive(Debug, Clone)]
pub struct KeygenOutput {
    /// `NAME.key.pem`: PKCS#8 ECDSA P-256 private key, mode 0600.
    pub private_key: PathBuf,
    /// `NAME.pub.pem`: SPKI public key, mode 0644.
    pub public_key: PathBuf,
    /// `NAME.kek`: KEK in text form, mode 0600.
    pub kek: PathBuf,
    /// Key hint of the public key (SHA-256 of its PEM, hex) as used in `model.sig`.
    pub public_key_hint: String,
}

/// Writes a signing key pair and a KEK into `out_dir` (created if missing),
/// refusing to overwrite any existing file.
pub fn keygen(out_dir: &Path, name: &str) -> Result<KeygenOutput, SealError> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(SealError::Config {
            field: "--name".into(),
            reason: format!("{name:?} must be a plain file name stem such as `release`"),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|source| SealError::CreateOutput {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let out = KeygenOutput {
        private_key: out_dir.join(format!("{name}.key.pem")),
        public_key: out_dir.join(format!("{name}.pub.pem")),
        kek: out_dir.join(format!("{name}.kek")),
        public_key_hint: String::new(),
    };
    for p in [&out.private_key, &out.public_key, &out.kek] {
        if p.symlink_metadata().is_ok() {
            return Err(SealError::CreateOutput {
                path: p.clone(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
    }
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let pem = sk
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SealError::Internal(e.to_string()))?;
    let pub_pem = public_key_pem(sk.verifying_key())?;
    let kek = Kek::generate()?;
    write_new(&out.private_key, 0o600, pem.as_bytes())?;
    write_new(&out.public_key, 0o644, pub_pem.as_bytes())?;
    write_new(&out.kek, 0o600, kek.to_text().as_bytes())?;
    Ok(KeygenOutput {
        public_key_hint: key_hint(sk.verifying_key())?,
        ..out
    })
}

/// Writes a key file that appears under its name only complete (an unnamed
/// temporary linked in at the end, see [`fsutil::AtomicFile`]), so an
/// interrupted `keygen` never leaves a truncated key behind.
fn write_new(path: &Path, mode: u32, data: &[u8]) -> Result<(), SealError> {
    let mut f = fsutil::AtomicFile::create(path, mode)?;
    f.file()
        .write_all(data)
        .map_err(|e| SealError::io(path, e))?;
    f.commit()
}

/// SPKI PEM of a public key, LF line endings (the form the key hint hashes).
pub fn public_key_pem(vk: &VerifyingKey) -> Result<String, SealError> {
    vk.to_public_key_pem(LineEnding::LF)
        .map_err(|e| SealError::Internal(e.to_string()))
}

/// The OMS key hint: lowercase hex SHA-256 of the SPKI PEM text.
pub fn key_hint(vk: &VerifyingKey) -> Result<String, SealError> {
    Ok(hex::encode(Sha256::digest(public_key_pem(vk)?.as_bytes())))
}

/// Loads a PKCS#8 PEM P-256 private key, refusing one that group or others can read.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SealError> {
    let bytes = fsutil::read_secret(path, 64 * 1024)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| SealError::InvalidKey {
        path: path.to_path_buf(),
        reason: "not PEM text".into(),
    })?;
    SigningKey::from_pkcs8_pem(text).map_err(|e| SealError::InvalidKey {
        path: path.to_path_buf(),
        reason: format!("expected a PKCS#8 PEM ECDSA P-256 private key ({e})"),
    })
}

/// Loads an SPKI PEM P-256 public key.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, SealError> {
    let text = std::fs::read_to_string(path).map_err(|e| SealError::io(path, e))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| SealError::InvalidKey {
        path: path.to_path_buf(),
        reason: format!("expected an SPKI PEM ECDSA P-256 public key ({e})"),
    })
}
