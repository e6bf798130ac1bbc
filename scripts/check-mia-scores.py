#!/usr/bin/env python3
# check-mia-scores.py -- recompute sealtune's membership-inference scores with
# transformers/peft and check the AUCs with scikit-learn.
#
# What it does
#   Reads eval/scores.json (schema sealtune.eval-scores/1).  For every "mia"
#   record it runs one forward pass over "tokens" with the base model (--model)
#   and with the fine-tuned model (base + PEFT LoRA adapter --peft, loaded with
#   peft.PeftModel.from_pretrained), float32, eval mode, CPU, and recomputes
#   from log p_t = log_softmax(logits[t-1])[tokens[t]] for t in "targets":
#     loss     = mean_t log p_t                     (negated LOSS)
#     zlib     = sum_t log p_t / zlib_len           (zlib_len as written; the
#                script also recomputes zlib_len = len(zlib.compress(
#                tokenizer.decode(target ids, skip_special_tokens=True)
#                .encode("utf-8"), level)) with Python's zlib: every
#                length must equal the written one)
#     min_k    = mean of the lowest max(1, ceil(k*n)) log p_t
#     min_k_pp = min_k of z_t = (log p_t - mu_t)/sqrt(var_t), with mu_t and
#                var_t the mean and variance of log p(v) under p(.|<t)
#                (Min-K%++, Zhang et al. 2024; var floored at 1e-12 as sealtune)
#     reference_ratio (fine-tuned only) = finetuned loss - base loss
#   It prints max |difference| per score and model and the count over 1e-4.
#   Then, per attack and model, it computes roc_auc_score (members positive)
#   and TPR at 1% FPR (largest TPR with FPR <= 0.01 on roc_curve) on
#   sealtune's written scores and on the recomputed ones, and with --report
#   compares the AUCs with the report's metrics "leakage.mia_auc_<attack>"
#   (and prints "leakage.mia_tpr_at_1fpr_<attack>" for information).
#   Criteria (exit 1 if any fails):
#     - every recomputed score within --score-tol (1e-4) of sealtune's;
#     - sklearn AUC of sealtune's scores == report AUC (within 1e-9);
#     - every zlib_len equal to Python's zlib length;
#     - sklearn AUC of recomputed scores == sklearn AUC of sealtune's (1e-9),
#       unless every member/non-member pair the two order differently is a
#       near tie (sealtune's two scores within 2 x --score-tol: a difference
#       inside the score tolerance may swap them); such pairs are counted.
#
# How to run
#   .venv-bench/bin/python scripts/check-mia-scores.py \
#       --scores RUN/eval/scores.json --model models/smollm2-135m-instruct \
#       --peft RUN/train/adapter --report RUN/eval/report.json
#
# Exit status: 0 = criteria met; 1 = a criterion failed; 2 = usage error.

import argparse
import json
import math
import os
import sys
import zlib

ATTACKS = ["loss", "zlib", "min_k", "min_k_pp", "reference_ratio"]


def parse_args():
    p = argparse.ArgumentParser(description="recompute sealtune MIA scores")
    p.add_argument("--scores", required=True, help="eval/scores.json")
    p.add_argument("--model", required=True, help="base HF model directory")
    p.add_argument("--peft", required=True, help="PEFT LoRA adapter directory")
    p.add_argument("--report", default=None, help="eval/report.json (optional)")
    p.add_argument("--score-tol", type=float, default=1e-4)
    p.add_argument("--auc-tol", type=float, default=1e-9)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--dump", default=None,
                   help="optional JSON with the recomputed per-record scores")
    args = p.parse_args()
    for path, what in ((args.scores, "--scores"), (args.model, "--model"),
                       (args.peft, "--peft")):
        if not os.path.exists(path):
            p.error(f"{what} {path}: no such file or directory")
    if args.report is not None and not os.path.exists(args.report):
        p.error(f"--report {args.report}: no such file")
    return args


def min_k_mean(values, k):
    n = len(values)
    if n == 0:
        return None
    # same float expression as sealtune: ceil(k * n) clamped to [1, n]
    take = min(max(int(math.ceil(k * n)), 1), n)
    v = sorted(values)[:take]
    return sum(v) / take


def token_stats(model, tokens, targets):
    """log p_t, mu_t, var_t (float64) for target positions."""
    import torch
    ids = torch.tensor([tokens], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]  # [T, V] float32
    pos = torch.tensor([t - 1 for t in targets], dtype=torch.long)
    tgt = torch.tensor([tokens[t] for t in targets], dtype=torch.long)
    lsm = torch.log_softmax(logits[pos].double(), dim=-1)  # float64
    lp = lsm.gather(1, tgt[:, None])[:, 0]
    p = lsm.exp()
    mu = (p * lsm).sum(-1)
    var = (p * lsm * lsm).sum(-1) - mu * mu
    return lp.tolist(), mu.tolist(), var.tolist()


def scores_from_stats(lp, mu, var, k, zlen):
    n = len(lp)
    if n == 0:
        return {"loss": None, "zlib": None, "min_k": None, "min_k_pp": None}
    z = [(a - m) / math.sqrt(max(v, 1e-12)) for a, m, v in zip(lp, mu, var)]
    return {
        "loss": sum(lp) / n,
        "zlib": sum(lp) / zlen if zlen else None,
        "min_k": min_k_mean(lp, k),
        "min_k_pp": min_k_mean(z, k),
    }


def auc_tpr(scores_by_set):
    """scores_by_set: list of (is_member, score); None scores dropped."""
    from sklearn.metrics import roc_auc_score, roc_curve
    pairs = [(m, s) for m, s in scores_by_set if s is not None and math.isfinite(s)]
    y = [1 if m else 0 for m, _ in pairs]
    x = [s for _, s in pairs]
    if len(set(y)) < 2:
        return None, None, len(pairs)
    auc = float(roc_auc_score(y, x))
    fpr, tpr, _ = roc_curve(y, x)
    tpr1 = max(float(t) for f, t in zip(fpr, tpr) if f <= 0.01)
    return auc, tpr1, len(pairs)


def load_models(model_dir, peft_dir, threads):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import PeftModel
    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ft_base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ft = PeftModel.from_pretrained(ft_base, peft_dir).eval()
    return tok, base, ft


def fmt(v, spec=".6f"):
    return "-" if v is None else format(v, spec)


def swapped_pairs(written, recomputed, tie):
    """Member/non-member pairs ordered differently by the two score lists: (all such
    pairs, those whose written scores are more than `tie` apart)."""
    mem = [(w, r) for (m, w), (_, r) in zip(written, recomputed) if m and w is not None and r is not None]
    non = [(w, r) for (m, w), (_, r) in zip(written, recomputed) if not m and w is not None and r is not None]
    swapped = wide = 0
    for wm, rm in mem:
        for wn, rn in non:
            if (wm > wn) - (wm < wn) != (rm > rn) - (rm < rn):
                swapped += 1
                if abs(wm - wn) > tie:
                    wide += 1
    return swapped, wide


def main():
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        with open(args.scores) as fh:
            S = json.load(fh)
        report = None
        if args.report:
            with open(args.report) as fh:
                report = json.load(fh)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if S.get("schema") != "sealtune.eval-scores/1":
        print(f"warning: schema is {S.get('schema')!r}", file=sys.stderr)
    k = float(S["min_k"])
    level = int(S.get("zlib_level", 6))
    recs = S.get("mia") or []
    if not recs:
        print("error: scores file has no 'mia' records", file=sys.stderr)
        return 2

    tok, base, ft = load_models(args.model, args.peft, args.threads)

    ok = True
    recomputed = []  # per record: {"base":{...}, "finetuned":{...}}
    zlen_diff = 0
    zlen_examples = []
    for i, r in enumerate(recs):
        tokens, targets = r["tokens"], r["targets"]
        if any(t < 1 or t >= len(tokens) for t in targets):
            print(f"error: record {i}: target position out of range", file=sys.stderr)
            ok = False
            recomputed.append({"base": {}, "finetuned": {}, "zlib_len_py": None})
            continue
        text = tok.decode([tokens[t] for t in targets], skip_special_tokens=True)
        zpy = len(zlib.compress(text.encode("utf-8"), level))
        if zpy != r["zlib_len"]:
            zlen_diff += 1
            if len(zlen_examples) < 5:
                zlen_examples.append((r["set"], r["record"], r["zlib_len"], zpy))
        out = {"zlib_len_py": zpy}
        for name, model in (("base", base), ("finetuned", ft)):
            lp, mu, var = token_stats(model, tokens, targets)
            sc = scores_from_stats(lp, mu, var, k, r["zlib_len"])
            sc["zlib_pylen"] = sum(lp) / zpy if lp else None
            out[name] = sc
        b, f = out["base"]["loss"], out["finetuned"]["loss"]
        out["finetuned"]["reference_ratio"] = None if b is None or f is None else f - b
        recomputed.append(out)
        if (i + 1) % 50 == 0:
            print(f"  scored {i + 1}/{len(recs)} records", file=sys.stderr)

    n_mem = sum(r["set"] == "member" for r in recs)
    print(f"scores: {args.scores}  records: {len(recs)} ({n_mem} member, "
          f"{len(recs) - n_mem} non_member)  min_k={k}  zlib_level={level}")
    print(f"zlib_len: Python zlib differs from the written value in {zlen_diff} "
          f"of {len(recs)} records"
          + ("" if not zlen_examples else
             "; e.g. (set, record, written, python): " + ", ".join(map(str, zlen_examples))))
    if zlen_diff:
        ok = False

    # --- per-score differences -------------------------------------------
    print(f"\nper-record scores (tolerance {args.score_tol:g})")
    print(f"{'model':<10}{'score':<17}{'n':>6}{'max |diff|':>14}{'> tol':>7}"
          f"{'null mismatch':>15}  verdict")
    for name in ("base", "finetuned"):
        for a in ATTACKS:
            diffs, over, nullmis, n = [], 0, 0, 0
            for r, o in zip(recs, recomputed):
                if a not in r.get(name, {}) and a not in o.get(name, {}):
                    continue
                s, c = r.get(name, {}).get(a), o.get(name, {}).get(a)
                if a not in r.get(name, {}):
                    continue
                n += 1
                if s is None or c is None:
                    if (s is None) != (c is None):
                        nullmis += 1
                    continue
                d = abs(s - c)
                diffs.append(d)
                if not d <= args.score_tol:
                    over += 1
            if n == 0:
                continue
            bad = over > 0 or nullmis > 0
            ok = ok and not bad
            print(f"{name:<10}{a:<17}{n:>6}{fmt(max(diffs) if diffs else None, '.3e'):>14}"
                  f"{over:>7}{nullmis:>15}  {'FAIL' if bad else 'PASS'}")
        # information: zlib with Python's zlib length, against sealtune's zlib
        diffs = [abs(r[name]["zlib"] - o[name]["zlib_pylen"]) for r, o in zip(recs, recomputed)
                 if r.get(name, {}).get("zlib") is not None
                 and o.get(name, {}).get("zlib_pylen") is not None]
        if diffs:
            print(f"{name:<10}{'zlib (py len)':<17}{len(diffs):>6}{max(diffs):>14.3e}"
                  f"{sum(d > args.score_tol for d in diffs):>7}{'':>15}  (info)")

    # --- AUCs ----------------------------------------------------------------
    metrics = {}
    if report is not None:
        for m in report.get("metrics") or []:
            if "id" in m:
                metrics[m["id"]] = m
    print(f"\nAUC (members positive) and TPR at FPR <= 1% (AUC tolerance {args.auc_tol:g})")
    print(f"{'model':<10}{'attack':<16}{'n':>5}{'AUC report':>12}{'AUC st':>12}{'AUC recomp':>12}"
          f"{'TPR@1% rep':>12}{'TPR@1% st':>11}{'TPR@1% rc':>11}  verdict")
    for name in ("base", "finetuned"):
        for a in ATTACKS:
            written = [(r["set"] == "member", r.get(name, {}).get(a)) for r in recs]
            if all(s is None for _, s in written) and a not in recs[0].get(name, {}):
                continue
            rec = [(r["set"] == "member", o.get(name, {}).get(a)) for r, o in zip(recs, recomputed)]
            auc_s, tpr_s, n_s = auc_tpr(written)
            auc_r, tpr_r, _ = auc_tpr(rec)
            rep_auc = rep_tpr = None
            m = metrics.get(f"leakage.mia_auc_{a}")
            if m is not None:
                rep_auc = (m.get(name) or {}).get("value")
            mt = metrics.get(f"leakage.mia_tpr_at_1fpr_{a}")
            if mt is not None:
                rep_tpr = (mt.get(name) or {}).get("value")
            reasons = []
            if report is not None:
                if m is None:
                    reasons.append("no report metric")
                elif (rep_auc is None) != (auc_s is None):
                    reasons.append("report/sklearn null mismatch")
                elif rep_auc is not None and abs(rep_auc - auc_s) > args.auc_tol:
                    reasons.append("report != sklearn(sealtune scores)")
            ties = ""
            if (auc_s is None) != (auc_r is None):
                reasons.append("recomputed null mismatch")
            elif auc_s is not None and abs(auc_s - auc_r) > args.auc_tol:
                swapped, wide = swapped_pairs(written, rec, 2 * args.score_tol)
                if wide:
                    reasons.append(f"recomputed AUC differs ({wide} swapped pairs beyond ties)")
                else:
                    ties = f" (recomputed AUC differs by {swapped} near-tie pair(s))"
            ok = ok and not reasons
            print(f"{name:<10}{a:<16}{n_s:>5}{fmt(rep_auc):>12}{fmt(auc_s):>12}{fmt(auc_r):>12}"
                  f"{fmt(rep_tpr, '.4f'):>12}{fmt(tpr_s, '.4f'):>11}{fmt(tpr_r, '.4f'):>11}  "
                  + ("PASS" + ties if not reasons else "FAIL (" + "; ".join(reasons) + ")"))
        rec = [(r["set"] == "member", o.get(name, {}).get("zlib_pylen"))
               for r, o in zip(recs, recomputed)]
        auc_p, tpr_p, n_p = auc_tpr(rec)
        print(f"{name:<10}{'zlib (py len)':<16}{n_p:>5}{'':>12}{'':>12}{fmt(auc_p):>12}"
              f"{'':>12}{'':>11}{fmt(tpr_p, '.4f'):>11}  (info)")
    if report is None:
        print("(no --report given: report AUCs not checked)")

    if args.dump:
        with open(args.dump, "w") as fh:
            json.dump([{"set": r["set"], "record": r["record"], **o}
                       for r, o in zip(recs, recomputed)], fh, indent=1)
    print("\nOVERALL: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
