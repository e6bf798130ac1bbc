//! LoRA adapters computed on activations, PEFT-compatible export and import, merging.
//!
//! Each targeted projection gets `A: [r, in]` and `B: [out, r]` (PEFT's shapes) and computes
//! `y = x Wᵀ + s·((dropout(x) Aᵀ) Bᵀ)` with `s = alpha / r` (or `alpha / √r` with rsLoRA).
//! The base weight `W` is never part of autodiff: to train, move only A and B onto an
//! autodiff device with [`Llama::map_lora`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::Distribution;
use sealtune_contract::SeededRng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, read_err, write_err};
use crate::model::{Llama, read_f32};
use crate::safetensors::{Checkpoint, OwnedTensor, SafetensorsBytes, write_safetensors};

/// A projection LoRA can adapt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// Attention query.
    QProj,
    /// Attention key.
    KProj,
    /// Attention value.
    VProj,
    /// Attention output.
    OProj,
    /// MLP gate.
    GateProj,
    /// MLP up.
    UpProj,
    /// MLP down.
    DownProj,
}

impl LoraTarget {
    /// Every target, in layer order.
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    /// PEFT's module name (`q_proj`, ...).
    pub fn module_name(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }

    fn from_module_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.module_name() == name)
    }
}

/// LoRA hyper-parameters (the `[train.lora]` section of a pipeline config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of A and B. Default 16; must be 1..=1024.
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// Scaling numerator alpha. Default 32.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Dropout on the LoRA branch's input while training. Default 0.05; must be in [0, 1).
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// rsLoRA scaling `alpha / sqrt(rank)` instead of `alpha / rank`. Default false.
    #[serde(default)]
    pub use_rslora: bool,
    /// Projections to adapt. Default: all seven (q, k, v, o, gate, up, down).
    #[serde(default = "default_targets")]
    pub targets: Vec<LoraTarget>,
    /// Seed of the initialisation of A. Default 0.
    #[serde(default)]
    pub seed: u64,
}

fn default_rank() -> usize {
    16
}
fn default_alpha() -> f64 {
    32.0
}
fn default_dropout() -> f64 {
    0.05
}
fn default_targets() -> Vec<LoraTarget> {
    LoraTarget::ALL.to_vec()
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: default_rank(),
            alpha: default_alpha(),
            dropout: default_dropout(),
            use_rslora: false,
            targets: default_targets(),
            seed: 0,
        }
    }
}

impl LoraConfig {
    /// The scale `s` applied to the LoRA branch.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, message: String| Err(ModelError::Argument { name, message });
        if !(1..=1024).contains(&self.rank) {
            return bad("lora.rank", format!("{} must be 1..=1024", self.rank));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad("lora.alpha", format!("{} must be > 0", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(
                "lora.dropout",
                format!("{} must be in [0, 1)", self.dropout),
            );
        }
        if self.targets.is_empty() {
            return bad("lora.targets", "needs at least one projection".into());
        }
        Ok(())
    }
}

/// One projection's adapter.
#[derive(Debug, Clone)]
pub struct LoraLayer {
    /// `[r, in]`.
    pub a: Tensor<2>,
    /// `[out, r]`.
    pub b: Tensor<2>,
    /// `alpha / r` or `alpha / sqrt(r)`.
    pub scale: f64,
    /// Dropout probability, applied only while [`Llama::set_training`] is on.
    pub dropout: f64,
    pub(crate) training: bool,
    pub(crate) merged: bool,
    /// This projection's own dropout stream (its layer and place in the layer), mixed with
    /// the seed of the pass ([`Llama::seed_layer`]) so no two projections share a mask.
    pub(crate) stream: u64,
    /// The seed of the current pass through this projection's layer.
    pub(crate) dropout_seed: u64,
}

impl LoraLayer {
    /// `s·((dropout(x) Aᵀ) Bᵀ)` for `x: [n, in]`.
    pub(crate) fn delta(&self, x: Tensor<2>) -> Tensor<2> {
        let x = if self.training && self.dropout > 0.0 {
            let keep = 1.0 - self.dropout;
            let device = x.device();
            if is_flex(&device) {
                // burn's sampler on flex draws each element through a generic distribution
                // (10% of a training step in the profile); the mask is drawn here in bulk,
                // already scaled by 1/keep.
                let [n, d] = x.dims();
                let seed = SeededRng::new(self.dropout_seed ^ self.stream).next_u64();
                let mask = dropout_mask(seed, n * d, keep);
                x * Tensor::<2>::from_data(TensorData::new(mask, [n, d]), &device)
            } else {
                let mask = Tensor::<2>::random(x.dims(), Distribution::Bernoulli(keep), &device);
                x * mask.div_scalar(keep)
            }
        } else {
            x
        };
        x.matmul(self.a.clone().transpose())
            .matmul(self.b.clone().transpose())
            .mul_scalar(self.scale)
    }

    /// `s·BA`, shaped like the base weight `[out, in]`, computed in float32 and given in
    /// `like`'s dtype (the base weight's).
    pub(crate) fn delta_weight(&self, like: &Tensor<2>) -> Tensor<2> {
        self.b
            .clone()
            .without_autodiff()
            .matmul(self.a.clone().without_autodiff())
            .mul_scalar(self.scale)
            .cast(burn::tensor::FloatDType::from(like.dtype()))
    }
}

/// Whether `device` (or the device an autodiff device wraps) is burn's pure-Rust `flex`.
pub(crate) fn is_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// An inverted-dropout mask of `n` values: each `1/keep` with probability `keep`, else 0,
/// reproducible from `seed` (two 32-bit draws per 64-bit word of [`SeededRng`]).
fn dropout_mask(seed: u64, n: usize, keep: f64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let pick = |bits: u64| if bits < threshold { scale } else { 0.0 };
    let mut rng = SeededRng::new(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n / 2 {
        let r = rng.next_u64();
        out.push(pick(r >> 32));
        out.push(pick(r & 0xffff_ffff));
    }
    if n % 2 == 1 {
        out.push(pick(rng.next_u64() >> 32));
    }
    out
}

/// `n` values uniform in `[-bound, bound)`, reproducible from `seed`.
fn uniform(seed: u64, n: usize, bound: f32) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|_| (2.0 * rng.unit_f32() - 1.0) * bound)
        .collect()
}

/// PEFT's key prefix for a projection's adapter.
fn peft_key(layer: usize, module: &str) -> String {
    let group = if module.ends_with("_proj") && ["q", "k", "v", "o"].contains(&&module[..1]) {
        "self_attn"
    } else {
        "mlp"
    };
    format!("base_model.model.model.layers.{layer}.{group}.{module}")
}

/// PEFT `adapter_config.json` (the keys sealtune reads and writes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeftAdapterConfig {
    /// Must be `LORA`.
    pub peft_type: String,
    /// `CAUSAL_LM`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Rank.
    pub r: usize,
    /// Alpha.
    pub lora_alpha: f64,
    /// Dropout.
    #[serde(default)]
    pub lora_dropout: f64,
    /// rsLoRA scaling.
    #[serde(default)]
    pub use_rslora: bool,
    /// Module names (`q_proj`, ...).
    pub target_modules: Vec<String>,
    /// Must be `none`.
    #[serde(default = "bias_none")]
    pub bias: String,
    /// Must be false (weights are `[out, in]`).
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Must be false.
    #[serde(default)]
    pub use_dora: bool,
    /// Must be null: every layer is adapted.
    #[serde(default)]
    pub layers_to_transform: Option<serde_json::Value>,
    /// Base model reference.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Inference mode flag (true on export).
    #[serde(default)]
    pub inference_mode: bool,
    /// PEFT's init flag.
    #[serde(default)]
    pub init_lora_weights: serde_json::Value,
}

fn bias_none() -> String {
    "none".into()
}

impl Llama {
    /// Attaches fresh adapters with PEFT's initialisation: A Kaiming-uniform
    /// (bound `1/sqrt(in)`), B zero, so the model's output is unchanged until trained.
    pub fn add_lora(&mut self, cfg: &LoraConfig) -> Result<()> {
        cfg.validate()?;
        let device = self.device().clone();
        let mut seed = cfg.seed;
        for (li, layer) in self.layers.iter_mut().enumerate() {
            for (k, (name, lin)) in layer.linears_mut().into_iter().enumerate() {
                let module = name.rsplit('.').next().unwrap_or(name);
                let Some(target) = LoraTarget::from_module_name(module) else {
                    continue;
                };
                if !cfg.targets.contains(&target) {
                    continue;
                }
                let [out, inp] = lin.weight.dims();
                let bound = 1.0 / (inp as f32).sqrt();
                seed = seed.wrapping_add(0x632b_e59b_d9b4_e019);
                let a = uniform(seed, cfg.rank * inp, bound);
                lin.lora = Some(LoraLayer {
                    a: Tensor::from_data(TensorData::new(a, [cfg.rank, inp]), &device),
                    b: Tensor::zeros([out, cfg.rank], &device),
                    scale: cfg.scale(),
                    dropout: cfg.dropout,
                    training: false,
                    merged: false,
                    stream: ((li as u64) << 3 | k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    dropout_seed: 0,
                });
            }
        }
        self.lora = Some(cfg.clone());
        Ok(())
    }

    /// The attached adapter's config, if any.
    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }

    /// Turns LoRA dropout on (training) or off (evaluation, generation).
    pub fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            for (_, lin) in layer.linears_mut() {
                if let Some(l) = &mut lin.lora {
                    l.training = training;
                }
            }
        }
    }

    /// Seeds layer `li`'s dropout for the next pass through it: burn's generator (the LibTorch
    /// devices draw their masks there) and each adapter's own stream (flex). A layer seeded
    /// the same way draws the same masks, so a pass recomputed under activation
    /// checkpointing matches the first.
    pub fn seed_layer(&mut self, li: usize, seed: u64) {
        self.device().seed(seed);
        if let Some(layer) = self.layers.get_mut(li) {
            for (_, lin) in layer.linears_mut() {
                if let Some(l) = &mut lin.lora {
                    l.dropout_seed = seed;
                }
            }
        }
    }

    /// Applies `f(peft_key, tensor)` to every LoRA tensor (`...q_proj.lora_A.weight`), e.g. to
    /// move A and B onto an autodiff device with `require_grad`, or to write optimiser updates.
    pub fn map_lora(&mut self, mut f: impl FnMut(&str, Tensor<2>) -> Tensor<2>) {
        for i in 0..self.layers.len() {
            self.map_layer_lora(i, &mut f);
        }
    }

    /// [`Llama::map_lora`] over the tensors of layer `li` only, in the same order.
    ///
    /// # Panics
    /// If `li` is not below [`Llama::num_layers`].
    pub fn map_layer_lora(&mut self, li: usize, mut f: impl FnMut(&str, Tensor<2>) -> Tensor<2>) {
        for (name, lin) in self.layers[li].linears_mut() {
            if let Some(l) = &mut lin.lora {
                let module = name.rsplit('.').next().unwrap_or(name);
                let key = peft_key(li, module);
                l.a = f(&format!("{key}.lora_A.weight"), l.a.clone());
                l.b = f(&format!("{key}.lora_B.weight"), l.b.clone());
            }
        }
    }

    /// Every LoRA tensor with its PEFT key, in a stable order: layer by layer, in
    /// [`Llama::layer_lora_tensors`]' order within a layer.
    pub fn lora_tensors(&self) -> Vec<(String, Tensor<2>)> {
        (0..self.layers.len())
            .flat_map(|i| self.layer_lora_tensors(i))
            .collect()
    }

    /// The LoRA tensors of layer `li` with their PEFT keys.
    ///
    /// # Panics
    /// If `li` is not below [`Llama::num_layers`].
    pub fn layer_lora_tensors(&self, li: usize) -> Vec<(String, Tensor<2>)> {
        let mut out = Vec::new();
        for (name, lin) in self.layers[li].linears() {
            if let Some(l) = &lin.lora {
                let module = name.rsplit('.').next().unwrap_or(name);
                let key = peft_key(li, module);
                out.push((format!("{key}.lora_A.weight"), l.a.clone()));
                out.push((format!("{key}.lora_B.weight"), l.b.clone()));
            }
        }
        out
    }

    /// Folds every adapter into its base weight (`W += s·BA`); forward then skips the
    /// LoRA branch. Idempotent.
    pub fn merge_lora(&mut self) {
        for layer in &mut self.layers {
            for (_, lin) in layer.linears_mut() {
                if let Some(l) = &mut lin.lora
                    && !l.merged
                {
                    lin.weight = lin.weight.clone() + l.delta_weight(&lin.weight);
                    l.merged = true;
                }
            }
        }
    }

    /// Undoes [`Llama::merge_lora`] (`W -= s·BA`). Idempotent. In a bf16 model the round
    /// trip rounds twice, so `W` comes back within a bf16 rounding step, not exactly.
    pub fn unmerge_lora(&mut self) {
        for layer in &mut self.layers {
            for (_, lin) in layer.linears_mut() {
                if let Some(l) = &mut lin.lora
                    && l.merged
                {
                    lin.weight = lin.weight.clone() - l.delta_weight(&lin.weight);
                    l.merged = false;
                }
            }
        }
    }

    /// Writes the adapter in PEFT's layout: `adapter_config.json` and
    /// `adapter_model.safetensors` (`lora_A [r, in]`, `lora_B [out, r]`, f32).
    pub fn save_peft_adapter(&self, dir: &Path, base_model: &str) -> Result<()> {
        self.save_peft_adapter_with(dir, base_model, write_safetensors)
    }

    /// [`Llama::save_peft_adapter`], with the weights handed to `write_weights` (the
    /// path `adapter_model.safetensors` would have, and the tensors) instead of written
    /// in clear: e.g. serialised into memory and sealed.
    pub fn save_peft_adapter_with<E: From<ModelError>>(
        &self,
        dir: &Path,
        base_model: &str,
        write_weights: impl FnOnce(&Path, &[OwnedTensor]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let cfg = self.lora.as_ref().ok_or_else(|| ModelError::Argument {
            name: "adapter",
            message: "the model has no LoRA adapter to save".into(),
        })?;
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let mut tensors = Vec::new();
        for (name, t) in self.lora_tensors() {
            tensors.push(OwnedTensor {
                name,
                shape: t.dims().to_vec(),
                data: read_f32(t.without_autodiff())?,
            });
        }
        write_weights(&dir.join("adapter_model.safetensors"), &tensors)?;
        let mut targets: Vec<LoraTarget> = cfg.targets.clone();
        targets.sort();
        targets.dedup();
        let config = PeftAdapterConfig {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            r: cfg.rank,
            lora_alpha: cfg.alpha,
            lora_dropout: cfg.dropout,
            use_rslora: cfg.use_rslora,
            target_modules: targets.iter().map(|t| t.module_name().to_owned()).collect(),
            bias: "none".into(),
            fan_in_fan_out: false,
            use_dora: false,
            layers_to_transform: None,
            base_model_name_or_path: Some(base_model.to_owned()),
            inference_mode: true,
            init_lora_weights: serde_json::Value::Bool(true),
        };
        let p = dir.join("adapter_config.json");
        let text = serde_json::to_string_pretty(&config).map_err(|source| ModelError::Json {
            path: p.clone(),
            source,
        })?;
        sealtune_pipeline::fsutil::atomic_write(&p, text.as_bytes()).map_err(write_err(&p))?;
        Ok(())
    }

    /// Loads a PEFT LoRA adapter directory onto this model (replacing any attached one).
    /// Every adapted projection must have both tensors with PEFT's shapes; unknown keys,
    /// DoRA, biases and per-layer selections are rejected.
    pub fn load_peft_adapter(&mut self, dir: &Path) -> Result<()> {
        let cfg_path = dir.join("adapter_config.json");
        let text = std::fs::read(&cfg_path).map_err(read_err(&cfg_path))?;
        let weights = dir.join("adapter_model.safetensors");
        if !weights.exists() && dir.join("adapter_model.safetensors.seal").is_file() {
            return Err(ModelError::Missing {
                path: weights,
                hint: "the adapter is sealed at rest (adapter_model.safetensors.seal); use the signed release (`sealtune generate --release`), or `sealtune unseal` it to a file you choose",
            });
        }
        let mut ck = Checkpoint::open_file(&weights)?;
        let names: Vec<String> = ck.names().cloned().collect();
        self.attach_peft(&text, &cfg_path, &weights, &names, |k, shape| {
            ck.read(k, shape)
        })
    }

    /// Loads a PEFT LoRA adapter held in memory (`adapter_config.json` and
    /// `adapter_model.safetensors` bytes, e.g. decrypted from a sealed release), with the
    /// same checks as [`Llama::load_peft_adapter`]. `origin` names the adapter in messages.
    /// Nothing is written to disk.
    pub fn load_peft_adapter_bytes(
        &mut self,
        config_json: &[u8],
        safetensors: &[u8],
        origin: &Path,
    ) -> Result<()> {
        let cfg_path = origin.join("adapter_config.json");
        let weights = origin.join("adapter_model.safetensors");
        let st = SafetensorsBytes::parse(safetensors, &weights)?;
        let names: Vec<String> = st.entries().keys().cloned().collect();
        self.attach_peft(config_json, &cfg_path, &weights, &names, |k, shape| {
            st.read(k, shape)
        })
    }

    fn attach_peft(
        &mut self,
        config_json: &[u8],
        cfg_path: &Path,
        weights: &Path,
        names: &[String],
        mut read: impl FnMut(&str, &[usize]) -> Result<Vec<f32>>,
    ) -> Result<()> {
        let pc: PeftAdapterConfig =
            serde_json::from_slice(config_json).map_err(|source| ModelError::Json {
                path: cfg_path.to_path_buf(),
                source,
            })?;
        let cfg_err = |field: &'static str, message: String| ModelError::Config {
            path: cfg_path.to_path_buf(),
            field,
            message,
        };
        if pc.peft_type != "LORA" {
            return Err(cfg_err(
                "peft_type",
                format!("`{}`: only LORA adapters load", pc.peft_type),
            ));
        }
        if pc.use_dora || pc.fan_in_fan_out || pc.bias != "none" || pc.layers_to_transform.is_some()
        {
            return Err(cfg_err(
                "use_dora",
                "DoRA, fan_in_fan_out, LoRA biases and layers_to_transform are not supported"
                    .into(),
            ));
        }
        let mut targets = Vec::new();
        for m in &pc.target_modules {
            targets.push(LoraTarget::from_module_name(m).ok_or_else(|| {
                cfg_err("target_modules", format!("`{m}` is not a Llama projection"))
            })?);
        }
        let cfg = LoraConfig {
            rank: pc.r,
            alpha: pc.lora_alpha,
            dropout: pc.lora_dropout,
            use_rslora: pc.use_rslora,
            targets,
            seed: 0,
        };
        cfg.validate().map_err(|e| cfg_err("r", e.to_string()))?;
        let device = self.device().clone();
        let mut loaded: BTreeMap<String, Tensor<2>> = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (name, lin) in layer.linears() {
                let module = name.rsplit('.').next().unwrap_or(name);
                if !LoraTarget::from_module_name(module).is_some_and(|t| cfg.targets.contains(&t)) {
                    continue;
                }
                let [out, inp] = lin.weight.dims();
                let key = peft_key(i, module);
                for (suffix, shape) in [
                    ("lora_A.weight", [cfg.rank, inp]),
                    ("lora_B.weight", [out, cfg.rank]),
                ] {
                    let k = format!("{key}.{suffix}");
                    let data = read(&k, &shape)?;
                    loaded.insert(k, Tensor::from_data(TensorData::new(data, shape), &device));
                }
            }
        }
        if let Some(extra) = names.iter().find(|n| !loaded.contains_key(*n)) {
            return Err(ModelError::Tensor {
                path: weights.to_path_buf(),
                tensor: extra.clone(),
                message: "not an adapter tensor of this model and adapter_config.json".into(),
            });
        }
        self.add_lora(&cfg)?;
        self.map_lora(|k, t| loaded.remove(k).unwrap_or(t));
        Ok(())
    }

    /// Writes the model with adapters folded in as a HF directory: `model.safetensors`
    /// (f32), `config.json`, and the tokenizer files copied from `source_dir`.
    pub fn save_merged(&self, source_dir: &Path, out_dir: &Path) -> Result<()> {
        self.save_merged_with(source_dir, out_dir, write_safetensors)
    }

    /// [`Llama::save_merged`], with the weights handed to `write_weights` (the path
    /// `model.safetensors` would have, and the tensors) instead of written in clear.
    pub fn save_merged_with<E: From<ModelError>>(
        &self,
        source_dir: &Path,
        out_dir: &Path,
        write_weights: impl FnOnce(&Path, &[OwnedTensor]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        std::fs::create_dir_all(out_dir).map_err(write_err(out_dir))?;
        write_weights(&out_dir.join("model.safetensors"), &self.to_hf_tensors()?)?;
        copy_side_files(source_dir, out_dir, None)?;
        Ok(())
    }

    /// Writes the model with adapters folded in as a HF directory laid out like
    /// `source_dir`: sharded with the same tensor-to-shard map (and a new
    /// `model.safetensors.index.json`) when the base is sharded, else one
    /// `model.safetensors`; f32; plus `config.json` and the tokenizer files copied from
    /// `source_dir`. Every file is created with `mode` and written atomically (temp file,
    /// fsync, rename). `out_dir` must exist. Returns the files written, in order.
    pub fn save_merged_like(
        &self,
        source_dir: &Path,
        out_dir: &Path,
        mode: u32,
    ) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let tensors = self.to_hf_tensors()?;
        let index_path = source_dir.join("model.safetensors.index.json");
        if index_path.is_file() {
            let text = std::fs::read_to_string(&index_path).map_err(read_err(&index_path))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| ModelError::Json {
                    path: index_path.clone(),
                    source,
                })?;
            let map: BTreeMap<String, String> = v
                .get("weight_map")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|source| ModelError::Json {
                    path: index_path.clone(),
                    source,
                })?
                .unwrap_or_default();
            let mut shard_names: Vec<&String> = map.values().collect();
            shard_names.sort();
            shard_names.dedup();
            let Some(first) = shard_names.first().map(|s| (*s).clone()) else {
                return Err(ModelError::Format {
                    path: index_path,
                    message: "weight_map is empty".into(),
                });
            };
            for s in &shard_names {
                if s.contains('/') || s.contains('\\') || s.starts_with('.') {
                    return Err(ModelError::Format {
                        path: index_path.clone(),
                        message: format!("shard name `{s}` must be a plain file name"),
                    });
                }
            }
            let mut by_shard: BTreeMap<String, Vec<OwnedTensor>> = BTreeMap::new();
            let mut weight_map = serde_json::Map::new();
            let mut total = 0usize;
            for t in tensors {
                // A tensor the base index does not place (e.g. an untied lm_head) goes
                // into the first shard.
                let shard = map.get(&t.name).cloned().unwrap_or_else(|| first.clone());
                weight_map.insert(t.name.clone(), serde_json::Value::String(shard.clone()));
                total += 4 * t.data.len();
                by_shard.entry(shard).or_default().push(t);
            }
            for (shard, ts) in &by_shard {
                let p = out_dir.join(shard);
                crate::safetensors::write_safetensors_mode(&p, ts, mode)?;
                written.push(p);
            }
            let index = serde_json::json!({
                "metadata": { "total_size": total },
                "weight_map": weight_map,
            });
            let p = out_dir.join("model.safetensors.index.json");
            let text = serde_json::to_vec_pretty(&index).map_err(|source| ModelError::Json {
                path: p.clone(),
                source,
            })?;
            sealtune_pipeline::fsutil::atomic_write_mode_with(&p, mode, |w| {
                std::io::Write::write_all(w, &text)
            })
            .map_err(write_err(&p))?;
            written.push(p);
        } else {
            let p = out_dir.join("model.safetensors");
            crate::safetensors::write_safetensors_mode(&p, &tensors, mode)?;
            written.push(p);
        }
        written.extend(copy_side_files(source_dir, out_dir, Some(mode))?);
        Ok(written)
    }
}

/// The files of a HF model directory that go beside merged weights.
const HF_SIDE_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
];

/// Copies the [`HF_SIDE_FILES`] that `source_dir` has into `out_dir`, each
/// atomically (with `mode` when given); returns the files written.
fn copy_side_files(source_dir: &Path, out_dir: &Path, mode: Option<u32>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for name in HF_SIDE_FILES {
        let src = source_dir.join(name);
        if !src.is_file() {
            continue;
        }
        let bytes = std::fs::read(&src).map_err(read_err(&src))?;
        let dst = out_dir.join(name);
        match mode {
            Some(m) => sealtune_pipeline::fsutil::atomic_write_mode_with(&dst, m, |w| {
                std::io::Write::write_all(w, &bytes)
            }),
            None => sealtune_pipeline::fsutil::atomic_write(&dst, &bytes),
        }
        .map_err(write_err(&dst))?;
        written.push(dst);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_masks_keep_the_asked_share_scaled_and_follow_the_seed() {
        let keep = 0.9;
        let n = 100_001;
        let m = dropout_mask(7, n, keep);
        assert_eq!(m.len(), n);
        let scale = (1.0 / keep) as f32;
        assert!(m.iter().all(|&v| v == 0.0 || v == scale));
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
        // Four standard deviations of a binomial share at n = 100 001.
        let sd = (keep * (1.0 - keep) / n as f64).sqrt();
        assert!((kept - keep).abs() < 4.0 * sd, "kept {kept}");
        assert_eq!(m, dropout_mask(7, n, keep));
        let other = dropout_mask(8, n, keep);
        let same = m.iter().zip(&other).filter(|(a, b)| a == b).count() as f64;
        // Two independent masks agree on keep² + (1 − keep)² of the places, not all.
        assert!(same / (n as f64) < 0.85, "{same}");
        assert!(dropout_mask(1, 0, keep).is_empty());
    }

    #[test]
    fn only_flex_devices_draw_masks_on_the_host() {
        assert!(is_flex(&Device::flex()));
        assert!(is_flex(&Device::flex().autodiff()));
    }
}
