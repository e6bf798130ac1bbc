//! Canary exposure (the "Secret Sharer" measure).
//!
//! For a canary whose secret was drawn from a space `R`, exposure is
//! `log2|R| − log2 rank`, where `rank` is the canary's position when every value of `R`
//! is ordered by the model's negative log-likelihood (NLL, lower = more likely). Ranking
//! all of `R` (10^9 to 10^15 values) is impossible, so the rank *fraction* `rank/|R|` is
//! estimated from random reference values of the same format, in two ways:
//!
//! - **interpolated**: the canary's position among the sorted reference NLLs, linearly
//!   interpolated between neighbours, as a fraction `(p + 1)/(m + 1)` of `m` references.
//!   It cannot exceed `log2(m + 1)` bits.
//! - **skew-normal**: a skew-normal distribution fitted to the reference NLLs by the
//!   method of moments; the fraction is its CDF at the canary's NLL, which extrapolates
//!   beyond the references' range.
//!
//! Either way exposure = `−log2 fraction`, and it never exceeds `log2|R|` (rank ≥ 1).
//! A value the model never saw is a uniform draw among the references, whose expected
//! exposure is `1/ln 2 ≈ 1.44` bits.
//!
//! Reference NLLs are skewed to the right (a long tail of unlikely values), and a
//! method-of-moments fit on a few dozen of them readily reaches the family's largest
//! skewness, whose left tail falls off a cliff below the location: a canary just under
//! the lowest reference would then get a hundred bits of exposure under a model that
//! never saw it. The extrapolation therefore uses the heavier of two left tails, the
//! skew-normal's and that of a normal with the same mean and variance: it is still far
//! past the reference count for a memorised canary (tens of standard deviations below
//! the references), but not for one at the edge of their range.

use std::f64::consts::{LN_2, PI};

/// Interpolated exposure of a canary NLL against reference NLLs, in bits; `None` without
/// references.
pub fn exposure_interpolated(canary_nll: f64, reference_nll: &[f64]) -> Option<f64> {
    if reference_nll.is_empty() || !canary_nll.is_finite() {
        return None;
    }
    let mut s: Vec<f64> = reference_nll.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len();
    let k = s.partition_point(|&r| r < canary_nll);
    let p = if k == 0 {
        0.0
    } else if k == m {
        m as f64
    } else {
        let (lo, hi) = (s[k - 1], s[k]);
        let frac = if hi > lo {
            (canary_nll - lo) / (hi - lo)
        } else {
            0.5
        };
        (k - 1) as f64 + frac.clamp(0.0, 1.0)
    };
    let fraction = (p + 1.0) / (m as f64 + 1.0);
    Some(-fraction.log2())
}

/// A skew-normal distribution: location `xi`, scale `omega`, shape `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewNormal {
    /// Location.
    pub xi: f64,
    /// Scale (> 0).
    pub omega: f64,
    /// Shape (0 = normal).
    pub alpha: f64,
}

/// The largest skewness a skew-normal distribution can have.
const MAX_SKEW: f64 = 0.995;

impl SkewNormal {
    /// Method-of-moments fit (sample mean, variance, skewness clamped to the family's
    /// range). `None` with fewer than 3 values or zero variance.
    pub fn fit(xs: &[f64]) -> Option<SkewNormal> {
        if xs.len() < 3 {
            return None;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let m2 = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let m3 = xs.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n;
        if m2 <= 0.0 || !m2.is_finite() {
            return None;
        }
        let g = (m3 / m2.powf(1.5)).clamp(-MAX_SKEW, MAX_SKEW);
        let g23 = g.abs().powf(2.0 / 3.0);
        let c = ((4.0 - PI) / 2.0).powf(2.0 / 3.0);
        let delta = g.signum() * ((PI / 2.0) * g23 / (g23 + c)).sqrt();
        let delta = delta.clamp(-0.9999, 0.9999);
        let alpha = delta / (1.0 - delta * delta).sqrt();
        let omega = (m2 / (1.0 - 2.0 * delta * delta / PI)).sqrt();
        let xi = mean - omega * delta * (2.0 / PI).sqrt();
        Some(SkewNormal { xi, omega, alpha })
    }

    /// `ln f(x)`.
    pub fn ln_pdf(&self, x: f64) -> f64 {
        let z = (x - self.xi) / self.omega;
        2f64.ln() - self.omega.ln() + ln_std_normal_pdf(z) + ln_std_normal_cdf(self.alpha * z)
    }

    /// `ln F(x)`, accurate deep in the left tail (numerical integration of the density in
    /// log space), so tiny CDF values give exposures far beyond the reference count.
    pub fn ln_cdf(&self, x: f64) -> f64 {
        let z = (x - self.xi) / self.omega;
        // Past six scale units on the right the CDF is 1 to double precision.
        if z > 6.0 + 2.0 * self.alpha.abs().min(3.0) {
            return 0.0;
        }
        // The density is log-concave, so left of z it stays under the exponential of
        // its tangent at z: with slope s = d ln f/dt at z, what lies more than 40/s
        // left of z is below e^-40 of the whole (and 40 units suffice wherever s < 1).
        // Simpson's rule in log space over [z - span, z], with steps no wider than a
        // tenth of the density's narrowest scale, 1/sqrt(1 + α²) (0.014 at the largest
        // skewness a moment fit reaches): a fixed 8,000 steps over 40 units were off
        // by up to 1.5 bits there.
        let az = self.alpha * z;
        let slope = -z + self.alpha * (ln_std_normal_pdf(az) - ln_std_normal_cdf(az)).exp();
        let span = 40.0 / slope.max(1.0);
        let width = 1.0 / (1.0 + self.alpha * self.alpha).sqrt();
        let steps = ((10.0 * span / width).ceil() as usize)
            .max(8000)
            .next_multiple_of(2);
        let lo = z - span;
        let h = (z - lo) / steps as f64;
        let f = |t: f64| 2f64.ln() + ln_std_normal_pdf(t) + ln_std_normal_cdf(self.alpha * t);
        let mut terms = Vec::with_capacity(steps + 1);
        for i in 0..=steps {
            let w: f64 = if i == 0 || i == steps {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            terms.push(f(lo + i as f64 * h) + w.ln());
        }
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
        (max + sum.ln() + (h / 3.0).ln()).min(0.0)
    }
}

fn ln_std_normal_pdf(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * PI).ln()
}

/// `ln Φ(x)`, stable for very negative `x`.
pub fn ln_std_normal_cdf(x: f64) -> f64 {
    if x > -30.0 {
        (0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)).ln()
    } else {
        // Asymptotic series of Mills' ratio.
        let x2 = x * x;
        -0.5 * x2 - (-x).ln() - 0.5 * (2.0 * PI).ln()
            + (1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2)).ln()
    }
}

/// Skew-normal exposure of a canary NLL, in bits: `−log2 F(canary)` for `F` fitted to the
/// reference NLLs, with the left tail no lighter than a normal's of the same mean and
/// variance (see the module notes), and at most `log2_space` (`log2|R|`).
pub fn exposure_skewnorm(canary_nll: f64, reference_nll: &[f64], log2_space: f64) -> Option<f64> {
    let sn = SkewNormal::fit(reference_nll)?;
    if !canary_nll.is_finite() {
        return None;
    }
    let n = reference_nll.len() as f64;
    let mean = reference_nll.iter().sum::<f64>() / n;
    let sd = (reference_nll
        .iter()
        .map(|x| (x - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let normal = SkewNormal {
        xi: mean,
        omega: sd,
        alpha: 0.0,
    };
    let ln_f = sn.ln_cdf(canary_nll).max(normal.ln_cdf(canary_nll));
    Some((-ln_f / LN_2).clamp(0.0, log2_space))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_exposure_golden_values() {
        let refs = [1.0, 2.0, 3.0];
        // Below every reference: fraction 1/4, exposure 2 bits.
        assert_eq!(exposure_interpolated(0.5, &refs), Some(2.0));
        // Above every reference: fraction 1, exposure 0.
        assert_eq!(exposure_interpolated(9.0, &refs), Some(0.0));
        // Half-way between 1 and 2: p = 0.5, fraction 1.5/4.
        let e = exposure_interpolated(1.5, &refs).unwrap();
        assert!((e - (-(1.5f64 / 4.0).log2())).abs() < 1e-12);
        assert_eq!(exposure_interpolated(1.0, &[]), None);
    }

    #[test]
    fn random_values_average_one_over_ln2_bits() {
        // Values drawn from the reference distribution itself (a negative control).
        let mut rng = sealtune_contract::SeededRng::new(11);
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let refs: Vec<f64> = (0..10_000).map(|_| u() * 10.0).collect();
        let trials: Vec<f64> = (0..4000)
            .map(|_| exposure_interpolated(u() * 10.0, &refs).unwrap())
            .collect();
        let mean = trials.iter().sum::<f64>() / trials.len() as f64;
        assert!((mean - 1.0 / LN_2).abs() < 0.08, "mean exposure {mean}");
    }

    #[test]
    fn skew_normal_fit_and_tail() {
        // A normal sample: alpha near 0, CDF at the mean near 1/2.
        let mut rng = sealtune_contract::SeededRng::new(5);
        let mut normal = || {
            let u1 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let u2 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
        };
        let xs: Vec<f64> = (0..20_000).map(|_| 30.0 + 2.0 * normal()).collect();
        let sn = SkewNormal::fit(&xs).unwrap();
        assert!(sn.alpha.abs() < 1.0, "{sn:?}");
        let sd = sn.omega
            * (1.0 - 2.0 * (sn.alpha / (1.0 + sn.alpha * sn.alpha).sqrt()).powi(2) / PI).sqrt();
        assert!((sd - 2.0).abs() < 0.1, "{sn:?}");
        // Normal CDF checks: 1 sd below the mean ~ 0.1587; 10 sd below ~ 7.62e-24.
        let c1 = SkewNormal {
            xi: 0.0,
            omega: 1.0,
            alpha: 0.0,
        };
        assert!((c1.ln_cdf(-1.0).exp() - 0.158_655_25).abs() < 1e-6);
        assert!((c1.ln_cdf(-10.0) - 7.619_853e-24f64.ln()).abs() < 1e-3);
        assert!((c1.ln_cdf(0.0).exp() - 0.5).abs() < 1e-6);
        // Skewed: alpha = 3, CDF(0) = 1/2 - atan(3)/pi.
        let c2 = SkewNormal {
            xi: 0.0,
            omega: 1.0,
            alpha: 3.0,
        };
        assert!((c2.ln_cdf(0.0).exp() - (0.5 - 3f64.atan() / PI)).abs() < 1e-6);
        // The largest skewness (alpha 70) just left of the location, where the density
        // is narrow; references from mpmath (40 digits, adaptive quadrature).
        for (alpha, z, want) in [
            (70.0, -0.02, -7.780_477_972_642_48),
            (70.0, -0.05, -14.222_528_419_692_7),
            (70.0, -0.2, -108.706_583_394_509),
            (20.0, -0.1, -7.997_270_762_832_90),
            (70.0, 0.0, -5.393_293_149_094_38),
            (70.0, 0.01, -4.645_259_878_798_75),
            (70.0, -1.5, -5_528.327_101_235_30),
            (-3.0, -2.0, -3.090_037_153_233_93),
        ] {
            let c = SkewNormal {
                xi: 0.0,
                omega: 1.0,
                alpha,
            };
            let got = c.ln_cdf(z);
            assert!(
                (got - want).abs() < 1e-6 * want.abs(),
                "alpha {alpha}, z {z}: {got} vs {want}"
            );
        }
        // Exposure grows without the reference-count cap for a far-out canary, up to
        // log2|R|.
        let e = exposure_skewnorm(30.0 - 20.0, &xs, 200.0).unwrap();
        assert!(e > 60.0, "{e}");
        assert_eq!(exposure_skewnorm(30.0 - 20.0, &xs, 40.0), Some(40.0));
        assert!(exposure_interpolated(10.0, &xs).unwrap() <= (20_001f64).log2() + 1e-9);
    }

    #[test]
    fn a_canary_at_the_edge_of_skewed_references_is_not_a_false_alarm() {
        // 64 right-skewed reference NLLs (exponential above 30 nats): the moment fit
        // reaches the largest skewness, and its own left tail would put a canary just
        // below the lowest reference at over a hundred bits.
        let mut rng = sealtune_contract::SeededRng::new(3);
        let xs: Vec<f64> = (0..64)
            .map(|_| {
                let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                30.0 - 8.0 * u.ln()
            })
            .collect();
        let lowest = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let sn = SkewNormal::fit(&xs).unwrap();
        assert!(-sn.ln_cdf(lowest - 2.0) / LN_2 > 20.0, "{sn:?}");
        let e = exposure_skewnorm(lowest - 2.0, &xs, 30.0).unwrap();
        assert!(e < 8.0, "{e} bits for a canary 2 nats below the references");
        // A memorised canary (NLL near 0) is still far beyond the 6 bits 64
        // references can show.
        let e = exposure_skewnorm(0.5, &xs, 100.0).unwrap();
        assert!(e > 12.0, "{e}");
    }
}
