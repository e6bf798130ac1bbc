//! AdamW, the learning-rate schedule and global-norm clipping, over float32 tensors on the
//! model's device. The LoRA parameters, their gradients and the optimiser's moments stay
//! there for the whole run (a few million values for SmolLM2, 42 million for Llama-3.1-8B
//! at rank 16); a step reads back two numbers, the loss and the gradient norm. They stay
//! off the autodiff graph, so the update is exact and reproducible on a device.

use burn::prelude::*;

use crate::config::{OptimConfig, Schedule};

/// The learning rate of optimiser step `step` (0-based) out of `total`.
///
/// Warm-up rises linearly, reaching the peak at step `warmup_steps - 1`; then the
/// schedule runs from the peak at `warmup_steps` towards `min_lr_ratio × peak` at `total`.
pub fn learning_rate(cfg: &OptimConfig, step: u64, total: u64) -> f64 {
    let peak = cfg.learning_rate;
    if step < cfg.warmup_steps {
        return peak * (step + 1) as f64 / cfg.warmup_steps as f64;
    }
    let span = total.saturating_sub(cfg.warmup_steps).max(1);
    let progress = ((step - cfg.warmup_steps) as f64 / span as f64).min(1.0);
    let floor = peak * cfg.min_lr_ratio;
    match cfg.schedule {
        Schedule::Constant => peak,
        Schedule::Linear => floor + (peak - floor) * (1.0 - progress),
        Schedule::Cosine => {
            floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
        }
    }
}

/// The sum of the squares of the gradients (the square of their global L2 norm), as a
/// one-element tensor on their device.
pub fn squared_norm(grads: &Tensor<1>) -> Tensor<1> {
    grads.clone().square().sum()
}

/// Scales gradients whose global norm is `norm` so that it is at most `max_norm` (0 = off,
/// as in PyTorch's `clip_grad_norm_`).
pub fn clip(grads: Tensor<1>, norm: f64, max_norm: f64) -> Tensor<1> {
    if max_norm > 0.0 && norm > max_norm {
        grads.mul_scalar((max_norm / (norm + 1e-6)) as f32)
    } else {
        grads
    }
}

/// AdamW state on the parameters' device: first and second moments of every parameter in
/// one flat float32 tensor each, and the step count. The update runs on the flat tensors,
/// a handful of element-wise operations per step whatever the number of adapted
/// projections.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// First moments, one per parameter value.
    pub m: Tensor<1>,
    /// Second moments.
    pub v: Tensor<1>,
    /// Updates applied so far.
    pub t: u64,
}

impl AdamW {
    /// Zero state for `n` parameter values on `device`.
    pub fn new(n: usize, device: &Device) -> Self {
        Self {
            m: Tensor::<1>::zeros([n], device),
            v: Tensor::<1>::zeros([n], device),
            t: 0,
        }
    }

    /// One update with learning rate `lr` (PyTorch's `AdamW` semantics: decoupled weight
    /// decay `p -= lr·wd·p`, then the bias-corrected Adam step), element-wise on the device.
    pub fn update(
        &mut self,
        params: &mut Tensor<1>,
        grads: &Tensor<1>,
        cfg: &OptimConfig,
        lr: f64,
    ) {
        self.t += 1;
        let [b1, b2] = cfg.betas;
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        let step = (lr / c1) as f32;
        let c2_sqrt = c2.sqrt() as f32;
        let decay = (1.0 - lr * cfg.weight_decay) as f32;
        let (b1, b2, eps) = (b1 as f32, b2 as f32, cfg.eps as f32);
        let g = grads.clone();
        self.m = self.m.clone().mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
        self.v = self.v.clone().mul_scalar(b2) + g.square().mul_scalar(1.0 - b2);
        let denom = self.v.clone().sqrt().div_scalar(c2_sqrt).add_scalar(eps);
        *params = params.clone().mul_scalar(decay) - (self.m.clone() / denom).mul_scalar(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: Schedule, warmup: u64) -> OptimConfig {
        OptimConfig {
            learning_rate: 1.0,
            schedule,
            warmup_steps: warmup,
            ..OptimConfig::default()
        }
    }

    #[test]
    fn schedules() {
        let c = cfg(Schedule::Cosine, 2);
        assert!((learning_rate(&c, 0, 10) - 0.5).abs() < 1e-12);
        assert!((learning_rate(&c, 1, 10) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 2, 10) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 6, 10) - 0.5).abs() < 1e-12);
        assert!(learning_rate(&c, 9, 10) < 0.05);
        let l = cfg(Schedule::Linear, 0);
        assert!((learning_rate(&l, 5, 10) - 0.5).abs() < 1e-12);
        let k = cfg(Schedule::Constant, 0);
        assert_eq!(learning_rate(&k, 9, 10), 1.0);
        let floor = OptimConfig {
            min_lr_ratio: 0.1,
            ..l
        };
        assert!((learning_rate(&floor, 10, 10) - 0.1).abs() < 1e-12);
    }

    fn tensor(values: &[f32]) -> Tensor<1> {
        Tensor::<1>::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            &Device::flex(),
        )
    }

    fn values(t: &Tensor<1>) -> Vec<f32> {
        t.clone().into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let g = tensor(&[3.0, 4.0]);
        let norm = f64::from(values(&squared_norm(&g))[0]).sqrt();
        assert_eq!(norm, 5.0);
        let g = clip(g, norm, 0.0);
        assert_eq!(values(&g), vec![3.0, 4.0]);
        let g = values(&clip(g, norm, 1.0));
        assert!(((g[0] * g[0] + g[1] * g[1]).sqrt() - 1.0).abs() < 1e-5);
        assert!((g[0] / g[1] - 0.75).abs() < 1e-6);
    }

    #[test]
    fn adamw_matches_the_closed_form_first_steps() {
        // With constant gradient g, bias-corrected m̂ = g and v̂ = g², so each step moves
        // p by lr·g/(|g| + eps) ≈ lr·sign(g) (no decay).
        let c = OptimConfig {
            eps: 1e-12,
            ..OptimConfig::default()
        };
        let mut p = tensor(&[1.0, -2.0]);
        let g = tensor(&[0.5, -0.25]);
        let mut opt = AdamW::new(2, &Device::flex());
        for _ in 0..3 {
            opt.update(&mut p, &g, &c, 0.1);
        }
        let p = values(&p);
        assert!((p[0] - 0.7).abs() < 1e-5, "{p:?}");
        assert!((p[1] + 1.7).abs() < 1e-5, "{p:?}");
        assert_eq!(opt.t, 3);
        // Decoupled weight decay shrinks a parameter with zero gradient.
        let wd = OptimConfig {
            weight_decay: 0.5,
            ..c
        };
        let mut q = tensor(&[1.0]);
        AdamW::new(1, &Device::flex()).update(&mut q, &tensor(&[0.0]), &wd, 0.1);
        assert!((values(&q)[0] - 0.95).abs() < 1e-6);
    }
}
