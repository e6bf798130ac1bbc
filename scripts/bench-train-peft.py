#!/usr/bin/env python3
"""The PyTorch + HF PEFT side of scripts/bench-train.sh: LoRA training throughput on CPU.

    python scripts/bench-train-peft.py MODEL_DIR [--seq 512] [--steps 3] [--rank 16] [--threads N]

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
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    t = time.perf_counter()
    base = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32, attn_implementation="sdpa")
    load_s = time.perf_counter() - t
    cfg = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.05, bias="none",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                     task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.train()
    vocab = base.config.vocab_size
    ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(a.seq)]])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    step()  # warm-up
    times, losses = [], []
    for _ in range(a.steps):
        t = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t)
    mean = sum(times) / len(times)
    print(json.dumps({
        "impl": "pytorch+peft",
        "torch": torch.__version__,
        "seq": a.seq,
        "rank": a.rank,
        "steps": a.steps,
        "threads": torch.get_num_threads(),
        "load_s": load_s,
        "step_s": mean,
        "tokens_per_s": a.seq / mean,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "losses": losses,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
