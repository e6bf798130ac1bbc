#!/usr/bin/env bash
# The prepared GPU check: correctness and LoRA training speed of sealtune's LibTorch
# build on one CUDA GPU, side by side with PyTorch + HF PEFT on the same shapes.
# Runs from the repository root on a machine with no Rust and no network, given the
# train bench binary built with the LibTorch feature:
#
#   bash scripts/gpu-check.sh --bench PATH [--python PY] [--out docs/bench/gpu-lora.json]
#   bash scripts/gpu-check.sh --cpu-dry-run --bench PATH    # tiny shapes on the CPU (CI)
#
# Build the bench here with
#   eval "$(bash scripts/setup-libtorch.sh --env)"
#   cargo build --release --locked -p sealtune-train --features libtorch --bench train
# (the binary is target/release/deps/train-*; strip it to carry it). PY needs torch,
# transformers and peft; LibTorch is taken from PY's torch, whatever the binary's run path.
#
# What it checks, in about 8 minutes on one H100/H200:
# 1. correctness: the loss curves of the same tiny model (weights drawn on the host, no
#    dropout) trained in float32 on the CPU (burn flex) and on the device agree to 1e-3
#    relative; the fused attention's output and gradients (packed and padded rows) against
#    burn's decomposed attention on the device, and the blocked cross-entropy against the
#    full one, in float32 (1e-4 relative) and in bf16 (3e-2); bf16 logits
#    of a small random Llama against transformers in bf16 on the same weights: ours
#    within 2x the distance bf16 moves transformers' own logits from its float32 ones;
# 2. the device's bf16 matmul peak (an 8192^3 bf16 matmul in PyTorch; 1024^3 f32 on the
#    CPU dry run), for MFU;
# 3. speed: sealtune and PyTorch + PEFT (SDPA attention) train rank-16 LoRA (alpha 32) on
#    all seven projections of random-weight Llama-3.2-1B and Llama-3.1-8B shapes at seq
#    2048 and 4096, one sequence per step, both in bf16 (frozen base weights and
#    activations in bf16; PEFT's adapters in float32, as sealtune's). MFU counts 4N +
#    causal attention FLOPs per token (LoRA: no weight gradients for the frozen base) over
#    the measured peak. Llama-3.1-8B at 4096 runs a second time with activation
#    checkpointing on both sides (ours: --checkpointing; PEFT: transformers' gradient
#    checkpointing), the setting that lets it fit on an 80 GB card.
# Output: a table on stdout and a JSON list of rows {model, seq, checkpointing, device, dtype, tokens_per_s,
# peak_mem_gib, mfu, peft_tokens_per_s, ratio_vs_peft} (--out; the dry run writes
# target/gpu-check-dry-run.json and never docs/).
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
bench=""
py="${PYTHON:-python3}"
out=""
usage() { echo "usage: gpu-check.sh [--cpu-dry-run] --bench PATH [--python PY] [--out FILE]" >&2; exit 64; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpu-dry-run) dry=1 ;;
        --bench) [[ $# -ge 2 ]] || usage; bench="$2"; shift ;;
        --python) [[ $# -ge 2 ]] || usage; py="$2"; shift ;;
        --out) [[ $# -ge 2 ]] || usage; out="$2"; shift ;;
        *) usage ;;
    esac
    shift
done
[[ -x "$bench" ]] || { echo "error: --bench: give the train bench binary built with --features libtorch" >&2; exit 66; }
"$py" -c "import torch, transformers, peft" 2>/dev/null || {
    echo "error: $py lacks torch, transformers or peft" >&2; exit 69; }
torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [[ $dry == 1 ]]; then
    device=libtorch-cpu; tdev=cpu; steps=2; per_case=120
    cases=("tiny 64" "tiny 128" "tiny 128 ckpt")
    out="${out:-target/gpu-check-dry-run.json}"
else
    device=cuda; tdev=cuda; steps=3; per_case=150
    cases=("llama-3.2-1b 2048" "llama-3.2-1b 4096" "llama-3.1-8b 2048" "llama-3.1-8b 4096"
           "llama-3.1-8b 4096 ckpt")
    out="${out:-docs/bench/gpu-lora.json}"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

echo "== 1. loss curve: cpu (flex) against $device, tiny shape, float32" >&2
same=(--shape tiny --seq 64 --steps 4 --init host --dropout 0)
"$bench" "${same[@]}" --device cpu > "$work/cpu.json"
"$bench" "${same[@]}" --device "$device" > "$work/dev.json"
"$py" - "$work/cpu.json" "$work/dev.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["losses"] for p in sys.argv[1:3])
worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
print(f"losses cpu {[round(x, 5) for x in a]}\nlosses dev {[round(x, 5) for x in b]}\nworst relative difference {worst:.2e} (tolerance 1e-3)")
sys.exit(0 if worst <= 1e-3 and len(a) == len(b) == 4 else 1)
PY
echo "== 1b. fused attention against the decomposed one, blocked cross-entropy against the full one, on $device (outputs and gradients; float32 to 1e-4, bf16 to 3e-2)" >&2
"$bench" --check-kernels --device "$device"

echo "== 1c. bf16 logits on $device against transformers in bf16 and float32 ($tdev), same weights" >&2
"$py" - "$work/small" <<'PY'
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=1000, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                  initializer_range=0.1)
LlamaForCausalLM(cfg).save_pretrained(sys.argv[1], safe_serialization=True)
PY
"$bench" "$work/small" --print-logits --seq 48 --device "$device" --dtype bf16 > "$work/logits.json"
"$py" - "$work/small" "$work/logits.json" "$tdev" <<'PY'
import json, sys, torch
from transformers import LlamaForCausalLM
d, ours, dev = sys.argv[1], json.load(open(sys.argv[2])), torch.device(sys.argv[3])
assert ours["dtype"] == "bf16", ours["dtype"]
ids = torch.tensor([ours["ids"]], device=dev)
out = {}
for name, dt in [("f32", torch.float32), ("bf16", torch.bfloat16)]:
    m = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="sdpa").to(dev, dt).eval()
    with torch.no_grad():
        out[name] = m(ids).logits[0].float().cpu()
mine = torch.tensor(ours["logits"]).reshape(out["f32"].shape)
d_hf = (out["bf16"] - out["f32"]).abs().max().item()
d_bf16 = (mine - out["bf16"]).abs().max().item()
d_f32 = (mine - out["f32"]).abs().max().item()
scale = out["f32"].abs().max().item()
print(f"logit scale {scale:.3f}; |ours - transformers bf16| {d_bf16:.4f}, |ours - transformers f32| {d_f32:.4f}, "
      f"|transformers bf16 - f32| {d_hf:.4f} (tolerance: 2x the last)")
sys.exit(0 if d_hf > 0 and d_bf16 <= 2 * d_hf and d_f32 <= 2 * d_hf else 1)
PY

echo "== 2. matmul peak on $tdev" >&2
peak="$("$py" - "$tdev" <<'PY'
import sys, time, torch
dev = torch.device(sys.argv[1])
n, dt = (8192, torch.bfloat16) if dev.type == "cuda" else (1024, torch.float32)
a = torch.randn(n, n, device=dev, dtype=dt); b = torch.randn(n, n, device=dev, dtype=dt)
for _ in range(3): a @ b
if dev.type == "cuda": torch.cuda.synchronize()
reps = 20 if dev.type == "cuda" else 5
t = time.perf_counter()
for _ in range(reps): a @ b
if dev.type == "cuda": torch.cuda.synchronize()
print(2 * n**3 * reps / (time.perf_counter() - t))
PY
)"
echo "peak $(awk -v p="$peak" 'BEGIN{printf "%.1f", p/1e12}') TFLOP/s" >&2

echo "== 3. LoRA training speed: sealtune ($device) and PyTorch + PEFT ($tdev), bf16" >&2
rows="$work/rows.jsonl"
: > "$rows"
for c in "${cases[@]}"; do
    read -r shape seq ckpt <<< "$c"
    ours_ck=(); peft_ck=()
    if [[ "$ckpt" == ckpt ]]; then ours_ck=(--checkpointing); peft_ck=(--gradient-checkpointing); fi
    "$bench" --shape "$shape" --print-config > "$work/$shape.json"
    ours="$work/ours-$shape-$seq.json"; theirs="$work/peft-$shape-$seq.json"
    mem="$work/mem-$shape-$seq.txt"; : > "$mem"
    sampler=""
    if [[ $tdev == cuda ]] && command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$mem" &
        sampler=$!
    fi
    timeout "$per_case" "$bench" --shape "$shape" --seq "$seq" --steps "$steps" --device "$device" --dtype bf16 "${ours_ck[@]}" > "$ours" 2> "$work/ours.err" \
        || echo "{\"error\": \"sealtune exited $?\"}" > "$ours"
    [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null || true
    timeout "$per_case" "$py" scripts/bench-train-peft.py --config "$work/$shape.json" --seq "$seq" --steps "$steps" \
        --device "$tdev" --dtype bf16 "${peft_ck[@]}" > "$theirs" 2> "$work/peft.err" \
        || echo "{\"error\": \"pytorch+peft exited $?\"}" > "$theirs"
    "$py" - "$work/$shape.json" "$ours" "$theirs" "$mem" "$peak" "$shape" "$seq" "$device" "${ckpt:-}" >> "$rows" <<'PY'
import json, sys
cfg, ours, theirs = (json.load(open(p)) for p in sys.argv[1:4])
mem_samples = [float(x) for x in open(sys.argv[4]).read().split()]
peak, shape, seq, device = float(sys.argv[5]), sys.argv[6], int(sys.argv[7]), sys.argv[8]
checkpointing = sys.argv[9] == "ckpt"
h, inter, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
hd = h // heads
# Matmul parameters per token: attention and MLP projections, and the LM head.
n = L * (2 * h * h + 2 * h * kv * hd + 3 * h * inter) + cfg["vocab_size"] * h
# Causal attention, forward (QK^T and AV: 2 * 2 * seq/2 * h per layer) and backward (2x).
attn = 3 * L * 2 * seq * h
flops_per_token = 4 * n + attn
tps = ours.get("tokens_per_s")
mem = max(mem_samples) / 1024 if mem_samples else (ours.get("peak_rss_mib", 0) / 1024 if tps else None)
ptps = theirs.get("tokens_per_s")
print(json.dumps({
    "model": shape, "seq": seq, "device": device, "dtype": "bf16", "checkpointing": checkpointing,
    "tokens_per_s": tps, "peak_mem_gib": mem,
    "mfu": tps * flops_per_token / peak if tps else None,
    "peft_tokens_per_s": ptps,
    "peft_peak_mem_gib": theirs.get("peak_gpu_mem_gib") or (theirs.get("peak_rss_mib", 0) / 1024 if ptps else None),
    "ratio_vs_peft": tps / ptps if tps and ptps else None,
    "error": ours.get("error") or theirs.get("error"),
}))
PY
    echo "  $shape seq $seq ${ckpt:-} done ($((SECONDS - started)) s)" >&2
done

mkdir -p "$(dirname "$out")"
"$py" - "$rows" "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump(rows, open(sys.argv[2], "w"), indent=2)
f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
print("| model | seq | checkpointing | device | tokens/s | peak mem GiB | MFU | PEFT tokens/s | ratio |")
print("|---|---:|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['model']} | {r['seq']} | {'yes' if r['checkpointing'] else 'no'} | {r['device']} | {f(r['tokens_per_s'])} | {f(r['peak_mem_gib'])} | "
          f"{f(r['mfu'], 3)} | {f(r['peft_tokens_per_s'])} | {f(r['ratio_vs_peft'], 2)} |"
          + (f" {r['error']}" if r.get("error") else ""))
ok = all(r["tokens_per_s"] and r["peft_tokens_per_s"] for r in rows)
sys.exit(0 if ok else 1)
PY
echo "wrote $out in $((SECONDS - started)) s" >&2
