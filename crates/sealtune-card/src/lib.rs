//! The model card of a sealtune run, its machine-readable companions, and
//! reviewer sign-off.
//!
//! [`RunFacts::load`] reads a run directory's artifacts (formats in
//! docs/CONTRACTS.md: `ingest/report.json`, `mask/report.json`, `train/*`,
//! `eval/report.json`, the release directory and every stage manifest). A
//! missing artifact becomes an explicit "not available"; nothing is invented.
//! From the facts:
//!
//! - [`render_markdown`]: `MODEL_CARD.md`, Hugging Face YAML front matter
//!   (`base_model`, `base_model_relation`, `library_name: peft`, `license`,
//!   `tags`, `datasets` by digest, `model-index`) and the reviewer sections
//!   ([`markdown::SECTIONS`]);
//! - [`render_html`]: `MODEL_CARD.html`, one self-contained page with inline
//!   SVG plots drawn by `plotters`;
//! - [`render_bom`]: `bom.cdx.json`, a CycloneDX 1.6 ML-BOM;
//! - `model-card.json`: the facts themselves.
//!
//! [`write_card`] writes all four; the release stage calls it before signing,
//! so `model.sig` covers the card. [`regenerate`] rebuilds the card of a
//! finished run elsewhere (`sealtune card`), listing the reviewer
//! attestations that [`attest`] adds.
//!
//! ```no_run
//! use std::path::Path;
//! let (facts, files) = sealtune_card::regenerate(Path::new("runs/quickstart"), Path::new("runs/quickstart/card"), None)?;
//! assert!(files.iter().any(|p| p.ends_with("MODEL_CARD.md")));
//! # let _ = facts;
//! # Ok::<(), sealtune_card::CardError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use sealtune_contract::artifacts;
pub mod attest;
pub mod config;
pub mod cyclonedx;
pub mod error;
pub mod facts;
pub mod html;
pub mod markdown;
pub mod plots;

use std::path::{Path, PathBuf};

pub use attest::{Attestation, Decision, REVIEW_PREDICATE_TYPE, attest};
pub use config::CardConfig;
pub use cyclonedx::render_bom;
pub use error::CardError;
pub use facts::{Fact, RunFacts, Sources};
pub use html::render_html;
pub use markdown::render_markdown;

/// The files [`write_card`] writes, in order.
pub const CARD_FILES: [&str; 4] = [
    artifacts::release::CARD_MD,
    artifacts::release::CARD_HTML,
    artifacts::release::CARD_JSON,
    artifacts::release::BOM,
];

fn write(path: &Path, bytes: &[u8]) -> Result<(), CardError> {
    sealtune_pipeline::fsutil::atomic_write(path, bytes).map_err(|source| CardError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `MODEL_CARD.md`, `MODEL_CARD.html`, `model-card.json` and
/// `bom.cdx.json` into `out_dir` (created if needed); returns their paths.
pub fn write_card(facts: &RunFacts, out_dir: &Path) -> Result<Vec<PathBuf>, CardError> {
    std::fs::create_dir_all(out_dir).map_err(|source| CardError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let md = render_markdown(facts)?;
    let html = render_html(facts, &md)?;
    let json = serde_json::to_vec_pretty(facts).map_err(|e| CardError::Internal(e.to_string()))?;
    let bom = serde_json::to_vec_pretty(&render_bom(facts))
        .map_err(|e| CardError::Internal(e.to_string()))?;
    let contents: [&[u8]; 4] = [md.as_bytes(), html.as_bytes(), &json, &bom];
    let mut out = Vec::new();
    for (name, bytes) in CARD_FILES.iter().zip(contents) {
        let p = out_dir.join(name);
        write(&p, bytes)?;
        out.push(p);
    }
    Ok(out)
}

/// The `[release.card]` fields recorded in `<run>/release/model-card.json`,
/// if the release stage wrote one.
pub fn recorded_card_config(run_dir: &Path) -> Result<Option<CardConfig>, CardError> {
    let p = run_dir
        .join(artifacts::release::DIR)
        .join(artifacts::release::CARD_JSON);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CardError::Read { path: p, source }),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| CardError::artifact(&p, e.to_string()))?;
    serde_json::from_value(v["card"].clone())
        .map(Some)
        .map_err(|e| CardError::artifact(&p, format!("field `card`: {e}")))
}

/// `sealtune card --run-dir DIR`: rebuilds the card of a run into `out_dir`
/// (never the signed release directory), listing the attestations. With
/// `card` unset, the `[release.card]` fields come from the release's
/// `model-card.json` (or are "not stated").
pub fn regenerate(
    run_dir: &Path,
    out_dir: &Path,
    card: Option<CardConfig>,
) -> Result<(RunFacts, Vec<PathBuf>), CardError> {
    let release = run_dir.join("release");
    if release.join(sealtune_seal::oms::SIGNATURE_FILE).exists()
        && out_dir.canonicalize().ok() == release.canonicalize().ok()
    {
        return Err(CardError::SignedDir {
            path: out_dir.to_path_buf(),
        });
    }
    let card = match card {
        Some(c) => c,
        None => recorded_card_config(run_dir)?.unwrap_or_default(),
    };
    let facts = RunFacts::load(&Sources::for_run(run_dir), card)?;
    let files = write_card(&facts, out_dir)?;
    Ok((facts, files))
}
