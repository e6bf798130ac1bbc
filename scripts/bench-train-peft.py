#!/usr/bin/env python3
"""The PyTorch + HF PEFT side of scripts/bench-train.sh and scripts/gpu-check.sh:
LoRA training throughput.

    python scripts/bench-train-peft.py MODEL_DIR [--seq 512] [--steps 3] [--rank 16] [--threads N]
    python scripts/bench-train-peft.py --config CONFIG_JSON [--device cuda] [--dtype bf16] ...

`--config` builds the model from a HF config.json with random weights (the published
shapes of `cargo bench -p sealtune-train --bench train -- --shape NAME --print-config`).

Same work as `cargo bench -p sealtune-train --bench train`: rank-r LoRA (alpha 2r, dropout
0.05) on all seven projections of the model loaded in float32, AdamW (lr 1e-4), one
sequence of `seq` token ids `(i * 7919 + 13) % vocab` with every position in the loss, one
warm-up step, then `steps` timed steps (forward, backward, optimiser step, zero_grad).
Prints one JSON line.
"""
import argparse
import json
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("--config", help="HF config.json: random weights of this shape")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--gradient-checkpointing", action="store_true",
                    help="recompute each layer in the backward pass (transformers' non-reentrant checkpointing)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if (a.model_dir is None) == (a.config is None):
        ap.error("give MODEL_DIR or --config")
    dtype = torch.float32 if a.dtype == "f32" else torch.bfloat16
    dev = torch.device(a.device)
    t = time.perf_counter()
    if a.config:
        torch.manual_seed(1)
        with open(a.config) as f:
            hf = LlamaConfig(**json.load(f))
        with dev:
            base = AutoModelForCausalLM.from_config(hf, dtype=dtype, attn_implementation="sdpa")
    else:
        base = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=dtype, attn_implementation="sdpa").to(dev)
    load_s = time.perf_counter() - t
    cfg = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.05, bias="none",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                     task_type="CAUSAL_LM")
    if a.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(base, cfg)
    model.train()
    vocab = base.config.vocab_size
    ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(a.seq)]], device=dev)
    cuda = dev.type == "cuda"
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()  # waits for the GPU

    step()  # warm-up
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for _ in range(a.steps):
        t = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t)
    mean = sum(times) / len(times)
    print(json.dumps({
        "impl": "pytorch+peft",
        "torch": torch.__version__,
        "device": a.device,
        "dtype": a.dtype,
        "seq": a.seq,
        "rank": a.rank,
        "checkpointing": a.gradient_checkpointing,
        "steps": a.steps,
        "threads": torch.get_num_threads(),
        "load_s": load_s,
        "step_s": mean,
        "tokens_per_s": a.seq / mean,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "losses": losses,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }))


if __name__ == "__main__":
    main()
