#!/usr/bin/env python3
# check-exposure.py -- recompute sealtune's canary exposures (Carlini et al.
# 2019, "The Secret Sharer") from eval/scores.json.
#
# What it does
#   For every entry of "canaries" and each model ("base", "finetuned") it
#   recomputes, from the canary's NLL and its m reference NLLs:
#   - interpolated exposure: sort the references ascending s[0..m); k = number
#     of references < nll; p = 0 if k == 0, m if k == m, else
#     (k-1) + clamp((nll - s[k-1]) / (s[k] - s[k-1]), 0, 1) (0.5 if equal);
#     exposure = -log2((p + 1) / (m + 1)).  null without references.
#   - skew-normal exposure: method-of-moments skew-normal fit (mean,
#     population variance m2, third central moment m3, g = m3/m2^1.5 clamped
#     to [-0.995, 0.995], delta, alpha, omega, xi as in Azzalini's moment
#     equations); fraction = max(SN cdf(nll), Normal(mean, sqrt(m2)) cdf(nll));
#     exposure = clamp(-log2 fraction, 0, log2_space).  null with < 3
#     references or zero variance.  The log-CDFs come from scipy.stats
#     (skewnorm.logcdf, norm.logcdf); where scipy's skewnorm.logcdf is below
#     -20 nats (or -inf) the skew-normal log-CDF is instead integrated with
#     mpmath at 30 digits: scipy's Owen's-T based CDF loses precision in deep
#     tails (measured against mpmath over alpha in [-70.7, 70.7]: error up to
#     0.02 bits for logcdf in (-50, -30], at most 3.3e-8 bits above -20).
#   - for information only: the exposure from scipy's maximum-likelihood
#     skewnorm.fit (no normal floor), labelled "ML-fit (info)".
#   Criteria: interpolated within 1e-9 bits; skew-normal within
#   max(1e-3, 1e-3 * |value|) bits (sealtune integrates the CDF numerically);
#   null exactly where sealtune wrote null.
#
# How to run
#   .venv-bench/bin/python scripts/check-exposure.py --scores RUN/eval/scores.json
#   options: --interp-tol 1e-9 --skew-tol 1e-3 --no-ml (skip the ML fit)
#
# Exit status: 0 = criteria met; 1 = a criterion failed; 2 = usage error.

import argparse
import bisect
import json
import math
import sys
import warnings

LN2 = math.log(2.0)


def parse_args():
    p = argparse.ArgumentParser(description="recompute sealtune canary exposures")
    p.add_argument("--scores", required=True, help="eval/scores.json")
    p.add_argument("--interp-tol", type=float, default=1e-9)
    p.add_argument("--skew-tol", type=float, default=1e-3,
                   help="absolute and relative tolerance, the larger applies")
    p.add_argument("--no-ml", action="store_true",
                   help="skip scipy's maximum-likelihood fit (information only)")
    return p.parse_args()


def exposure_interpolated(nll, refs):
    if not refs or not math.isfinite(nll):
        return None
    s = sorted(refs)
    m = len(s)
    k = bisect.bisect_left(s, nll)  # number of references strictly below nll
    if k == 0:
        p = 0.0
    elif k == m:
        p = float(m)
    else:
        lo, hi = s[k - 1], s[k]
        frac = (nll - lo) / (hi - lo) if hi > lo else 0.5
        p = (k - 1) + min(max(frac, 0.0), 1.0)
    return -math.log2((p + 1.0) / (m + 1.0))


def mom_fit(xs):
    """Method-of-moments skew-normal fit; returns (alpha, xi, omega, mean, sd)."""
    n = len(xs)
    if n < 3:
        return None
    mean = sum(xs) / n
    m2 = sum((x - mean) ** 2 for x in xs) / n
    m3 = sum((x - mean) ** 3 for x in xs) / n
    if not (m2 > 0.0) or not math.isfinite(m2):
        return None
    g = min(max(m3 / m2 ** 1.5, -0.995), 0.995)
    g23 = abs(g) ** (2.0 / 3.0)
    c = ((4.0 - math.pi) / 2.0) ** (2.0 / 3.0)
    sign = -1.0 if g < 0 else 1.0
    delta = sign * math.sqrt((math.pi / 2.0) * g23 / (g23 + c))
    delta = min(max(delta, -0.9999), 0.9999)
    alpha = delta / math.sqrt(1.0 - delta * delta)
    omega = math.sqrt(m2 / (1.0 - 2.0 * delta * delta / math.pi))
    xi = mean - omega * delta * math.sqrt(2.0 / math.pi)
    return alpha, xi, omega, mean, math.sqrt(m2)


def sn_logcdf(x, alpha, xi, omega):
    """ln F(x) of a skew-normal; scipy, with an mpmath integral in deep tails."""
    from scipy.stats import skewnorm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = float(skewnorm.logcdf(x, alpha, loc=xi, scale=omega))
    if math.isfinite(v) and v > -20.0:
        return min(v, 0.0), "scipy"
    import mpmath as mp
    mp.mp.dps = 30
    z = mp.mpf(x - xi) / mp.mpf(omega)
    a = mp.mpf(alpha)
    f = lambda t: 2 * mp.npdf(t) * mp.ncdf(a * t)
    # in a deep tail the mass below z sits within ~1/(|z| sqrt(1+a^2)) of z
    # (a > 0) or ~1/|z| (a < 0): split [-inf, z] at z - 2^-k, k = -3..30, so
    # tanh-sinh quadrature sees every scale
    pts = [-mp.inf] + [z - mp.mpf(2) ** (-k) for k in range(-3, 31)] + [z]
    val = mp.quad(f, pts)
    return min(float(mp.log(val)), 0.0), "mpmath"


def exposure_skewnorm(nll, refs, log2_space):
    fit = mom_fit(refs)
    if fit is None or not math.isfinite(nll):
        return None, None, None
    from scipy.stats import norm
    alpha, xi, omega, mean, sd = fit
    ln_sn, how = sn_logcdf(nll, alpha, xi, omega)
    ln_n = float(norm.logcdf(nll, loc=mean, scale=sd))
    ln_f = max(ln_sn, ln_n)
    e = min(max(-ln_f / LN2, 0.0), log2_space)
    tail = "skewnorm" if ln_sn >= ln_n else "normal"
    return e, f"{tail}/{how}", fit


def exposure_ml(nll, refs, log2_space):
    if len(refs) < 3 or not math.isfinite(nll):
        return None
    from scipy.stats import skewnorm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            a, loc, scale = skewnorm.fit(refs)
        except Exception:
            return None
    ln_f, _ = sn_logcdf(nll, a, loc, scale)
    return min(max(-ln_f / LN2, 0.0), log2_space)


def fmt(v, spec=".6f"):
    return "null" if v is None else format(v, spec)


def compare(written, mine, tol, label, reasons):
    """Difference written - mine (None when either is null); appends the reason to
    `reasons` when one is null and the other not, or when they differ beyond tol."""
    if (written is None) != (mine is None):
        reasons.append(f"{label} null mismatch")
        return None, True
    if written is None:
        return None, False
    d = written - mine
    if not abs(d) <= tol:
        reasons.append(label)
        return d, True
    return d, False


def main():
    args = parse_args()
    try:
        with open(args.scores) as fh:
            S = json.load(fh)
    except (OSError, ValueError) as e:
        print(f"error: cannot read --scores {args.scores}: {e}", file=sys.stderr)
        return 2
    canaries = S.get("canaries")
    if not canaries:
        print(f"error: {args.scores} has no 'canaries'", file=sys.stderr)
        return 2

    ok = True
    worst_i = worst_s = 0.0
    n_i = n_s = fails = 0
    print(f"scores: {args.scores}  canaries: {len(canaries)}")
    print(f"tolerances: interpolated {args.interp_tol:g} bits; skew-normal "
          f"max({args.skew_tol:g}, {args.skew_tol:g}*|value|) bits")
    hdr = (f"{'id':<18}{'ins':>4} {'model':<10}{'m':>5}{'nll':>11}  "
           f"{'interp st':>10} {'interp py':>10} {'diff':>9}  "
           f"{'skew st':>10} {'skew py':>10} {'diff':>9} {'tail/method':<16}"
           + ("" if args.no_ml else f"{'ML-fit (info)':>14}") + "  verdict")
    print(hdr)
    print("-" * len(hdr))
    for c in canaries:
        for name in ("base", "finetuned"):
            d = c.get(name)
            if d is None:
                continue
            nll, refs = d["nll"], list(d.get("reference_nll") or [])
            log2_space = float(c["log2_space"])
            ei = exposure_interpolated(nll, refs)
            es, how, _ = exposure_skewnorm(nll, refs, log2_space)
            eml = None if args.no_ml else exposure_ml(nll, refs, log2_space)
            wi, ws = d.get("exposure"), d.get("exposure_skewnorm")
            reasons = []
            di, bad_i = compare(wi, ei, args.interp_tol, "interp", reasons)
            ds, bad_s = compare(ws, es, max(args.skew_tol, args.skew_tol * abs(es or 0.0)),
                                "skew", reasons)
            if di is not None:
                n_i += 1
                worst_i = max(worst_i, abs(di))
            if ds is not None:
                n_s += 1
                worst_s = max(worst_s, abs(ds))
            if reasons:
                ok = False
                fails += 1
            print(f"{str(c.get('id'))[:18]:<18}{('yes' if c.get('inserted') else 'no'):>4} "
                  f"{name:<10}{len(refs):>5}{fmt(nll, '.4f'):>11}  "
                  f"{fmt(wi, '.5f'):>10} {fmt(ei, '.5f'):>10} {fmt(di, '.2e'):>9}  "
                  f"{fmt(ws, '.4f'):>10} {fmt(es, '.4f'):>10} {fmt(ds, '.2e'):>9} "
                  f"{(how or '-'):<16}"
                  + ("" if args.no_ml else " " + f"{fmt(eml, '.4f'):>13}")
                  + "  " + ("PASS" if not reasons else "FAIL (" + ", ".join(reasons) + ")"))
    print("-" * len(hdr))
    print(f"interpolated: {n_i} compared, max |diff| {worst_i:.3e} bits")
    print(f"skew-normal:  {n_s} compared, max |diff| {worst_s:.3e} bits")
    print(f"OVERALL: {'PASS' if ok else 'FAIL'}" + (f" ({fails} rows failed)" if fails else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
