//! Which keys seal the training weights at rest (`[train] seal_at_rest = true`): the two
//! `[train]` settings and the rule for their default, one rule for the train, eval and
//! release stages (the weights themselves are sealed by `sealtune-stagekit`; the release
//! stage, which has no burn, reads the rule from here).
//!
//! The keys are `[[train.at_rest_recipients]]` when given, else `[[release.recipients]]`.

use serde::{Deserialize, Serialize};

use crate::keys::RecipientConfig;

/// The two `[train]` keys that say how weights are kept at rest. Train reads them as part
/// of its whole section; eval and release read only these (they open what train sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRestSettings {
    /// `[train] seal_at_rest`: no weight file in clear under the run directory.
    #[serde(default)]
    pub seal_at_rest: bool,
    /// `[[train.at_rest_recipients]]`: the keys; default: `[[release.recipients]]`.
    #[serde(default)]
    pub at_rest_recipients: Vec<RecipientConfig>,
}

/// The configuration key of the default at-rest keys: the release's recipients.
pub const RELEASE_KEYS: &str = "release.recipients";
/// The configuration key of at-rest keys given for training alone.
pub const TRAIN_KEYS: &str = "train.at_rest_recipients";

/// Which keys seal the weights at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRestKeys<'a> {
    /// `seal_at_rest` is off: the weights are written in clear.
    Off,
    /// `[[train.at_rest_recipients]]`.
    Train(&'a [RecipientConfig]),
    /// `[[release.recipients]]`, the default.
    Release,
}

impl AtRestSettings {
    /// The rule: off, the training keys when given, else the release's.
    pub fn keys(&self) -> AtRestKeys<'_> {
        if !self.seal_at_rest {
            AtRestKeys::Off
        } else if self.at_rest_recipients.is_empty() {
            AtRestKeys::Release
        } else {
            AtRestKeys::Train(&self.at_rest_recipients)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_keys_win_then_the_release_keys_and_off_is_off() {
        let entry: RecipientConfig = serde_json::from_str(r#"{"kek_file": "t.kek"}"#).unwrap();
        let off = AtRestSettings {
            seal_at_rest: false,
            at_rest_recipients: vec![entry.clone()],
        };
        assert_eq!(off.keys(), AtRestKeys::Off);
        let default = AtRestSettings {
            seal_at_rest: true,
            at_rest_recipients: Vec::new(),
        };
        assert_eq!(default.keys(), AtRestKeys::Release);
        let own = AtRestSettings {
            seal_at_rest: true,
            at_rest_recipients: vec![entry],
        };
        assert!(matches!(own.keys(), AtRestKeys::Train(e) if e.len() == 1));
    }
}
