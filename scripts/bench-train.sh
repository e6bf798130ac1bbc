#!/usr/bin/env bash
# LoRA training throughput, sealtune against PyTorch + HF PEFT, in one run on this machine:
# the same model (SmolLM2-135M-Instruct), rank, targets, sequence and optimiser.
#
#   bash scripts/bench-train.sh [SEQ] [STEPS]
#
# Needs models/smollm2-135m-instruct (scripts/fetch-smollm2.sh) and a Python with torch,
# transformers and peft: set PYTHON, or the script makes .venv-bench with pip.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seq="${1:-512}"
steps="${2:-3}"
model="$root/models/smollm2-135m-instruct"
[[ -f "$model/model.safetensors" ]] || { echo "run scripts/fetch-smollm2.sh first" >&2; exit 66; }
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
    if [[ ! -x .venv-bench/bin/python ]]; then
        python3 -m venv .venv-bench
        .venv-bench/bin/pip install -q torch transformers peft safetensors
    fi
    py=.venv-bench/bin/python
fi
threads="$(nproc)"
cargo build -q --profile bench -p sealtune-train --bench train
ours="$(cargo bench -q -p sealtune-train --bench train -- "$model" --seq "$seq" --steps "$steps")"
echo "$ours"
theirs="$("$py" scripts/bench-train-peft.py "$model" --seq "$seq" --steps "$steps" --threads "$threads")"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"sealtune {a['tokens_per_s']:.1f} tok/s, pytorch+peft {b['tokens_per_s']:.1f} tok/s: "
      f"ratio {a['tokens_per_s'] / b['tokens_per_s']:.2f}x (seq {a['seq']}, rank {a['rank']}, {a['threads']} threads)")
PY
