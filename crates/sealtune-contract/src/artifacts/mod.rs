//! Where each stage writes its outputs, and the schema ids of its JSON artifacts.
//!
//! A stage writes into `<run-dir>/<stage>/`; every path below is relative to that
//! directory. Producers and consumers name files through these constants, so a file
//! is renamed in one place. A new stage adds a module here with its directory name,
//! its file names and the schema id of each JSON artifact it writes (`sealtune.NAME/vN`,
//! the version raised when a field changes meaning or goes away).

/// Files at the top of a run directory, written by the engine.
pub mod run {
    /// The hash-chained audit log.
    pub const AUDIT: &str = "audit.jsonl";
    /// The state of every stage.
    pub const STATUS: &str = "status.json";
    /// The schema id of [`STATUS`].
    pub const STATUS_SCHEMA: &str = "sealtune.status/v1";
    /// The run's exclusive lock.
    pub const LOCK: &str = "run.lock";
    /// Written last into every stage directory: the stage's key and its files' digests.
    pub const MANIFEST: &str = "manifest.json";
    /// The schema id of [`MANIFEST`].
    pub const MANIFEST_SCHEMA: &str = "sealtune.manifest/v1";
}

/// The `ingest` stage: records read, validated and split.
pub mod ingest {
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
}

/// The `mask` stage: PII replaced in the ingested records.
pub mod mask {
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
}

/// The `train` stage: the LoRA adapter and what produced it.
pub mod train {
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
    /// The canary secrets planted for the leakage test (hashes only).
    pub const CANARIES: &str = "canaries.json";
    /// The schema id of [`CANARIES`].
    pub const CANARIES_SCHEMA: &str = "sealtune.canaries/v1";
}

/// The `eval` stage: leakage, bias and quality tests, and the gates.
pub mod eval {
    /// The stage's directory.
    pub const DIR: &str = "eval";
    /// Every metric, its threshold and whether its gate passed.
    pub const REPORT: &str = "report.json";
    /// The schema id of [`REPORT`].
    pub const REPORT_SCHEMA: &str = "sealtune.eval-report/v1";
    /// Per-record membership scores (token ids of masked records; owner-only).
    pub const SCORES: &str = "scores.json";
}

/// The `release` stage: sealed weights, the model card, signature and provenance.
pub mod release {
    /// The stage's directory.
    pub const DIR: &str = "release";
    /// The OpenSSF Model Signing signature over every file of the release.
    pub const SIGNATURE: &str = "model.sig";
    /// The in-toto provenance statements (DSSE envelopes, one per line).
    pub const PROVENANCE: &str = "provenance.intoto.jsonl";
    /// The model card's facts as JSON.
    pub const CARD_JSON: &str = "model-card.json";
    /// The schema id of [`CARD_JSON`].
    pub const CARD_SCHEMA: &str = "sealtune.model-card/v1";
    /// The CycloneDX ML-BOM.
    pub const BOM: &str = "bom.cdx.json";
    /// The model card for people.
    pub const CARD_MD: &str = "MODEL_CARD.md";
    /// The model card as a web page.
    pub const CARD_HTML: &str = "MODEL_CARD.html";
    /// The failed gates that `sealtune release --accept-gate` accepted, and by whom.
    pub const ACCEPTANCE: &str = "acceptance.json";
    /// The schema id of [`ACCEPTANCE`].
    pub const ACCEPTANCE_SCHEMA: &str = "sealtune.gate-acceptance/v1";
}

/// `dir/file`: how a stage's artifact is named in messages and in the card
/// (`eval/report.json`).
pub fn rel(dir: &str, file: &str) -> String {
    format!("{dir}/{file}")
}
