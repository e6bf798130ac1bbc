//! The `[train]` section.

use sealtune_data::canary::Format;
use sealtune_model::LoraConfig;
use sealtune_pipeline::{Config, ConfigError};
use serde::{Deserialize, Serialize};

/// Learning-rate schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Half a cosine from the peak down to `min_lr_ratio × peak`.
    Cosine,
    /// A straight line from the peak down to `min_lr_ratio × peak`.
    Linear,
    /// The peak, held.
    Constant,
}

/// What to do with an example longer than `max_seq_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    /// Keep its first `max_seq_len` tokens.
    Truncate,
    /// Leave it out (counted in the summary).
    Drop,
}

/// Optimiser settings (AdamW over the LoRA parameters only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Peak learning rate. Default 2e-4.
    pub learning_rate: f64,
    /// Adam β1, β2. Default [0.9, 0.999].
    pub betas: [f64; 2],
    /// Adam ε. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay. Default 0.0.
    pub weight_decay: f64,
    /// Schedule after warm-up. Default cosine.
    pub schedule: Schedule,
    /// Linear warm-up steps from 0 to the peak. Default 0.
    pub warmup_steps: u64,
    /// Where cosine and linear end, as a fraction of the peak. Default 0.0.
    pub min_lr_ratio: f64,
    /// Global-norm gradient clipping; 0 turns it off. Default 1.0.
    pub clip_norm: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            learning_rate: 2e-4,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            schedule: Schedule::Cosine,
            warmup_steps: 0,
            min_lr_ratio: 0.0,
            clip_norm: 1.0,
        }
    }
}

/// `train.canaries`: synthetic secrets for the leakage evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryConfig {
    /// Canaries inserted (and as many held-out twins drawn); 0 turns canaries off.
    /// Default 8.
    pub count: usize,
    /// Formats, used in turn. Default all: ssn, card, mrn, passphrase.
    pub formats: Vec<Format>,
    /// How many times each inserted canary appears in one epoch. Default 10.
    pub repeats: u32,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        Self {
            count: 8,
            formats: Format::ALL.to_vec(),
            repeats: 10,
        }
    }
}

/// `[train]`. Every field has a default, so an empty section trains one epoch with
/// rank-16 LoRA on all projections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// `[train.lora]`: rank, alpha, dropout, use_rslora, targets, seed.
    pub lora: LoraConfig,
    /// `[train.optim]`: AdamW and the schedule.
    pub optim: OptimConfig,
    /// `[train.canaries]`.
    pub canaries: CanaryConfig,
    /// Longest packed row, in tokens. Default 512.
    pub max_seq_len: usize,
    /// Tokens per micro-batch: rows of `max_seq_len` are stacked up to this budget.
    /// Default: `max_seq_len` (one row).
    pub batch_tokens: Option<usize>,
    /// Micro-batches per optimiser step. Default 1.
    pub grad_accum: usize,
    /// Pack several examples per row (block-diagonal attention, positions restart per
    /// example). Default true.
    pub packing: bool,
    /// Examples longer than `max_seq_len`. Default truncate.
    pub truncation: Truncation,
    /// Train on every token, not only assistant content. Default false.
    pub train_on_inputs: bool,
    /// Stop after this many optimiser steps. Default: none (use `epochs`).
    pub max_steps: Option<u64>,
    /// Passes over the training split. Default 1 (when `max_steps` is not set).
    pub epochs: Option<u32>,
    /// Seed of the data order and dropout. Default 0.
    pub seed: u64,
    /// Activation checkpointing: keep only each layer's input during the forward pass and
    /// recompute one layer at a time in the backward pass. Activation memory falls from
    /// every layer's intermediates to one layer's, for about a third more compute; for long
    /// sequences on large models (Llama-3.1-8B at 4096 tokens). Default false.
    pub activation_checkpointing: bool,
    /// Evaluation loss on the eval split every N steps (and at the end); 0 = only at the
    /// end. Default 0.
    pub eval_every: u64,
    /// Most eval records used for the eval loss. Default 64.
    pub eval_max_records: usize,
    /// Checkpoint every N steps; 0 = never by count. Default 50.
    pub checkpoint_every: u64,
    /// Checkpoint every M minutes; 0 = never by time. Default 10.
    pub checkpoint_minutes: f64,
    /// Checkpoints kept. Default 2.
    pub keep_checkpoints: usize,
    /// Also write the merged model (`train/merged/`). Default false.
    pub save_merged: bool,
    /// Never write weights in clear: the checkpoints, the adapter and the merged model
    /// are written only sealed (`*.safetensors.seal`) and decrypted into memory by
    /// resume, eval and release. Default false.
    pub seal_at_rest: bool,
    /// The keys that seal weights at rest, as `[[release.recipients]]` entries (exactly
    /// one of `kek_file`, `passphrase_env`, `kms_command` each). Default: the release's
    /// recipients. Paths are not recorded in `training.json` (only the keys' one-way ids).
    #[serde(skip_serializing)]
    pub at_rest_recipients: Vec<sealtune_seal::RecipientConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lora: LoraConfig::default(),
            optim: OptimConfig::default(),
            canaries: CanaryConfig::default(),
            max_seq_len: 512,
            batch_tokens: None,
            grad_accum: 1,
            packing: true,
            truncation: Truncation::Truncate,
            train_on_inputs: false,
            max_steps: None,
            epochs: None,
            seed: 0,
            activation_checkpointing: false,
            eval_every: 0,
            eval_max_records: 64,
            checkpoint_every: 50,
            checkpoint_minutes: 10.0,
            keep_checkpoints: 2,
            save_merged: false,
            seal_at_rest: false,
            at_rest_recipients: Vec::new(),
        }
    }
}

impl TrainConfig {
    /// The at-rest settings (`seal_at_rest`, `at_rest_recipients`) as the shared
    /// [`sealtune_stagekit::AtRestSettings`] that eval reads too.
    pub fn at_rest(&self) -> sealtune_stagekit::AtRestSettings {
        sealtune_stagekit::AtRestSettings {
            seal_at_rest: self.seal_at_rest,
            at_rest_recipients: self.at_rest_recipients.clone(),
        }
    }

    /// Parse and check `[train]` (absent: all defaults).
    pub fn from_config(cfg: &Config) -> Result<TrainConfig, ConfigError> {
        let t: TrainConfig = cfg.section("train")?;
        let bad = |key: &str, msg: String| Err(cfg.error_at(&format!("train.{key}"), msg));
        if let Err(e) = t.lora.validate() {
            return bad("lora", e.to_string());
        }
        if !(8..=1 << 17).contains(&t.max_seq_len) {
            return bad(
                "max_seq_len",
                format!("{} must be between 8 and 131072", t.max_seq_len),
            );
        }
        if let Some(b) = t.batch_tokens
            && b < t.max_seq_len
        {
            return bad(
                "batch_tokens",
                format!(
                    "{b} is smaller than max_seq_len ({}); a micro-batch holds at least one row",
                    t.max_seq_len
                ),
            );
        }
        if t.grad_accum == 0 {
            return bad("grad_accum", "must be at least 1".into());
        }
        if t.max_steps == Some(0) {
            return bad("max_steps", "must be at least 1".into());
        }
        if t.epochs == Some(0) {
            return bad("epochs", "must be at least 1".into());
        }
        let o = &t.optim;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            return bad("optim.learning_rate", "must be a positive number".into());
        }
        if o.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return bad("optim.betas", "each beta must be in [0, 1)".into());
        }
        if o.eps.is_nan() || o.eps <= 0.0 {
            return bad("optim.eps", "must be positive".into());
        }
        if o.weight_decay.is_nan() || o.weight_decay < 0.0 {
            return bad("optim.weight_decay", "must be 0 or more".into());
        }
        if !(0.0..=1.0).contains(&o.min_lr_ratio) {
            return bad("optim.min_lr_ratio", "must be in [0, 1]".into());
        }
        if o.clip_norm.is_nan() || o.clip_norm < 0.0 {
            return bad("optim.clip_norm", "must be 0 (off) or positive".into());
        }
        if t.checkpoint_minutes.is_nan() || t.checkpoint_minutes < 0.0 {
            return bad("checkpoint_minutes", "must be 0 (off) or positive".into());
        }
        if t.keep_checkpoints == 0 {
            return bad("keep_checkpoints", "must be at least 1".into());
        }
        if !t.seal_at_rest && !t.at_rest_recipients.is_empty() {
            return bad(
                "at_rest_recipients",
                "only used with seal_at_rest = true; set it, or remove the recipients".into(),
            );
        }
        for (i, rc) in t.at_rest_recipients.iter().enumerate() {
            if let Some((key, reason)) = rc.problem_at(&format!("at_rest_recipients[{i}]")) {
                return bad(&key, reason);
            }
        }
        if t.canaries.count > 0 && t.canaries.formats.is_empty() {
            return bad("canaries.formats", "needs at least one format".into());
        }
        if t.canaries.count > 0 && t.canaries.repeats == 0 {
            return bad(
                "canaries.repeats",
                "must be at least 1 (set count = 0 to turn canaries off)".into(),
            );
        }
        Ok(t)
    }

    /// Rows of `max_seq_len` per micro-batch.
    pub fn rows_per_micro_batch(&self) -> usize {
        self.batch_tokens.unwrap_or(self.max_seq_len) / self.max_seq_len
    }
}
