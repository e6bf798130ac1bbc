//! The eval stage of sealtune: leakage and bias suites, statistics and release gates.
//!
//! Every metric is computed for the base model and the fine-tuned model (base + the
//! trained LoRA adapter) from the models' own log-probabilities and generations, with a
//! seeded bootstrap interval and an explicit evidence rule; `docs/EVAL.md` describes each.
//!
//! - [`stats`]: bootstrap intervals, AUC, TPR at a fixed FPR, the evidence rule.
//! - [`exposure`]: canary exposure by interpolated rank and skew-normal extrapolation.
//! - [`mia`]: membership scores (LOSS, zlib, Min-K%, Min-K%++, reference ratio).
//! - [`text`]: edit similarity and the fixed zlib size.
//! - [`lm`]: a model with its tokenizer: batched scoring and generation.
//! - [`leakage`]: canaries, verbatim memorisation, PII regurgitation, membership inference.
//! - [`bias`]: counterfactual decision templates and stereotype pairs.
//! - [`bench`]: CrowS-Pairs, BBQ and discrim-eval loaders and formulas.
//! - [`report`]: `eval/report.json` and the gates.
//! - [`scores`]: `eval/scores.json`, the per-record membership and canary numbers.
//! - [`config`]: the `[eval]` section.
//! - [`stage`]: [`EvalStage`], the pipeline stage.
//! - [`error`]: [`EvalError`] and its exit codes.
//!
//! ```
//! use sealtune_eval::stats::{auc, tpr_at_fpr};
//!
//! let members = [0.9, 0.8, 0.7];
//! let non_members = [0.1, 0.2, 0.3];
//! assert_eq!(auc(&members, &non_members), Some(1.0));
//! assert_eq!(tpr_at_fpr(&members, &non_members, 0.01), Some(1.0));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod bias;
pub mod config;
pub mod error;
pub mod exposure;
pub mod leakage;
pub mod lm;
pub mod mia;
pub mod report;
pub mod scores;
pub mod stage;
pub mod stats;
pub mod text;

pub use config::EvalConfig;
pub use error::EvalError;
pub use stage::EvalStage;
