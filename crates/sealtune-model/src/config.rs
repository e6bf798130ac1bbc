//! Model configuration: a serde mirror of Hugging Face `config.json` for the Llama family
//! (Llama 2, 3, 3.1, 3.2, SmolLM2) and the validated [`LlamaConfig`] the model is built from.
//!
//! [`HfConfig`] accepts unknown keys on purpose: real `config.json` files carry many fields
//! (`transformers_version`, `torch_dtype`, ...) that do not change the computation. Keys that
//! would change it (`attention_bias`, `mlp_bias`, `hidden_act`, an unknown `rope_scaling`
//! type) are checked and rejected when unsupported.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, read_err};

/// `rope_scaling` as written in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HfRopeScaling {
    /// The scaling kind; newer files write `rope_type`, older ones `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    /// Legacy name of `rope_type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Scaling factor (llama3: 8.0 for Llama 3.1, 32.0 for Llama 3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// llama3: wavelengths above `original_max / low_freq_factor` are fully scaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    /// llama3: wavelengths below `original_max / high_freq_factor` are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    /// llama3: the context length the model was pre-trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
    /// RoPE base, when written inside `rope_parameters` (transformers 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
}

/// A token id field that HF writes either as one integer or as a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids (Llama 3.1 lists `<|end_of_text|>`, `<|eom_id|>`, `<|eot_id|>`).
    Many(Vec<u32>),
}

impl TokenIds {
    /// All ids, in file order.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// Serde mirror of a Llama-family Hugging Face `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HfConfig {
    /// `LlamaForCausalLM` for every supported model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Must be `llama`.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (GQA); defaults to `num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// Epsilon of RMSNorm. Default 1e-6.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base. Default 10000 (or `rope_parameters.rope_theta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// RoPE scaling; only `llama3` and `default` are supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<HfRopeScaling>,
    /// transformers 5 name for `rope_scaling`, which also carries `rope_theta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<HfRopeScaling>,
    /// Longest context the model supports. Default 2048.
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Whether `lm_head` shares the embedding matrix. Default false.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Activation of the MLP; must be `silu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Biases on q/k/v/o; must be false.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP; must be false.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Beginning-of-sequence token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-sequence token id(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<TokenIds>,
    /// Padding token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    /// Storage dtype of the checkpoint (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
}

fn default_model_type() -> String {
    "llama".to_owned()
}
fn default_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    2048
}
fn default_act() -> String {
    "silu".to_owned()
}

/// RoPE frequency scaling, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Llama 3.1 style frequency-dependent scaling.
    Llama3 {
        /// Overall factor.
        factor: f64,
        /// Low-frequency factor.
        low_freq_factor: f64,
        /// High-frequency factor.
        high_freq_factor: f64,
        /// Pre-training context length.
        original_max_position_embeddings: usize,
    },
}

/// A validated Llama configuration: every shape is consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads; divides `num_heads`.
    pub num_kv_heads: usize,
    /// Per-head width; even.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Longest supported context.
    pub max_position_embeddings: usize,
    /// Whether `lm_head` is the embedding matrix.
    pub tie_word_embeddings: bool,
    /// BOS id, if any.
    pub bos_token_id: Option<u32>,
    /// EOS ids (may be several).
    pub eos_token_ids: Vec<u32>,
    /// PAD id, if any.
    pub pad_token_id: Option<u32>,
}

impl HfConfig {
    /// Reads and parses `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(read_err(path))?;
        serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Validates this config; `origin` names the file in error messages.
    pub fn validate(&self, origin: &Path) -> Result<LlamaConfig> {
        let err = |field: &'static str, message: String| ModelError::Config {
            path: origin.to_path_buf(),
            field,
            message,
        };
        if self.model_type != "llama" {
            return Err(err(
                "model_type",
                format!(
                    "`{}` is not supported; only `llama` models load",
                    self.model_type
                ),
            ));
        }
        if self.hidden_act != "silu" {
            return Err(err(
                "hidden_act",
                format!("`{}` is not supported; Llama uses `silu`", self.hidden_act),
            ));
        }
        if self.attention_bias || self.mlp_bias {
            return Err(err(
                "attention_bias",
                "biased attention/MLP projections are not supported; set both to false".into(),
            ));
        }
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(err(field, "must be at least 1".into()));
            }
        }
        let num_kv_heads = self.num_key_value_heads.unwrap_or(self.num_attention_heads);
        if num_kv_heads == 0 || !self.num_attention_heads.is_multiple_of(num_kv_heads) {
            return Err(err(
                "num_key_value_heads",
                format!(
                    "{num_kv_heads} must be at least 1 and divide num_attention_heads = {}",
                    self.num_attention_heads
                ),
            ));
        }
        let head_dim = match self.head_dim {
            Some(d) => d,
            None => {
                if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
                    return Err(err(
                        "hidden_size",
                        format!(
                            "{} is not divisible by num_attention_heads = {}; set head_dim",
                            self.hidden_size, self.num_attention_heads
                        ),
                    ));
                }
                self.hidden_size / self.num_attention_heads
            }
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(err(
                "head_dim",
                format!("{head_dim} must be even and at least 2"),
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(err(
                "rms_norm_eps",
                format!("{} must be > 0", self.rms_norm_eps),
            ));
        }
        let rope = self.rope_scaling.as_ref().or(self.rope_parameters.as_ref());
        let rope_theta = self
            .rope_theta
            .or(rope.and_then(|r| r.rope_theta))
            .unwrap_or(10000.0);
        if !(rope_theta > 0.0 && rope_theta.is_finite()) {
            return Err(err("rope_theta", format!("{rope_theta} must be > 0")));
        }
        let rope_scaling = match rope {
            None => RopeScaling::None,
            Some(s) => {
                let kind = s
                    .rope_type
                    .as_deref()
                    .or(s.kind.as_deref())
                    .unwrap_or("default");
                match kind {
                    "default" => RopeScaling::None,
                    "llama3" => {
                        let need = |v: Option<f64>, name: &str| {
                            v.filter(|x| *x > 0.0 && x.is_finite()).ok_or_else(|| {
                                err(
                                    "rope_scaling",
                                    format!("llama3 scaling needs a positive `{name}`"),
                                )
                            })
                        };
                        let factor = need(s.factor, "factor")?;
                        let low_freq_factor = need(s.low_freq_factor, "low_freq_factor")?;
                        let high_freq_factor = need(s.high_freq_factor, "high_freq_factor")?;
                        if high_freq_factor <= low_freq_factor {
                            return Err(err(
                                "rope_scaling",
                                format!(
                                    "high_freq_factor {high_freq_factor} must exceed low_freq_factor {low_freq_factor}"
                                ),
                            ));
                        }
                        let original = s
                            .original_max_position_embeddings
                            .filter(|v| *v > 0)
                            .ok_or_else(|| {
                                err(
                                    "rope_scaling",
                                    "llama3 scaling needs original_max_position_embeddings".into(),
                                )
                            })?;
                        RopeScaling::Llama3 {
                            factor,
                            low_freq_factor,
                            high_freq_factor,
                            original_max_position_embeddings: original,
                        }
                    }
                    other => {
                        return Err(err(
                            "rope_scaling",
                            format!("rope type `{other}` is not supported; use `llama3` or none"),
                        ));
                    }
                }
            }
        };
        let bos_token_id = self
            .bos_token_id
            .as_ref()
            .and_then(|b| b.to_vec().first().copied());
        let eos_token_ids = self
            .eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default();
        for (field, id) in [
            ("bos_token_id", bos_token_id),
            ("pad_token_id", self.pad_token_id),
        ]
        .into_iter()
        .chain(eos_token_ids.iter().map(|e| ("eos_token_id", Some(*e))))
        {
            if let Some(id) = id
                && id as usize >= self.vocab_size
            {
                return Err(err(
                    field,
                    format!(
                        "{id} is outside the vocabulary (vocab_size = {})",
                        self.vocab_size
                    ),
                ));
            }
        }
        Ok(LlamaConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings,
            bos_token_id,
            eos_token_ids,
            pad_token_id: self.pad_token_id,
        })
    }
}

impl LlamaConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        HfConfig::from_file(path)?.validate(path)
    }

    /// Reads `config.json` from a model directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("config.json"))
    }

    /// Inverse RoPE frequencies (length `head_dim / 2`), with llama3 scaling applied,
    /// computed in f64 and rounded to f32 as transformers does.
    pub fn inv_freq(&self) -> Vec<f32> {
        let half = self.head_dim / 2;
        let d = self.head_dim as f64;
        // transformers computes base ** (arange(0, dim, 2) / dim) in float32.
        let base: Vec<f32> = (0..half)
            .map(|i| {
                let exp = (2 * i) as f32 / d as f32;
                1.0 / (self.rope_theta as f32).powf(exp)
            })
            .collect();
        match self.rope_scaling {
            RopeScaling::None => base,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.into_iter()
                    .map(|f| {
                        let f = f as f64;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        let smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled;
                        let is_medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                        (if is_medium { smoothed } else { scaled }) as f32
                    })
                    .collect()
            }
        }
    }
}

/// Published model shapes, for benchmarks with random weights ([`crate::Llama::random`]):
/// `llama-3.2-1b` and `llama-3.1-8b` (the values of their public `config.json`), and
/// `tiny`, a two-layer Llama-3-style shape for dry runs.
pub const PUBLISHED_SHAPES: [&str; 3] = ["llama-3.2-1b", "llama-3.1-8b", "tiny"];

/// The configuration of a published shape (see [`PUBLISHED_SHAPES`]), or `None`.
pub fn published_shape(name: &str) -> Option<LlamaConfig> {
    published_shape_hf(name)?.validate(Path::new(name)).ok()
}

/// A published shape as a Hugging Face `config.json` (for building the same shape in
/// transformers), or `None`.
pub fn published_shape_hf(name: &str) -> Option<HfConfig> {
    let llama3_rope = |factor: f64| {
        serde_json::json!({"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    };
    let (hidden, inter, layers, heads, kv, tied, rope, vocab, max_pos) = match name {
        "llama-3.2-1b" => (
            2048,
            8192,
            16,
            32,
            8,
            true,
            llama3_rope(32.0),
            128_256,
            131_072,
        ),
        "llama-3.1-8b" => (
            4096,
            14336,
            32,
            32,
            8,
            false,
            llama3_rope(8.0),
            128_256,
            131_072,
        ),
        "tiny" => (256, 688, 2, 8, 2, false, llama3_rope(8.0), 4096, 8192),
        _ => return None,
    };
    serde_json::from_value(serde_json::json!({
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": rope,
        "max_position_embeddings": max_pos,
        "tie_word_embeddings": tied,
        "bos_token_id": 0,
        "eos_token_id": 1,
    }))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtune_contract::ExitStatus as _;

    fn parse(v: serde_json::Value) -> Result<LlamaConfig> {
        serde_json::from_value::<HfConfig>(v)
            .unwrap()
            .validate(Path::new("config.json"))
    }

    fn llama32_1b() -> serde_json::Value {
        serde_json::json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
            "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
            "head_dim": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
            "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "max_position_embeddings": 131072, "tie_word_embeddings": true,
            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
            "torch_dtype": "bfloat16", "transformers_version": "4.45.0", "use_cache": true
        })
    }

    #[test]
    fn llama32_parses_with_gqa_and_llama3_scaling() {
        let c = parse(llama32_1b()).unwrap();
        assert_eq!((c.num_heads, c.num_kv_heads, c.head_dim), (32, 8, 64));
        assert_eq!(c.eos_token_ids, vec![128001, 128008, 128009]);
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));
        let f = c.inv_freq();
        assert_eq!(f.len(), 32);
        // Highest frequency untouched, lowest divided by the factor.
        assert_eq!(f[0], 1.0);
        let plain = 1.0 / 500000f32.powf(62.0 / 64.0);
        assert!((f[31] - plain / 32.0).abs() < 1e-12);
    }

    #[test]
    fn llama2_defaults() {
        let c = parse(serde_json::json!({
            "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 32, "num_attention_heads": 32, "rms_norm_eps": 1e-5,
            "bos_token_id": 1, "eos_token_id": 2
        }))
        .unwrap();
        assert_eq!(
            (c.num_kv_heads, c.head_dim, c.rope_theta),
            (32, 128, 10000.0)
        );
        assert_eq!(c.rope_scaling, RopeScaling::None);
        assert!(!c.tie_word_embeddings);
    }

    #[test]
    fn transformers5_rope_parameters() {
        let mut v = llama32_1b();
        let obj = v.as_object_mut().unwrap();
        let mut rp = obj.remove("rope_scaling").unwrap();
        rp["rope_theta"] = obj.remove("rope_theta").unwrap();
        obj.insert("rope_parameters".into(), rp);
        let c = parse(v).unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { .. }));
    }

    #[test]
    fn inconsistent_shapes_are_rejected_with_the_field() {
        let cases = [
            ("num_key_value_heads", serde_json::json!(5)),
            ("head_dim", serde_json::json!(63)),
            ("hidden_act", serde_json::json!("gelu")),
            ("num_hidden_layers", serde_json::json!(0)),
            ("bos_token_id", serde_json::json!(999999)),
        ];
        for (field, value) in cases {
            let mut v = llama32_1b();
            v[field] = value;
            let e = parse(v).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
            assert_eq!(e.exit().code(), 78);
        }
        let mut v = llama32_1b();
        v["rope_scaling"]["rope_type"] = "yarn".into();
        assert!(parse(v).unwrap_err().to_string().contains("yarn"));
        let mut v = llama32_1b();
        v.as_object_mut().unwrap().remove("head_dim");
        v["hidden_size"] = 2050.into();
        assert!(parse(v).unwrap_err().to_string().contains("hidden_size"));
    }
}
