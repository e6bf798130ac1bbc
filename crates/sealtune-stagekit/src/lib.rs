//! What the train and eval stages share, so that neither depends on the other:
//!
//! - [`model_section`]: `[model]` (the base model directory, its files as the stages'
//!   external inputs) and `[compute]` resolved to a device;
//! - [`at_rest`]: weights sealed at rest (`[train] seal_at_rest`), written by train and
//!   opened into memory by train (resume) and eval;
//! - [`chat`]: how a masked record is shown to the model as a chat.

#![deny(missing_docs)]

pub mod at_rest;
pub mod chat;
pub mod model_section;

pub use at_rest::{AtRest, AtRestSettings};
pub use model_section::ModelSection;
