//! The `[model]` section: which base model train and eval load.

use std::path::{Path, PathBuf};

use sealtune_pipeline::{Config, ConfigError, StageError};
use serde::{Deserialize, Serialize};

/// `[model]`: the base model, a Hugging Face model directory (`config.json`,
/// `model.safetensors` or a sharded index, `tokenizer.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The model directory, relative to the config file. Required.
    pub path: PathBuf,
    /// The model's public name (e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`), for the
    /// model card's `base_model`. Default: none.
    #[serde(default)]
    pub name: Option<String>,
    /// The base model's license identifier (e.g. `apache-2.0`). Default: none.
    #[serde(default)]
    pub license: Option<String>,
}

/// Files of a model directory that determine its behaviour, when present.
const MODEL_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "model.safetensors",
];

impl ModelSection {
    /// Parse `[model]`; it is required by every stage that loads the model.
    pub fn from_config(cfg: &Config) -> Result<ModelSection, ConfigError> {
        if !cfg.has_section("model") {
            return Err(cfg.error_at(
                "model",
                "missing: the train and eval stages need the base model; add [model] with `path` (a Hugging Face model directory, e.g. one made by `sealtune import-gguf`)",
            ));
        }
        cfg.section("model")
    }

    /// The model directory, resolved against the config file.
    pub fn dir(&self, cfg: &Config) -> PathBuf {
        cfg.resolve(&self.path)
    }

    /// The model's files (config, tokenizer, weights and shards), sorted: the stage's
    /// external inputs. A missing directory or weight file is exit 66.
    pub fn files(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        let dir = self.dir(cfg);
        if !dir.join("config.json").is_file() {
            return Err(StageError::missing(format!(
                "[model] path: {}: no config.json there; point it at a Hugging Face model directory (scripts/fetch-smollm2.sh makes one)",
                dir.display()
            )));
        }
        let mut out: Vec<PathBuf> = MODEL_FILES
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file())
            .collect();
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            out.push(index.clone());
            out.extend(shards(&index)?);
        } else if !dir.join("model.safetensors").is_file() {
            return Err(StageError::missing(format!(
                "[model] path: {}: no model.safetensors or model.safetensors.index.json",
                dir.display()
            )));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn shards(index: &Path) -> Result<Vec<PathBuf>, StageError> {
    let text = std::fs::read_to_string(index).map_err(|e| StageError::io("read", index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| StageError::data(format!("{}: not JSON: {e}", index.display())))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| StageError::data(format!("{}: no weight_map", index.display())))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = map
        .values()
        .filter_map(|f| f.as_str())
        .map(|f| dir.join(f))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The `[compute]` section (or its `--device` and `--dtype` overrides) resolved to a
/// device of this build and machine and a precision it computes in. Train and eval both
/// read it; a device this build or machine does not have, or bf16 on the pure-Rust CPU
/// device, is a configuration error (exit 78) naming the key or flag and saying what to do.
pub fn compute(cfg: &Config) -> Result<sealtune_model::Compute, StageError> {
    let sec: sealtune_model::ComputeSection = cfg.section("compute")?;
    let dtype_origin = cfg.origin("compute.dtype");
    sec.resolve(&cfg.origin("compute.device"), &dtype_origin)
        .map_err(|e| match e {
            // Name the file and line (or the flag) like every other config error.
            sealtune_model::ModelError::Device {
                key,
                choice,
                message,
            } => {
                let field = if key == dtype_origin {
                    "compute.dtype"
                } else {
                    "compute.device"
                };
                cfg.error_at(field, format!("\"{choice}\": {message}"))
                    .into()
            }
            other => StageError::from_error(other),
        })
}

/// What the stage key holds about the device: the kind (resolving only `auto`) and the
/// precision. Never fails on a machine without the device, so `sealtune status` works
/// anywhere; `preflight` is where an unavailable device is refused.
pub fn compute_key(cfg: &Config) -> Result<serde_json::Value, StageError> {
    let sec: sealtune_model::ComputeSection = cfg.section("compute")?;
    let (device, dtype) = sec.key();
    Ok(serde_json::json!({"device": device, "dtype": dtype}))
}

/// [`compute`] for a running stage, announced as a `<stage>_device` event ("train:
/// computing on libtorch-cpu (f32)").
pub fn compute_for_stage(
    ctx: &sealtune_pipeline::StageContext<'_>,
    stage: &str,
) -> Result<sealtune_model::Compute, StageError> {
    let c = compute(ctx.config())?;
    ctx.events().emit(
        &format!("{stage}_device"),
        c.record(),
        Some(format!("{stage}: computing on {c} ({})", c.dtype())),
    );
    Ok(c)
}
