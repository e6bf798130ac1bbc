#!/usr/bin/env python3
"""Write a tiny Llama with random weights that uses a real model's tokenizer.

    python3 scripts/make-tiny-model.py models/smollm2-135m-instruct OUT_DIR

OUT_DIR gets SRC's tokenizer files, SRC's config.json with 2 layers of width 64
(4 heads of 16, 2 key/value heads, MLP 128), and model.safetensors (f32, every
tensor of that shape, norms at 1, other weights uniform in +-0.04 from a fixed
seed, so the same bytes on every machine). It trains in milliseconds per step:
for tests of the pipeline's mechanics (schedulers, resume), never of quality.
Standard library only.
"""

import array
import json
import os
import shutil
import struct
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 64
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
    )
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f)

    h, ff, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q_out = cfg["num_attention_heads"] * cfg["head_dim"]
    kv_out = cfg["num_key_value_heads"] * cfg["head_dim"]
    shapes = {
        "model.embed_tokens.weight": [v, h],
        "lm_head.weight": [v, h],
        "model.norm.weight": [h],
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        shapes.update(
            {
                f"{p}.input_layernorm.weight": [h],
                f"{p}.post_attention_layernorm.weight": [h],
                f"{p}.self_attn.q_proj.weight": [q_out, h],
                f"{p}.self_attn.k_proj.weight": [kv_out, h],
                f"{p}.self_attn.v_proj.weight": [kv_out, h],
                f"{p}.self_attn.o_proj.weight": [h, q_out],
                f"{p}.mlp.gate_proj.weight": [ff, h],
                f"{p}.mlp.up_proj.weight": [ff, h],
                f"{p}.mlp.down_proj.weight": [h, ff],
            }
        )

    state = 0x2545F4914F6CDD1D
    mask = (1 << 64) - 1
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(shapes):
        n = 1
        for d in shapes[name]:
            n *= d
        if "norm" in name:
            data = array.array("f", [1.0]) * n
        else:
            vals = []
            for _ in range(n):  # xorshift64
                state ^= (state << 13) & mask
                state ^= state >> 7
                state ^= (state << 17) & mask
                vals.append(((state >> 40) / (1 << 24) - 0.5) * 0.08)
            data = array.array("f", vals)
        if sys.byteorder != "little":
            data.byteswap()
        blob = data.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": shapes[name],
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
