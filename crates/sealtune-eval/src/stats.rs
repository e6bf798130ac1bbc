//! Statistics: estimates with seeded bootstrap confidence intervals, ROC AUC, true-positive
//! rate at a fixed false-positive rate, and the evidence rule.
//!
//! Every resampling draws from [`SeededRng`] (SplitMix64) with a configured seed, so a
//! report is reproducible bit for bit.

use sealtune_contract::SeededRng;

pub use sealtune_contract::artifacts::eval::{Estimate, Evidence};

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// The `q` quantile (0..=1) of sorted data, linearly interpolated.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Area under the ROC curve for scores where higher means "positive" (member): the
/// probability that a random positive outscores a random negative, ties counting one half
/// (the Mann-Whitney statistic). `None` when either class is empty.
pub fn auc(pos: &[f64], neg: &[f64]) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|&s| (s, true))
        .chain(neg.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of midranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let midrank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += midrank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// True-positive rate at a false-positive rate of at most `fpr`: the threshold is set
/// just above the `(floor(fpr·n_neg)+1)`-th highest negative score, and the TPR is the
/// fraction of positives strictly above it. `None` when either class is empty.
pub fn tpr_at_fpr(pos: &[f64], neg: &[f64], fpr: f64) -> Option<f64> {
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut n: Vec<f64> = neg.to_vec();
    n.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpr * n.len() as f64).floor() as usize;
    let threshold = n[allowed.min(n.len() - 1)];
    let hits = pos.iter().filter(|&&p| p > threshold).count();
    Some(hits as f64 / pos.len() as f64)
}

fn resample(rng: &mut SeededRng, xs: &[f64], buf: &mut Vec<f64>) {
    buf.clear();
    let n = xs.len() as u64;
    buf.extend((0..xs.len()).map(|_| xs[rng.below(n) as usize]));
}

fn percentile_ci(mut stats: Vec<f64>) -> Option<[f64; 2]> {
    stats.retain(|x| x.is_finite());
    if stats.len() < 2 {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    Some([
        quantile_sorted(&stats, 0.025)?,
        quantile_sorted(&stats, 0.975)?,
    ])
}

/// 95 % percentile-bootstrap interval of `stat` over one sample, `reps` resamples drawn
/// with `seed`. `None` with fewer than 2 samples or reps.
pub fn bootstrap_ci(
    xs: &[f64],
    reps: usize,
    seed: u64,
    stat: impl Fn(&[f64]) -> Option<f64>,
) -> Option<[f64; 2]> {
    if xs.len() < 2 || reps < 2 {
        return None;
    }
    let mut rng = SeededRng::new(seed);
    let mut buf = Vec::with_capacity(xs.len());
    let stats = (0..reps)
        .filter_map(|_| {
            resample(&mut rng, xs, &mut buf);
            stat(&buf)
        })
        .collect();
    percentile_ci(stats)
}

/// 95 % percentile-bootstrap interval of a two-sample statistic (AUC, TPR@FPR), each
/// sample resampled on its own (stratified bootstrap).
pub fn bootstrap_ci2(
    a: &[f64],
    b: &[f64],
    reps: usize,
    seed: u64,
    stat: impl Fn(&[f64], &[f64]) -> Option<f64>,
) -> Option<[f64; 2]> {
    if a.len() < 2 || b.len() < 2 || reps < 2 {
        return None;
    }
    let mut rng = SeededRng::new(seed);
    let (mut ba, mut bb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let stats = (0..reps)
        .filter_map(|_| {
            resample(&mut rng, a, &mut ba);
            resample(&mut rng, b, &mut bb);
            stat(&ba, &bb)
        })
        .collect();
    percentile_ci(stats)
}

/// 95 % bootstrap interval of a statistic of paired rows (resampling row indices), for
/// statistics over several aligned columns (e.g. fine-tuned minus base per record).
pub fn bootstrap_ci_indices(
    n: usize,
    reps: usize,
    seed: u64,
    stat: impl Fn(&[usize]) -> Option<f64>,
) -> Option<[f64; 2]> {
    if n < 2 || reps < 2 {
        return None;
    }
    let mut rng = SeededRng::new(seed);
    let mut idx = Vec::with_capacity(n);
    let stats = (0..reps)
        .filter_map(|_| {
            idx.clear();
            idx.extend((0..n).map(|_| rng.below(n as u64) as usize));
            stat(&idx)
        })
        .collect();
    percentile_ci(stats)
}

/// Mean with its bootstrap interval.
pub fn mean_estimate(xs: &[f64], reps: usize, seed: u64) -> Estimate {
    Estimate {
        value: mean(xs),
        ci: bootstrap_ci(xs, reps, seed, mean),
        n: xs.len(),
    }
}

/// AUC with its stratified bootstrap interval; `n` is the smaller class.
pub fn auc_estimate(pos: &[f64], neg: &[f64], reps: usize, seed: u64) -> Estimate {
    Estimate {
        value: auc(pos, neg),
        ci: bootstrap_ci2(pos, neg, reps, seed, auc),
        n: pos.len().min(neg.len()),
    }
}

/// TPR at `fpr` with its stratified bootstrap interval; `n` is the smaller class.
pub fn tpr_estimate(pos: &[f64], neg: &[f64], fpr: f64, reps: usize, seed: u64) -> Estimate {
    Estimate {
        value: tpr_at_fpr(pos, neg, fpr),
        ci: bootstrap_ci2(pos, neg, reps, seed, |a, b| tpr_at_fpr(a, b, fpr)),
        n: pos.len().min(neg.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_golden_values() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        // Hand-computed: pairs (pos>neg): 2>1, 4>1, 4>3 = 3 of 4, tie none -> 0.75.
        assert_eq!(auc(&[2.0, 4.0], &[1.0, 3.0]), Some(0.75));
        // Ties count one half.
        assert_eq!(auc(&[1.0], &[1.0]), Some(0.5));
        assert_eq!(auc(&[2.0, 1.0], &[1.0]), Some(0.75));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn tpr_at_low_fpr_golden_values() {
        let neg: Vec<f64> = (0..100).map(f64::from).collect();
        // 1 % of 100 negatives: one false positive allowed, threshold = 98.
        let pos = [99.5, 98.5, 98.0, 50.0];
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.01), Some(0.5));
        // With 10 negatives no false positive is allowed at 1 %: threshold = max negative.
        let neg10: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(tpr_at_fpr(&[9.5, 9.0, 8.0], &neg10, 0.01), Some(1.0 / 3.0));
        assert_eq!(tpr_at_fpr(&[10.0, 11.0], &neg10, 0.01), Some(1.0));
    }

    #[test]
    fn bootstrap_is_seeded_and_covers_the_mean() {
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i % 10)).collect();
        let a = bootstrap_ci(&xs, 500, 7, mean).unwrap();
        let b = bootstrap_ci(&xs, 500, 7, mean).unwrap();
        assert_eq!(a, b);
        assert!(a[0] < 4.5 && 4.5 < a[1], "{a:?}");
        assert!(a[1] - a[0] < 1.0, "{a:?}");
        assert_ne!(bootstrap_ci(&xs, 500, 8, mean).unwrap(), a);
        // A constant sample has a zero-width interval.
        assert_eq!(bootstrap_ci(&[2.0; 10], 50, 1, mean), Some([2.0, 2.0]));
        assert_eq!(bootstrap_ci(&[2.0], 50, 1, mean), None);
    }

    #[test]
    fn perfectly_separated_scores_have_auc_one_with_a_tight_interval() {
        let pos: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i)).collect();
        let neg: Vec<f64> = (0..50).map(f64::from).collect();
        let e = auc_estimate(&pos, &neg, 200, 3);
        assert_eq!(e.value, Some(1.0));
        assert_eq!(e.ci, Some([1.0, 1.0]));
        let t = tpr_estimate(&pos, &neg, 0.01, 200, 3);
        assert_eq!(t.value, Some(1.0));
    }

    #[test]
    fn evidence_rule_flags_small_samples() {
        assert_eq!(
            Evidence::rule(Some(0.9), &[5, 100], 20),
            Evidence::Insufficient
        );
        assert_eq!(
            Evidence::rule(Some(0.9), &[20, 100], 20),
            Evidence::Sufficient
        );
        assert_eq!(Evidence::rule(None, &[100], 20), Evidence::Insufficient);
        assert_eq!(
            Evidence::rule(Some(f64::NAN), &[100], 20),
            Evidence::Insufficient
        );
    }
}
