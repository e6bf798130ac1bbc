//! Llama-family language models for sealtune, computed with burn.
//!
//! - [`config`]: Hugging Face `config.json` and the validated [`LlamaConfig`].
//! - [`safetensors`]: reading single-file and sharded safetensors, writing f32 safetensors.
//! - [`model`]: the decoder, KV cache, batched scoring.
//!
//! ```no_run
//! use burn::prelude::Device;
//! use sealtune_model::Llama;
//!
//! let device = Device::flex();
//! let model = Llama::load_dir("models/smollm2-135m-instruct".as_ref(), &device)?;
//! let scores = model.score(&[vec![1, 2, 3, 4]], false)?;
//! assert_eq!(scores[0].token_logprobs.len(), 3);
//! # Ok::<(), sealtune_model::ModelError>(())
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod generate;
pub mod gguf;
mod gguf_tokenizer;
mod io;
pub mod lora;
pub mod model;
pub mod safetensors;
pub mod tokenizer;

pub use config::{HfConfig, LlamaConfig};
pub use error::{ModelError, Result};
pub use generate::{Generation, SamplingConfig, StopReason, generate, generate_text};
pub use gguf::{ImportSummary, import_gguf};
pub use lora::{LoraConfig, LoraTarget};
pub use model::{Batch, KvCache, Llama, SequenceScore};
