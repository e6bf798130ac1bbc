//! The train stage of sealtune: LoRA fine-tuning of the base model on the masked
//! training split.
//!
//! - [`config`]: the `[train]` section.
//! - [`collate`]: rendering through the chat template with a loss mask, truncation, the
//!   seeded order, packing.
//! - [`optim`]: AdamW, the learning-rate schedule, clipping.
//! - [`trainer`]: forward, masked cross-entropy, backward into the LoRA parameters,
//!   gradient accumulation.
//! - [`checkpoint`]: atomic checkpoints and resume.
//! - [`stage`]: the `train` stage.
//! - [`model_section`]: the `[model]` section shared with eval.

#![deny(missing_docs)]

pub mod checkpoint;
pub mod collate;
pub mod config;
pub mod optim;
pub mod stage;
pub mod trainer;

pub use config::TrainConfig;
pub use sealtune_stagekit::{ModelSection, at_rest, model_section};
pub use stage::TrainStage;
