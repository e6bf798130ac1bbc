//! The Llama decoder in burn: loading HF weights, the forward pass, the KV cache and scoring.
//!
//! Numerics follow transformers' `LlamaForCausalLM` in f32: RMSNorm with the weight applied
//! after normalising, rotate_half RoPE whose cos/sin are computed in f32 from (optionally
//! llama3-scaled) inverse frequencies, grouped-query attention, SwiGLU MLP.
//!
//! Attention masks are described per token by a *segment id*: a query sees a key when both
//! carry the same non-zero segment id and the key is not in the future. One segment per row
//! is plain causal attention; segment 0 marks padding; several segments in a row are packed
//! examples (block-diagonal causal mask), whose position ids restart per example.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation;
use sealtune_contract::SeededRng;

pub use crate::attention::AttentionKind;
use burn::tensor::{DType, FloatDType};

use crate::config::LlamaConfig;
pub use crate::cross_entropy::CrossEntropyKind;
use crate::device::Precision;
use crate::error::{ModelError, Result};
use crate::safetensors::{Checkpoint, OwnedTensor};

/// Value added to masked attention scores (transformers uses the dtype minimum).
pub(crate) const MASKED: f32 = -1.0e30;

/// A projection without bias, `y = x Wᵀ`, with HF's `[out, in]` weight layout, and an
/// optional LoRA branch computed on activations: `y = x Wᵀ + s·((x Aᵀ) Bᵀ)`.
///
/// `W` never takes part in autodiff (it stays on the plain device), so a backward pass
/// through this layer computes the input gradient and the small A/B gradients only.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`, outside autodiff.
    pub(crate) weight: Tensor<2>,
    /// LoRA adapter, if attached.
    pub(crate) lora: Option<crate::lora::LoraLayer>,
}

impl Linear {
    pub(crate) fn new(weight: Tensor<2>) -> Self {
        Self { weight, lora: None }
    }

    fn forward2(&self, x: Tensor<2>) -> Tensor<2> {
        let base = x.clone().matmul(self.weight.clone().transpose());
        match &self.lora {
            // The adapter computes in float32 whatever the base's precision (its A and B
            // are float32); in a bf16 model its input is widened and its output narrowed.
            Some(l) if !l.merged => match x.dtype() {
                DType::F32 => base + l.delta(x),
                dtype => {
                    base + l
                        .delta(x.cast(FloatDType::F32))
                        .cast(FloatDType::from(dtype))
                }
            },
            _ => base,
        }
    }

    fn forward3(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, h] = x.dims();
        let out = self.weight.dims()[0];
        self.forward2(x.reshape([b * t, h])).reshape([b, t, out])
    }
}

/// One decoder layer's weights.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) input_norm: Tensor<1>,
    pub(crate) post_norm: Tensor<1>,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
}

/// A Llama causal language model with loaded weights.
#[derive(Debug, Clone)]
pub struct Llama {
    pub(crate) config: LlamaConfig,
    device: Device,
    embed: Tensor<2>,
    pub(crate) layers: Vec<Layer>,
    norm: Tensor<1>,
    /// `None` when tied to `embed`.
    lm_head: Option<Tensor<2>>,
    inv_freq: Vec<f32>,
    /// Config of the attached LoRA adapter.
    pub(crate) lora: Option<crate::lora::LoraConfig>,
    /// How attention is computed (fused unless a benchmark or check asks otherwise).
    attention: AttentionKind,
    /// How the training loss is computed (blocked unless a benchmark or check asks).
    cross_entropy: CrossEntropyKind,
    /// The precision of the base weights and activations.
    precision: Precision,
}

/// What every layer of one forward pass shares (see [`Llama::embed`]): the attention bias
/// of the batch's segments and the rotary tables of its positions.
#[derive(Debug, Clone)]
pub struct LayerContext {
    bias: Tensor<4>,
    cos: Tensor<4>,
    sin: Tensor<4>,
    /// Keys per row (cached and new).
    tk: usize,
}

/// Per-layer key/value cache for incremental decoding.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Segment id of every cached token, row-major `[batch][past]`.
    segments: Vec<Vec<u32>>,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Llama) -> Self {
        Self {
            layers: vec![None; model.config.num_layers],
            segments: Vec::new(),
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.segments.first().map_or(0, Vec::len)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache with its rows repeated `n` times (rows `0..r`, then `0..r` again, ...):
    /// a batch of `n` continuations of the same cached prefix.
    pub fn repeat_rows(&self, n: usize) -> Self {
        Self {
            layers: self
                .layers
                .iter()
                .map(|l| {
                    l.as_ref()
                        .map(|(k, v)| (k.clone().repeat_dim(0, n), v.clone().repeat_dim(0, n)))
                })
                .collect(),
            segments: (0..n).flat_map(|_| self.segments.clone()).collect(),
        }
    }
}

/// A rectangular batch of token ids with their positions and segment ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Rows of equal length.
    pub tokens: Vec<Vec<u32>>,
    /// Position id of every token (same shape as `tokens`).
    pub positions: Vec<Vec<u32>>,
    /// Segment id of every token; 0 is padding (same shape as `tokens`).
    pub segments: Vec<Vec<u32>>,
}

impl Batch {
    /// Right-pads sequences of different lengths; positions count from 0 in each row.
    pub fn padded(seqs: &[Vec<u32>], pad_id: u32) -> Self {
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Batch {
            tokens: Vec::new(),
            positions: Vec::new(),
            segments: Vec::new(),
        };
        for s in seqs {
            let mut tok = s.clone();
            tok.resize(t, pad_id);
            out.tokens.push(tok);
            out.positions.push((0..t as u32).collect());
            out.segments
                .push((0..t).map(|i| u32::from(i < s.len())).collect());
        }
        out
    }

    /// Packs several examples into one row each: `rows[r]` lists the examples of row `r`.
    /// Positions restart at 0 for every example and attention stays inside an example.
    /// Rows are right-padded to the longest row.
    pub fn packed(rows: &[Vec<Vec<u32>>], pad_id: u32) -> Self {
        let t = rows
            .iter()
            .map(|r| r.iter().map(Vec::len).sum::<usize>())
            .max()
            .unwrap_or(0);
        let mut out = Batch {
            tokens: Vec::new(),
            positions: Vec::new(),
            segments: Vec::new(),
        };
        for row in rows {
            let (mut tok, mut pos, mut seg) = (Vec::new(), Vec::new(), Vec::new());
            for (i, ex) in row.iter().enumerate() {
                tok.extend_from_slice(ex);
                pos.extend(0..ex.len() as u32);
                seg.extend(std::iter::repeat_n(i as u32 + 1, ex.len()));
            }
            tok.resize(t, pad_id);
            pos.resize(t, 0);
            seg.resize(t, 0);
            out.tokens.push(tok);
            out.positions.push(pos);
            out.segments.push(seg);
        }
        out
    }

    fn shape(&self) -> Result<(usize, usize)> {
        let b = self.tokens.len();
        let t = self.tokens.first().map_or(0, Vec::len);
        let bad = |m: &str| ModelError::Argument {
            name: "batch",
            message: m.to_owned(),
        };
        if b == 0 || t == 0 {
            return Err(bad("needs at least one row and one token"));
        }
        if self.positions.len() != b || self.segments.len() != b {
            return Err(bad(
                "tokens, positions and segments need the same number of rows",
            ));
        }
        for r in 0..b {
            if self.tokens[r].len() != t
                || self.positions[r].len() != t
                || self.segments[r].len() != t
            {
                return Err(bad("all rows need the same length"));
            }
        }
        Ok((b, t))
    }
}

/// Per-sequence result of [`Llama::score`].
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceScore {
    /// `log p(x_t | x_<t)` for t = 1..n (the first token has no prediction).
    pub token_logprobs: Vec<f32>,
    /// For each scored position, `E_{z~p}[log p(z)]`, when requested.
    pub expected_logprob: Option<Vec<f32>>,
    /// For each scored position, `Var_{z~p}[log p(z)]`, when requested (Min-K%++).
    pub logprob_variance: Option<Vec<f32>>,
}

fn tensor_err(ck: &Checkpoint, name: &str, message: String) -> ModelError {
    ModelError::Tensor {
        path: ck.root().to_path_buf(),
        tensor: name.to_owned(),
        message,
    }
}

impl Llama {
    /// Loads `config.json` and the safetensors weights of a HF model directory, in float32.
    pub fn load_dir(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_dir_as(dir, device, Precision::F32)
    }

    /// [`Llama::load_dir`] computing in `precision`: each weight is converted as it is
    /// loaded, so a bf16 model never holds a float32 copy of its weights on the device.
    pub fn load_dir_as(dir: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let config = LlamaConfig::from_dir(dir)?;
        let mut ck = Checkpoint::open_dir(dir)?;
        Self::from_checkpoint(config, &mut ck, device, precision)
    }

    /// Builds the model from an opened checkpoint. Every tensor the config implies must be
    /// present with its shape, and the checkpoint may hold no other tensor (besides rotary
    /// caches some exporters write).
    pub fn from_checkpoint(
        config: LlamaConfig,
        ck: &mut Checkpoint,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let mut used = std::collections::BTreeSet::new();
        let tied = !ck.contains("lm_head.weight");
        if tied && !config.tie_word_embeddings {
            return Err(tensor_err(
                ck,
                "lm_head.weight",
                "missing, and config.json has tie_word_embeddings = false".into(),
            ));
        }
        // Tied checkpoints sometimes store a copy of the embedding; use it as stored.
        let model = Self::build(config, device, precision, !tied, |name, shape| {
            let data = ck.read(name, shape)?;
            used.insert(name.to_owned());
            Ok(Init::Data(data))
        })?;
        if let Some(extra) = ck
            .names()
            .find(|n| !used.contains(*n) && !n.ends_with("rotary_emb.inv_freq"))
        {
            return Err(tensor_err(
                ck,
                extra,
                "not a tensor of this Llama config (wrong num_hidden_layers or not a Llama checkpoint?)"
                    .into(),
            ));
        }
        Ok(model)
    }

    /// A model of `config`'s shape with random weights drawn on `device` (normal, standard
    /// deviation 0.02 as in Llama's initialisation; norms at one): for benchmarks of
    /// published shapes, whose speed does not depend on the weight values, without
    /// multi-GB weight files. `seed` seeds the device's generator.
    ///
    /// With `on_host`, the values are drawn on the host by a generator of this crate
    /// instead, so every device gets the same model (for comparing devices; slower, and
    /// the host must hold the weights once). The weights are drawn in float32 and converted
    /// to `precision` one tensor at a time.
    pub fn random(
        config: LlamaConfig,
        device: &Device,
        precision: Precision,
        seed: u64,
        on_host: bool,
    ) -> Result<Self> {
        device.seed(seed);
        let untied = !config.tie_word_embeddings;
        let mut rng = SeededRng::new(seed);
        Self::build(config, device, precision, untied, |name, shape| {
            Ok(if name.ends_with("norm.weight") {
                Init::Ones
            } else if on_host {
                Init::Data(host_normal(&mut rng, shape.iter().product(), 0.02))
            } else {
                Init::Normal(0.02)
            })
        })
    }

    /// Builds the model, asking `init` for every tensor by HF name and shape; `lm_head`
    /// says whether an `lm_head.weight` is asked for (else the embedding is used).
    fn build(
        config: LlamaConfig,
        device: &Device,
        precision: Precision,
        lm_head: bool,
        init: impl FnMut(&str, &[usize]) -> Result<Init>,
    ) -> Result<Self> {
        let init = std::cell::RefCell::new(init);
        let dtype = precision.float_dtype();
        let get = |name: &str, shape: &[usize]| (init.borrow_mut())(name, shape);
        let c = &config;
        let (h, q_out, kv_out) = (
            c.hidden_size,
            c.num_heads * c.head_dim,
            c.num_kv_heads * c.head_dim,
        );
        let t2 = |name: &str, shape: [usize; 2]| -> Result<Tensor<2>> {
            Ok(get(name, &shape)?.materialize(shape, device).cast(dtype))
        };
        let t1 = |name: &str| -> Result<Tensor<1>> {
            Ok(get(name, &[h])?.materialize([h], device).cast(dtype))
        };
        let embed = t2("model.embed_tokens.weight", [c.vocab_size, h])?;
        let lm_head = if lm_head {
            Some(t2("lm_head.weight", [c.vocab_size, h])?)
        } else {
            None
        };
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            let lin = |n: &str, shape: [usize; 2]| -> Result<Linear> {
                Ok(Linear::new(t2(&format!("{p}.{n}.weight"), shape)?))
            };
            let q = lin("self_attn.q_proj", [q_out, h])?;
            let k = lin("self_attn.k_proj", [kv_out, h])?;
            let v = lin("self_attn.v_proj", [kv_out, h])?;
            let o = lin("self_attn.o_proj", [h, q_out])?;
            let gate = lin("mlp.gate_proj", [c.intermediate_size, h])?;
            let up = lin("mlp.up_proj", [c.intermediate_size, h])?;
            let down = lin("mlp.down_proj", [h, c.intermediate_size])?;
            let input_norm = t1(&format!("{p}.input_layernorm.weight"))?;
            let post_norm = t1(&format!("{p}.post_attention_layernorm.weight"))?;
            layers.push(Layer {
                input_norm,
                post_norm,
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
            });
        }
        let norm = t1("model.norm.weight")?;
        let inv_freq = config.inv_freq();
        Ok(Self {
            config,
            device: device.clone(),
            embed,
            layers,
            norm,
            lm_head,
            inv_freq,
            lora: None,
            attention: AttentionKind::default(),
            cross_entropy: CrossEntropyKind::default(),
            precision,
        })
    }

    /// The precision of the base weights and activations.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The validated configuration.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// RMSNorm as transformers computes it: the statistics and the normalisation in
    /// float32, then back to the model's precision before the weight is applied.
    fn rms_norm<const D: usize>(&self, x: Tensor<D>, w: &Tensor<1>) -> Tensor<D> {
        let wide = self.precision != Precision::F32;
        let x = if wide { x.cast(FloatDType::F32) } else { x };
        let var = x.clone().square().mean_dim(D - 1);
        let x = x * var.add_scalar(self.config.rms_norm_eps).sqrt().recip();
        let x = if wide {
            x.cast(self.precision.float_dtype())
        } else {
            x
        };
        x * w.clone().unsqueeze::<D>()
    }

    /// cos and sin of shape `[b, 1, t, head_dim]`, computed in f32 and stored in the
    /// model's precision (as transformers does).
    fn rope_tables(&self, positions: &[Vec<u32>]) -> (Tensor<4>, Tensor<4>) {
        let b = positions.len();
        let t = positions[0].len();
        let d = self.config.head_dim;
        let half = d / 2;
        let mut cos = Vec::with_capacity(b * t * d);
        let mut sin = Vec::with_capacity(b * t * d);
        for row in positions {
            for &p in row {
                let start = cos.len();
                for f in &self.inv_freq {
                    let a = p as f32 * f;
                    cos.push(a.cos());
                    sin.push(a.sin());
                }
                cos.extend_from_within(start..start + half);
                sin.extend_from_within(start..start + half);
            }
        }
        let shape = [b, 1, t, d];
        let dtype = self.precision.float_dtype();
        (
            Tensor::<4>::from_data(TensorData::new(cos, shape), &self.device).cast(dtype),
            Tensor::<4>::from_data(TensorData::new(sin, shape), &self.device).cast(dtype),
        )
    }

    fn apply_rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
        let d = x.dims()[3];
        let x1 = x.clone().narrow(3, 0, d / 2);
        let x2 = x.clone().narrow(3, d / 2, d / 2);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos.clone() + rotated * sin.clone()
    }

    /// Runs the decoder and returns logits `[batch, seq, vocab]`.
    ///
    /// With a cache, `batch` holds only the new tokens; their keys and values are appended.
    pub fn forward(&self, batch: &Batch, cache: Option<&mut KvCache>) -> Result<Tensor<3>> {
        let hidden = self.hidden_states(batch, cache)?;
        Ok(self.logits(hidden))
    }

    /// How attention is computed from now on. [`AttentionKind::Fused`] (the default) is
    /// what every stage uses; [`AttentionKind::Decomposed`] is burn's composed attention,
    /// kept as the reference that benchmarks and checks compare the fused one with.
    pub fn set_attention(&mut self, kind: AttentionKind) {
        self.attention = kind;
    }

    /// How [`Llama::token_nll`] computes the loss from now on. [`CrossEntropyKind::Blocked`]
    /// (the default) is what training uses; [`CrossEntropyKind::Full`] materialises the
    /// logits of every position, the reference benchmarks and checks compare it with.
    pub fn set_cross_entropy(&mut self, kind: CrossEntropyKind) {
        self.cross_entropy = kind;
    }

    /// Per-position negative log-likelihood `−log p(targetᵢ | hiddenᵢ)`: `hidden` `[n,
    /// hidden]` (final hidden states after the last norm), `targets` `[n]`. The LM head is
    /// not differentiated; gradients reach `hidden` (see [`crate::cross_entropy`]).
    pub fn token_nll(&self, hidden: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        let w = self.lm_head.as_ref().unwrap_or(&self.embed).clone();
        match self.cross_entropy {
            CrossEntropyKind::Blocked => crate::cross_entropy::linear_cross_entropy(
                hidden,
                w,
                targets,
                crate::cross_entropy::block_for(self.config.vocab_size),
            ),
            CrossEntropyKind::Full => crate::cross_entropy::full(hidden, w, targets),
        }
    }

    /// Final hidden states after the last norm, `[batch, seq, hidden]`.
    pub fn hidden_states(&self, batch: &Batch, cache: Option<&mut KvCache>) -> Result<Tensor<3>> {
        let (mut x, ctx) = self.embed_with_context(batch, cache.as_deref())?;
        let mut cache = cache;
        for li in 0..self.layers.len() {
            x = self.layer(li, x, &ctx, cache.as_deref_mut());
        }
        if let Some(cache) = cache {
            if cache.segments.is_empty() {
                cache.segments = batch.segments.clone();
            } else {
                for (p, n) in cache.segments.iter_mut().zip(&batch.segments) {
                    p.extend_from_slice(n);
                }
            }
        }
        Ok(self.final_norm(x))
    }

    /// The number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The first step of a forward pass taken a layer at a time (activation checkpointing):
    /// the token embeddings `[batch, seq, hidden]` of `batch` and what every layer of this
    /// pass shares. Then [`Llama::layer_forward`] for each layer in turn and
    /// [`Llama::final_norm`] give what [`Llama::hidden_states`] gives.
    pub fn embed(&self, batch: &Batch) -> Result<(Tensor<3>, LayerContext)> {
        self.embed_with_context(batch, None)
    }

    /// Layer `li` of the decoder applied to `x` `[batch, seq, hidden]` (its input: the
    /// embeddings or the previous layer's output).
    ///
    /// # Panics
    /// If `li` is not below [`Llama::num_layers`].
    pub fn layer_forward(&self, li: usize, x: Tensor<3>, ctx: &LayerContext) -> Tensor<3> {
        self.layer(li, x, ctx, None)
    }

    /// The norm after the last layer.
    pub fn final_norm(&self, x: Tensor<3>) -> Tensor<3> {
        self.rms_norm(x, &self.norm)
    }

    fn embed_with_context(
        &self,
        batch: &Batch,
        cache: Option<&KvCache>,
    ) -> Result<(Tensor<3>, LayerContext)> {
        let (b, t) = batch.shape()?;
        let c = &self.config;
        for (r, row) in batch.tokens.iter().enumerate() {
            if let Some(&bad) = row.iter().find(|&&id| id as usize >= c.vocab_size) {
                return Err(ModelError::Argument {
                    name: "tokens",
                    message: format!("row {r}: token id {bad} >= vocab_size {}", c.vocab_size),
                });
            }
        }
        // Key segments: cached ones followed by the new ones.
        let (past, key_segments): (usize, Vec<Vec<u32>>) = match cache {
            Some(cache) if !cache.segments.is_empty() => {
                if cache.segments.len() != b {
                    return Err(ModelError::Argument {
                        name: "cache",
                        message: format!(
                            "holds {} rows but the batch has {b}",
                            cache.segments.len()
                        ),
                    });
                }
                let past = cache.len();
                let segs = cache
                    .segments
                    .iter()
                    .zip(&batch.segments)
                    .map(|(p, n)| p.iter().chain(n).copied().collect())
                    .collect();
                (past, segs)
            }
            _ => (0, batch.segments.clone()),
        };
        let tk = past + t;
        let bias = self.attention_bias(&batch.segments, &key_segments, past);
        let (cos, sin) = self.rope_tables(&batch.positions);

        let ids: Vec<i64> = batch
            .tokens
            .iter()
            .flatten()
            .map(|&x| i64::from(x))
            .collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &self.device);
        let x: Tensor<3> = self
            .embed
            .clone()
            .select(0, ids)
            .reshape([b, t, c.hidden_size]);
        Ok((x, LayerContext { bias, cos, sin, tk }))
    }

    /// The additive attention bias `[b, 1, t, tk]` of queries with segment ids `q_segs`
    /// (at positions `past..past + t`) against keys with `k_segs`, built on the device
    /// from the ids (a long row uploads `b·(t + tk)` ids, not `b·t·tk` values): 0 where a
    /// query sees a key, [`MASKED`] elsewhere.
    fn attention_bias(&self, q_segs: &[Vec<u32>], k_segs: &[Vec<u32>], past: usize) -> Tensor<4> {
        let (b, t, tk) = (q_segs.len(), q_segs[0].len(), k_segs[0].len());
        let device = &self.device;
        let ints = |v: Vec<i64>, shape: [usize; 3]| {
            Tensor::<3, Int>::from_data(TensorData::new(v, shape), device).expand([b, t, tk])
        };
        let flat = |s: &[Vec<u32>]| s.iter().flatten().map(|&x| i64::from(x)).collect();
        let qs = ints(flat(q_segs), [b, t, 1]);
        let ks = ints(flat(k_segs), [b, 1, tk]);
        let qp = ints((past..past + t).map(|p| p as i64).collect(), [1, t, 1]);
        let kp = ints((0..tk).map(|p| p as i64).collect(), [1, 1, tk]);
        // A padding query (segment 0) sees only itself: no row is fully masked, which
        // attention kernels that normalise with a saved log-sum-exp (LibTorch's flash
        // backward) get wrong. Real queries see the earlier keys of their own segment, so
        // never padding: padding changes nothing they compute.
        let padding = qs.clone().equal_elem(0);
        let real = qs
            .equal(ks)
            .bool_and(kp.clone().lower_equal(qp.clone()))
            .bool_and(padding.clone().bool_not());
        let visible = real.bool_or(padding.bool_and(kp.equal(qp)));
        Tensor::<3>::zeros([b, t, tk], device)
            .mask_fill(visible.bool_not(), MASKED)
            .reshape([b, 1, t, tk])
            .cast(self.precision.float_dtype())
    }

    fn layer(
        &self,
        li: usize,
        x: Tensor<3>,
        ctx: &LayerContext,
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let c = &self.config;
        let layer = &self.layers[li];
        let [b, t, _] = x.dims();
        let tk = ctx.tk;
        let (nh, nkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        let rep = nh / nkv;
        let scale = 1.0 / (hd as f64).sqrt();
        let hn = self.rms_norm(x.clone(), &layer.input_norm);
        let q = layer
            .q
            .forward3(hn.clone())
            .reshape([b, t, nh, hd])
            .swap_dims(1, 2);
        let k = layer
            .k
            .forward3(hn.clone())
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let v = layer
            .v
            .forward3(hn)
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let q = Self::apply_rope(q, &ctx.cos, &ctx.sin);
        let mut k = Self::apply_rope(k, &ctx.cos, &ctx.sin);
        let mut v = v;
        if let Some(cache) = cache {
            if let Some((pk, pv)) = cache.layers[li].take() {
                k = Tensor::cat(vec![pk, k], 2);
                v = Tensor::cat(vec![pv, v], 2);
            }
            cache.layers[li] = Some((k.clone(), v.clone()));
        }
        let (k, v) = if rep > 1 {
            (
                k.unsqueeze_dim::<5>(2)
                    .expand([b, nkv, rep, tk, hd])
                    .reshape([b, nh, tk, hd]),
                v.unsqueeze_dim::<5>(2)
                    .expand([b, nkv, rep, tk, hd])
                    .reshape([b, nh, tk, hd]),
            )
        } else {
            (k, v)
        };
        // One fused operation with its own backward pass (crate::attention): under
        // autodiff no layer keeps its [b, h, t, tk] probabilities for the backward pass.
        let attn = match self.attention {
            // On flex the blocks skip the scores above the diagonal; LibTorch's kernels get
            // the whole bias in one call, as they always have.
            AttentionKind::Fused if crate::lora::is_flex(&self.device) => {
                crate::attention::causal_attention(q, k, v, ctx.bias.clone(), scale, tk - t)
            }
            AttentionKind::Fused | AttentionKind::FusedWhole => {
                crate::attention::attention(q, k, v, ctx.bias.clone(), scale)
            }
            AttentionKind::Decomposed => {
                crate::attention::decomposed(q, k, v, ctx.bias.clone(), scale)
            }
        };
        let attn = attn.swap_dims(1, 2).reshape([b, t, nh * hd]);
        let x = x + layer.o.forward3(attn);
        let hn = self.rms_norm(x.clone(), &layer.post_norm);
        let g = activation::silu(layer.gate.forward3(hn.clone()));
        let u = layer.up.forward3(hn);
        x + layer.down.forward3(g * u)
    }

    /// Projects hidden states to vocabulary logits, in float32 (a bf16 model computes them
    /// in bf16 and widens them, as transformers does before its loss).
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, h] = hidden.dims();
        let w = self.lm_head.as_ref().unwrap_or(&self.embed).clone();
        hidden
            .reshape([b * t, h])
            .matmul(w.transpose())
            .cast(FloatDType::F32)
            .reshape([b, t, self.config.vocab_size])
    }

    /// Scores sequences: per-token log-probabilities of each sequence under the model, in
    /// one right-padded batch. With `vocab_stats`, also the mean and variance of `log p(z)`
    /// under the predicted distribution at each position (the Min-K%++ statistics).
    pub fn score(&self, seqs: &[Vec<u32>], vocab_stats: bool) -> Result<Vec<SequenceScore>> {
        if seqs.iter().any(|s| s.len() < 2) {
            return Err(ModelError::Argument {
                name: "seqs",
                message: "every sequence needs at least 2 tokens to be scored".into(),
            });
        }
        let pad = self.config.pad_token_id.unwrap_or(0);
        let batch = Batch::padded(seqs, pad);
        let (b, t) = batch.shape()?;
        let logits = self.forward(&batch, None)?;
        let logp = activation::log_softmax(logits.narrow(1, 0, t - 1), 2);
        let targets: Vec<i64> = batch
            .tokens
            .iter()
            .flat_map(|r| r[1..].iter().map(|&x| i64::from(x)))
            .collect();
        let targets =
            Tensor::<3, Int>::from_data(TensorData::new(targets, [b, t - 1, 1]), &self.device);
        let picked = read_f32(logp.clone().gather(2, targets))?;
        let (mean, var) = if vocab_stats {
            let p = logp.clone().exp();
            let mean = (p.clone() * logp.clone()).sum_dim(2);
            let second = (p * logp.square()).sum_dim(2);
            let var = second - mean.clone().square();
            (Some(read_f32(mean)?), Some(read_f32(var)?))
        } else {
            (None, None)
        };
        Ok(seqs
            .iter()
            .enumerate()
            .map(|(r, s)| {
                let range = r * (t - 1)..r * (t - 1) + s.len() - 1;
                SequenceScore {
                    token_logprobs: picked[range.clone()].to_vec(),
                    expected_logprob: mean.as_ref().map(|m| m[range.clone()].to_vec()),
                    logprob_variance: var
                        .as_ref()
                        .map(|v| v[range.clone()].iter().map(|x| x.max(0.0)).collect()),
                }
            })
            .collect())
    }

    /// Log-probabilities of `conts[i][1..]`, each continuation read after the prefix held by
    /// the one-row `cache` (which is left as it was): `conts[i][j]` for `j ≥ 1` given the
    /// prefix and `conts[i][..j]`. One batch: each row continues the prefix (the cache
    /// repeated per row), right-padded (padding is segment 0, which no real token attends
    /// to), and the log-probabilities are picked on the device, so one value per token
    /// comes back. A continuation shorter than 2 tokens gets none.
    pub fn score_continuations(&self, cache: &KvCache, conts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = conts.len();
        let t = conts
            .iter()
            .map(|c| c.len().saturating_sub(1))
            .max()
            .unwrap_or(0);
        if t == 0 {
            return Ok(vec![Vec::new(); b]);
        }
        if cache.segments.len() != 1 {
            return Err(ModelError::Argument {
                name: "cache",
                message: format!(
                    "holds {} rows; continuations need one",
                    cache.segments.len()
                ),
            });
        }
        let pad = self.config.pad_token_id.unwrap_or(0);
        let start = cache.len() as u32;
        let mut batch = Batch {
            tokens: Vec::with_capacity(b),
            positions: Vec::with_capacity(b),
            segments: Vec::with_capacity(b),
        };
        let mut targets = Vec::with_capacity(b * t);
        for c in conts {
            let n = c.len().saturating_sub(1);
            let mut row = c[..n].to_vec();
            row.resize(t, pad);
            batch.tokens.push(row);
            batch.positions.push((start..start + t as u32).collect());
            batch
                .segments
                .push((0..t).map(|j| u32::from(j < n)).collect());
            targets.extend(c.iter().skip(1).map(|&x| i64::from(x)));
            targets.extend(std::iter::repeat_n(0, t - n));
        }
        let mut rows = cache.repeat_rows(b);
        let logits = self.forward(&batch, Some(&mut rows))?;
        let targets =
            Tensor::<3, Int>::from_data(TensorData::new(targets, [b, t, 1]), &self.device);
        let picked = read_f32(activation::log_softmax(logits, 2).gather(2, targets))?;
        Ok(conts
            .iter()
            .enumerate()
            .map(|(r, c)| picked[r * t..r * t + c.len().saturating_sub(1)].to_vec())
            .collect())
    }

    /// The weights as HF-named f32 tensors (for export).
    pub fn to_hf_tensors(&self) -> Result<Vec<OwnedTensor>> {
        let mut out = Vec::new();
        push(&mut out, "model.embed_tokens.weight".into(), &self.embed)?;
        if let Some(h) = &self.lm_head {
            push(&mut out, "lm_head.weight".into(), h)?;
        }
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            for (n, lin) in l.linears() {
                // Exports the effective weight: W, or W + s·BA when an adapter is attached.
                let w = match &lin.lora {
                    Some(lora) if !lora.merged => {
                        lin.weight.clone() + lora.delta_weight(&lin.weight)
                    }
                    _ => lin.weight.clone(),
                };
                push(&mut out, format!("{p}.{n}.weight"), &w)?;
            }
            push(
                &mut out,
                format!("{p}.input_layernorm.weight"),
                &l.input_norm,
            )?;
            push(
                &mut out,
                format!("{p}.post_attention_layernorm.weight"),
                &l.post_norm,
            )?;
        }
        push(&mut out, "model.norm.weight".into(), &self.norm)?;
        Ok(out)
    }
}

/// Every tensor a checkpoint for `c` holds, with its shape (HF names; `lm_head.weight`
/// included even when tied, where it is optional).
pub fn expected_tensors(c: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (h, q_out, kv_out, ff) = (
        c.hidden_size,
        c.num_heads * c.head_dim,
        c.num_kv_heads * c.head_dim,
        c.intermediate_size,
    );
    let mut out = vec![
        (
            "model.embed_tokens.weight".to_owned(),
            vec![c.vocab_size, h],
        ),
        ("lm_head.weight".to_owned(), vec![c.vocab_size, h]),
        ("model.norm.weight".to_owned(), vec![h]),
    ];
    for i in 0..c.num_layers {
        let p = format!("model.layers.{i}");
        for (n, shape) in [
            ("input_layernorm", vec![h]),
            ("post_attention_layernorm", vec![h]),
            ("self_attn.q_proj", vec![q_out, h]),
            ("self_attn.k_proj", vec![kv_out, h]),
            ("self_attn.v_proj", vec![kv_out, h]),
            ("self_attn.o_proj", vec![h, q_out]),
            ("mlp.gate_proj", vec![ff, h]),
            ("mlp.up_proj", vec![ff, h]),
            ("mlp.down_proj", vec![h, ff]),
        ] {
            out.push((format!("{p}.{n}.weight"), shape));
        }
    }
    out
}

/// `n` normal values with standard deviation `std` ([`SeededRng`] and Box-Muller), the
/// same on every machine for the same generator state.
fn host_normal(rng: &mut SeededRng, n: usize, std: f64) -> Vec<f32> {
    // A uniform in (0, 1]: never 0, so the logarithm below is finite.
    let mut next = || rng.unit_f64() + f64::EPSILON;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (u, v) = (next().min(1.0), next());
        let r = (-2.0 * u.ln()).sqrt() * std;
        let t = std::f64::consts::TAU * v;
        out.push((r * t.cos()) as f32);
        if out.len() < n {
            out.push((r * t.sin()) as f32);
        }
    }
    out
}

/// How [`Llama::build`] gets one tensor.
enum Init {
    /// Values read from a checkpoint (f32, row-major).
    Data(Vec<f32>),
    /// Drawn on the device from a normal distribution with this standard deviation.
    Normal(f64),
    /// All ones.
    Ones,
}

impl Init {
    fn materialize<const D: usize>(self, shape: [usize; D], device: &Device) -> Tensor<D> {
        match self {
            Init::Data(data) => Tensor::from_data(TensorData::new(data, shape), device),
            Init::Normal(std) => {
                Tensor::random(shape, burn::tensor::Distribution::Normal(0.0, std), device)
            }
            Init::Ones => Tensor::ones(shape, device),
        }
    }
}

fn push<const D: usize>(out: &mut Vec<OwnedTensor>, name: String, t: &Tensor<D>) -> Result<()> {
    out.push(OwnedTensor {
        name,
        shape: t.dims().to_vec(),
        data: read_f32(t.clone())?,
    });
    Ok(())
}

impl Layer {
    /// The seven projections with their HF module paths inside a layer.
    pub(crate) fn linears(&self) -> [(&'static str, &Linear); 7] {
        [
            ("self_attn.q_proj", &self.q),
            ("self_attn.k_proj", &self.k),
            ("self_attn.v_proj", &self.v),
            ("self_attn.o_proj", &self.o),
            ("mlp.gate_proj", &self.gate),
            ("mlp.up_proj", &self.up),
            ("mlp.down_proj", &self.down),
        ]
    }

    /// Mutable access to the projections, in the same order as [`Layer::linears`].
    pub(crate) fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 7] {
        [
            ("self_attn.q_proj", &mut self.q),
            ("self_attn.k_proj", &mut self.k),
            ("self_attn.v_proj", &mut self.v),
            ("self_attn.o_proj", &mut self.o),
            ("mlp.gate_proj", &mut self.gate),
            ("mlp.up_proj", &mut self.up),
            ("mlp.down_proj", &mut self.down),
        ]
    }
}

/// Reads a tensor back to host f32 values.
pub fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| ModelError::Internal {
            message: format!("cannot read a tensor back as f32: {e:?}"),
        })
}
