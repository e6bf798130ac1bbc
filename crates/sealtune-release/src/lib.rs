//! The release stage: what leaves the building.
//!
//! [`ReleaseStage`] (`release`, after `train` and `eval`, config `[release]`,
//! see [`ReleaseConfig`]) writes `<run>/release/`:
//!
//! - refuses with exit 3 ([`sealtune_pipeline::Exit::GateFailed`]) when an
//!   eval gate failed and was not accepted, before anything is written;
//! - `<name>.seal`: every weight file of `train/adapter/` (and of
//!   `train/merged/` into `merged/` with `include_merged`), sealed with
//!   `sealtune-seal` for every recipient; other files (such as
//!   `adapter_config.json`) in clear;
//! - `provenance.intoto.jsonl`: DSSE-signed SLSA Provenance v1 and in-toto
//!   test-result statements ([`provenance`]);
//! - `MODEL_CARD.md`, `MODEL_CARD.html`, `model-card.json`, `bom.cdx.json`
//!   (from `sealtune-card`);
//! - last, `model.sig`: an OpenSSF Model Signing bundle over every file
//!   above (the engine's `manifest.json`, written afterwards, is left out).
//!
//! The layout is described in `docs/RELEASE.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod provenance;
pub mod stage;

pub use config::{ReleaseConfig, release_config};
pub use error::ReleaseError;
pub use stage::{CODE_VERSION, ReleaseStage, check_gates};
