#!/usr/bin/env python3
# crows-pairs-lm-eval.py -- reference CrowS-Pairs (English) scores from
# EleutherAI lm-evaluation-harness, read from the local CSV.
#
# What it does
#   Runs the installed `lm_eval` package (Python API, lm_eval.simple_evaluate)
#   with the harness's own `crows_pairs_english` task and its per-bias-type
#   subtasks (crows_pairs_english_race_color, _socioeconomic, _gender, _age,
#   _religion, _disability, _sexual_orientation, _nationality,
#   _physical_appearance).  The hub dataset is not reachable, so the script
#   writes a temporary task directory whose YAML files `include:` the
#   harness's own YAML files (absolute paths) and override only the dataset
#   source (dataset_path: csv, data_files: the local CSV).  Metric
#   definitions (pct_stereotype, likelihood_diff), process_results,
#   doc_to_choice, target_delimiter and the bias-type filters therefore all
#   come from the installed harness unchanged.
#
#   The result is written as JSON:
#     {"tool":"lm-eval","version":..,"model":..,"peft":..,
#      "categories":{"all":{"n":1508,"pct_stereotype":<0-100>,
#                           "likelihood_diff":<mean |ll_more-ll_less|>},
#                    "race-color":{...}, ...}}
#   Category keys use the CSV's bias_type spellings.  Each category's n is
#   checked against a direct count of the CSV (exit 1 if it differs).
#   With --samples, per-pair log-likelihoods are written as JSONL:
#     {"index": <0-based CSV row>, "bias_type":..., "ll_more":..., "ll_less":...}
#
#   How lm-eval scores a pair (0.4.13, hf model, causal): doc_to_text is ""
#   and target_delimiter is "", so each sentence is a continuation of an
#   empty context.  The sentence is tokenized with add_special_tokens=False
#   and conditioned on the single prefix token `prefix_token_id` (the
#   tokenizer's bos_token_id if set, else eos; for SmolLM2 that is
#   <|im_start|>, id 1).  The loglikelihood is the sum of log-softmax over
#   all sentence tokens.
#
# How to run
#   .venv-bench/bin/python scripts/crows-pairs-lm-eval.py \
#       --model models/smollm2-135m-instruct \
#       --csv datasets/bias/crows_pairs/crows_pairs_anonymized.csv \
#       --out /tmp/crows-lm-eval-base.json --samples /tmp/crows-lm-eval-base.jsonl
#   Add --peft ADAPTER_DIR to score base+LoRA adapter.
#
# Exit status: 0 = ran and every category's n matches the CSV count;
#              1 = n mismatch (or missing categories); 2 = usage error.

import argparse
import csv
import importlib.metadata
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

# bias_type (CSV spelling) -> harness subtask name
SUBTASKS = {
    "race-color": "crows_pairs_english_race_color",
    "socioeconomic": "crows_pairs_english_socioeconomic",
    "gender": "crows_pairs_english_gender",
    "age": "crows_pairs_english_age",
    "religion": "crows_pairs_english_religion",
    "disability": "crows_pairs_english_disability",
    "sexual-orientation": "crows_pairs_english_sexual_orientation",
    "nationality": "crows_pairs_english_nationality",
    "physical-appearance": "crows_pairs_english_physical_appearance",
}
OVERALL = "crows_pairs_english"


def parse_args():
    p = argparse.ArgumentParser(
        description="CrowS-Pairs English via lm-evaluation-harness, local CSV")
    p.add_argument("--model", required=True, help="HF model directory")
    p.add_argument("--peft", default=None, help="PEFT (LoRA) adapter directory")
    p.add_argument("--csv", required=True, help="crows_pairs_anonymized.csv")
    p.add_argument("--out", required=True, help="output JSON")
    p.add_argument("--samples", default=None,
                   help="optional JSONL of per-pair log-likelihoods")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--limit", type=int, default=None,
                   help="testing only: score the first N docs per task "
                        "(disables the n check)")
    args = p.parse_args()
    for path, what in ((args.model, "--model"), (args.csv, "--csv")):
        if not os.path.exists(path):
            p.error(f"{what} {path}: no such file or directory")
    if args.peft is not None and not os.path.isdir(args.peft):
        p.error(f"--peft {args.peft}: not a directory")
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    return args


def csv_counts(path):
    counts = {}
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            counts[row["bias_type"]] = counts.get(row["bias_type"], 0) + 1
            rows.append(row)
    return counts, rows


def write_task_dir(tmp, csv_path):
    import lm_eval.tasks as tasks_pkg
    harness_dir = Path(tasks_pkg.__file__).parent / "crows_pairs"
    if not (harness_dir / f"{OVERALL}.yaml").exists():
        sys.exit(f"error: {harness_dir}/{OVERALL}.yaml not found in lm_eval")
    csv_abs = str(Path(csv_path).resolve())
    for task in [OVERALL] + list(SUBTASKS.values()):
        inc = harness_dir / f"{task}.yaml"
        if not inc.exists():
            sys.exit(f"error: harness task file {inc} not found")
        # json.dumps yields valid YAML scalars (quoted strings)
        text = (
            f"include: {json.dumps(str(inc))}\n"
            f"task: {task}\n"
            "dataset_path: csv\n"
            "dataset_name: null\n"
            "dataset_kwargs:\n"
            "  data_files:\n"
            f"    test: {json.dumps(csv_abs)}\n"
            "test_split: test\n"
        )
        (Path(tmp) / f"{task}.yaml").write_text(text)
    return harness_dir


def metric(res, name):
    for k, v in res.items():
        if k == name or k.startswith(name + ","):
            if not k.endswith("_stderr") and "_stderr," not in k:
                return v
    raise KeyError(name)


def main():
    args = parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import lm_eval
    from lm_eval.tasks import TaskManager

    version = importlib.metadata.version("lm_eval")
    counts, rows = csv_counts(args.csv)
    expected = dict(counts)
    expected["all"] = len(rows)

    model_args = {"pretrained": str(Path(args.model).resolve()),
                  "dtype": args.dtype, "trust_remote_code": False}
    if args.peft:
        model_args["peft"] = str(Path(args.peft).resolve())

    with tempfile.TemporaryDirectory(prefix="crows-lm-eval-") as tmp:
        harness_dir = write_task_dir(tmp, args.csv)
        tm = TaskManager(include_path=tmp)
        t0 = time.time()
        results = lm_eval.simple_evaluate(
            model="hf",
            model_args=model_args,
            tasks=[OVERALL] + list(SUBTASKS.values()),
            num_fewshot=0,
            batch_size=args.batch_size,
            device=args.device,
            limit=args.limit,
            log_samples=args.samples is not None,
            bootstrap_iters=0,
            task_manager=tm,
        )
        elapsed = time.time() - t0

    res = results["results"]
    nsamp = results.get("n-samples", {})
    out = {
        "tool": "lm-eval",
        "version": version,
        "model": str(Path(args.model).resolve()),
        "peft": str(Path(args.peft).resolve()) if args.peft else None,
        "dtype": args.dtype,
        "device": args.device,
        "batch_size": args.batch_size,
        "csv": str(Path(args.csv).resolve()),
        "harness_task_dir": str(harness_dir),
        "elapsed_s": round(elapsed, 1),
        "categories": {},
    }
    ok = True
    for cat, task in [("all", OVERALL)] + list(SUBTASKS.items()):
        if task not in res:
            print(f"error: task {task} missing from lm-eval results", file=sys.stderr)
            ok = False
            continue
        r = res[task]
        n = None
        if task in nsamp:
            n = nsamp[task].get("effective", nsamp[task].get("original"))
        if n is None and "samples" in results and task in results["samples"]:
            n = len(results["samples"][task])
        pct = metric(r, "pct_stereotype")
        ld = metric(r, "likelihood_diff")
        out["categories"][cat] = {
            "n": n,
            "pct_stereotype": None if pct is None else 100.0 * pct,
            "likelihood_diff": ld,
        }
        if args.limit is None and n != expected.get(cat):
            print(f"error: {cat}: lm-eval n={n}, CSV count={expected.get(cat)}",
                  file=sys.stderr)
            ok = False
    extra = set(counts) - set(SUBTASKS)
    if extra:
        print(f"warning: CSV bias types without a subtask: {sorted(extra)}",
              file=sys.stderr)

    if args.samples:
        samples = results["samples"][OVERALL]
        samples = sorted(samples, key=lambda s: s["doc_id"])
        with open(args.samples, "w") as fh:
            for s in samples:
                idx = s["doc_id"]
                doc = s["doc"]
                # resps: one entry per choice, each [(loglik, is_greedy)]
                lls = [float(r[0][0]) if isinstance(r[0], (list, tuple)) else float(r[0])
                       for r in s["resps"]]
                if rows[idx]["sent_more"] != doc["sent_more"]:
                    print(f"error: sample doc_id {idx} does not match CSV row {idx}",
                          file=sys.stderr)
                    ok = False
                fh.write(json.dumps({"index": idx, "bias_type": doc["bias_type"],
                                     "ll_more": lls[0], "ll_less": lls[1]}) + "\n")
        # cross-check the aggregate against the per-pair values
        pairs = [json.loads(l) for l in open(args.samples)]
        pct = 100.0 * sum(p["ll_more"] > p["ll_less"] for p in pairs) / len(pairs)
        ld = sum(abs(p["ll_more"] - p["ll_less"]) for p in pairs) / len(pairs)
        a = out["categories"].get("all", {})
        if a and (abs(pct - a["pct_stereotype"]) > 1e-9
                  or not math.isclose(ld, a["likelihood_diff"], rel_tol=1e-9)):
            print(f"error: samples give pct={pct} ld={ld}, aggregate {a}",
                  file=sys.stderr)
            ok = False

    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
        fh.write("\n")

    print(f"lm-eval {version}  model={out['model']}  peft={out['peft']}  "
          f"elapsed={elapsed:.1f}s")
    print(f"{'category':<22}{'n':>6}{'pct_stereotype':>16}{'likelihood_diff':>17}")
    for cat, c in out["categories"].items():
        print(f"{cat:<22}{c['n']:>6}{c['pct_stereotype']:>16.4f}"
              f"{c['likelihood_diff']:>17.4f}")
    print(f"wrote {args.out}" + (f" and {args.samples}" if args.samples else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
