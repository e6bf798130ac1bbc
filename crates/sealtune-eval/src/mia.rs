//! Membership-inference scores. Each maps a record's per-token log-probabilities to one
//! number where **higher means "more likely a training member"**; the suite then measures
//! how well a score separates members from non-members (AUC, TPR at 1 % FPR).

use crate::text::zlib_len;

/// The attacks, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Mean token log-likelihood (the negated LOSS).
    Loss,
    /// Total log-likelihood divided by the zlib size of the text.
    Zlib,
    /// Mean of the lowest k % token log-likelihoods (Min-K%).
    MinK,
    /// Min-K% of calibrated token scores `(log p − μ)/σ` (Min-K%++).
    MinKpp,
    /// Fine-tuned minus reference (base) mean log-likelihood.
    ReferenceRatio,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 5] = [
        Attack::Loss,
        Attack::Zlib,
        Attack::MinK,
        Attack::MinKpp,
        Attack::ReferenceRatio,
    ];

    /// Metric id fragment.
    pub fn id(self) -> &'static str {
        match self {
            Attack::Loss => "loss",
            Attack::Zlib => "zlib",
            Attack::MinK => "min_k",
            Attack::MinKpp => "min_k_pp",
            Attack::ReferenceRatio => "reference_ratio",
        }
    }

    /// Human name.
    pub fn title(self) -> &'static str {
        match self {
            Attack::Loss => "LOSS",
            Attack::Zlib => "zlib ratio",
            Attack::MinK => "Min-K% (k = 20%)",
            Attack::MinKpp => "Min-K%++ (k = 20%)",
            Attack::ReferenceRatio => "reference-model ratio (base as reference)",
        }
    }
}

/// A record's token statistics under one model (target tokens only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenStats {
    /// `log p(x_t | x_<t)` per target token.
    pub logprobs: Vec<f64>,
    /// `E_z[log p(z)]` per target token (Min-K%++).
    pub mean: Vec<f64>,
    /// `Var_z[log p(z)]` per target token (Min-K%++).
    pub var: Vec<f64>,
}

fn mean(xs: &[f64]) -> Option<f64> {
    crate::stats::mean(xs)
}

/// Mean log-likelihood (negated loss).
pub fn loss_score(lp: &[f64]) -> Option<f64> {
    mean(lp)
}

/// Total log-likelihood per zlib byte of the text (`−NLL / zlib_len`).
pub fn zlib_score(lp: &[f64], text: &str) -> Option<f64> {
    (!lp.is_empty()).then(|| lp.iter().sum::<f64>() / zlib_len(text) as f64)
}

/// Mean of the lowest `ceil(k·n)` values.
pub fn min_k(values: &[f64], k: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let take = ((k * v.len() as f64).ceil() as usize).clamp(1, v.len());
    mean(&v[..take])
}

/// Min-K%++: Min-K% over `(log p − μ)/σ`.
pub fn min_k_pp(stats: &TokenStats, k: f64) -> Option<f64> {
    if stats.logprobs.len() != stats.mean.len() || stats.logprobs.len() != stats.var.len() {
        return None;
    }
    let z: Vec<f64> = stats
        .logprobs
        .iter()
        .zip(&stats.mean)
        .zip(&stats.var)
        .map(|((lp, mu), var)| (lp - mu) / var.max(1e-12).sqrt())
        .collect();
    min_k(&z, k)
}

/// Fine-tuned minus reference mean log-likelihood.
pub fn reference_ratio(target: &[f64], reference: &[f64]) -> Option<f64> {
    Some(mean(target)? - mean(reference)?)
}

/// The score of `attack` for one record. `reference` is the base model's statistics,
/// needed by the reference ratio only.
pub fn score(
    attack: Attack,
    stats: &TokenStats,
    reference: Option<&TokenStats>,
    text: &str,
    k: f64,
) -> Option<f64> {
    match attack {
        Attack::Loss => loss_score(&stats.logprobs),
        Attack::Zlib => zlib_score(&stats.logprobs, text),
        Attack::MinK => min_k(&stats.logprobs, k),
        Attack::MinKpp => min_k_pp(stats, k),
        Attack::ReferenceRatio => reference_ratio(&stats.logprobs, &reference?.logprobs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_k_golden_values() {
        let lp = [-1.0, -5.0, -0.5, -3.0, -2.0, -0.1, -0.2, -0.3, -0.4, -4.0];
        // k = 20 % of 10 tokens: the two lowest, -5 and -4.
        assert_eq!(min_k(&lp, 0.2), Some(-4.5));
        // ceil(0.2 * 3) = 1 token.
        assert_eq!(min_k(&[-1.0, -2.0, -3.0], 0.2), Some(-3.0));
        assert_eq!(min_k(&[], 0.2), None);
    }

    #[test]
    fn min_k_pp_golden_values() {
        let s = TokenStats {
            logprobs: vec![-1.0, -3.0, -2.0, -1.0, -1.0],
            mean: vec![-2.0, -2.0, -2.0, -1.0, -3.0],
            var: vec![4.0, 1.0, 1.0, 1.0, 4.0],
        };
        // z = [0.5, -1, 0, 0, 1]; lowest ceil(0.2*5) = 1 -> -1.
        assert_eq!(min_k_pp(&s, 0.2), Some(-1.0));
        // 40 %: two lowest: -1 and 0 -> -0.5.
        assert_eq!(min_k_pp(&s, 0.4), Some(-0.5));
    }

    #[test]
    fn loss_zlib_and_reference_golden_values() {
        assert_eq!(loss_score(&[-1.0, -3.0]), Some(-2.0));
        // zlib("") is 8 bytes: -4 / 8.
        assert_eq!(zlib_score(&[-1.0, -3.0], ""), Some(-0.5));
        assert_eq!(reference_ratio(&[-1.0, -1.0], &[-3.0, -2.0]), Some(1.5));
        let s = TokenStats {
            logprobs: vec![-1.0],
            ..TokenStats::default()
        };
        assert_eq!(score(Attack::ReferenceRatio, &s, None, "", 0.2), None);
    }
}
