//! Files at the top of a run directory, written by the engine.

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
