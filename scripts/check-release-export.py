#!/usr/bin/env python3
"""Show HF transformers (+ PEFT) loading what `sealtune export` writes and producing the
same greedy text as `sealtune generate --release`.

    python3 -m venv .venv && .venv/bin/pip install torch transformers peft safetensors
    .venv/bin/python scripts/check-release-export.py \\
        [--release runs/quickstart/release] [--public-key keys/quickstart.pub.pem] \\
        [--kek keys/quickstart.kek] [--model models/smollm2-135m-instruct] \\
        [--sealtune target/release/sealtune] [--prompt TEXT] [--max-new-tokens N]

The defaults are the quickstart's (`bash scripts/quickstart.sh` makes the release, and
`scripts/fetch-smollm2.sh` the model). The script
1. runs `sealtune generate --release ... --model BASE` (verify, decrypt into memory, attach,
   greedy decoding) and keeps its text;
2. runs `sealtune export --peft` and `sealtune export --merged --model BASE` into a fresh
   temporary directory (removed at the end; the files in it are plaintext weights);
3. loads the base with transformers and the PEFT export with `PeftModel.from_pretrained`,
   and the merged export with `AutoModelForCausalLM.from_pretrained`, and decodes greedily
   from the same prompt (tokenized by the model's own tokenizer.json, special tokens as
   `sealtune generate` adds them);
4. exits 0 when both texts equal sealtune's, 1 otherwise (printing the three texts).

Greedy decoding can part ways between two correct f32 implementations when two tokens are
nearly tied; the script then also prints the first differing position.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def hf_greedy(model, tok, prompt, n):
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, do_sample=False, max_new_tokens=n, num_beams=1)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--release", default=os.path.join(ROOT, "runs/quickstart/release"))
    p.add_argument("--public-key", default=os.path.join(ROOT, "keys/quickstart.pub.pem"))
    p.add_argument("--kek", default=os.path.join(ROOT, "keys/quickstart.kek"))
    p.add_argument("--model", default=os.path.join(ROOT, "models/smollm2-135m-instruct"))
    p.add_argument("--sealtune", default=os.path.join(ROOT, "target/release/sealtune"))
    p.add_argument("--prompt", default="The patient's follow-up visit is scheduled for")
    p.add_argument("--max-new-tokens", type=int, default=24)
    a = p.parse_args()
    keys = ["--release", a.release, "--public-key", a.public_key, "--kek", a.kek]

    want = subprocess.run(
        [a.sealtune, "generate", "--model", a.model, *keys, "--prompt", a.prompt,
         "--max-new-tokens", str(a.max_new_tokens), "--greedy"],
        check=True, capture_output=True, text=True).stdout
    want = want[:-1] if want.endswith("\n") else want

    tmp = tempfile.mkdtemp(prefix="sealtune-export-")
    try:
        peft_dir = os.path.join(tmp, "peft")
        merged_dir = os.path.join(tmp, "merged")
        subprocess.run([a.sealtune, "export", *keys, "--out", peft_dir, "--peft"], check=True)
        subprocess.run([a.sealtune, "export", *keys, "--out", merged_dir, "--merged",
                        "--model", a.model], check=True)

        tok = AutoTokenizer.from_pretrained(a.model)
        base = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
        peft = PeftModel.from_pretrained(base, peft_dir)
        peft.eval()
        got_peft = hf_greedy(peft, tok, a.prompt, a.max_new_tokens)

        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
        merged.eval()
        got_merged = hf_greedy(merged, AutoTokenizer.from_pretrained(merged_dir), a.prompt,
                               a.max_new_tokens)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ok = True
    for name, got in [("transformers + PEFT (export --peft)", got_peft),
                      ("transformers (export --merged)", got_merged)]:
        same = got == want
        ok &= same
        print(f"{'same' if same else 'DIFFERENT'}: {name}")
        if not same:
            print(f"  sealtune generate --release: {want!r}")
            print(f"  {name}: {got!r}")
            print(f"  first difference at character {first_difference(want, got)}")
    print(f"sealtune generate --release: {want!r}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
