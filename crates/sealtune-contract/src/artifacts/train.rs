//! The `train` stage: the LoRA adapter and what produced it.

/// The stage's directory.
pub const DIR: &str = "train";
/// The adapter, in PEFT's layout.
pub const ADAPTER_DIR: &str = "adapter";
/// The base model with the adapter merged in (`[train] merge = true`).
pub const MERGED_DIR: &str = "merged";
/// Settings, data digests, adapter digest and timings.
pub const TRAINING: &str = "training.json";
/// The schema id of [`TRAINING`].
pub const TRAINING_SCHEMA: &str = "sealtune.training/v1";
/// One line of loss and learning rate per logged step.
pub const METRICS: &str = "metrics.jsonl";
/// The synthetic canary values planted for the leakage test, and their held-out twins.
pub const CANARIES: &str = "canaries.json";
/// The schema id of [`CANARIES`].
pub const CANARIES_SCHEMA: &str = "sealtune.canaries/v1";

use serde::{Deserialize, Serialize};

use super::FileRef;

/// `base_model` of [`Training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    /// Hub-style name from `[model] name`, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`.
    pub name: Option<String>,
    /// Licence identifier from `[model] license`, e.g. `apache-2.0`.
    pub license: Option<String>,
    /// Directory it was loaded from, relative to the config file where possible.
    pub path: String,
    /// Its files with digests and sizes.
    pub files: Vec<FileRef>,
}

/// `adapter` of [`Training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adapter {
    /// Adapter kind: `lora`.
    #[serde(rename = "type")]
    pub kind: String,
    /// LoRA rank.
    pub rank: u64,
    /// LoRA alpha.
    pub alpha: f64,
    /// LoRA dropout.
    pub dropout: f64,
    /// Rank-stabilised scaling (alpha / sqrt(rank)).
    pub use_rslora: bool,
    /// Target module names (`q_proj`, ...).
    pub targets: Vec<String>,
    /// Trainable parameter count.
    pub trainable_parameters: u64,
    /// The adapter's files with digests (of the plaintext when sealed at rest).
    pub files: Vec<FileRef>,
}

/// `records` of [`Training`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// Masked training records read.
    pub train: u64,
    /// Masked evaluation records read.
    pub eval: u64,
    /// Training records that became examples.
    pub trained_examples: u64,
    /// Records skipped as longer than `max_seq_len`.
    pub too_long: u64,
    /// Records skipped for having no assistant (target) tokens.
    pub no_targets: u64,
    /// Canary records inserted into the training stream.
    pub canary_records: u64,
    /// Evaluation records the evaluation loss was computed on.
    pub eval_loss_records: u64,
}

/// `final` of [`Training`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinalLoss {
    /// Last training loss (`None` when no step ran).
    pub train_loss: Option<f64>,
    /// Last evaluation loss, if evaluated.
    pub eval_loss: Option<f64>,
}

/// `sealed_at_rest` of [`Training`]: how the weights were kept in the run directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedAtRest {
    /// One-way ids of the keys the checkpoints and the adapter were sealed for.
    pub recipients: Vec<String>,
    /// The configuration key that named them (`train.at_rest_recipients` or
    /// `release.recipients`).
    pub keys_from: String,
}

/// `hardware` of [`Training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// The device trained on: `cpu`, `libtorch-cpu` or `cuda:N`.
    pub device: String,
    /// `burn-flex` or `burn-tch (LibTorch)`.
    pub backend: String,
    /// Precision of the computation.
    pub dtype: String,
    /// The CPU's model name, where the system tells it.
    pub cpu: Option<String>,
    /// Threads available to the process.
    pub threads: u64,
    /// Total memory in GiB, where the system tells it.
    pub memory_gib: Option<f64>,
}

/// [`TRAINING`] (schema [`TRAINING_SCHEMA`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Always [`TRAINING_SCHEMA`].
    pub schema: String,
    /// The base model.
    pub base_model: BaseModel,
    /// The adapter.
    pub adapter: Adapter,
    /// Whether merged weights were written ([`MERGED_DIR`]).
    pub merged: bool,
    /// Set when `[train] seal_at_rest` kept every weight file sealed in the run
    /// directory; `None` when they were written in clear.
    pub sealed_at_rest: Option<SealedAtRest>,
    /// Every `[train]` setting after defaults.
    pub hyperparameters: serde_json::Map<String, serde_json::Value>,
    /// Record counts.
    pub records: Records,
    /// Optimiser steps.
    pub steps: u64,
    /// Epochs completed (fractional).
    pub epochs_completed: f64,
    /// Tokens processed.
    pub tokens_seen: u64,
    /// Tokens that contributed to the loss.
    pub loss_tokens: u64,
    /// Final losses.
    #[serde(rename = "final")]
    pub final_loss: FinalLoss,
    /// Training time in seconds, over every session of a resumed run.
    pub wall_time_s: f64,
    /// Step training resumed from, if it was interrupted.
    pub resumed_from_step: Option<u64>,
    /// Where it ran.
    pub hardware: Hardware,
    /// Peak resident memory in MiB, where the system tells it.
    pub peak_rss_mib: Option<f64>,
}

/// One line of [`METRICS`], tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MetricsLine {
    /// An optimiser step.
    Train {
        /// Step number (from 1).
        step: u64,
        /// Mean cross-entropy over the step's target tokens.
        loss: f64,
        /// Learning rate of the step.
        lr: f64,
        /// Global gradient norm before clipping.
        grad_norm: f64,
        /// Real tokens processed.
        tokens: u64,
        /// Tokens per second of the step.
        tokens_per_s: f64,
        /// Training time so far, seconds.
        elapsed_s: f64,
        /// Peak resident memory so far, MiB.
        rss_mib: Option<f64>,
    },
    /// An evaluation-loss pass.
    Eval {
        /// The step it followed.
        step: u64,
        /// Mean cross-entropy over the evaluation records' target tokens.
        eval_loss: f64,
        /// Target tokens it was computed on.
        tokens: u64,
    },
}

impl MetricsLine {
    /// The step the line belongs to.
    pub fn step(&self) -> u64 {
        match self {
            Self::Train { step, .. } | Self::Eval { step, .. } => *step,
        }
    }
}
