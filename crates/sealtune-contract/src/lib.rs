//! What passes between sealtune's crates and stages, in one small crate at the bottom
//! of the workspace (serde only):
//!
//! - [`Exit`], the process exit codes schedulers rely on, and [`ExitStatus`], which every
//!   library error implements, so an error carries its exit status to the CLI and the
//!   engine without a table of numbers in between;
//! - [`artifacts`], each stage's output file names and the schema ids of its JSON
//!   artifacts;
//! - [`EntityType`], the canonical PII entity types that the mask stage detects and the
//!   model card lists;
//! - [`SeededRng`], the seeded generator whose stream train and eval share (canaries
//!   are drawn again from the seed to be tested for).
//!
//! `docs/CONTRACTS.md` says what each artifact is, who writes it and who reads it; this
//! crate is where their names live.

#![deny(missing_docs)]

pub mod artifacts;
mod entity;
mod exit;
pub mod rng;

pub use entity::EntityType;
pub use exit::{Exit, ExitStatus, with_causes};
pub use rng::SeededRng;
