//! `[release.card]`: the reviewer-facing fields that no artifact holds.

use serde::{Deserialize, Serialize};

/// The `[release.card]` table. Every field is optional; what is unset is
/// shown as "not stated" in the card, never invented.
///
/// ```toml
/// [release.card]
/// intended_use = "Summarise discharge notes for clinicians, who check every summary."
/// out_of_scope_use = ["Diagnosis", "Any use without human review"]
/// license = "apache-2.0"
/// tags = ["clinical", "summarisation"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    /// Name of the released model. Default: `<base model>-sealtune-<run id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// What the model is for and who uses it. Default: not stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
    /// Uses the model must not be put to: a list, or one string. Default:
    /// none stated.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub out_of_scope_use: Vec<String>,
    /// Licence identifier of the release (Hugging Face style, e.g.
    /// `apache-2.0`). Default: the base model's licence from `[model]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Extra Hugging Face tags. Default: none (the card always adds
    /// `sealtune`, `lora`, `peft`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Known limitations to state besides those the card derives: a list,
    /// or one string. Default: none.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub limitations: Vec<String>,
    /// Who to contact about the model. Default: not stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// Accepts `"text"` as well as `["text", ...]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_one_string_or_many_and_unknown_keys_are_refused() {
        let c: CardConfig = serde_json::from_str(r#"{"out_of_scope_use":"Diagnosis"}"#).unwrap();
        assert_eq!(c.out_of_scope_use, ["Diagnosis"]);
        let c: CardConfig =
            serde_json::from_str(r#"{"out_of_scope_use":["a","b"],"limitations":"x"}"#).unwrap();
        assert_eq!(c.out_of_scope_use, ["a", "b"]);
        assert_eq!(c.limitations, ["x"]);
        assert!(serde_json::from_str::<CardConfig>(r#"{"intended":"x"}"#).is_err());
        assert!(serde_json::from_str::<CardConfig>(r#"{"tags":"x"}"#).is_err());
    }
}
