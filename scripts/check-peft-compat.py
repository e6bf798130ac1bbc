#!/usr/bin/env python3
"""Prove that HF PEFT loads a sealtune LoRA adapter and computes the same logits.

    python3 -m venv .venv && .venv/bin/pip install torch transformers peft safetensors
    .venv/bin/python scripts/check-peft-compat.py [MODEL_DIR]

MODEL_DIR defaults to the tiny fixture crates/sealtune-model/tests/fixtures/gqa_llama3_untied;
models/smollm2-135m-instruct works too. The script runs the Rust side
(`cargo run -p sealtune-model --example smollm2 -- lora-demo`), which attaches an adapter
with non-zero B, saves it in PEFT layout plus a merged copy and its own logits; then it loads
the base model with transformers, applies the adapter with `PeftModel.from_pretrained`, and
compares with Rust:

- the adapter's effect, (PEFT logits - transformers base logits) against
  (sealtune logits with adapter - sealtune base logits): this cancels the f32 rounding
  differences of the two base implementations and isolates the adapter's semantics;
- the full logits of PEFT and of the merged export against sealtune's.

Exit status 0 means the adapter effects agree within 1e-5 of the largest logit (at least
1e-5), the full logits within 1e-5 of the largest logit plus the base models' own difference,
and the adapter changes the logits by far more than that.
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
# Relative to the logit scale: f32 sums over 30 layers of a real model differ by ~1e-5 of
# the largest logit between two correct implementations.
REL_TOL = 1e-5


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
        rust_base = torch.tensor(ref["base_logits"]).reshape(want.shape)
        tol = REL_TOL * max(1.0, want.abs().max().item())

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
                hf_base = base_only(input_ids=ids).logits
    d_base_impl = (hf_base - rust_base).abs().max().item()
    d_effect = ((got - hf_base) - (want - rust_base)).abs().max().item()
    effect = (want - rust_base).abs().max().item()
    full_tol = tol + d_base_impl
    print(json.dumps(dict(model=model_dir, adapter_effect_max_abs=effect, adapter_effect_max_abs_diff=d_effect,
                          base_models_max_abs_diff=d_base_impl, peft_max_abs_diff=d_peft,
                          merged_max_abs_diff=d_merged, tolerance=tol, full_logits_tolerance=full_tol)))
    if effect <= 100 * tol:
        sys.exit("the adapter does not change the logits; the check would prove nothing")
    if d_effect > tol or d_peft > full_tol or d_merged > full_tol:
        sys.exit(f"mismatch: effect {d_effect:.3e} (tolerance {tol:.3e}), PEFT {d_peft:.3e}, "
                 f"merged {d_merged:.3e} (tolerance {full_tol:.3e})")


if __name__ == "__main__":
    main()
