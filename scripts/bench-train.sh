#!/usr/bin/env bash
# LoRA training throughput, sealtune against PyTorch + HF PEFT, in one run on this machine:
# the same model (SmolLM2-135M-Instruct), rank, targets, sequence and optimiser.
#
#   bash scripts/bench-train.sh [SEQ] [STEPS] [DEVICE]
#
# DEVICE is a [compute] device, or several separated by commas, each measured in the same
# run: cpu (burn's pure-Rust backend, the default) or libtorch-cpu (LibTorch's CPU
# kernels; then the bench is built with --features libtorch against the venv of
# scripts/setup-libtorch.sh, and that one binary measures every device listed).
#
# ATTENTION=decomposed,fused measures each device with burn's composed attention and with
# the fused attention the stages use (the default is fused alone): a before/after of the
# fused attention in one binary and one run. CROSS_ENTROPY=full,blocked does the same for the
# loss: the logits of every position and burn's log-softmax, or the blocked operation the
# stages use (the default is blocked alone). Every attention is measured with every loss.
# DTYPE=f32,bf16 measures each in both precisions (bf16 needs a LibTorch device; the
# PyTorch + PEFT side then runs once per precision, and each sealtune figure is compared
# with the PEFT run of its precision). CHECKPOINTING=off,on measures each without and with
# activation checkpointing (PEFT then runs once per setting, with transformers' gradient
# checkpointing for "on").
#
# Needs models/smollm2-135m-instruct (scripts/fetch-smollm2.sh) and a Python with torch,
# transformers and peft: set PYTHON, or the script makes .venv-bench with pip.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seq="${1:-512}"
steps="${2:-3}"
device="${3:-cpu}"
attention="${ATTENTION:-fused}"
cross_entropy="${CROSS_ENTROPY:-blocked}"
dtypes="${DTYPE:-f32}"
checkpointing="${CHECKPOINTING:-off}"
model="$root/models/smollm2-135m-instruct"
[[ -f "$model/model.safetensors" ]] || { echo "run scripts/fetch-smollm2.sh first" >&2; exit 66; }
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
    if [[ ! -x .venv-bench/bin/python ]]; then
        python3 -m venv .venv-bench
        .venv-bench/bin/pip install -q torch==2.11.0 transformers peft safetensors
    fi
    py=.venv-bench/bin/python
fi
threads="$(nproc)"
features=()
if [[ "$device" != cpu ]]; then
    eval "$(bash scripts/setup-libtorch.sh --env)"
    features=(--features libtorch)
fi
bench_bin="$(cargo build -q --release --locked -p sealtune-train --bench train "${features[@]}" \
    --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "train" and m.get("executable"):
        print(m["executable"])')"
ours=()
for d in ${device//,/ }; do
    for a in ${attention//,/ }; do
        for x in ${cross_entropy//,/ }; do
            for p in ${dtypes//,/ }; do
                for k in ${checkpointing//,/ }; do
                    ck=(); [[ $k == on ]] && ck=(--checkpointing)
                    ours+=("$("$bench_bin" "$model" --seq "$seq" --steps "$steps" --device "$d" \
                        --attention "$a" --cross-entropy "$x" --dtype "$p" "${ck[@]}")")
                    echo "${ours[-1]}"
                done
            done
        done
    done
done
declare -A theirs
for p in ${dtypes//,/ }; do
    for k in ${checkpointing//,/ }; do
        ck=(); [[ $k == on ]] && ck=(--gradient-checkpointing)
        theirs[$p-$k]="$("$py" scripts/bench-train-peft.py "$model" --seq "$seq" --steps "$steps" --threads "$threads" \
            --dtype "$p" "${ck[@]}")"
        echo "${theirs[$p-$k]}"
    done
done
for o in "${ours[@]}"; do
key="$(python3 -c 'import json, sys; o = json.loads(sys.argv[1]); print(o["dtype"] + ("-on" if o["checkpointing"] else "-off"))' "$o")"
python3 - "$o" "${theirs[$key]}" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ck = lambda r: ", checkpointing" if r.get("checkpointing") else ""
print(f"sealtune ({a['device']}, {a['dtype']}, {a['attention']} attention, {a['cross_entropy']} cross-entropy{ck(a)}) {a['tokens_per_s']:.1f} tok/s, "
      f"pytorch+peft ({b['dtype']}{ck(b)}) {b['tokens_per_s']:.1f} tok/s: "
      f"ratio {a['tokens_per_s'] / b['tokens_per_s']:.2f}x (seq {a['seq']}, rank {a['rank']}, {a['threads']} threads); "
      f"peak RSS {a['peak_rss_mib']:.0f} vs {b['peak_rss_mib']:.0f} MiB")
PY
done
