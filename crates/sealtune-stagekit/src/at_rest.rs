//! Weights sealed at rest (`[train] seal_at_rest = true`).
//!
//! With the setting on, no weight file is ever written in clear under the run directory:
//! the checkpoints in the train stage's work directory and the trained adapter (and the
//! merged model, with `save_merged`) are serialised into zeroizing memory and written
//! only as sealed files (`NAME.safetensors.seal`, the release's format). Resuming,
//! the eval stage and the release stage decrypt them into memory with the same keys.
//!
//! The keys are `[[train.at_rest_recipients]]` when given, else `[[release.recipients]]`.
//! Each entry is a KEK file, a passphrase variable or a KMS program; every one of them can
//! both seal and open.

use std::path::{Path, PathBuf};

use sealtune_model::Llama;
use sealtune_model::safetensors::{OwnedTensor, encode_safetensors};
use sealtune_pipeline::{Config, ConfigError, Exit, StageError};
use sealtune_seal::at_rest::{AtRestKeys, RELEASE_KEYS, TRAIN_KEYS};
use sealtune_seal::{KeySource, RecipientConfig};
use serde::Deserialize;
// Which keys seal the weights is the seal crate's rule, shared with the release stage
// (which has no burn and so no stagekit).
pub use sealtune_seal::at_rest::AtRestSettings;

/// Reads the two at-rest keys from `[train]` (other keys there are train's to check).
pub fn settings(cfg: &Config) -> Result<AtRestSettings, ConfigError> {
    cfg.section("train")
}

#[derive(Deserialize)]
struct ReleaseRecipients {
    #[serde(default)]
    recipients: Vec<RecipientConfig>,
}

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The suffix of a sealed weight file.
pub const SEALED_SUFFIX: &str = ".seal";

/// Content type recorded in the header of a sealed safetensors file.
pub const CONTENT_TYPE: &str = "application/vnd.safetensors";

/// The path of the sealed form of `path` (`NAME.seal`).
pub fn sealed_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SEALED_SUFFIX);
    PathBuf::from(s)
}

/// The keys that seal and open weights at rest, loaded.
#[derive(Debug)]
pub struct AtRest {
    keys: Vec<KeySource>,
    ids: Vec<String>,
    from: &'static str,
}

impl AtRest {
    /// The at-rest keys of `cfg`, loaded (KEK files must be private), or `None` when
    /// `[train] seal_at_rest` is off.
    pub fn from_config(cfg: &Config, t: &AtRestSettings) -> Result<Option<AtRest>, StageError> {
        let Some((entries, from)) = recipients(cfg, t)? else {
            return Ok(None);
        };
        let mut keys = Vec::with_capacity(entries.len());
        let mut ids = Vec::with_capacity(entries.len());
        for rc in &entries {
            keys.push(rc.resolve(cfg.base_dir()).map_err(StageError::from_error)?);
            ids.push(rc.id(cfg.base_dir()).map_err(StageError::from_error)?);
        }
        Ok(Some(AtRest { keys, ids, from }))
    }

    /// Keys given directly (`ids` are their one-way names, `keys_from` the configuration
    /// key that named them), for callers that do not read a config.
    pub fn new(keys: Vec<KeySource>, ids: Vec<String>, keys_from: &'static str) -> AtRest {
        AtRest {
            keys,
            ids,
            from: keys_from,
        }
    }

    /// One-way names of the keys (KEK ids, variable names, KMS argv), for the stage key
    /// and the records.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// What `training.json` records: that weights were sealed at rest, for which keys,
    /// and which configuration key named them.
    pub fn record(&self) -> sealtune_contract::artifacts::train::SealedAtRest {
        sealtune_contract::artifacts::train::SealedAtRest {
            recipients: self.ids.clone(),
            keys_from: self.from.to_owned(),
        }
    }

    /// Serialises `tensors` as safetensors into zeroizing memory and seals them as
    /// `path` + `.seal` (mode 0600). Returns the SHA-256 of the plaintext, the digest
    /// the clear file would have had.
    pub fn write_tensors(
        &self,
        path: &Path,
        tensors: &[OwnedTensor],
    ) -> Result<String, StageError> {
        let bytes =
            Zeroizing::new(encode_safetensors(path, tensors).map_err(StageError::from_error)?);
        let digest = hex::encode(Sha256::digest(&bytes[..]));
        sealtune_seal::seal_bytes(
            &bytes,
            &sealed_path(path),
            &self.keys,
            Some(CONTENT_TYPE),
            0o600,
        )
        .map_err(StageError::from_error)?;
        Ok(digest)
    }

    /// Decrypts a sealed file into zeroizing memory, after every chunk authenticated.
    pub fn open(&self, sealed: &Path) -> Result<Zeroizing<Vec<u8>>, StageError> {
        let (bytes, _) =
            sealtune_seal::open_sealed(sealed, &self.keys).map_err(StageError::from_error)?;
        Ok(bytes)
    }
}

/// The recipient entries `[train] seal_at_rest` uses and the key that named them, or
/// `None` when it is off. Checks the entries without loading any key.
pub fn recipients(
    cfg: &Config,
    t: &AtRestSettings,
) -> Result<Option<(Vec<RecipientConfig>, &'static str)>, ConfigError> {
    match t.keys() {
        AtRestKeys::Off => Ok(None),
        AtRestKeys::Train(entries) => Ok(Some((entries.to_vec(), TRAIN_KEYS))),
        AtRestKeys::Release => {
            let r: ReleaseRecipients = cfg.section("release")?;
            if r.recipients.is_empty() {
                return Err(cfg.error_at(
                    "train.seal_at_rest",
                    "needs keys to seal with: add `[[train.at_rest_recipients]]` with `kek_file = \"NAME.kek\"` (or `passphrase_env`, or `kms_command`), or `[[release.recipients]]`, whose keys are used by default",
                ));
            }
            Ok(Some((r.recipients, RELEASE_KEYS)))
        }
    }
}

/// Checks the at-rest keys of `cfg` without reading any secret: the entries are well
/// formed and every KEK file exists (named by its key, e.g.
/// `train.at_rest_recipients[0].kek_file`).
pub fn validate(cfg: &Config, t: &AtRestSettings) -> Result<(), ConfigError> {
    let Some((entries, from)) = recipients(cfg, t)? else {
        return Ok(());
    };
    for (i, rc) in entries.iter().enumerate() {
        if let Some(p) = &rc.kek_file
            && !cfg.resolve(p).is_file()
        {
            return Err(cfg.error_at(
                &format!("{from}[{i}].kek_file"),
                format!(
                    "{}: not found; create one with `sealtune keygen --out DIR`",
                    cfg.resolve(p).display()
                ),
            ));
        }
    }
    Ok(())
}

/// Attaches the trained adapter in `dir` to `model`: the clear PEFT directory, or, when
/// it was sealed at rest, its sealed weights decrypted into memory with `at_rest`'s keys
/// (nothing is written).
pub fn load_adapter(
    model: &mut Llama,
    dir: &Path,
    at_rest: Option<&AtRest>,
) -> Result<(), StageError> {
    let weights = dir.join("adapter_model.safetensors");
    let sealed = sealed_path(&weights);
    if !sealed.is_file() {
        return model.load_peft_adapter(dir).map_err(StageError::from_error);
    }
    let Some(at_rest) = at_rest else {
        return Err(StageError::new(
            Exit::Config,
            format!(
                "{}: the adapter is sealed at rest but [train] seal_at_rest is off now; set it back (with the same keys), or rerun train",
                sealed.display()
            ),
        ));
    };
    let cfg_path = dir.join("adapter_config.json");
    let config = std::fs::read(&cfg_path).map_err(|e| StageError::io("read", &cfg_path, e))?;
    let bytes = at_rest.open(&sealed)?;
    model
        .load_peft_adapter_bytes(&config, &bytes, dir)
        .map_err(StageError::from_error)
}
