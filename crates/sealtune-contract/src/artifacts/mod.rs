//! Where each stage writes its outputs, and the schema ids of its JSON artifacts.
//!
//! A stage writes into `<run-dir>/<stage>/`; every path below is relative to that
//! directory. Producers and consumers name files through these constants, so a file
//! is renamed in one place. A new stage adds a module here with its directory name,
//! its file names and the schema id of each JSON artifact it writes (`sealtune.NAME/vN`,
//! the version raised when a field changes meaning or goes away).
//!
//! Each JSON artifact also has its serde type here. The producer fills and serialises
//! it; every consumer (eval, release, the model card) deserialises the same type, so a
//! field is added, renamed or retyped in one place and the compiler finds every reader.
//! Fields that older runs lack are `#[serde(default)]`; the rest are required, so a
//! consumer rejects an artifact that does not follow its contract.

use serde::{Deserialize, Serialize};

pub mod eval;
pub mod ingest;
pub mod mask;
pub mod release;
pub mod run;
pub mod train;

/// A file and its SHA-256, as artifacts list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// File name or path, as the artifact records it.
    pub name: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Size in bytes, where recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Pretty JSON with the keys of every object in the order `serde_json::Value` keeps them
/// (sorted: the workspace builds serde_json without `preserve_order`), whatever the field
/// order of `value`'s type, so an artifact keeps its bytes when a field moves in the type.
pub fn to_sorted_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&serde_json::to_value(value)?)
}

/// `dir/file`: how a stage's artifact is named in messages and in the card
/// (`eval/report.json`).
pub fn rel(dir: &str, file: &str) -> String {
    format!("{dir}/{file}")
}
