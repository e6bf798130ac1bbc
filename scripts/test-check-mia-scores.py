#!/usr/bin/env python3
# test-check-mia-scores.py -- self-test for scripts/check-mia-scores.py.
#
# What it does
#   Builds a small synthetic eval/scores.json and eval/report.json from 6
#   short chat texts (3 "member", 3 "non_member", mixed so the AUCs are not
#   0 or 1), tokenized with the model's
#   chat template; the targets are the assistant reply's tokens.  Scores are
#   computed here by an independent numpy path (float64 log-softmax, np.sort,
#   Mann-Whitney AUC), not by the checker's code.  The fine-tuned model is the
#   base plus --peft, or, without --peft, a random non-zero LoRA adapter made
#   in a temporary directory.  It then runs the checker four times:
#     1. unchanged files                      -> expects exit 0
#     2. one finetuned min_k_pp score + 1e-3   -> expects exit 1
#     3. report's base AUC for "loss" + 0.01   -> expects exit 1
#     4. one zlib_len + 1                      -> expects exit 1
#
# How to run
#   .venv-bench/bin/python scripts/test-check-mia-scores.py \
#       --model models/smollm2-135m-instruct [--peft RUN/train/adapter] [--keep DIR]
#
# Exit status: 0 = all four runs behaved as expected; 1 = not; 2 = usage error.

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np

CHATS = [
    ("member", "What is the capital of France?", "The capital of France is Paris."),
    ("non_member", "Name a primary colour.", "Red is a primary colour."),
    ("non_member", "How many legs does a spider have?", "A spider has eight legs."),
    ("member", "What is two plus two?", "Two plus two is four."),
    ("non_member", "Which planet is known as the red planet?", "Mars is called the red planet."),
    ("member", "Say hello in Spanish.", "Hola! That is hello in Spanish."),
]
K = 0.2


def chat_ids(tok, msgs, **kw):
    out = tok.apply_chat_template(msgs, tokenize=True, **kw)
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def np_scores(logits, tokens, targets, zlen):
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    lsm = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    lp = np.array([lsm[t - 1, tokens[t]] for t in targets])
    p = np.exp(lsm[[t - 1 for t in targets]])
    l = lsm[[t - 1 for t in targets]]
    mu = (p * l).sum(-1)
    var = (p * l ** 2).sum(-1) - mu ** 2
    z = (lp - mu) / np.sqrt(np.maximum(var, 1e-12))
    take = min(max(math.ceil(K * len(lp)), 1), len(lp))
    return {"loss": float(lp.mean()), "zlib": float(lp.sum() / zlen),
            "min_k": float(np.sort(lp)[:take].mean()),
            "min_k_pp": float(np.sort(z)[:take].mean())}


def mw_auc(pos, neg):
    s = 0.0
    for a in pos:
        for b in neg:
            s += 1.0 if a > b else 0.5 if a == b else 0.0
    return s / (len(pos) * len(neg))


def main():
    ap = argparse.ArgumentParser(description="self-test of check-mia-scores.py")
    ap.add_argument("--model", required=True)
    ap.add_argument("--peft", default=None)
    ap.add_argument("--keep", default=None, help="write the test files here")
    args = ap.parse_args()
    if not os.path.isdir(args.model):
        ap.error(f"--model {args.model}: not a directory")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import LoraConfig, PeftModel, get_peft_model

    tmp = args.keep or tempfile.mkdtemp(prefix="test-mia-")
    os.makedirs(tmp, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(args.model)
    base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    peft_dir = args.peft
    if peft_dir is None:
        torch.manual_seed(0)
        m = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                         init_lora_weights=False, task_type="CAUSAL_LM")
        pm = get_peft_model(m, cfg)
        with torch.no_grad():  # make the adapter's effect noticeable but sane
            for n_, p_ in pm.named_parameters():
                if "lora_" in n_:
                    p_.mul_(0.5)
        peft_dir = os.path.join(tmp, "adapter")
        pm.save_pretrained(peft_dir)
    ft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32), peft_dir).eval()

    mia = []
    counters = {"member": 0, "non_member": 0}
    for set_, q, a in CHATS:
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        tokens = chat_ids(tok, msgs)
        prefix = chat_ids(tok, msgs[:1], add_generation_prompt=True)
        assert tokens[:len(prefix)] == prefix, "chat template prefix mismatch"
        targets = list(range(len(prefix), len(tokens)))
        text = tok.decode([tokens[t] for t in targets], skip_special_tokens=True)
        zlen = len(zlib.compress(text.encode("utf-8"), 6))
        rec = {"set": set_, "record": counters[set_], "tokens": tokens,
               "targets": targets, "zlib_len": zlen}
        counters[set_] += 1
        for name, model in (("base", base), ("finetuned", ft)):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([tokens])).logits[0].numpy()
            rec[name] = np_scores(logits, tokens, targets, zlen)
        rec["finetuned"]["reference_ratio"] = rec["finetuned"]["loss"] - rec["base"]["loss"]
        mia.append(rec)
    scores = {"schema": "sealtune.eval-scores/1", "min_k": K, "zlib_level": 6,
              "mia": mia, "canaries": []}
    metrics = []
    for a in ["loss", "zlib", "min_k", "min_k_pp", "reference_ratio"]:
        ent = {"id": f"leakage.mia_auc_{a}"}
        for name in ("base", "finetuned"):
            if a not in mia[0][name]:
                ent[name] = {"value": None, "ci": None, "n": len(mia)}
                continue
            pos = [r[name][a] for r in mia if r["set"] == "member"]
            neg = [r[name][a] for r in mia if r["set"] != "member"]
            ent[name] = {"value": mw_auc(pos, neg), "ci": None, "n": len(mia)}
        metrics.append(ent)
    report = {"metrics": metrics}

    def run(sc, rp, label, want):
        sp, rpp = os.path.join(tmp, f"scores-{label}.json"), os.path.join(tmp, f"report-{label}.json")
        json.dump(sc, open(sp, "w"))
        json.dump(rp, open(rpp, "w"))
        cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "check-mia-scores.py"),
               "--scores", sp, "--model", args.model, "--peft", peft_dir, "--report", rpp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        print(f"=== {label}: exit {res.returncode} (want {want})")
        print(res.stdout)
        if res.returncode not in (0, 1):
            print(res.stderr)
        return res.returncode == want

    good = run(scores, report, "clean", 0)
    bad_s = copy.deepcopy(scores)
    bad_s["mia"][4]["finetuned"]["min_k_pp"] += 1e-3
    good &= run(bad_s, report, "score-perturbed", 1)
    bad_r = copy.deepcopy(report)
    bad_r["metrics"][0]["base"]["value"] += 0.01
    good &= run(scores, bad_r, "auc-perturbed", 1)
    bad_z = copy.deepcopy(scores)
    bad_z["mia"][2]["zlib_len"] += 1
    good &= run(bad_z, report, "zlib-len-perturbed", 1)
    print("SELF-TEST: " + ("PASS" if good else "FAIL") + f"  (files in {tmp})")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
