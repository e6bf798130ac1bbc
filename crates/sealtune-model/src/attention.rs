//! Scaled dot-product attention as one operation with its own backward pass.
//!
//! Under autodiff, burn composes attention from a matmul, a softmax and a second matmul,
//! and keeps the `[batch, heads, seq, seq]` score and probability matrices of every layer
//! until the backward pass. Here attention is one tracked operation instead: the forward
//! pass runs the backend's fused kernel and keeps only its inputs and output (and, where
//! the kernel gives one, the per-row log-sum-exp), and the backward pass is:
//!
//! - on LibTorch's CPU device, LibTorch's own flash-attention backward
//!   (`_scaled_dot_product_flash_attention_for_cpu_backward`), from the log-sum-exp its
//!   forward kernel returned;
//! - elsewhere (burn's `flex` CPU backend, LibTorch on CUDA), a recomputation of the
//!   probabilities of one layer at a time from `q`, `k` and the bias, so that no layer's
//!   score matrix outlives its own backward step.
//!
//! The additive `bias` (`[batch, 1, q_len, k_len]`, 0 where a query sees a key and a large
//! negative value where not) carries the causal and block-diagonal (packed) masks; it is a
//! constant, never differentiated. The model lets a padding query see itself, so every query
//! sees at least one key. LibTorch's flash backward needs that: it renormalises with the
//! log-sum-exp saved by its forward pass, and for a row whose keys are all at -1e30 that
//! value has lost its `log(k_len)` term to rounding, so the row's gradients would be
//! wrong. The LibTorch CPU path therefore checks the bias (one reduction per layer) and,
//! for a bias with such a row, runs LibTorch's `scaled_dot_product_attention` forward and
//! the recomputing backward instead.
//! Outside autodiff (evaluation, generation) the same call
//! runs the fused forward kernel: burn's tiled attention on `flex`, LibTorch's
//! `scaled_dot_product_attention` on LibTorch (flash attention on the CPU, the
//! memory-efficient kernel on CUDA, both of which take an additive mask).
//!
//! This module and `device.rs` are the only places that name a burn backend.

// burn-tch is deprecated upstream; this file and device.rs are its only users.
#![cfg_attr(feature = "libtorch", allow(deprecated))]

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{AttentionModuleOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

/// `softmax(q kᵀ · scale + bias) v` as one operation (see the module docs).
#[backend_extension(Flex, LibTorch: cfg(feature = "libtorch"), Autodiff)]
pub trait FusedAttention: Backend {
    /// `q`: `[b, h, t, d]`; `k`, `v`: `[b, h, tk, d]`; `bias`: `[b, 1, t, tk]`.
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
}

/// The kernels of one concrete backend: a forward pass that may also return the per-row
/// log-sum-exp of the scores, and the backward pass. The default backward recomputes the
/// probabilities.
pub trait AttentionKernels: Backend {
    /// The output `[b, h, t, d]`, and the log-sum-exp `[b, h, t]` where the kernel gives it.
    fn attention_forward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>);

    /// Gradients of `q`, `k` and `v` from the output's gradient.
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
        grad: FloatTensor<Self>,
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        out: FloatTensor<Self>,
        lse: Option<FloatTensor<Self>>,
        scale: f64,
    ) -> [FloatTensor<Self>; 3] {
        let _ = lse;
        recompute_backward::<Self>(grad, q, k, v, bias, out, scale)
    }
}

/// The attention backward pass by recomputing the probabilities `p` of this layer:
/// `dv = pᵀ g`, `dp = g vᵀ`, `ds = p ⊙ (dp − rowsum(g ⊙ out))`, `dq = ds k · scale`,
/// `dk = dsᵀ q · scale`.
pub fn recompute_backward<B: Backend>(
    grad: FloatTensor<B>,
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    bias: FloatTensor<B>,
    out: FloatTensor<B>,
    scale: f64,
) -> [FloatTensor<B>; 3] {
    let scores = B::float_mul_scalar(
        B::float_matmul(q.clone(), B::float_swap_dims(k.clone(), 2, 3)),
        scale.into(),
    );
    let scores = B::float_add(scores, bias);
    let p = B::softmax(scores, 3);
    let dv = B::float_matmul(B::float_swap_dims(p.clone(), 2, 3), grad.clone());
    let dp = B::float_matmul(grad.clone(), B::float_swap_dims(v, 2, 3));
    let delta = B::float_sum_dim(B::float_mul(grad, out), 3);
    let ds = B::float_mul(p, B::float_sub(dp, delta));
    let dq = B::float_mul_scalar(B::float_matmul(ds.clone(), k), scale.into());
    let dk = B::float_mul_scalar(
        B::float_matmul(B::float_swap_dims(ds, 2, 3), q),
        scale.into(),
    );
    [dq, dk, dv]
}

/// The bias broadcast over the heads of `q` (a view where the backend has views).
fn expand_bias<B: Backend>(
    bias: FloatTensor<B>,
    q: &FloatTensor<B>,
    k: &FloatTensor<B>,
) -> FloatTensor<B> {
    let [b, h, t, _] = q.shape().dims::<4>();
    let tk = k.shape().dims::<4>()[2];
    B::float_expand(bias, Shape::new([b, h, t, tk]))
}

impl AttentionKernels for Flex {
    fn attention_forward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: f64,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        let bias = expand_bias::<Self>(bias, &q, &k);
        let options = AttentionModuleOptions {
            scale: Some(scale),
            softcap: None,
            is_causal: false,
        };
        (Self::attention(q, k, v, None, Some(bias), options), None)
    }
}

impl FusedAttention for Flex {
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        Self::attention_forward(q, k, v, bias, scale).0
    }
}

#[cfg(feature = "libtorch")]
mod libtorch {
    use super::*;
    use crate::model::MASKED;
    use burn::backend::LibTorch;
    use burn::backend::libtorch::TchTensor;

    /// Whether every query row of `bias` (`[b, 1, t, tk]`) sees at least one key: its
    /// largest entry is far above the masked value. LibTorch's CPU flash backward is only
    /// right for such rows (see the module docs); one reduction over the bias, per layer.
    fn every_row_sees_a_key(bias: &tch::Tensor) -> bool {
        bias.amax([-1i64].as_slice(), false).min().double_value(&[]) > f64::from(MASKED) * 1e-10
    }

    impl AttentionKernels for LibTorch {
        fn attention_forward(
            q: FloatTensor<Self>,
            k: FloatTensor<Self>,
            v: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            scale: f64,
        ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
            if q.tensor.device() == tch::Device::Cpu && every_row_sees_a_key(&bias.tensor) {
                let (out, lse) = tch::Tensor::internal_scaled_dot_product_flash_attention_for_cpu(
                    &q.tensor,
                    &k.tensor,
                    &v.tensor,
                    0.0,
                    false,
                    Some(&bias.tensor),
                    scale,
                );
                (TchTensor::new(out), Some(TchTensor::new(lse)))
            } else {
                // CUDA: SDPA picks the memory-efficient kernel, which takes an additive mask.
                // On the CPU, a bias with a row that sees no key comes here too, and its
                // backward pass is the recomputing one.
                let out = tch::Tensor::scaled_dot_product_attention(
                    &q.tensor,
                    &k.tensor,
                    &v.tensor,
                    Some(&bias.tensor),
                    0.0,
                    false,
                    scale,
                    false,
                );
                (TchTensor::new(out), None)
            }
        }

        fn attention_backward(
            grad: FloatTensor<Self>,
            q: FloatTensor<Self>,
            k: FloatTensor<Self>,
            v: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            out: FloatTensor<Self>,
            lse: Option<FloatTensor<Self>>,
            scale: f64,
        ) -> [FloatTensor<Self>; 3] {
            match lse {
                Some(lse) => {
                    let (dq, dk, dv) =
                        tch::Tensor::internal_scaled_dot_product_flash_attention_for_cpu_backward(
                            &grad.tensor.contiguous(),
                            &q.tensor,
                            &k.tensor,
                            &v.tensor,
                            &out.tensor,
                            &lse.tensor,
                            0.0,
                            false,
                            Some(&bias.tensor),
                            scale,
                        );
                    [TchTensor::new(dq), TchTensor::new(dk), TchTensor::new(dv)]
                }
                None => recompute_backward::<Self>(grad, q, k, v, bias, out, scale),
            }
        }
    }

    impl FusedAttention for LibTorch {
        fn fused_attention(
            q: FloatTensor<Self>,
            k: FloatTensor<Self>,
            v: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            scale: f64,
        ) -> FloatTensor<Self> {
            Self::attention_forward(q, k, v, bias, scale).0
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A bias in which a query sees no key at all (the model never builds one) takes
        /// the recomputing backward on LibTorch's CPU, and its gradients then match the
        /// decomposed attention's.
        #[test]
        fn a_row_that_sees_no_key_falls_back_to_the_recomputing_backward() {
            let device = Device::libtorch();
            let (b, h, t, d) = (2, 2, 6, 4);
            let mut rng = sealtune_contract::SeededRng::new(5);
            let mut random = |dims: [usize; 4]| {
                let n = dims.iter().product();
                let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
                Tensor::<4>::from_data(TensorData::new(v, dims), &device)
            };
            let (q0, k0, v0, g) = (
                random([b, h, t, d]),
                random([b, h, t, d]),
                random([b, h, t, d]),
                random([b, h, t, d]),
            );
            // causal; in row 1 the last two queries see nothing
            let mut mask = vec![0f32; b * t * t];
            for row in 0..b {
                for i in 0..t {
                    for j in 0..t {
                        if j > i || (row == 1 && i >= t - 2) {
                            mask[(row * t + i) * t + j] = MASKED;
                        }
                    }
                }
            }
            let bias = Tensor::<4>::from_data(TensorData::new(mask, [b, 1, t, t]), &device);
            let c = compare_on(q0, k0, v0, g, bias, 0.5);
            assert!(c.worst() < 1e-5, "{c:?}");
        }

        /// On CUDA, LibTorch's backward is the recomputing one; on the CPU it is
        /// LibTorch's flash backward. Both from the same inputs must agree.
        #[test]
        fn recomputing_backward_matches_libtorchs_flash_backward() {
            let _guard = tch::no_grad_guard();
            tch::manual_seed(11);
            let opts = (tch::Kind::Float, tch::Device::Cpu);
            let (b, h, t, d) = (2, 3, 7, 8);
            let r = |s: &[i64]| TchTensor::new(tch::Tensor::randn(s, opts));
            let (q, k, v, g) = (
                r(&[b, h, t, d]),
                r(&[b, h, t, d]),
                r(&[b, h, t, d]),
                r(&[b, h, t, d]),
            );
            // causal, and the last two positions of row 1 are padding
            let mut mask = vec![0f32; (b * t * t) as usize];
            for row in 0..b {
                for i in 0..t {
                    for j in 0..t {
                        // a padding query sees only itself, as the model builds it
                        let pad = row == 1 && (i >= t - 2 || j >= t - 2) && i != j;
                        if j > i || pad {
                            mask[((row * t + i) * t + j) as usize] = -1.0e30;
                        }
                    }
                }
            }
            let bias = TchTensor::new(tch::Tensor::from_slice(&mask).reshape([b, 1, t, t]));
            let scale = 0.3;
            let (out, lse) =
                LibTorch::attention_forward(q.clone(), k.clone(), v.clone(), bias.clone(), scale);
            assert!(lse.is_some(), "the CPU kernel returns the log-sum-exp");
            let flash = LibTorch::attention_backward(
                g.clone(),
                q.clone(),
                k.clone(),
                v.clone(),
                bias.clone(),
                out.clone(),
                lse,
                scale,
            );
            let recomputed = recompute_backward::<LibTorch>(g, q, k, v, bias, out, scale);
            for (name, a, b) in [("dq", 0, 0), ("dk", 1, 1), ("dv", 2, 2)] {
                let (x, y) = (&flash[a].tensor, &recomputed[b].tensor);
                let err = (x - y).abs().max().double_value(&[]);
                let norm = y.abs().max().double_value(&[]);
                assert!(
                    err <= 1e-5 * norm.max(1.0),
                    "{name}: {err:e} (max |grad| {norm:e})"
                );
            }
        }
    }
}

/// The tracked operation: its state is what the backward pass reads.
#[derive(Debug)]
struct AttentionBackward;

type AttentionState<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
    f64,
);

impl<B: Backend + AttentionKernels> Backward<B, 3> for AttentionBackward {
    type State = AttentionState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [pq, pk, pv] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (q, k, v, bias, out, lse, scale) = ops.state;
        let [dq, dk, dv] = B::attention_backward(grad, q, k, v, bias, out, lse, scale);
        for (parent, g) in [(pq, dq), (pk, dk), (pv, dv)] {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + AttentionKernels, C: CheckpointStrategy> FusedAttention for Autodiff<B, C> {
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        let bias = bias.into_primitive();
        let (q, q_node) = q.into_parts();
        let (k, k_node) = k.into_parts();
        let (v, v_node) = v.into_parts();
        match AttentionBackward
            .prepare::<C>([q_node, k_node, v_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, lse) =
                    B::attention_forward(q.clone(), k.clone(), v.clone(), bias.clone(), scale);
                prep.finish((q, k, v, bias, out.clone(), lse, scale), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::attention_forward(q, k, v, bias, scale).0),
        }
    }
}

/// Which attention [`crate::Llama`] computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionKind {
    /// [`attention`]: one operation with its own backward pass; on flex, one per block of
    /// [`CAUSAL_BLOCK`] queries ([`causal_attention`]).
    #[default]
    Fused,
    /// [`attention`] as one operation over the whole score matrix on every device: the
    /// flex reference the causal blocks are measured against (the train bench's
    /// `--attention fused-whole`).
    FusedWhole,
    /// [`decomposed`]: burn's matmul, softmax, matmul, which under autodiff keeps every
    /// layer's probabilities; the reference the fused operation is checked against.
    Decomposed,
}

/// The reference: `softmax(q kᵀ · scale + bias) v` from burn's tensor operations, which
/// autodiff differentiates one by one.
pub fn decomposed(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: Tensor<4>,
    scale: f64,
) -> Tensor<4> {
    let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale) + bias;
    burn::tensor::activation::softmax(scores, 3).matmul(v)
}

/// `softmax(q kᵀ · scale + bias) v` for `q` `[b, h, t, d]`, `k` and `v` `[b, h, tk, d]` and
/// an additive `bias` `[b, 1, t, tk]` that is not differentiated.
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: Tensor<4>,
    scale: f64,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FusedAttention>::fused_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        bias.into_dispatch(),
        scale,
    ))
}

/// Query rows per block in [`causal_attention`].
pub const CAUSAL_BLOCK: usize = 128;

/// [`attention`] for a bias that masks every key after the query's own position (the
/// causal and packed masks [`crate::Llama`] builds): query row `i` sits at position
/// `past + i` of the keys. With at least two blocks of [`CAUSAL_BLOCK`] queries, each
/// block is its own fused operation against only the keys up to its last query, so the
/// scores above the diagonal blocks are never computed, forward or backward: at 512
/// queries in blocks of 128, 62.5% of the score matrix. The result is that of
/// [`attention`]: the skipped scores are masked, and a masked score's probability is
/// exactly 0.
pub fn causal_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: Tensor<4>,
    scale: f64,
    past: usize,
) -> Tensor<4> {
    let t = q.dims()[2];
    if t < 2 * CAUSAL_BLOCK {
        return attention(q, k, v, bias, scale);
    }
    let blocks = (0..t)
        .step_by(CAUSAL_BLOCK)
        .map(|start| {
            let rows = CAUSAL_BLOCK.min(t - start);
            let keys = past + start + rows;
            attention(
                q.clone().narrow(2, start, rows),
                k.clone().narrow(2, 0, keys),
                v.clone().narrow(2, 0, keys),
                bias.clone().narrow(2, start, rows).narrow(3, 0, keys),
                scale,
            )
        })
        .collect();
    Tensor::cat(blocks, 2)
}

/// Largest differences between the fused attention and [`decomposed`] on one device: the
/// output and the gradients of `q`, `k` and `v`, each relative to the largest magnitude
/// of the reference's value. From [`compare_with_decomposed`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionCheck {
    /// Output under autodiff.
    pub output: f64,
    /// Output of the untracked (inference) call.
    pub inference: f64,
    /// Gradient of the queries.
    pub dq: f64,
    /// Gradient of the keys.
    pub dk: f64,
    /// Gradient of the values.
    pub dv: f64,
}

impl AttentionCheck {
    /// The largest of the five.
    pub fn worst(&self) -> f64 {
        [self.output, self.inference, self.dq, self.dk, self.dv]
            .into_iter()
            .fold(0.0, f64::max)
    }
}

/// Runs the fused attention and [`decomposed`] on the same random inputs on `device`,
/// forward and backward, and reports how far apart they are. The rows of the batch
/// cover what training feeds attention: two packed examples in one row (block-diagonal
/// causal mask) and a row ending in padding. `shape` is `[b, h, t, d]` with `b >= 2`
/// and `t >= 4`. q, k, v, the bias and the upstream gradient are in `precision`. The unit
/// tests and `scripts/gpu-check.sh` (through the train bench's `--check-kernels`) use it.
pub fn compare_with_decomposed(
    device: &Device,
    shape: [usize; 4],
    seed: u64,
    precision: crate::Precision,
) -> AttentionCheck {
    let [b, h, t, d] = shape;
    assert!(
        b >= 2 && t >= 4,
        "compare_with_decomposed needs b >= 2 and t >= 4"
    );
    let mut rows = vec![vec![1u32; t]; b];
    for (i, s) in rows[0].iter_mut().enumerate() {
        *s = if i < t / 2 { 1 } else { 2 };
    }
    for s in rows[1].iter_mut().skip(t - t / 3) {
        *s = 0;
    }
    let mut rng = sealtune_contract::SeededRng::new(seed);
    let mut random = |dims: [usize; 4]| {
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
        Tensor::<4>::from_data(TensorData::new(v, dims), device)
    };
    let q0 = random([b, h, t, d]);
    let k0 = random([b, h, t, d]);
    let v0 = random([b, h, t, d]);
    let g = random([b, h, t, d]);
    let mut bias = Vec::with_capacity(b * t * t);
    for segs in &rows {
        for (i, &qs) in segs.iter().enumerate() {
            for (j, &ks) in segs.iter().enumerate() {
                // as the model builds it: a padding query sees only itself
                let visible = if qs == 0 { j == i } else { j <= i && ks == qs };
                bias.push(if visible { 0.0 } else { -1.0e30f32 });
            }
        }
    }
    let bias = Tensor::<4>::from_data(TensorData::new(bias, [b, 1, t, t]), device);
    let dtype = precision.float_dtype();
    let [q0, k0, v0, g, bias] = [q0, k0, v0, g, bias].map(|x| x.cast(dtype));
    compare_on(q0, k0, v0, g, bias, 1.0 / (d as f64).sqrt())
}

/// The fused attention against the decomposed one on these inputs: outputs under autodiff
/// and untracked, and the gradients of q, k and v through `sum(out · g)`.
pub(crate) fn compare_on(
    q0: Tensor<4>,
    k0: Tensor<4>,
    v0: Tensor<4>,
    g: Tensor<4>,
    bias: Tensor<4>,
    scale: f64,
) -> AttentionCheck {
    let values = |t: Tensor<4>| crate::model::read_f32(t).unwrap_or_default();
    let mut runs = Vec::new();
    for fused in [true, false] {
        let track = |x: &Tensor<4>| x.clone().autodiff().require_grad();
        let (q, k, v) = (track(&q0), track(&k0), track(&v0));
        let f = if fused { attention } else { decomposed };
        let out = f(q.clone(), k.clone(), v.clone(), bias.clone(), scale);
        let grads = (out.clone() * g.clone()).sum().backward();
        let grad = |x: &Tensor<4>| x.grad(&grads).map(values).unwrap_or_default();
        runs.push([values(out.without_autodiff()), grad(&q), grad(&k), grad(&v)]);
    }
    let plain = values(attention(q0, k0, v0, bias, scale));
    let err = max_rel_err;
    let (f, r) = (&runs[0], &runs[1]);
    AttentionCheck {
        output: err(&f[0], &r[0]),
        inference: err(&plain, &r[0]),
        dq: err(&f[1], &r[1]),
        dk: err(&f[2], &r[2]),
        dv: err(&f[3], &r[3]),
    }
}

/// The largest `|got − want|` over the largest `|want|`; infinite when the lengths differ,
/// `want` is empty or a difference is NaN. Shared by the kernel checks.
pub(crate) fn max_rel_err(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() || want.is_empty() {
        return f64::INFINITY;
    }
    let scale = want
        .iter()
        .fold(0f64, |m, x| m.max(f64::from(x.abs())))
        .max(1e-12);
    got.iter()
        .zip(want)
        .map(|(a, b)| f64::from((a - b).abs()) / scale)
        .fold(
            0.0,
            |m, e| if e.is_nan() { f64::INFINITY } else { m.max(e) },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MASKED;

    fn check(device: &Device) {
        for (shape, seed) in [([2, 3, 9, 8], 7), ([3, 4, 64, 16], 8)] {
            let c = compare_with_decomposed(device, shape, seed, crate::Precision::F32);
            assert!(c.worst() < 1e-5, "{shape:?}: {c:?}");
        }
    }

    /// In bf16 the fused kernels accumulate in float32 and the decomposed attention rounds
    /// every intermediate (scores, probabilities) to bf16: agreement to a few bf16 rounding
    /// steps (2⁻⁸ ≈ 0.0039 relative).
    #[cfg(feature = "libtorch")]
    #[test]
    #[allow(deprecated)]
    fn fused_attention_matches_the_decomposed_one_in_bf16_on_libtorch_cpu() {
        for (shape, seed) in [([2, 3, 9, 8], 7), ([3, 4, 64, 16], 8)] {
            let c =
                compare_with_decomposed(&Device::libtorch(), shape, seed, crate::Precision::Bf16);
            assert!(c.worst() < 3e-2, "{shape:?}: {c:?}");
        }
    }

    /// The causal blocks against the decomposed attention over the whole bias: packed and
    /// padded rows, a last block shorter than the others, and queries after cached keys.
    #[test]
    fn causal_blocks_match_the_decomposed_attention_on_flex() {
        let device = Device::flex();
        let d = 8;
        for (t, past) in [(2 * CAUSAL_BLOCK + 44, 0), (2 * CAUSAL_BLOCK + 1, 5)] {
            let tk = past + t;
            let mut rng = sealtune_contract::SeededRng::new(t as u64);
            let mut random = |dims: [usize; 4]| {
                let n = dims.iter().product();
                let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
                Tensor::<4>::from_data(TensorData::new(v, dims), &device)
            };
            let (q0, k0, v0) = (
                random([2, 3, t, d]),
                random([2, 3, tk, d]),
                random([2, 3, tk, d]),
            );
            let g = random([2, 3, t, d]);
            // row 0: two packed segments; row 1: one segment, then padding
            let seg = |row: usize, pos: usize| match row {
                0 => 1 + u32::from(pos >= tk / 3),
                _ => u32::from(pos < tk - 40),
            };
            let mut bias = Vec::with_capacity(2 * t * tk);
            for row in 0..2 {
                for i in past..tk {
                    for j in 0..tk {
                        let (qs, ks) = (seg(row, i), seg(row, j));
                        let visible = if qs == 0 { j == i } else { j <= i && ks == qs };
                        bias.push(if visible { 0.0 } else { MASKED });
                    }
                }
            }
            let bias = Tensor::<4>::from_data(TensorData::new(bias, [2, 1, t, tk]), &device);
            let values = |x: Tensor<4>| crate::model::read_f32(x).unwrap();
            let mut runs = Vec::new();
            for blocks in [true, false] {
                let track = |x: &Tensor<4>| x.clone().autodiff().require_grad();
                let (q, k, v) = (track(&q0), track(&k0), track(&v0));
                let out = if blocks {
                    causal_attention(q.clone(), k.clone(), v.clone(), bias.clone(), 0.35, past)
                } else {
                    decomposed(q.clone(), k.clone(), v.clone(), bias.clone(), 0.35)
                };
                let grads = (out.clone() * g.clone().autodiff()).sum().backward();
                let grad = |x: &Tensor<4>| values(x.grad(&grads).unwrap());
                runs.push([values(out.without_autodiff()), grad(&q), grad(&k), grad(&v)]);
            }
            let plain = causal_attention(q0, k0, v0, bias, 0.35, past);
            runs.push([values(plain), vec![], vec![], vec![]]);
            for (i, what) in ["output", "dq", "dk", "dv"].into_iter().enumerate() {
                let e = max_rel_err(&runs[0][i], &runs[1][i]);
                assert!(e < 1e-5, "t {t}, past {past}: {what} {e}");
            }
            let e = max_rel_err(&runs[2][0], &runs[1][0]);
            assert!(e < 1e-5, "t {t}, past {past}: untracked output {e}");
        }
    }

    #[test]
    fn fused_attention_matches_the_decomposed_one_on_flex() {
        check(&Device::flex());
    }

    #[cfg(feature = "libtorch")]
    #[test]
    #[allow(deprecated)]
    fn fused_attention_matches_the_decomposed_one_on_libtorch_cpu() {
        check(&Device::libtorch());
    }
}
