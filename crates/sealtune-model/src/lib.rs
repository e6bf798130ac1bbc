//! Llama-family language models for sealtune, computed with burn.
//!
//! - [`attention`]: scaled dot-product attention as one operation with its own backward pass.
//! - [`cross_entropy`]: the LM head and the training loss as one operation, in blocks of
//!   positions.
//! - [`device`]: the `[compute]` section and the burn device it maps to (flex or LibTorch).
//! - [`config`]: Hugging Face `config.json` and the validated [`LlamaConfig`].
//! - [`safetensors`]: reading single-file and sharded safetensors, writing f32 safetensors.
//! - [`model`]: the decoder, KV cache, batched scoring.
//! - [`tokenizer`]: `tokenizer.json`, special tokens, ChatML and Llama 3 chat templates with
//!   assistant-token masks.
//! - [`generate`](mod@generate): greedy and sampled decoding.
//! - [`lora`]: LoRA on activations, PEFT adapter export/import, merging.
//! - [`gguf`]: GGUF reading, dequantisation and [`import_gguf`].
//! - [`error`]: [`ModelError`] and its exit codes.
//!
//! The crate is documented in `docs/MODEL.md`.
//!
//! Scoring and greedy generation with a tiny test checkpoint (any HF Llama directory works,
//! e.g. `models/smollm2-135m-instruct`):
//!
//! ```
//! use burn::prelude::Device;
//! use sealtune_model::{Llama, SamplingConfig, generate};
//!
//! let device = Device::flex();
//! let model = Llama::load_dir("tests/fixtures/gqa_llama3_untied".as_ref(), &device)?;
//! let scores = model.score(&[vec![1, 2, 3, 4]], false)?;
//! assert_eq!(scores[0].token_logprobs.len(), 3);
//! let cfg = SamplingConfig { max_new_tokens: 5, ..SamplingConfig::default() };
//! let out = generate(&model, &[1, 17, 5], &cfg)?;
//! assert_eq!(out.tokens.len(), 5);
//! # Ok::<(), sealtune_model::ModelError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attention;
pub mod config;
pub mod cross_entropy;
pub mod device;
pub mod error;
pub mod generate;
pub mod gguf;
mod gguf_tokenizer;
pub mod lora;
pub mod model;
pub mod safetensors;
pub mod tokenizer;

/// The burn device type, re-exported so callers need no burn dependency.
pub use burn::prelude::Device;
pub use config::{HfConfig, LlamaConfig};
pub use device::{Compute, ComputeSection, DeviceChoice, DtypeChoice, Precision};
pub use error::{ModelError, Result};
pub use generate::{Generation, SamplingConfig, StopReason, generate, generate_text};
pub use gguf::{ImportSummary, import_gguf};
pub use lora::{LoraConfig, LoraTarget};
pub use model::{
    AttentionKind, Batch, CrossEntropyKind, KvCache, LayerContext, Llama, SequenceScore,
};
