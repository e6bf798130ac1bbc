#!/usr/bin/env python3
# check-crows-pairs.py -- compare sealtune's CrowS-Pairs figures with
# lm-evaluation-harness's.
#
# What it does
#   Reads sealtune's eval report (eval/report.json, top-level array
#   "breakdown" with rows {"benchmark":"crows_pairs","category":...,
#   "measure":"pct_stereotype"|"likelihood_diff","base":{"value","ci","n"},
#   "finetuned":{...}}) and the JSON written by scripts/crows-pairs-lm-eval.py
#   for the same model, and prints per category: n on both sides,
#   pct_stereotype (sealtune vs lm-eval, difference in points) and
#   likelihood_diff (both, difference).
#   Criteria: n equal in every category; |pct_stereotype difference| <=
#   --tolerance points overall ("all") and in every category with n >= --min-n.
#   Categories with n < --min-n are shown but their pct difference is not
#   judged (n must still match).  likelihood_diff is informational.
#
# How to run
#   .venv-bench/bin/python scripts/crows-pairs-lm-eval.py --model models/smollm2-135m-instruct \
#       --csv datasets/bias/crows_pairs/crows_pairs_anonymized.csv --out /tmp/lm-eval-base.json
#   .venv-bench/bin/python scripts/check-crows-pairs.py --report RUN/eval/report.json \
#       --lm-eval /tmp/lm-eval-base.json --model-column base [--tolerance 0.5] [--min-n 50]
#   (for --model-column finetuned, run crows-pairs-lm-eval.py with --peft RUN/adapter)
#
# Exit status: 0 = all criteria met; 1 = a criterion failed; 2 = usage error
# (including unreadable input or a report without CrowS-Pairs rows).

import argparse
import json
import sys

ORDER = ["all", "race-color", "socioeconomic", "gender", "age", "religion",
         "disability", "sexual-orientation", "nationality", "physical-appearance"]


def parse_args():
    p = argparse.ArgumentParser(description="sealtune vs lm-eval CrowS-Pairs")
    p.add_argument("--report", required=True, help="sealtune eval/report.json")
    p.add_argument("--lm-eval", dest="lm_eval", required=True,
                   help="JSON from scripts/crows-pairs-lm-eval.py")
    p.add_argument("--model-column", required=True, choices=["base", "finetuned"])
    p.add_argument("--tolerance", type=float, default=0.5,
                   help="max |pct_stereotype difference| in points (default 0.5)")
    p.add_argument("--min-n", type=int, default=50,
                   help="judge pct only in categories with n >= this (default 50)")
    args = p.parse_args()
    if args.tolerance < 0:
        p.error("--tolerance must be >= 0")
    return args


def load(path, what):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        print(f"error: cannot read {what} {path}: {e}", file=sys.stderr)
        sys.exit(2)


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    args = parse_args()
    report = load(args.report, "--report")
    lme = load(args.lm_eval, "--lm-eval")
    if "categories" not in lme:
        print(f"error: {args.lm_eval} has no 'categories'", file=sys.stderr)
        return 2

    st = {}  # category -> measure -> {"value","n"}
    for row in report.get("breakdown") or []:
        if row.get("benchmark") != "crows_pairs":
            continue
        col = row.get(args.model_column)
        if col is None:
            continue
        st.setdefault(row["category"], {})[row["measure"]] = col
    if not st:
        print(f"error: {args.report} has no crows_pairs rows in 'breakdown'",
              file=sys.stderr)
        return 2

    le = lme["categories"]
    cats = [c for c in ORDER if c in st or c in le]
    cats += sorted((set(st) | set(le)) - set(cats))

    print(f"sealtune report: {args.report} (column {args.model_column})")
    print(f"lm-eval {lme.get('version')}: {args.lm_eval} "
          f"(model {lme.get('model')}, peft {lme.get('peft')})")
    print(f"tolerance {args.tolerance} points; pct judged where n >= {args.min_n}")
    hdr = (f"{'category':<20}{'n st':>6}{'n lme':>6}  {'pct st':>8}{'pct lme':>9}"
           f"{'diff':>8}  {'ld st':>8}{'ld lme':>8}{'ld diff':>9}  verdict")
    print(hdr)
    print("-" * len(hdr))
    ok = True
    for c in cats:
        s = st.get(c, {})
        l = le.get(c, {})
        sp = s.get("pct_stereotype", {})
        sl = s.get("likelihood_diff", {})
        n_st = sp.get("n", sl.get("n"))
        n_st_ld = sl.get("n", n_st)
        n_le = l.get("n")
        p_st, p_le = sp.get("value"), l.get("pct_stereotype")
        l_st, l_le = sl.get("value"), l.get("likelihood_diff")
        d = None if p_st is None or p_le is None else p_st - p_le
        dl = None if l_st is None or l_le is None else l_st - l_le
        reasons = []
        if n_st is None or n_le is None or n_st != n_le or n_st_ld != n_le:
            reasons.append("n differs" if n_st is not None and n_le is not None
                           else "missing")
        judged = c == "all" or (n_le is not None and n_le >= args.min_n)
        if judged:
            if d is None:
                reasons.append("pct missing")
            elif abs(d) > args.tolerance:
                reasons.append(f"|diff|>{args.tolerance}")
        verdict = "PASS" if not reasons else "FAIL (" + ", ".join(reasons) + ")"
        if not judged and not reasons:
            verdict = "PASS (n only; pct not judged)"
        ok = ok and not reasons
        print(f"{c:<20}{fmt(n_st, 'd'):>6}{fmt(n_le, 'd'):>6}  {fmt(p_st, '.3f'):>8}"
              f"{fmt(p_le, '.3f'):>9}{fmt(d, '+.3f'):>8}  {fmt(l_st, '.4f'):>8}"
              f"{fmt(l_le, '.4f'):>8}{fmt(dl, '+.4f'):>9}  {verdict}")
    print("-" * len(hdr))
    print("OVERALL: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
