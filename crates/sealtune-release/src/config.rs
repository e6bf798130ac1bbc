//! The `[release]` section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use sealtune_card::CardConfig;
use sealtune_pipeline::{Config, ConfigError};
use sealtune_seal::RecipientConfig;

/// `[release]`: who can open the weights, who signs them, and what the card
/// says beyond the artifacts.
///
/// ```toml
/// [release]
/// signing_key_file = "../keys/release.key.pem"
/// include_merged = false
///
/// [[release.recipients]]
/// kek_file = "../keys/release.kek"
///
/// [release.card]
/// intended_use = "Summarise discharge notes for clinicians."
/// out_of_scope_use = ["Diagnosis"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// Private signing key: PKCS#8 PEM ECDSA P-256, mode 0600, as written by
    /// `sealtune keygen` (`NAME.key.pem`). Relative to the config file.
    /// Required.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
    /// Who can open the sealed weights: one or more entries, each with
    /// exactly one of `kek_file`, `passphrase_env`, `kms_command`. Required
    /// (at least one).
    #[serde(default)]
    pub recipients: Vec<RecipientConfig>,
    /// Also seal the merged weights of `train/merged/` into `release/merged/`
    /// (needs `[train] save_merged = true`). Default: `false`.
    #[serde(default)]
    pub include_merged: bool,
    /// Card fields no artifact holds (intended use, licence, tags...).
    /// Default: all unset, shown as "not stated".
    #[serde(default)]
    pub card: CardConfig,
}

/// Parses and checks `[release]` without touching any key file; paths stay
/// as written (resolve them with [`Config::resolve`]).
pub fn release_config(cfg: &Config) -> Result<ReleaseConfig, ConfigError> {
    let r: ReleaseConfig = cfg.section("release")?;
    if r.signing_key_file.is_none() {
        return Err(cfg.error_at(
            "release.signing_key_file",
            "missing: the release is signed; set it to a private key written by `sealtune keygen` (NAME.key.pem, mode 600)",
        ));
    }
    if r.recipients.is_empty() {
        return Err(cfg.error_at(
            "release.recipients",
            "missing: the weights are sealed for at least one recipient; add `[[release.recipients]]` with `kek_file = \"NAME.kek\"` (or `passphrase_env`, or `kms_command`)",
        ));
    }
    for (i, rc) in r.recipients.iter().enumerate() {
        if let Some((key, reason)) = rc.problem_at(&format!("release.recipients[{i}]")) {
            return Err(cfg.error_at(&key, reason));
        }
    }
    Ok(r)
}
