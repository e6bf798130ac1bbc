//! The `ingest` stage: records read, validated and split.

/// The stage's directory.
pub const DIR: &str = "ingest";
/// Where each valid record is (file, byte range) and which split it is in; the
/// records themselves stay in the user's files.
pub const INDEX: &str = "index.bin";
/// Records that were not used, each with its file, line and reason (no content).
pub const QUARANTINE: &str = "quarantine.jsonl";
/// Counts by source and reason.
pub const REPORT: &str = "report.json";
/// The schema id of [`REPORT`].
pub const REPORT_SCHEMA: &str = "sealtune.ingest-report/v1";

use serde::{Deserialize, Serialize};

/// One input file of [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Path as resolved from the config.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Records read (JSONL: non-blank lines; CSV: data rows).
    pub read: u64,
    /// Accepted (first occurrences of valid records).
    pub accepted: u64,
    /// Valid records whose content was already seen.
    pub duplicates: u64,
    /// Invalid records set aside.
    pub quarantined: u64,
    /// Blank lines skipped (JSONL only; not records).
    pub blank_lines: u64,
}

/// Character-length statistics of accepted records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    /// Shortest.
    pub min: u64,
    /// Longest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
}

/// Totals over all files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Records read.
    pub read: u64,
    /// Accepted.
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Quarantined.
    pub quarantined: u64,
    /// Accepted records in the train split.
    pub train: u64,
    /// Accepted records in the eval split.
    pub eval: u64,
}

/// One record that failed validation: where it is and why, never its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// File path, relative to the config file.
    pub file: String,
    /// Index of the file in the input list (not written).
    #[serde(skip)]
    pub file_index: usize,
    /// 1-based line.
    pub line: u64,
    /// What is wrong (never the content).
    pub reason: String,
}

/// [`REPORT`] (schema [`REPORT_SCHEMA`]). Deterministic for the same inputs and config,
/// so that downstream stage keys do not change when ingest reruns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Record format.
    pub format: String,
    /// Policy for invalid records (`fail` or `quarantine`).
    pub on_invalid: String,
    /// Per-file counts.
    pub files: Vec<FileReport>,
    /// Totals.
    pub totals: Totals,
    /// Split settings (`eval_fraction`, `split_seed`, `method`).
    pub split: serde_json::Value,
    /// Content length statistics, in characters.
    pub length_chars: LengthStats,
    /// The first invalid records (all of them are in [`QUARANTINE`]).
    pub quarantine_sample: Vec<Problem>,
}
