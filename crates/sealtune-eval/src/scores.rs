//! `eval/scores.json`: the per-record numbers behind the membership-inference and
//! canary-exposure metrics, written when `[eval] write_scores = true` so that anyone can
//! recompute the metrics with the reference tools (`scripts/check-mia-scores.py`,
//! `scripts/check-exposure.py`).
//!
//! The file holds token ids of masked records (the same text as `mask/train.jsonl` and
//! `mask/eval.jsonl`, which it must be kept with) and canary NLLs; never a canary's
//! secret, an original PII value or anything the masked files do not already hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file's schema tag.
pub const SCHEMA: &str = "sealtune.eval-scores/1";

/// `eval/scores.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// [`SCHEMA`].
    pub schema: String,
    /// The Min-K% fraction `k` (`[eval] min_k`).
    pub min_k: f64,
    /// The zlib level of the zlib score's compressed length.
    pub zlib_level: u32,
    /// One entry per scored record, members first.
    pub mia: Vec<MiaRecord>,
    /// One entry per canary, inserted and held out.
    pub canaries: Vec<CanaryScores>,
}

/// One record's membership scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiaRecord {
    /// `member` (from `mask/train.jsonl`) or `non_member` (`mask/eval.jsonl`).
    pub set: String,
    /// 0-based index of the record in its file.
    pub record: usize,
    /// The token ids scored (the record rendered as training renders it, last
    /// `[eval] max_tokens` kept).
    pub tokens: Vec<u32>,
    /// Positions (≥ 1) of the scored tokens: those training learns.
    pub targets: Vec<usize>,
    /// zlib-compressed length of the targets' decoded text.
    pub zlib_len: usize,
    /// Scores under the base model: attack id -> score (`None` when undefined).
    pub base: BTreeMap<String, Option<f64>>,
    /// Scores under the fine-tuned model.
    pub finetuned: BTreeMap<String, Option<f64>>,
}

/// One canary's NLLs and exposures under one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryModel {
    /// The canary value's NLL after its prompt (nats).
    pub nll: f64,
    /// The NLLs of the random reference values of its format, in draw order.
    pub reference_nll: Vec<f64>,
    /// Interpolated exposure (bits).
    pub exposure: Option<f64>,
    /// Skew-normal exposure (bits).
    pub exposure_skewnorm: Option<f64>,
}

/// One canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryScores {
    /// Canary id.
    pub id: String,
    /// Format name.
    pub format: String,
    /// Inserted into training (true) or held out.
    pub inserted: bool,
    /// `log2 |R|` of the format's value space.
    pub log2_space: f64,
    /// Base model.
    pub base: CanaryModel,
    /// Fine-tuned model.
    pub finetuned: CanaryModel,
}
