#!/usr/bin/env python3
"""Prove that HF PEFT loads a sealtune LoRA adapter and computes the same logits.

    python3 -m venv .venv && .venv/bin/pip install torch transformers peft safetensors
    .venv/bin/python scripts/check-peft-compat.py [MODEL_DIR]

MODEL_DIR defaults to the tiny fixture crates/sealtune-model/tests/fixtures/gqa_llama3_untied;
models/smollm2-135m-instruct works too. The script runs the Rust side
(`cargo run -p sealtune-model --example smollm2 -- lora-demo`), which attaches an adapter
with non-zero B, saves it in PEFT layout plus a merged copy and its own logits; then it loads
the base model with transformers, applies the adapter with `PeftModel.from_pretrained`, and
compares logits (and the merged export's logits) with Rust's. Exit status 0 means equal
within the tolerance.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOL = 1e-4


def main():
    model_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "crates", "sealtune-model", "tests", "fixtures", "gqa_llama3_untied"))
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["cargo", "run", "-q", "-p", "sealtune-model", "--example", "smollm2", "--",
                        "lora-demo", model_dir, out], check=True, cwd=ROOT)
        with open(os.path.join(out, "logits.json")) as f:
            ref = json.load(f)
        ids = torch.tensor(ref["input_ids"])
        want = torch.tensor(ref["logits"]).reshape(ids.shape[0], ids.shape[1], -1)

        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        peft = PeftModel.from_pretrained(base, os.path.join(out, "adapter"))
        peft.eval()
        with torch.no_grad():
            got = peft(input_ids=ids).logits
        d_peft = (got - want).abs().max().item()

        merged = AutoModelForCausalLM.from_pretrained(os.path.join(out, "merged"), dtype=torch.float32)
        merged.eval()
        with torch.no_grad():
            d_merged = (merged(input_ids=ids).logits - want).abs().max().item()
            base_only = peft.get_base_model()
            with peft.disable_adapter():
                d_base = (base_only(input_ids=ids).logits - want).abs().max().item()
    print(json.dumps(dict(model=model_dir, peft_max_abs_diff=d_peft, merged_max_abs_diff=d_merged,
                          without_adapter_max_abs_diff=d_base, tolerance=TOL)))
    if d_base <= TOL:
        sys.exit("the adapter does not change the logits; the check would prove nothing")
    if d_peft > TOL or d_merged > TOL:
        sys.exit(f"mismatch: PEFT {d_peft:.3e}, merged {d_merged:.3e} (tolerance {TOL})")


if __name__ == "__main__":
    main()
