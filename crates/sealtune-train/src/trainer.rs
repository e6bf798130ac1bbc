//! The training step: forward, masked cross-entropy, backward through the frozen model into
//! the LoRA parameters, gradient accumulation, clipping and the AdamW update.
//!
//! The trainable parameters, their gradients and AdamW's moments live on the model's device
//! in float32 for the whole run. Each step installs the parameters into the model (as
//! autodiff leaves, or one layer at a time under activation checkpointing), accumulates
//! the gradients of its micro-batches there, and reads back two numbers: the loss and the
//! gradient norm. The frozen weights never enter the autodiff graph.

use std::ops::Range;

use burn::prelude::*;
use burn::tensor::FloatDType;
use sealtune_model::model::read_f32;
use sealtune_model::{Llama, LoraConfig, ModelError, Result};

use crate::collate::MicroBatch;
use crate::config::OptimConfig;
use crate::optim::{AdamW, clip, squared_norm};

/// What one optimiser step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the step's counted tokens.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Counted (target) tokens.
    pub loss_tokens: usize,
    /// All real tokens processed.
    pub tokens: usize,
}

/// Host values of every trainable parameter (or of a per-parameter state), in
/// [`Trainer::names`] order.
pub type Values = Vec<Vec<f32>>;

/// A model with a LoRA adapter and its optimiser.
#[derive(Debug)]
pub struct Trainer {
    model: Llama,
    names: Vec<String>,
    shapes: Vec<[usize; 2]>,
    /// Layer `l`'s parameters are `params[layer_ranges[l]]`.
    layer_ranges: Vec<Range<usize>>,
    /// Parameter `i` is `params[offsets[i]..offsets[i + 1]]`, row-major.
    offsets: Vec<usize>,
    /// Every trainable parameter value on the model's device, in [`Trainer::names`] order,
    /// in one flat float32 tensor outside autodiff (the model gets views of it).
    params: Tensor<1>,
    /// Optimiser state, on the same device.
    opt: AdamW,
    pad: u32,
    checkpointing: bool,
}

/// The dropout seed of layer `li` in a micro-batch seeded with `seed`: each layer reseeds
/// the device, so a layer recomputed under activation checkpointing draws the same masks.
fn layer_seed(seed: u64, li: usize) -> u64 {
    seed ^ (li as u64 + 1).wrapping_mul(0xd1b5_4a32_d192_ed03)
}

impl Trainer {
    /// Attaches fresh adapters (`lora`) to `model`.
    pub fn new(mut model: Llama, lora: &LoraConfig) -> Result<Self> {
        model.add_lora(lora)?;
        let mut names = Vec::new();
        let mut shapes = Vec::new();
        let mut views = Vec::new();
        let mut layer_ranges = Vec::new();
        for li in 0..model.num_layers() {
            let start = names.len();
            for (name, t) in model.layer_lora_tensors(li) {
                let [r, c] = t.dims();
                names.push(name);
                shapes.push([r, c]);
                views.push(t.reshape([r * c]));
            }
            layer_ranges.push(start..names.len());
        }
        let mut offsets = vec![0];
        for [r, c] in &shapes {
            offsets.push(offsets[offsets.len() - 1] + r * c);
        }
        let params = Tensor::cat(views, 0);
        let opt = AdamW::new(offsets[offsets.len() - 1], model.device());
        let pad = model.config().pad_token_id.unwrap_or(0);
        Ok(Self {
            model,
            names,
            shapes,
            layer_ranges,
            offsets,
            params,
            opt,
            pad,
            checkpointing: false,
        })
    }

    /// Activation checkpointing (`[train] activation_checkpointing`): the forward pass
    /// keeps only each layer's input, and the backward pass recomputes one layer at a time
    /// from it. Activation memory falls from all layers' intermediates to one layer's, for
    /// one more forward pass per step. The gradients are the same up to rounding.
    pub fn set_activation_checkpointing(&mut self, on: bool) {
        self.checkpointing = on;
    }

    /// PEFT names of the parameters.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Shapes of the parameters.
    pub fn shapes(&self) -> &[[usize; 2]] {
        &self.shapes
    }

    /// Number of trainable parameters.
    pub fn trainable_parameters(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    /// The parameters' values, in [`Trainer::names`] order (one read from the device).
    pub fn params(&self) -> Result<Vec<Vec<f32>>> {
        self.read_split(&self.params)
    }

    /// Replaces the parameters' values (`values[i]` holds [`Trainer::shapes`]`[i]` values).
    pub fn set_params(&mut self, values: Vec<Vec<f32>>) -> Result<()> {
        self.params = self.upload(values, "params")?;
        Ok(())
    }

    /// AdamW's first and second moments (one read from the device each); its update count
    /// is [`Trainer::optimizer_steps`].
    pub fn optimizer_moments(&self) -> Result<(Values, Values)> {
        Ok((self.read_split(&self.opt.m)?, self.read_split(&self.opt.v)?))
    }

    /// Replaces AdamW's moments and update count, e.g. from a checkpoint.
    pub fn set_optimizer_state(
        &mut self,
        m: Vec<Vec<f32>>,
        v: Vec<Vec<f32>>,
        t: u64,
    ) -> Result<()> {
        self.opt.m = self.upload(m, "adam_m")?;
        self.opt.v = self.upload(v, "adam_v")?;
        self.opt.t = t;
        Ok(())
    }

    /// AdamW's update count.
    pub fn optimizer_steps(&self) -> u64 {
        self.opt.t
    }

    /// A flat tensor read back and cut into the parameters.
    fn read_split(&self, flat: &Tensor<1>) -> Result<Vec<Vec<f32>>> {
        let all = read_f32(flat.clone())?;
        Ok(self
            .offsets
            .windows(2)
            .map(|w| all[w[0]..w[1]].to_vec())
            .collect())
    }

    /// Host values of the parameters' shapes onto the device as one flat tensor.
    fn upload(&self, values: Vec<Vec<f32>>, what: &'static str) -> Result<Tensor<1>> {
        if values.len() != self.shapes.len()
            || values
                .iter()
                .zip(&self.shapes)
                .any(|(v, [r, c])| v.len() != r * c)
        {
            return Err(ModelError::Argument {
                name: what,
                message: "the values do not have the adapter's shapes".into(),
            });
        }
        let all: Vec<f32> = values.into_iter().flatten().collect();
        let n = all.len();
        Ok(Tensor::<1>::from_data(
            TensorData::new(all, [n]),
            self.model.device(),
        ))
    }

    /// The padding id batches use.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The model with the current parameters installed (no autodiff), e.g. to save.
    pub fn model(&mut self) -> &Llama {
        self.install(false);
        &self.model
    }

    /// Puts views of the parameters into the model; `track` makes them autodiff leaves.
    fn install(&mut self, track: bool) {
        let mut i = 0;
        let (params, offsets, shapes) = (&self.params, &self.offsets, &self.shapes);
        self.model.map_lora(|_, _| {
            let t = params
                .clone()
                .narrow(0, offsets[i], offsets[i + 1] - offsets[i])
                .reshape(shapes[i]);
            i += 1;
            if track {
                t.autodiff().require_grad()
            } else {
                t
            }
        });
    }

    /// Summed negative log-likelihood of the counted targets of a micro-batch, as a
    /// one-element tensor (autodiff when the parameters are tracked), and the per-position
    /// values.
    fn nll_sum(&self, mb: &MicroBatch) -> Result<(Tensor<1>, Tensor<1>)> {
        let hidden = self.model.hidden_states(&mb.batch, None)?;
        self.nll_of(hidden, mb)
    }

    /// [`Trainer::nll_sum`] from the final hidden states.
    fn nll_of(&self, hidden: Tensor<3>, mb: &MicroBatch) -> Result<(Tensor<1>, Tensor<1>)> {
        let [b, t, h] = hidden.dims();
        let device = self.model.device().clone();
        if t < 2 {
            return Err(ModelError::Argument {
                name: "batch",
                message: "rows need at least 2 tokens".into(),
            });
        }
        // Only the positions that count go through the LM head and the softmax over the
        // vocabulary: with assistant-only targets most positions are skipped, in the
        // forward pass and in the backward pass. The head and the loss run in blocks of
        // positions, so the logits of all of them are never held at once.
        let keep: Vec<i64> = mb
            .weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, _)| {
                let (r, p) = (i / (t - 1), i % (t - 1));
                (r * t + p) as i64
            })
            .collect();
        let targets: Vec<i64> = mb
            .weights
            .iter()
            .zip(&mb.targets)
            .filter(|(w, _)| **w > 0.0)
            .map(|(_, &x)| i64::from(x))
            .collect();
        let n = keep.len();
        if n == 0 {
            return Err(ModelError::Argument {
                name: "batch",
                message: "no position counts in the loss".into(),
            });
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(keep, [n]), &device);
        let picked_hidden = hidden.reshape([b * t, h]).select(0, idx);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &device);
        let nll = self.model.token_nll(picked_hidden, targets);
        Ok((nll.clone().sum(), nll))
    }

    /// Adds the gradients of `sum(nll) / norm` over one micro-batch to `acc` (on the
    /// device) and returns that share of the loss (on the device, without autodiff). The
    /// parameters must be installed: tracked without checkpointing, plain with it.
    /// `dropout_seed` seeds LoRA dropout.
    fn accumulate(
        &mut self,
        mb: &MicroBatch,
        norm: f64,
        acc: &mut [Option<Tensor<2>>],
        dropout_seed: u64,
    ) -> Result<Tensor<1>> {
        self.model.set_training(true);
        let out = if self.checkpointing {
            self.accumulate_checkpointed(mb, norm, acc, dropout_seed)
        } else {
            self.accumulate_whole(mb, norm, acc, dropout_seed)
        };
        self.model.set_training(false);
        out
    }

    /// One graph over the whole model.
    fn accumulate_whole(
        &mut self,
        mb: &MicroBatch,
        norm: f64,
        acc: &mut [Option<Tensor<2>>],
        seed: u64,
    ) -> Result<Tensor<1>> {
        let (mut x, ctx) = self.model.embed(&mb.batch)?;
        for li in 0..self.model.num_layers() {
            self.model.seed_layer(li, layer_seed(seed, li));
            x = self.model.layer_forward(li, x, &ctx);
        }
        let hidden = self.model.final_norm(x);
        let loss = self.nll_of(hidden, mb)?.0.div_scalar(norm);
        let g = loss.backward();
        for (i, (_, t)) in self.model.lora_tensors().into_iter().enumerate() {
            add_grad(&mut acc[i], t.grad(&g));
        }
        Ok(loss.without_autodiff())
    }

    /// Activation checkpointing: a forward pass without autodiff that keeps each layer's
    /// input, the loss's graph over the last layer's output, then one small graph per
    /// layer from the last to the first, recomputed from its saved input with its own
    /// parameters tracked, and differentiated against the gradient that reached its output
    /// (`sum(out · grad)`). Every layer reseeds dropout the same way in both passes.
    fn accumulate_checkpointed(
        &mut self,
        mb: &MicroBatch,
        norm: f64,
        acc: &mut [Option<Tensor<2>>],
        seed: u64,
    ) -> Result<Tensor<1>> {
        let layers = self.model.num_layers();
        let (mut x, ctx) = self.model.embed(&mb.batch)?;
        let mut inputs = Vec::with_capacity(layers);
        for li in 0..layers {
            self.model.seed_layer(li, layer_seed(seed, li));
            inputs.push(x.clone());
            x = self.model.layer_forward(li, x, &ctx);
        }
        let top = x.autodiff().require_grad();
        let loss = self
            .nll_of(self.model.final_norm(top.clone()), mb)?
            .0
            .div_scalar(norm);
        let g = loss.backward();
        let lost = || ModelError::Internal {
            message: "activation checkpointing lost the gradient of a layer's output".into(),
        };
        let mut grad_out = top.grad(&g).ok_or_else(lost)?;
        drop(g);
        for li in (0..layers).rev() {
            let input = inputs.pop().ok_or_else(lost)?;
            // The first layer's input (the frozen embeddings) needs no gradient.
            let input = if li > 0 {
                input.autodiff().require_grad()
            } else {
                input
            };
            self.model
                .map_layer_lora(li, |_, t| t.autodiff().require_grad());
            self.model.seed_layer(li, layer_seed(seed, li));
            let out = self.model.layer_forward(li, input.clone(), &ctx);
            let g = (out * grad_out.clone()).sum().backward();
            let range = self.layer_ranges[li].clone();
            for (i, (_, t)) in range.zip(self.model.layer_lora_tensors(li)) {
                add_grad(&mut acc[i], t.grad(&g));
            }
            if li > 0 {
                grad_out = input.grad(&g).ok_or_else(lost)?;
            }
            self.model.map_layer_lora(li, |_, t| t.without_autodiff());
        }
        Ok(loss.without_autodiff())
    }

    /// Gradients of the mean loss over all micro-batches of one step (normalised by the
    /// total count of counted tokens across them), read back to the host, without
    /// updating anything.
    pub fn gradients(&mut self, micro: &[MicroBatch], seed: u64) -> Result<(f64, Vec<Vec<f32>>)> {
        let Some((loss, grads)) = self.gradients_until(micro, seed, &|| false)? else {
            return Ok((0.0, Vec::new()));
        };
        let loss = loss.map_or(Ok(0.0), |l| read_f32(l).map(|v| f64::from(v[0])))?;
        Ok((loss, self.read_split(&grads)?))
    }

    /// The summed loss (`None` for no micro-batch) and the gradients of one step, on the
    /// device; `None` as soon as `stop()` says so between micro-batches.
    fn gradients_until(
        &mut self,
        micro: &[MicroBatch],
        seed: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<(Option<Tensor<1>>, Tensor<1>)>> {
        let norm = micro.iter().map(|m| m.loss_tokens).sum::<usize>().max(1) as f64;
        self.install(!self.checkpointing);
        let mut acc: Vec<Option<Tensor<2>>> = vec![None; self.shapes.len()];
        let mut loss: Option<Tensor<1>> = None;
        for (i, mb) in micro.iter().enumerate() {
            if stop() {
                return Ok(None);
            }
            let s = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let l = self
                .accumulate(mb, norm, &mut acc, s)?
                .cast(FloatDType::F32);
            loss = Some(match loss {
                Some(sum) => sum + l,
                None => l,
            });
        }
        // B starts at zero, which can leave A without a gradient only if the projection
        // is unused; such a gradient is zero.
        let device = self.model.device();
        let grads = acc
            .into_iter()
            .zip(&self.shapes)
            .map(|(g, &[r, c])| match g {
                Some(g) => g.reshape([r * c]),
                None => Tensor::<1>::zeros([r * c], device),
            })
            .collect();
        Ok(Some((loss, Tensor::cat(grads, 0))))
    }

    /// One optimiser step over `micro` with learning rate `lr`.
    pub fn step(
        &mut self,
        micro: &[MicroBatch],
        cfg: &OptimConfig,
        lr: f64,
        seed: u64,
    ) -> Result<StepStats> {
        self.step_interruptible(micro, cfg, lr, seed, &|| false)?
            .ok_or_else(|| ModelError::Internal {
                message: "a step that cannot be stopped was stopped".into(),
            })
    }

    /// One optimiser step, abandoned (returning `None`, parameters untouched) when
    /// `stop()` turns true between micro-batches. Everything stays on the device but the
    /// loss and the gradient norm, read back together (clipping and the finiteness check
    /// need the norm).
    pub fn step_interruptible(
        &mut self,
        micro: &[MicroBatch],
        cfg: &OptimConfig,
        lr: f64,
        seed: u64,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<StepStats>> {
        let Some((loss, grads)) = self.gradients_until(micro, seed, stop)? else {
            return Ok(None);
        };
        let Some(loss) = loss else {
            return Err(ModelError::Argument {
                name: "micro",
                message: "a step needs at least one micro-batch".into(),
            });
        };
        let both = read_f32(Tensor::cat(vec![loss, squared_norm(&grads)], 0))?;
        let (loss, grad_norm) = (f64::from(both[0]), f64::from(both[1]).sqrt());
        if !grad_norm.is_finite() || !loss.is_finite() {
            return Err(ModelError::Internal {
                message: format!(
                    "the loss or gradient became non-finite (loss {loss}, grad norm {grad_norm}); lower [train.optim] learning_rate or set clip_norm"
                ),
            });
        }
        let grads = clip(grads, grad_norm, cfg.clip_norm);
        self.opt.update(&mut self.params, &grads, cfg, lr);
        Ok(Some(StepStats {
            loss,
            grad_norm,
            loss_tokens: micro.iter().map(|m| m.loss_tokens).sum(),
            tokens: micro.iter().map(|m| m.tokens).sum(),
        }))
    }

    /// Mean loss over the counted tokens of `micro` (no dropout, no autodiff), and that
    /// token count.
    pub fn eval_loss(&mut self, micro: &[MicroBatch]) -> Result<(f64, usize)> {
        self.install(false);
        let mut total = 0.0f64;
        let mut n = 0usize;
        for mb in micro {
            let (sum, _) = self.nll_sum(mb)?;
            total += f64::from(read_f32(sum)?[0]);
            n += mb.loss_tokens;
        }
        Ok((total / n.max(1) as f64, n))
    }

    /// Per-position negative log-likelihoods `[rows × (len - 1)]` (0 where not counted).
    pub fn token_nll(&mut self, mb: &MicroBatch) -> Result<Vec<f32>> {
        self.install(false);
        let (_, per) = self.nll_sum(mb)?;
        let mut per = read_f32(per)?.into_iter();
        Ok(mb
            .weights
            .iter()
            .map(|&w| {
                if w > 0.0 {
                    per.next().unwrap_or(0.0)
                } else {
                    0.0
                }
            })
            .collect())
    }
}

/// `acc += g` on the device (a missing gradient adds nothing).
fn add_grad(acc: &mut Option<Tensor<2>>, g: Option<Tensor<2>>) {
    if let Some(g) = g {
        *acc = Some(match acc.take() {
            Some(a) => a + g,
            None => g,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::collate::{Example, Origin, micro_batch};
    use crate::config::Schedule;
    use sealtune_model::{DeviceChoice, Precision};

    /// burn's CPU random generator is process-global and every training step reseeds it
    /// (LoRA dropout): tests that train hold this lock so they do not reseed each other.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
        RNG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tiny() -> Llama {
        tiny_on(DeviceChoice::Cpu)
    }

    fn tiny_on(choice: DeviceChoice) -> Llama {
        tiny_as(choice, Precision::F32)
    }

    fn tiny_as(choice: DeviceChoice, precision: Precision) -> Llama {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sealtune-model/tests/fixtures/gqa_llama3_untied");
        let compute = choice.resolve("test").expect("device");
        Llama::load_dir_as(&dir, compute.device(), precision).expect("fixture loads")
    }

    /// Every device this build trains on.
    fn choices() -> Vec<DeviceChoice> {
        let mut v = vec![DeviceChoice::Cpu];
        if sealtune_model::device::LIBTORCH_BUILD {
            v.push(DeviceChoice::LibtorchCpu);
        }
        v
    }

    /// Eight AdamW steps with LoRA dropout on `choice`, interrupted after `stop_at` steps
    /// (the trainer dropped and rebuilt from a checkpoint) when given. Returns the loss
    /// of every step and the final parameters.
    fn run_on(
        choice: DeviceChoice,
        dropout: f64,
        stop_at: Option<u64>,
    ) -> (Vec<f64>, Vec<Vec<f32>>) {
        run_sealed(choice, Precision::F32, dropout, stop_at, None)
    }

    /// [`run_on`] in `precision`, with checkpoints sealed at rest with `at_rest`.
    fn run_sealed(
        choice: DeviceChoice,
        precision: Precision,
        dropout: f64,
        stop_at: Option<u64>,
        at_rest: Option<&crate::at_rest::AtRest>,
    ) -> (Vec<f64>, Vec<Vec<f32>>) {
        use crate::checkpoint::{CheckpointStore, TrainState};
        let ex = examples();
        let cfg = LoraConfig { dropout, ..lora() };
        let tmp = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(tmp.path(), 2).sealed(at_rest);
        let mut t = Trainer::new(tiny_as(choice, precision), &cfg).expect("lora");
        perturbed(&mut t);
        let mb = micro_batch(&ex, &[vec![0, 1], vec![2, 3]], t.pad_id());
        let mut state = TrainState::start();
        let mut losses = Vec::new();
        while state.step < 8 {
            let stats = t
                .step(
                    std::slice::from_ref(&mb),
                    &OptimConfig::default(),
                    5e-3,
                    state.step,
                )
                .expect("step");
            losses.push(stats.loss);
            state.step += 1;
            state.adam_t = t.optimizer_steps();
            if Some(state.step) == stop_at {
                let dir = store.save(&t, &state).expect("save");
                let names: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                let want = if at_rest.is_some() {
                    "tensors.safetensors.seal"
                } else {
                    "tensors.safetensors"
                };
                assert!(names.iter().any(|n| n == want), "{names:?}");
                if at_rest.is_some() {
                    // Nothing in the checkpoint parses as safetensors.
                    for n in &names {
                        let p = dir.join(n);
                        assert!(
                            sealtune_model::safetensors::SafetensorsFile::open(&p).is_err(),
                            "{n} is clear"
                        );
                    }
                }
                t = Trainer::new(tiny_as(choice, precision), &cfg).expect("lora");
                state = store
                    .restore_latest(&mut t)
                    .expect("restore")
                    .expect("a checkpoint");
            }
        }
        (losses, t.params().expect("params"))
    }

    #[test]
    fn sealed_checkpoints_resume_to_the_same_adapter_and_need_the_key() {
        use crate::at_rest::AtRest;
        use sealtune_seal::{Kek, KeySource};
        let _g = rng_lock();
        let key = || vec![KeySource::Kek(Kek::from_bytes([9; 32]))];
        let at_rest = AtRest::new(key(), vec![], "test");
        let (la, a) = run_on(DeviceChoice::Cpu, 0.1, None);
        let (lb, b) = run_sealed(
            DeviceChoice::Cpu,
            Precision::F32,
            0.1,
            Some(3),
            Some(&at_rest),
        );
        assert!(
            a == b,
            "resumed parameters differ from an uninterrupted run"
        );
        assert!(la == lb, "resumed losses differ");

        // Restoring needs the key that sealed the checkpoint, and says what is wrong.
        use crate::checkpoint::{CheckpointStore, TrainState};
        let tmp = tempfile::tempdir().unwrap();
        let t = Trainer::new(tiny_on(DeviceChoice::Cpu), &lora()).expect("lora");
        let mut state = TrainState::start();
        state.step = 1;
        CheckpointStore::new(tmp.path(), 2)
            .sealed(Some(&at_rest))
            .save(&t, &state)
            .expect("save");
        let mut u = Trainer::new(tiny_on(DeviceChoice::Cpu), &lora()).expect("lora");
        let other = AtRest::new(
            vec![KeySource::Kek(Kek::from_bytes([8; 32]))],
            vec![],
            "test",
        );
        let e = CheckpointStore::new(tmp.path(), 2)
            .sealed(Some(&other))
            .restore_latest(&mut u)
            .unwrap_err();
        assert!(e.to_string().contains("tensors.safetensors.seal"), "{e}");
        let e = CheckpointStore::new(tmp.path(), 2)
            .restore_latest(&mut u)
            .unwrap_err();
        assert!(e.to_string().contains("seal_at_rest is off"), "{e}");
    }

    #[test]
    fn every_device_resumes_to_the_same_adapter() {
        let _g = rng_lock();
        for choice in choices() {
            let (la, a) = run_on(choice, 0.1, None);
            let (lb, b) = run_on(choice, 0.1, Some(3));
            assert!(
                a == b,
                "{choice}: resumed parameters differ from an uninterrupted run"
            );
            assert!(la == lb, "{choice}: resumed losses differ");
        }
    }

    /// LibTorch's CPU kernels follow flex's loss curve: without dropout the two differ
    /// only by float32 summation order, far below the 1e-4 relative tolerance stated here.
    #[cfg(feature = "libtorch")]
    #[test]
    fn libtorch_cpu_follows_the_flex_loss_curve() {
        let _g = rng_lock();
        let (flex, pf) = run_on(DeviceChoice::Cpu, 0.0, None);
        let (lt, pl) = run_on(DeviceChoice::LibtorchCpu, 0.0, None);
        assert!(flex[7] < flex[0], "loss did not fall: {flex:?}");
        for (i, (a, b)) in flex.iter().zip(&lt).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * a.abs(),
                "step {i}: flex {a}, libtorch-cpu {b}"
            );
        }
        let diff = pf
            .iter()
            .flatten()
            .zip(pl.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "parameters differ by {diff}");
    }

    /// bf16 on LibTorch's CPU: the base weights and activations keep 8 bits of mantissa
    /// (relative rounding 2⁻⁹), so the loss follows float32's within 1% over eight steps
    /// here, while the adapter, its gradients and AdamW's state stay float32; and a run
    /// resumed from a checkpoint ends with the same adapter as an uninterrupted one.
    #[cfg(feature = "libtorch")]
    #[test]
    fn bf16_on_libtorch_cpu_follows_the_f32_loss_curve_and_resumes_exactly() {
        let _g = rng_lock();
        let lt = DeviceChoice::LibtorchCpu;
        let (f, _) = run_sealed(lt, Precision::F32, 0.0, None, None);
        let (b, _) = run_sealed(lt, Precision::Bf16, 0.0, None, None);
        assert!(b[7] < b[0], "bf16 loss did not fall: {b:?}");
        let worst = f
            .iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs() / a.abs())
            .fold(0.0, f64::max);
        eprintln!("bf16 against f32 on libtorch-cpu: worst relative loss difference {worst:e}");
        assert!(worst <= 1e-2, "f32 {f:?}, bf16 {b:?}");
        assert_ne!(f, b, "bf16 computed exactly what f32 did: was it bf16?");
        let (la, a) = run_sealed(lt, Precision::Bf16, 0.1, None, None);
        let (lr, r) = run_sealed(lt, Precision::Bf16, 0.1, Some(3), None);
        assert!(a == r && la == lr, "bf16: a resumed run differs");
    }

    /// Activation checkpointing computes the gradients of the whole graph: each layer's
    /// recomputation reseeds dropout as the forward pass did, so with dropout on and two
    /// micro-batches (one packed, one padded) the gradients agree to float32 rounding,
    /// on every device this build trains on and, on LibTorch, in bf16 too.
    #[test]
    fn activation_checkpointing_gives_the_gradients_of_the_whole_graph() {
        let _g = rng_lock();
        let ex = examples();
        let mut cases = vec![];
        for choice in choices() {
            cases.push((choice, Precision::F32, 1e-5));
        }
        if sealtune_model::device::LIBTORCH_BUILD {
            // bf16 rounds the recomputed activations the same way, but LibTorch's
            // kernels may sum in another order in a smaller graph.
            cases.push((DeviceChoice::LibtorchCpu, Precision::Bf16, 2e-2));
        }
        for (choice, precision, tolerance) in cases {
            let cfg = LoraConfig {
                dropout: 0.2,
                ..lora()
            };
            let mut whole = Trainer::new(tiny_as(choice, precision), &cfg).expect("lora");
            perturbed(&mut whole);
            let mut ckpt = Trainer::new(tiny_as(choice, precision), &cfg).expect("lora");
            ckpt.params.clone_from(&whole.params);
            ckpt.set_activation_checkpointing(true);
            let pad = whole.pad_id();
            let micro = vec![
                micro_batch(&ex, &[vec![0, 1], vec![2]], pad),
                micro_batch(&ex, &[vec![3]], pad),
            ];
            let (lw, gw) = whole.gradients(&micro, 7).expect("whole");
            let (lc, gc) = ckpt.gradients(&micro, 7).expect("checkpointed");
            let scale = norm(&gw);
            assert!(scale > 0.0, "{choice} {precision}: no gradient");
            let diff = gw
                .iter()
                .flatten()
                .zip(gc.iter().flatten())
                .map(|(a, b)| f64::from((a - b).abs()))
                .fold(0.0, f64::max);
            eprintln!(
                "{choice} {precision}: checkpointed gradients differ by {diff:e} (norm {scale:e}), loss {lw} vs {lc}"
            );
            assert!(
                (lw - lc).abs() <= 1e-6 * lw.abs(),
                "{choice} {precision}: loss {lw} vs {lc}"
            );
            assert!(
                diff <= tolerance * scale,
                "{choice} {precision}: gradients differ by {diff} (norm {scale})"
            );
            // Different dropout draws give different gradients: the check above compared
            // the same masks, not two dropout-free passes.
            let (_, other) = ckpt.gradients(&micro, 8).expect("other seed");
            assert_ne!(
                other, gc,
                "{choice} {precision}: dropout did not depend on the seed"
            );
        }
    }

    /// Training with activation checkpointing follows the curve of training without it.
    #[test]
    fn activation_checkpointing_trains_like_the_whole_graph() {
        let _g = rng_lock();
        let ex = examples();
        let cfg = LoraConfig {
            dropout: 0.1,
            ..lora()
        };
        let run = |ckpt: bool| {
            let mut t = Trainer::new(tiny(), &cfg).expect("lora");
            t.set_activation_checkpointing(ckpt);
            perturbed(&mut t);
            let mb = micro_batch(&ex, &[vec![0, 1], vec![2, 3]], t.pad_id());
            let losses: Vec<f64> = (0..6)
                .map(|s| {
                    t.step(std::slice::from_ref(&mb), &OptimConfig::default(), 5e-3, s)
                        .expect("step")
                        .loss
                })
                .collect();
            (losses, t.params().expect("params"))
        };
        let (lw, pw) = run(false);
        let (lc, pc) = run(true);
        assert!(lc[5] < lc[0], "loss did not fall: {lc:?}");
        for (a, b) in lw.iter().zip(&lc) {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs(),
                "whole {lw:?}, checkpointed {lc:?}"
            );
        }
        let diff = pw
            .iter()
            .flatten()
            .zip(pc.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "parameters differ by {diff}");
    }

    fn lora() -> LoraConfig {
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            ..LoraConfig::default()
        }
    }

    fn example(ids: &[u32], from: usize) -> Example {
        Example {
            ids: ids.to_vec(),
            target: (0..ids.len()).map(|i| i >= from).collect(),
            origin: Origin::Record(1),
        }
    }

    fn examples() -> Vec<Example> {
        vec![
            example(&[1, 5, 9, 13, 17, 21, 25], 3),
            example(&[2, 6, 10, 14, 18], 1),
            example(&[3, 7, 11, 15, 19, 23], 2),
            example(&[4, 8, 12, 16], 1),
        ]
    }

    /// The global L2 norm of host gradients.
    fn norm(grads: &[Vec<f32>]) -> f64 {
        grads
            .iter()
            .flatten()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt()
    }

    /// Randomises B so that gradients of A are non-zero.
    fn perturbed(t: &mut Trainer) {
        let mut s = 1u64;
        let mut params = t.params().expect("params");
        for p in &mut params {
            for x in p.iter_mut() {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *x += ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
            }
        }
        t.set_params(params).expect("set");
    }

    #[test]
    fn loss_goes_down() {
        let _g = rng_lock();
        let mut t = Trainer::new(tiny(), &lora()).expect("lora");
        let ex = examples();
        let mb = micro_batch(&ex, &[vec![0, 1], vec![2, 3]], t.pad_id());
        let cfg = OptimConfig {
            learning_rate: 1e-2,
            schedule: Schedule::Constant,
            ..OptimConfig::default()
        };
        let first = t.eval_loss(std::slice::from_ref(&mb)).expect("eval").0;
        for s in 0..30 {
            t.step(std::slice::from_ref(&mb), &cfg, 1e-2, s)
                .expect("step");
        }
        let last = t.eval_loss(std::slice::from_ref(&mb)).expect("eval").0;
        assert!(last < first * 0.7, "loss {first} -> {last}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let _g = rng_lock();
        let mut t = Trainer::new(tiny(), &lora()).expect("lora");
        perturbed(&mut t);
        let ex = examples();
        let mb = vec![micro_batch(&ex, &[vec![0, 1]], t.pad_id())];
        let (_, grads) = t.gradients(&mb, 0).expect("grads");
        let eps = 1e-2f32;
        let mut checked = 0;
        // A few coordinates of A and B in the first and last adapted projection.
        let mut params = t.params().expect("params");
        for pi in [0, 1, params.len() - 2, params.len() - 1] {
            for &k in &[0usize, 3, 7] {
                let k = k % params[pi].len();
                let orig = params[pi][k];
                params[pi][k] = orig + eps;
                t.set_params(params.clone()).expect("set");
                let plus = t.eval_loss(&mb).expect("loss").0;
                params[pi][k] = orig - eps;
                t.set_params(params.clone()).expect("set");
                let minus = t.eval_loss(&mb).expect("loss").0;
                params[pi][k] = orig;
                t.set_params(params.clone()).expect("set");
                let fd = (plus - minus) / (2.0 * f64::from(eps));
                let g = f64::from(grads[pi][k]);
                assert!(
                    (fd - g).abs() <= 2e-3 + 0.05 * g.abs().max(fd.abs()),
                    "{} [{k}]: autodiff {g}, finite difference {fd}",
                    t.names()[pi]
                );
                checked += usize::from(g.abs() > 1e-4);
            }
        }
        assert!(checked >= 4, "too few non-zero gradients were compared");
    }

    #[test]
    fn packed_tokens_score_like_each_example_alone() {
        let mut t = Trainer::new(tiny(), &lora()).expect("lora");
        perturbed(&mut t);
        let ex = examples();
        let packed = micro_batch(&ex, &[vec![0, 1, 2]], t.pad_id());
        let nll = t.token_nll(&packed).expect("packed");
        let mut offset = 0;
        for i in 0..3 {
            let alone = micro_batch(&ex, &[vec![i]], t.pad_id());
            let a = t.token_nll(&alone).expect("alone");
            let n = ex[i].ids.len();
            // Positions offset..offset+n-1 of the packed row predict this example's tokens
            // 1..n (the last position of the example predicts the next example: weight 0).
            for p in 0..n - 1 {
                let x = nll[offset + p];
                assert!(
                    (x - a[p]).abs() < 1e-4,
                    "example {i} position {p}: packed {x}, alone {}",
                    a[p]
                );
            }
            offset += n;
        }
    }

    #[test]
    fn accumulation_equals_one_big_batch() {
        let _g = rng_lock();
        let ex = examples();
        let mut one = Trainer::new(tiny(), &lora()).expect("lora");
        perturbed(&mut one);
        let mut four = Trainer::new(tiny(), &lora()).expect("lora");
        four.params.clone_from(&one.params);
        let pad = one.pad_id();
        let big = vec![micro_batch(&ex, &[vec![0], vec![1], vec![2], vec![3]], pad)];
        let small: Vec<_> = (0..4).map(|i| micro_batch(&ex, &[vec![i]], pad)).collect();
        let (l1, g1) = one.gradients(&big, 0).expect("big");
        let (l4, g4) = four.gradients(&small, 0).expect("small");
        assert!((l1 - l4).abs() < 1e-5, "loss {l1} vs {l4}");
        let diff: f64 = g1
            .iter()
            .flatten()
            .zip(g4.iter().flatten())
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0, f64::max);
        let scale = norm(&g1);
        assert!(scale > 0.0);
        assert!(diff < 1e-5 * scale.max(1.0), "max difference {diff}");
    }

    #[test]
    fn training_is_reproducible() {
        let _g = rng_lock();
        let ex = examples();
        let run = |choice| {
            let mut t = Trainer::new(
                tiny_on(choice),
                &LoraConfig {
                    dropout: 0.1,
                    ..lora()
                },
            )
            .expect("lora");
            let mb = micro_batch(&ex, &[vec![0, 1], vec![2, 3]], t.pad_id());
            for s in 0..3 {
                t.step(std::slice::from_ref(&mb), &OptimConfig::default(), 1e-3, s)
                    .expect("step");
            }
            t.params().expect("params")
        };
        for choice in choices() {
            let (a, b) = (run(choice), run(choice));
            assert!(
                a == b,
                "{choice}: two runs with the same seed gave different parameters"
            );
        }
    }
}
