//! The `mask` stage: PII replaced in the ingested records.

/// The stage's directory.
pub const DIR: &str = "mask";
/// Masked training records.
pub const TRAIN: &str = "train.jsonl";
/// Masked evaluation records.
pub const EVAL: &str = "eval.jsonl";
/// Counts by entity type and field, and the residual-risk sweep (no values).
pub const REPORT: &str = "report.json";
/// The schema id of [`REPORT`].
pub const REPORT_SCHEMA: &str = "sealtune.mask-report/v1";
/// Keyed fingerprints of the values masking replaced (for the regurgitation test).
pub const FINGERPRINTS: &str = "pii-fingerprints.bin";

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `records` of [`Report`]: `in = train + eval + dropped + quarantined`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// Records read from the ingest index.
    #[serde(rename = "in")]
    pub read: u64,
    /// Written to the masked train split.
    pub train: u64,
    /// Written to the masked eval split.
    pub eval: u64,
    /// Dropped by the `drop_record` operator.
    pub dropped: u64,
    /// Set aside because they could not be masked.
    pub quarantined: u64,
}

/// One record that could not be masked: its file and line, and why; never its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// `file:line` of the record.
    pub record: String,
    /// Why it could not be masked.
    pub reason: String,
}

/// `residual` of [`Report`]: what a high-recall sweep of the masked output still counted
/// as possible PII, per category; counts only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    /// Records swept (those written to the masked splits).
    pub swept_records: u64,
    /// Findings per category (`name_context`, `long_digits`, `address_line`, ...); every
    /// category appears, zero included.
    pub by_type: BTreeMap<String, u64>,
    /// Findings per field swept and category.
    pub by_field: BTreeMap<String, BTreeMap<String, u64>>,
    /// Findings over all categories.
    pub total: u64,
    /// How to read the counts.
    pub note: String,
}

/// [`REPORT`] (schema [`REPORT_SCHEMA`]): counts and the masking policy, never a value.
///
/// Maps by entity type are keyed by the type's name (`crate::EntityType::as_str`), so
/// they list the types in name order, as the file does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Records in and out.
    pub records: Records,
    /// Records dropped, per split and the entity type that caused it.
    pub dropped_by_type: BTreeMap<String, BTreeMap<String, u64>>,
    /// The first records that could not be masked (all are counted in `records`).
    pub quarantine_sample: Vec<Quarantined>,
    /// Replacements per entity type, over all splits and fields.
    pub replacements_by_type: BTreeMap<String, u64>,
    /// Replacements per split, field and entity type.
    pub replacements: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Distinct keyed fingerprints of the values replaced ([`FINGERPRINTS`]).
    pub distinct_fingerprints: u64,
    /// Detected values left in plaintext by the `keep` operator, per type (absent, and
    /// so empty, in reports written before the operator existed).
    #[serde(default)]
    pub plaintext_kept_by_type: BTreeMap<String, u64>,
    /// The residual-risk sweep of the masked output; `None` only in reports written
    /// before the sweep existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<Residual>,
    /// One-way id of the masking key.
    pub mask_key_id: String,
    /// The `[mask]` policy in force (operators, thresholds, entities, fields, and the
    /// number of custom recognizers and allow-list entries, not their patterns).
    pub policy: serde_json::Value,
}

impl Report {
    /// Detected values left in plaintext (`keep`), over all types.
    pub fn plaintext_kept(&self) -> u64 {
        self.plaintext_kept_by_type.values().sum()
    }
}
