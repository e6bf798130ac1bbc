//! The LM head and the cross-entropy over the vocabulary as one operation, computed a
//! block of tokens at a time.
//!
//! Composed from burn's operations, the training loss projects every counted position
//! to `[n, vocab]` logits, takes their log-softmax and gathers the targets; autodiff keeps
//! the logits and the log-probabilities of all `n` positions until the backward pass,
//! whose gather and softmax steps allocate and fill two more `[n, vocab]` matrices (for
//! Llama 3's 128,256 entries and 4,096 positions, 2 GiB each in float32).
//!
//! Here the loss is one tracked operation instead. The forward pass takes the positions in
//! blocks small enough that a block's logits stay around 32 MiB; for each block it computes the
//! logits, their log-sum-exp, the per-position loss `lse − logit[target]` and, when the
//! operation is tracked, the loss's gradient with respect to the hidden state right away:
//! `∂nllᵢ/∂hᵢ = softmax(logitsᵢ) W − W[targetᵢ]`, an `[n, hidden]` matrix. Each position's
//! loss depends only on its own hidden state, so the backward pass is that matrix scaled
//! row by row by the incoming gradient: no logits are kept and none are recomputed, and
//! the matrix products are the two the composed version runs.
//!
//! The weight `W` (`[vocab, hidden]`, the LM head or the tied embedding) is a constant:
//! sealtune trains LoRA adapters on the projections, never the head, so no gradient is
//! computed for it.

// burn-tch is deprecated upstream; the backend list below names it.
#![cfg_attr(feature = "libtorch", allow(deprecated))]

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::{FloatDType, Slice};

/// About this many logits (float32) are alive at once per block: 32 MiB.
const BLOCK_LOGITS: usize = 1 << 23;

/// Per-position `−log softmax(h Wᵀ)[target]` as one operation (see the module docs).
#[backend_extension(Flex, LibTorch: cfg(feature = "libtorch"), Autodiff)]
pub trait LinearCrossEntropy: Backend {
    /// `hidden`: `[n, h]`; `weight`: `[vocab, h]`, not differentiated; `targets`: `[n]`;
    /// `block`: positions per block. Returns `[n]`.
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        block: usize,
    ) -> FloatTensor<Self>;
}

/// The per-position loss `[n]` (float32) on a concrete backend.
fn forward<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    targets: IntTensor<B>,
    block: usize,
) -> FloatTensor<B> {
    blocks::<B>(hidden, weight, targets, block, false).0
}

/// The per-position loss `[n]` (float32) and its gradient with respect to `hidden`
/// (`[n, h]`, in `hidden`'s dtype) on a concrete backend.
fn forward_with_grad<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    targets: IntTensor<B>,
    block: usize,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let [n, h] = hidden.shape().dims::<2>();
    let dtype = hidden.dtype().into();
    let device = hidden.device();
    let (loss, grad) = blocks::<B>(hidden, weight, targets, block, true);
    if n == 0 {
        return (loss, B::float_zeros(Shape::new([0, h]), &device, dtype));
    }
    (loss, B::float_cat(grad, 0))
}

/// The blocks: the loss of each and, with `grad`, its gradient. The logits are formed in
/// the weights' dtype (bfloat16 in a bf16 model, as transformers does) and everything after
/// (max, exponentials, sums, the loss) is float32; the softmax goes back to the weights'
/// dtype for the gradient's matrix product.
fn blocks<B: Backend>(
    hidden: FloatTensor<B>,
    weight: FloatTensor<B>,
    targets: IntTensor<B>,
    block: usize,
    grad: bool,
) -> (FloatTensor<B>, Vec<FloatTensor<B>>) {
    let [n, h] = hidden.shape().dims::<2>();
    let vocab = weight.shape().dims::<2>()[0];
    let compute: FloatDType = weight.dtype().into();
    let block = block.max(1);
    let weight_t = B::float_transpose(weight.clone());
    let (mut losses, mut grads) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        let c = end - start;
        let rows = Slice::new(start as isize, Some(end as isize), 1);
        let hc = B::float_slice(hidden.clone(), &[rows, Slice::new(0, Some(h as isize), 1)]);
        let tc = B::int_reshape(B::int_slice(targets.clone(), &[rows]), Shape::new([c, 1]));
        let logits = B::float_cast(B::float_matmul(hc, weight_t.clone()), FloatDType::F32);
        let max = B::float_max_dim(logits.clone(), 1);
        let shifted = B::float_sub(logits, B::float_expand(max, Shape::new([c, vocab])));
        let exp = B::float_exp(shifted.clone());
        let sum = B::float_sum_dim(exp.clone(), 1);
        let picked = B::float_gather(1, shifted, tc.clone());
        losses.push(B::float_sub(B::float_log(sum.clone()), picked));
        if grad {
            let p = B::float_div(exp, B::float_expand(sum, Shape::new([c, vocab])));
            let expected = B::float_matmul(B::float_cast(p, compute), weight.clone());
            let target_rows =
                B::float_select(weight.clone(), 0, B::int_reshape(tc, Shape::new([c])));
            grads.push(B::float_sub(expected, target_rows));
        }
        start = end;
    }
    let loss = if n == 0 {
        B::float_zeros(Shape::new([0]), &hidden.device(), FloatDType::F32)
    } else {
        B::float_reshape(B::float_cat(losses, 0), Shape::new([n]))
    };
    (loss, grads)
}

/// A backend without autodiff runs the forward pass alone.
macro_rules! untracked {
    ($backend:ty) => {
        impl LinearCrossEntropy for $backend {
            fn linear_cross_entropy(
                hidden: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                targets: IntTensor<Self>,
                block: usize,
            ) -> FloatTensor<Self> {
                forward::<Self>(hidden, weight, targets, block)
            }
        }
    };
}

untracked!(Flex);
#[cfg(feature = "libtorch")]
untracked!(burn::backend::LibTorch);

/// The tracked operation; its state is `∂nllᵢ/∂hᵢ`.
#[derive(Debug)]
struct LinearCrossEntropyBackward;

impl<B: Backend> Backward<B, 1> for LinearCrossEntropyBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let incoming = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let local = ops.state;
            let [n, h] = local.shape().dims::<2>();
            let incoming = B::float_cast(incoming, local.dtype().into());
            let scale = B::float_expand(
                B::float_reshape(incoming, Shape::new([n, 1])),
                Shape::new([n, h]),
            );
            grads.register::<B>(node.id, B::float_mul(local, scale));
        }
    }
}

impl<B: Backend, C: CheckpointStrategy> LinearCrossEntropy for Autodiff<B, C> {
    fn linear_cross_entropy(
        hidden: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        targets: IntTensor<Self>,
        block: usize,
    ) -> FloatTensor<Self> {
        let weight = weight.into_primitive();
        let (hidden, node) = hidden.into_parts();
        match LinearCrossEntropyBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, grad) = forward_with_grad::<B>(hidden, weight, targets, block);
                prep.finish(grad, loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward::<B>(hidden, weight, targets, block)),
        }
    }
}

/// How [`crate::Llama::token_nll`] computes the training loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrossEntropyKind {
    /// [`linear_cross_entropy`]: blocks of positions, one operation with its own
    /// backward pass.
    #[default]
    Blocked,
    /// [`full`]: logits of every position, then burn's log-softmax and gather, which
    /// autodiff differentiates one by one; the reference.
    Full,
}

/// Positions per block for a vocabulary of `vocab` entries: about [`BLOCK_LOGITS`] logits.
pub fn block_for(vocab: usize) -> usize {
    (BLOCK_LOGITS / vocab.max(1)).max(1)
}

/// Per-position `−log softmax(hidden weightᵀ)[target]`: `hidden` `[n, h]`, `weight`
/// `[vocab, h]` (not differentiated), `targets` `[n]`, in blocks of `block` positions.
pub fn linear_cross_entropy(
    hidden: Tensor<2>,
    weight: Tensor<2>,
    targets: Tensor<1, Int>,
    block: usize,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as LinearCrossEntropy>::linear_cross_entropy(
        hidden.into_dispatch(),
        weight.into_dispatch(),
        targets.into_dispatch(),
        block,
    ))
}

/// The reference: the same loss from burn's matmul, log-softmax and gather.
pub fn full(hidden: Tensor<2>, weight: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let n = hidden.dims()[0];
    let logits = hidden.matmul(weight.transpose()).cast(FloatDType::F32);
    let logp = burn::tensor::activation::log_softmax(logits, 1);
    logp.gather(1, targets.reshape([n, 1])).reshape([n]).neg()
}

/// Largest differences between [`linear_cross_entropy`] (with several blocks) and
/// [`full`] on one device, relative to the reference's largest magnitude: the loss under
/// autodiff, the untracked loss, and the gradient of the hidden states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropyCheck {
    /// Loss under autodiff.
    pub loss: f64,
    /// Loss of the untracked call.
    pub inference: f64,
    /// Gradient of the hidden states (through a weighted sum of the losses).
    pub dhidden: f64,
}

impl CrossEntropyCheck {
    /// The largest of the three.
    pub fn worst(&self) -> f64 {
        self.loss.max(self.inference).max(self.dhidden)
    }
}

/// Compares the blocked loss with [`full`] on `device` for `n` positions, `h` hidden units
/// and `vocab` entries, from inputs drawn with `seed`, forward and backward; the blocks
/// hold 3 positions, so a short last block is covered whenever `n` is not a multiple of 3.
/// The hidden states and the weight are in `precision` (the loss is float32 either way).
/// The unit tests and `scripts/gpu-check.sh` (through the train bench's
/// `--check-kernels`) use it.
pub fn compare_with_full(
    device: &Device,
    [n, h, vocab]: [usize; 3],
    seed: u64,
    precision: crate::Precision,
) -> CrossEntropyCheck {
    let mut rng = sealtune_contract::SeededRng::new(seed);
    let mut random = |len: usize, scale: f32| -> Vec<f32> {
        (0..len)
            .map(|_| (rng.unit_f32() * 2.0 - 1.0) * scale)
            .collect()
    };
    let hidden = random(n * h, 2.0);
    let weight = random(vocab * h, 1.0);
    let upstream = random(n, 1.0);
    let targets: Vec<i64> = (0..n).map(|_| rng.below(vocab as u64) as i64).collect();
    let dtype = precision.float_dtype();
    let hidden = Tensor::<2>::from_data(TensorData::new(hidden, [n, h]), device).cast(dtype);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [vocab, h]), device).cast(dtype);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device);
    let upstream = Tensor::<1>::from_data(TensorData::new(upstream, [n]), device);
    let values = |t: Tensor<1>| crate::model::read_f32(t).unwrap_or_default();
    let mut runs = Vec::new();
    for blocked in [true, false] {
        let x = hidden.clone().autodiff().require_grad();
        let (w, t) = (weight.clone().autodiff(), targets.clone());
        let loss = if blocked {
            linear_cross_entropy(x.clone(), w, t, 3)
        } else {
            full(x.clone(), w, t)
        };
        let grads = (loss.clone() * upstream.clone().autodiff())
            .sum()
            .backward();
        let dh = x
            .grad(&grads)
            .and_then(|g| crate::model::read_f32(g).ok())
            .unwrap_or_default();
        runs.push([values(loss.without_autodiff()), dh]);
    }
    let plain = values(linear_cross_entropy(hidden, weight, targets, 3));
    let err = crate::attention::max_rel_err;
    CrossEntropyCheck {
        loss: err(&runs[0][0], &runs[1][0]),
        inference: err(&plain, &runs[1][0]),
        dhidden: err(&runs[0][1], &runs[1][1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_loss_and_gradient_match_the_full_one_on_flex() {
        for (shape, seed) in [([7, 5, 11], 1), ([9, 8, 40], 2), ([1, 4, 3], 3)] {
            let c = compare_with_full(&Device::flex(), shape, seed, crate::Precision::F32);
            assert!(c.worst() < 1e-5, "{shape:?}: {c:?}");
        }
    }

    #[test]
    fn no_positions_give_an_empty_loss_and_gradient() {
        let device = Device::flex();
        let hidden = Tensor::<2>::zeros([0, 4], &device)
            .autodiff()
            .require_grad();
        let weight = Tensor::<2>::ones([6, 4], &device).autodiff();
        let targets = Tensor::<1, Int>::zeros([0], &device);
        let loss = linear_cross_entropy(hidden.clone(), weight.clone(), targets.clone(), 2);
        assert_eq!(loss.dims(), [0]);
        let grads = loss.sum().backward();
        assert_eq!(hidden.grad(&grads).map(|g| g.dims()), Some([0, 4]));
        let plain = linear_cross_entropy(
            hidden.without_autodiff(),
            weight.without_autodiff(),
            targets,
            2,
        );
        assert_eq!(plain.dims(), [0]);
    }

    #[test]
    fn block_size_keeps_logits_bounded() {
        assert_eq!(block_for(49_152), 170);
        assert_eq!(block_for(128_256), 65);
        assert_eq!(block_for(usize::MAX), 1);
        assert_eq!(block_for(0), BLOCK_LOGITS);
    }

    #[cfg(feature = "libtorch")]
    #[test]
    fn blocked_loss_and_gradient_match_the_full_one_on_libtorch_cpu() {
        #[allow(deprecated)]
        let device = Device::libtorch();
        for (shape, seed) in [([7, 5, 11], 1), ([9, 8, 40], 2)] {
            let c = compare_with_full(&device, shape, seed, crate::Precision::F32);
            assert!(c.worst() < 1e-5, "{shape:?}: {c:?}");
        }
    }

    /// In bf16 the two forms round the softmax at different points (before the matrix
    /// product here, after the upstream scaling there): agreement to a few bf16 ulps
    /// (2⁻⁸ ≈ 0.0039 relative), and the loss, formed in float32 from the same logits,
    /// far closer.
    #[cfg(feature = "libtorch")]
    #[test]
    fn blocked_loss_and_gradient_match_the_full_one_in_bf16_on_libtorch_cpu() {
        #[allow(deprecated)]
        let device = Device::libtorch();
        for (shape, seed) in [([7, 16, 11], 1), ([9, 32, 40], 2)] {
            let c = compare_with_full(&device, shape, seed, crate::Precision::Bf16);
            assert!(c.loss.max(c.inference) < 1e-4, "{shape:?}: {c:?}");
            assert!(c.dhidden < 2e-2, "{shape:?}: {c:?}");
        }
    }
}
