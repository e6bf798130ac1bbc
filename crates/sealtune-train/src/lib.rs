//! The train stage of sealtune: LoRA fine-tuning of the base model on the masked
//! training split.

#![deny(missing_docs)]

pub mod model_section;

pub use model_section::ModelSection;
