//! The `[mask]` section of the pipeline config.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::PiiError;
use crate::types::EntityType;

/// How a detected value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operator {
    /// `[EMAIL]`.
    Redact,
    /// `<PERSON_1>`, the index consistent within a record.
    Tag,
    /// A keyed, deterministic, realistic surrogate of the same format.
    Pseudonymize,
    /// Keep the last `mask_keep_last` characters: `***-**-1234`.
    Mask,
    /// `<EMAIL:3f2a9c0d1b7e4a55>`: a keyed HMAC of the normalised value.
    Hash,
    /// Dates moved by a keyed per-record offset (per subject with
    /// `subject_field`), other types tagged.
    DateShift,
    /// Drop the whole record.
    DropRecord,
    /// Leave the value as it is; it is still detected, counted and
    /// fingerprinted. This writes plaintext PII, so it is refused unless
    /// `allow_plaintext = true`: it exists for positive controls on synthetic
    /// data (`configs/leak-demo.toml`), where eval must see the original values.
    Keep,
}

/// A check a custom recognizer's matches must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Validator {
    /// Luhn mod 10 over the digits.
    Luhn,
    /// IBAN mod 97 with the per-country length.
    Iban,
    /// ABA routing checksum.
    Aba,
    /// NPI (Luhn with the 80840 prefix).
    Npi,
    /// US SSN area/group/serial rules.
    Ssn,
    /// DEA registration checksum.
    Dea,
}

/// A user-defined recognizer: `[[mask.recognizers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognizerConfig {
    /// A name for reports and errors.
    pub name: String,
    /// The canonical type the matches get.
    #[serde(rename = "type")]
    pub entity: EntityType,
    /// A regular expression (Rust `regex` syntax) for the value itself.
    pub pattern: String,
    /// Optional checksum the match must pass. Default: none.
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Context words (lower case). When given, a match with none of them within
    /// `context_window` words scores `score - 0.3`. Default: none.
    #[serde(default)]
    pub context: Vec<String>,
    /// Confidence of a match. Default 0.8.
    #[serde(default = "default_recognizer_score")]
    pub score: f32,
}

fn default_recognizer_score() -> f32 {
    0.8
}

/// The `[mask]` policy. Every field has a default, so an empty section is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskConfig {
    /// Path of the masking key file (raw bytes, at least 32, or 64+ hex digits).
    /// Either this or `key_env` is required to mask. Default: none.
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding the key as hex. Default: none.
    pub key_env: Option<String>,
    /// Fields to mask, by name (`text`, `instruction`, `input`, `output`,
    /// `messages` for every message's `content`). Default: every string field
    /// the record kind defines.
    pub fields: Option<Vec<String>>,
    /// Operator for types not listed in `operators`. Default `tag`.
    pub default_operator: Operator,
    /// Operator per type, e.g. `{ US_SSN = "mask", PERSON = "pseudonymize" }`. Default: empty.
    pub operators: BTreeMap<EntityType, Operator>,
    /// Minimum confidence for types not listed in `thresholds`. Default 0.55.
    pub default_threshold: f32,
    /// Minimum confidence per type. Default: empty.
    pub thresholds: BTreeMap<EntityType, f32>,
    /// Words before and after a candidate that are searched for context words. Default 5.
    pub context_window: usize,
    /// Types to detect. Default: all canonical types.
    pub entities: Option<Vec<EntityType>>,
    /// Values never masked (matched case-insensitively against the whole span). Default: empty.
    pub allow: Vec<String>,
    /// Values always masked, per type (whole-word, ASCII case-insensitive). Default: empty.
    pub deny: BTreeMap<EntityType, Vec<String>>,
    /// Custom recognizers. Default: none.
    pub recognizers: Vec<RecognizerConfig>,
    /// Largest date shift in days, either direction, for `date_shift`. Default 365.
    pub date_shift_max_days: u32,
    /// Top-level record field that names the subject (patient, customer) so that
    /// all of a subject's records share one `date_shift` offset (intervals
    /// between their dates are kept). `tag` indices are always per record.
    /// Default: none: each record gets its own offset, keyed by the record,
    /// so intervals inside a record are kept and intervals across records are
    /// not. A record without the field (or with an empty one) is keyed by
    /// itself too. There is never one dataset-wide offset.
    pub subject_field: Option<String>,
    /// Characters left visible by `mask`. Default 4.
    pub mask_keep_last: usize,
    /// Permits the `keep` operator, which leaves detected values in the output
    /// in plaintext. Only for synthetic data. Default false.
    pub allow_plaintext: bool,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            key_file: None,
            key_env: None,
            fields: None,
            default_operator: Operator::Tag,
            operators: BTreeMap::new(),
            default_threshold: 0.55,
            thresholds: BTreeMap::new(),
            context_window: 5,
            entities: None,
            allow: Vec::new(),
            deny: BTreeMap::new(),
            recognizers: Vec::new(),
            date_shift_max_days: 365,
            subject_field: None,
            mask_keep_last: 4,
            allow_plaintext: false,
        }
    }
}

impl MaskConfig {
    /// Checks ranges and combinations; the error names the key.
    pub fn validate(&self) -> Result<(), PiiError> {
        let bad = |key: String, message: String| Err(PiiError::Config { key, message });
        if !(0.0..=1.0).contains(&self.default_threshold) {
            return bad(
                "default_threshold".into(),
                format!("{} must be within 0.0..=1.0", self.default_threshold),
            );
        }
        for (t, v) in &self.thresholds {
            if !(0.0..=1.0).contains(v) {
                return bad(
                    format!("thresholds.{t}"),
                    format!("{v} must be within 0.0..=1.0"),
                );
            }
        }
        if self.context_window > 64 {
            return bad(
                "context_window".into(),
                format!("{} must be within 0..=64", self.context_window),
            );
        }
        if self.date_shift_max_days == 0 || self.date_shift_max_days > 36_500 {
            return bad(
                "date_shift_max_days".into(),
                format!("{} must be within 1..=36500", self.date_shift_max_days),
            );
        }
        if self.key_file.is_some() && self.key_env.is_some() {
            return bad(
                "key_file".into(),
                "set either key_file or key_env, not both".into(),
            );
        }
        if let Some(fields) = &self.fields
            && fields.is_empty()
        {
            return bad(
                "fields".into(),
                "must name at least one field, or be left out for the default".into(),
            );
        }
        for (i, r) in self.recognizers.iter().enumerate() {
            if !(0.0..=1.0).contains(&r.score) {
                return bad(
                    format!("recognizers[{i}].score"),
                    format!("{} must be within 0.0..=1.0", r.score),
                );
            }
            if r.pattern.is_empty() {
                return bad(
                    format!("recognizers[{i}].pattern"),
                    "must not be empty".into(),
                );
            }
        }
        for (t, vals) in &self.deny {
            if vals.iter().any(|v| v.trim().is_empty()) {
                return bad(format!("deny.{t}"), "entries must not be empty".into());
            }
        }
        if !self.allow_plaintext {
            let keep = std::iter::once(("default_operator".to_string(), self.default_operator))
                .chain(
                    self.operators
                        .iter()
                        .map(|(t, o)| (format!("operators.{t}"), *o)),
                )
                .find(|(_, o)| *o == Operator::Keep);
            if let Some((key, _)) = keep {
                return bad(
                    key,
                    "`keep` leaves the detected value in the output in plaintext; choose another operator, or, for synthetic data only, set `allow_plaintext = true`".into(),
                );
            }
        }
        Ok(())
    }

    /// True when some type is kept in plaintext.
    pub fn keeps_plaintext(&self) -> bool {
        self.default_operator == Operator::Keep
            || self.operators.values().any(|o| *o == Operator::Keep)
    }

    /// The threshold for a type.
    pub fn threshold(&self, t: EntityType) -> f32 {
        self.thresholds
            .get(&t)
            .copied()
            .unwrap_or(self.default_threshold)
    }

    /// The operator for a type.
    pub fn operator(&self, t: EntityType) -> Operator {
        self.operators
            .get(&t)
            .copied()
            .unwrap_or(self.default_operator)
    }
}
