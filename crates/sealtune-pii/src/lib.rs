//! PII detection, validation and masking for sealtune.
//!
//! The [`Detector`] finds personally identifying information in text without
//! any model service: one multi-pattern automaton pass finds candidates,
//! checksums ([`validate`]) and context words ([`context`]) classify them, a
//! gazetteer built from public-domain census name tables ([`names`]) plus
//! context cues finds person names, and the USPS street-suffix and unit tables
//! find whole postal addresses. The [`Masker`] replaces what was found
//! according to a [`MaskConfig`] policy and records keyed fingerprints of the
//! original values ([`fingerprint`]). After masking, a cheap high-recall
//! sweep ([`residual`]) counts what in the output may still be PII.
//!
//! ```
//! use sealtune_pii::{Detector, EntityType, MaskConfig};
//!
//! let det = Detector::new(&MaskConfig::default()).unwrap();
//! let spans = det.detect("Patient: Maria Lopez, SSN 123-45-6789, call (617) 555-0123.");
//! let kinds: Vec<EntityType> = spans.iter().map(|s| s.entity).collect();
//! assert_eq!(kinds, [EntityType::Person, EntityType::UsSsn, EntityType::Phone]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod address;
pub mod config;
pub mod context;
pub mod corpus;
pub mod detect;
pub mod error;
pub mod fingerprint;
mod hl7;
pub mod key;
pub mod names;
pub mod ops;
mod person;
pub mod record;
pub mod residual;
mod spaced;
mod spoken;
pub mod stage;
mod table;
pub mod tagger;
pub mod types;
pub mod validate;

pub use config::{MaskConfig, Operator, RecognizerConfig, Validator};
pub use detect::Detector;
pub use error::PiiError;
pub use fingerprint::FingerprintSet;
pub use key::MaskKey;
pub use record::{
    DetectOutput, MaskJsonlSummary, MaskReport, MaskedRecord, Masker, RecordKind, detect_jsonl,
    detect_line, mask_jsonl,
};
pub use residual::{ResidualCounts, ResidualKind, ResidualReport};
pub use stage::MaskStage;
pub use types::{CodePointSpan, EntityType, Span, to_code_points};
