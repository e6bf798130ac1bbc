//! The `release` stage: sealed weights, the model card, signature and provenance.

/// The stage's directory.
pub const DIR: &str = "release";
/// The OpenSSF Model Signing signature over every file of the release.
pub const SIGNATURE: &str = "model.sig";
/// The in-toto provenance statements (DSSE envelopes, one per line).
pub const PROVENANCE: &str = "provenance.intoto.jsonl";
/// The model card's facts as JSON.
pub const CARD_JSON: &str = "model-card.json";
/// The schema id of [`CARD_JSON`].
pub const CARD_SCHEMA: &str = "sealtune.model-card/v1";
/// The CycloneDX ML-BOM.
pub const BOM: &str = "bom.cdx.json";
/// The model card for people.
pub const CARD_MD: &str = "MODEL_CARD.md";
/// The model card as a web page.
pub const CARD_HTML: &str = "MODEL_CARD.html";
/// The failed gates that `sealtune release --accept-gate` accepted, and by whom.
pub const ACCEPTANCE: &str = "acceptance.json";
/// The schema id of [`ACCEPTANCE`].
pub const ACCEPTANCE_SCHEMA: &str = "sealtune.gate-acceptance/v1";

use serde::{Deserialize, Serialize};

/// [`ACCEPTANCE`] (schema [`ACCEPTANCE_SCHEMA`]): the gates that failed eval and were
/// accepted on the command line (`--accept-failed-gates --reason`), and who accepted
/// them. Signed with the rest of the release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Always [`ACCEPTANCE_SCHEMA`].
    pub schema: String,
    /// The reason given.
    pub reason: String,
    /// Who gave it: `user@host`.
    pub accepted_by: String,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// The gates it covers: those that failed and had no `[eval.accept]` reason.
    pub gates: Vec<String>,
}

impl Acceptance {
    /// An acceptance of every failing, unaccepted gate of `eval`.
    pub fn new(
        eval: &super::eval::Report,
        reason: &str,
        accepted_by: String,
        time: String,
    ) -> Self {
        Acceptance {
            schema: ACCEPTANCE_SCHEMA.to_owned(),
            reason: reason.to_owned(),
            accepted_by,
            time,
            gates: eval
                .gates
                .iter()
                .filter(|g| !g.passed && !g.accepted)
                .map(|g| g.name.clone())
                .collect(),
        }
    }

    /// Marks the covered gates of `eval` accepted, with the reason and who gave it, and
    /// recomputes `passed`.
    pub fn apply(&self, eval: &mut super::eval::Report) {
        for g in &mut eval.gates {
            if !g.passed && !g.accepted && self.gates.contains(&g.name) {
                g.accepted = true;
                g.reason = Some(format!(
                    "{} (accepted with --accept-failed-gates by {}, {})",
                    self.reason, self.accepted_by, self.time
                ));
            }
        }
        eval.passed = eval.gates.iter().all(|g| g.passed || g.accepted);
    }
}
