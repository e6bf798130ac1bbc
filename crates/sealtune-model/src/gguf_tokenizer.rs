//! Rebuilds a Hugging Face `tokenizer.json` from GGUF `tokenizer.ggml.*` metadata.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::error::{ModelError, Result};
use crate::gguf::Value;

/// The pieces of a converted tokenizer.
#[derive(Debug, Clone)]
pub(crate) struct BuiltTokenizer {
    pub(crate) tokenizer_json: Json,
    pub(crate) tokenizer_config: Json,
    pub(crate) vocab_size: usize,
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) pad: Option<u32>,
}

/// Llama 3's pre-tokenizer split pattern.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn err(path: &Path, m: impl Into<String>) -> ModelError {
    ModelError::Format {
        path: path.to_path_buf(),
        message: m.into(),
    }
}

fn strings(meta: &BTreeMap<String, Value>, key: &str, path: &Path) -> Result<Vec<String>> {
    match meta.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(path, format!("metadata `{key}` must hold strings")))
            })
            .collect(),
        _ => Err(err(
            path,
            format!("metadata `{key}` is missing or not an array"),
        )),
    }
}

fn id(meta: &BTreeMap<String, Value>, key: &str, n: usize) -> Option<u32> {
    meta.get(key)
        .and_then(Value::as_u64)
        .filter(|&v| (v as usize) < n)
        .map(|v| v as u32)
}

pub(crate) fn build(meta: &BTreeMap<String, Value>, path: &Path) -> Result<BuiltTokenizer> {
    let model = meta
        .get("tokenizer.ggml.model")
        .and_then(Value::as_str)
        .unwrap_or("");
    if model != "gpt2" {
        return Err(err(
            path,
            format!(
                "tokenizer.ggml.model `{model}` is not supported; only byte-level BPE (`gpt2`) tokenizers are converted"
            ),
        ));
    }
    let tokens = strings(meta, "tokenizer.ggml.tokens", path)?;
    let merges = strings(meta, "tokenizer.ggml.merges", path)?;
    let types: Vec<i64> = match meta.get("tokenizer.ggml.token_type") {
        Some(Value::Array(v)) => v
            .iter()
            .map(|x| match x {
                Value::I(i) => *i,
                Value::U(u) => *u as i64,
                _ => 1,
            })
            .collect(),
        _ => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(err(
            path,
            "tokenizer.ggml.token_type and tokens differ in length",
        ));
    }
    let n = tokens.len();
    let mut vocab = serde_json::Map::with_capacity(n);
    for (i, t) in tokens.iter().enumerate() {
        if vocab.insert(t.clone(), json!(i)).is_some() {
            return Err(err(
                path,
                format!("token `{t}` appears twice in tokenizer.ggml.tokens"),
            ));
        }
    }
    let merges: Vec<Json> = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| err(path, format!("merge `{m}` has no space")))
        })
        .collect::<Result<_>>()?;
    let bos = id(meta, "tokenizer.ggml.bos_token_id", n);
    let eos = id(meta, "tokenizer.ggml.eos_token_id", n);
    let unk = id(meta, "tokenizer.ggml.unknown_token_id", n);
    let pad = id(meta, "tokenizer.ggml.padding_token_id", n);
    // Control (3) and user-defined (4) tokens match before BPE, like HF added tokens.
    let added: Vec<Json> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == 3 || **t == 4)
        .map(|(i, t)| {
            json!({
                "id": i, "content": tokens[i], "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": *t == 4, "special": *t == 3,
            })
        })
        .collect();
    let pre = meta
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let pre_tokenizer = match pre {
        "default" | "gpt-2" | "gpt2" => byte_level(true),
        "smollm" | "starcoder" | "refact" => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)],
        }),
        "llama-bpe" | "llama3" => json!({
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": false},
                byte_level(false),
            ],
        }),
        other => {
            return Err(err(
                path,
                format!(
                    "tokenizer.ggml.pre `{other}` is not supported (smollm, starcoder, refact, gpt-2, llama-bpe are)"
                ),
            ));
        }
    };
    let add_bos = matches!(
        meta.get("tokenizer.ggml.add_bos_token"),
        Some(Value::Bool(true))
    );
    let post_processor = match (add_bos, bos) {
        (true, Some(b)) => {
            let bos_tok = &tokens[b as usize];
            json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos_tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_tok: {"id": bos_tok, "ids": [b], "tokens": [bos_tok]}},
            })
        }
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    };
    let tokenizer_json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null,
            "unk_token": unk.map(|u| tokens[u as usize].clone()),
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": pre == "llama-bpe" || pre == "llama3",
            "vocab": vocab, "merges": merges,
        },
    });
    // Parse it once so a broken conversion fails here, not at load time.
    let text = serde_json::to_string(&tokenizer_json).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<tokenizers::Tokenizer>()
        .map_err(|source| ModelError::Tokenizer {
            context: format!("{}: converted tokenizer", path.display()),
            source,
        })?;
    let name = |i: Option<u32>| i.map(|i| tokens[i as usize].clone());
    let mut tokenizer_config = json!({
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": add_bos,
        "bos_token": name(bos),
        "eos_token": name(eos),
        "unk_token": name(unk),
        "pad_token": name(pad),
        "model_max_length": meta.get("llama.context_length").and_then(Value::as_u64),
    });
    if let Some(t) = meta.get("tokenizer.chat_template").and_then(Value::as_str) {
        tokenizer_config["chat_template"] = t.into();
    }
    Ok(BuiltTokenizer {
        tokenizer_json,
        tokenizer_config,
        vocab_size: n,
        bos,
        eos,
        pad,
    })
}
