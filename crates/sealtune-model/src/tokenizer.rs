//! Tokenizer (`tokenizer.json` through the `tokenizers` crate) and chat templates.
//!
//! Chat templates are implemented in Rust rather than by running the Jinja template, so the
//! assistant-token mask used for loss masking is exact: each message is rendered as pieces
//! split at special tokens, every piece is encoded on its own, and the pieces' ids are
//! concatenated. Because special tokens and newlines already split the text before BPE,
//! this gives the same ids as encoding the whole rendered string (tested on SmolLM2).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, read_err};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The human turn.
    User,
    /// The model turn (trained on).
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
}

/// Supported chat formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n...<|im_end|>\n` (SmolLM2, Qwen). A default system message is
    /// inserted when the conversation has none, as SmolLM2's template does.
    ChatMl {
        /// System message used when the chat has none.
        default_system: Option<String>,
    },
    /// Llama 3.1 / 3.2 headers with the knowledge-cutoff preamble and a pinned date, so the
    /// same chat always renders to the same tokens.
    Llama3 {
        /// `Today Date:` line, e.g. `26 Jul 2024` (transformers' default).
        date: String,
    },
}

/// Token ids of a rendered chat and which of them the assistant produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    /// Token ids.
    pub ids: Vec<u32>,
    /// `true` for assistant content and its end-of-turn token (the tokens to train on).
    pub assistant_mask: Vec<bool>,
}

/// Ids of the special tokens generation and padding need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// End of turn (`<|im_end|>`, `<|eot_id|>`).
    pub eot: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
}

/// A loaded tokenizer with its chat template.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    template: Option<ChatTemplate>,
    special: SpecialTokens,
}

#[derive(Deserialize, Default)]
struct TokenizerConfig {
    #[serde(default)]
    chat_template: Option<serde_json::Value>,
    #[serde(default)]
    bos_token: Option<serde_json::Value>,
    #[serde(default)]
    eos_token: Option<serde_json::Value>,
    #[serde(default)]
    pad_token: Option<serde_json::Value>,
}

fn token_name(v: &Option<serde_json::Value>) -> Option<String> {
    match v.as_ref()? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The Llama 3.1 template's default date.
pub const LLAMA3_DEFAULT_DATE: &str = "26 Jul 2024";

impl Tokenizer {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` (special tokens and
    /// the chat template, which selects ChatML or Llama 3) from a model directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
        let inner: tokenizers::Tokenizer =
            text.parse().map_err(|source| ModelError::Tokenizer {
                context: path.display().to_string(),
                source,
            })?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: TokenizerConfig = if cfg_path.exists() {
            let t = std::fs::read_to_string(&cfg_path).map_err(read_err(&cfg_path))?;
            serde_json::from_str(&t).map_err(|source| ModelError::Json {
                path: cfg_path.clone(),
                source,
            })?
        } else {
            TokenizerConfig::default()
        };
        let template_text = match &cfg.chat_template {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            // A list of named templates: use the one called "default".
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str().map(str::to_owned)),
            _ => None,
        };
        let template = template_text.as_deref().and_then(detect_template);
        let id = |name: Option<String>| name.and_then(|n| inner.token_to_id(&n));
        let mut special = SpecialTokens {
            bos: id(token_name(&cfg.bos_token)),
            eos: id(token_name(&cfg.eos_token)),
            eot: None,
            pad: id(token_name(&cfg.pad_token)),
        };
        special.eot = match template {
            Some(ChatTemplate::ChatMl { .. }) => inner.token_to_id("<|im_end|>"),
            Some(ChatTemplate::Llama3 { .. }) => inner.token_to_id("<|eot_id|>"),
            None => special.eos,
        };
        Ok(Self {
            inner,
            path,
            template,
            special,
        })
    }

    /// Replaces the chat template (e.g. to pin another Llama 3 date).
    pub fn with_template(mut self, template: ChatTemplate) -> Self {
        self.special.eot = match &template {
            ChatTemplate::ChatMl { .. } => self.inner.token_to_id("<|im_end|>"),
            ChatTemplate::Llama3 { .. } => self.inner.token_to_id("<|eot_id|>"),
        };
        self.template = Some(template);
        self
    }

    /// The chat template in use, if the model has one.
    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// Special token ids.
    pub fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encodes text; special-token strings in it are recognised as special tokens.
    /// `add_special` applies the tokenizer's post-processor (e.g. a BOS token).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        self.inner
            .encode_fast(text, add_special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|source| ModelError::Tokenizer {
                context: format!("{}: encode", self.path.display()),
                source,
            })
    }

    /// Decodes ids to text.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|source| ModelError::Tokenizer {
                context: format!("{}: decode", self.path.display()),
                source,
            })
    }

    /// The pieces of a rendered chat, each flagged as assistant output or not.
    pub fn render_chat_text(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<(String, bool)>> {
        let template = self.template.as_ref().ok_or_else(|| ModelError::Argument {
            name: "chat",
            message: format!(
                "{}: the model has no recognised chat template (ChatML or Llama 3)",
                self.path.display()
            ),
        })?;
        let mut pieces: Vec<(String, bool)> = Vec::new();
        let mut push = |s: &str, a: bool| pieces.push((s.to_owned(), a));
        match template {
            ChatTemplate::ChatMl { default_system } => {
                if let Some(sys) = default_system
                    && messages.first().is_none_or(|m| m.role != Role::System)
                {
                    push("<|im_start|>", false);
                    push(&format!("system\n{sys}"), false);
                    push("<|im_end|>", false);
                    push("\n", false);
                }
                for m in messages {
                    let a = m.role == Role::Assistant;
                    push("<|im_start|>", false);
                    push(&format!("{}\n", m.role.as_str()), false);
                    push(&m.content, a);
                    push("<|im_end|>", a);
                    push("\n", false);
                }
                if add_generation_prompt {
                    push("<|im_start|>", false);
                    push("assistant\n", false);
                }
            }
            ChatTemplate::Llama3 { date } => {
                push("<|begin_of_text|>", false);
                let (system, rest) = match messages.first() {
                    Some(m) if m.role == Role::System => (m.content.trim(), &messages[1..]),
                    _ => ("", messages),
                };
                push("<|start_header_id|>", false);
                push("system", false);
                push("<|end_header_id|>", false);
                push(
                    &format!(
                        "\n\nCutting Knowledge Date: December 2023\nToday Date: {date}\n\n{system}"
                    ),
                    false,
                );
                push("<|eot_id|>", false);
                for m in rest {
                    let a = m.role == Role::Assistant;
                    push("<|start_header_id|>", false);
                    push(m.role.as_str(), false);
                    push("<|end_header_id|>", false);
                    push("\n\n", false);
                    push(m.content.trim(), a);
                    push("<|eot_id|>", a);
                }
                if add_generation_prompt {
                    push("<|start_header_id|>", false);
                    push("assistant", false);
                    push("<|end_header_id|>", false);
                    push("\n\n", false);
                }
            }
        }
        Ok(pieces.into_iter().filter(|(s, _)| !s.is_empty()).collect())
    }

    /// Renders a chat to token ids with the mask of assistant tokens.
    pub fn render_chat(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<RenderedChat> {
        let pieces = self.render_chat_text(messages, add_generation_prompt)?;
        let mut out = RenderedChat {
            ids: Vec::new(),
            assistant_mask: Vec::new(),
        };
        for (text, assistant) in pieces {
            let ids = self.encode(&text, false)?;
            out.assistant_mask
                .extend(std::iter::repeat_n(assistant, ids.len()));
            out.ids.extend(ids);
        }
        Ok(out)
    }
}

/// Recognises a Jinja chat template by its markers.
fn detect_template(text: &str) -> Option<ChatTemplate> {
    if text.contains("<|im_start|>") {
        let marker = "<|im_start|>system\n";
        let default_system = text.find("loop.first").and_then(|at| {
            let rest = &text[at..];
            let start = rest.find(marker)? + marker.len();
            let end = rest[start..].find("<|im_end|>")?;
            Some(rest[start..start + end].to_owned())
        });
        Some(ChatTemplate::ChatMl { default_system })
    } else if text.contains("<|start_header_id|>") {
        Some(ChatTemplate::Llama3 {
            date: LLAMA3_DEFAULT_DATE.to_owned(),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_smollm2_template_and_default_system() {
        let t = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(
            detect_template(t),
            Some(ChatTemplate::ChatMl {
                default_system: Some(
                    "You are a helpful AI assistant named SmolLM, trained by Hugging Face".into()
                )
            })
        );
        assert!(matches!(
            detect_template("{{ '<|start_header_id|>' }}"),
            Some(ChatTemplate::Llama3 { .. })
        ));
        assert_eq!(detect_template("{{ messages }}"), None);
    }
}
