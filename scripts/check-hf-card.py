#!/usr/bin/env python3
"""Checks a release's MODEL_CARD.md with Hugging Face's own parser.

    python3 -m venv .venv && .venv/bin/pip install huggingface_hub
    .venv/bin/python scripts/check-hf-card.py runs/quickstart/release

Loads the card with huggingface_hub.ModelCard (which parses the YAML front
matter and turns `model-index` into EvalResult objects, failing on a
malformed one), then checks that base_model, library_name, datasets and
every eval result equal the facts in model-card.json. Exits 1 on a mismatch.
"""
import json
import sys
from pathlib import Path

from huggingface_hub import ModelCard


def main() -> int:
    release = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/quickstart/release")
    card = ModelCard.load(release / "MODEL_CARD.md")
    facts = json.loads((release / "model-card.json").read_text())
    data = card.data
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: card has {got!r}, artifacts say {want!r}")

    training = facts.get("training", {})
    if "not_available" not in training:
        expect("base_model", data.base_model, training["base_model"]["name"])
        relation = "merge" if training["merged"] else "adapter"
        expect("base_model_relation", data.to_dict().get("base_model_relation"), relation)
    expect("library_name", data.library_name, "peft")
    ingest = facts.get("ingest", {})
    if "not_available" not in ingest:
        expect("datasets", data.datasets, [f"sha256:{f['sha256']}" for f in ingest["files"]])
    want = {}
    ev = facts.get("eval", {})
    if "not_available" not in ev:
        for m in ev["metrics"]:
            if m["finetuned"]["value"] is not None:
                want[m["id"]] = m["finetuned"]["value"]
    got = {r.metric_type: r.metric_value for r in (data.eval_results or [])}
    expect("eval results", got, want)
    for p in problems:
        print("MISMATCH", p)
    print(f"{len(got)} eval results parsed by huggingface_hub; {len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
