#!/usr/bin/env python3
"""Generate tiny random Llama checkpoints and golden logits from transformers.

Writes crates/sealtune-model/tests/fixtures/<case>/{config.json,model.safetensors,golden.json}.
The Rust tests (crates/sealtune-model/tests/golden.rs) compare against these without Python.

    python3 -m venv .venv && .venv/bin/pip install torch transformers safetensors
    .venv/bin/python scripts/make-llama-fixtures.py
    # SmolLM2 reference (needs `pip install gguf` and scripts/fetch-smollm2.sh first):
    .venv/bin/python scripts/make-llama-fixtures.py --smollm2 models/smollm2-135m-instruct.gguf
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "sealtune-model", "tests", "fixtures")

CASES = {
    # GQA (4 query heads over 2 kv heads), llama3 rope scaling, untied head, f32 storage.
    "gqa_llama3_untied": dict(
        config=dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                    rope_theta=500000.0, max_position_embeddings=256, tie_word_embeddings=False,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=16),
                    bos_token_id=1, eos_token_id=2, pad_token_id=0),
        dtype=torch.float32,
    ),
    # Tied embeddings, explicit head_dim != hidden/heads, GQA ratio 3, bf16 storage.
    "tied_headdim_bf16": dict(
        config=dict(vocab_size=80, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
                    num_attention_heads=6, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6,
                    rope_theta=10000.0, max_position_embeddings=128, tie_word_embeddings=True,
                    bos_token_id=1, eos_token_id=2, pad_token_id=0),
        dtype=torch.bfloat16,
    ),
}

SEQS = [[1, 17, 5, 33, 8, 61, 12, 40, 3], [1, 9, 70, 22], [1, 44, 45, 46, 47, 13]]
PACKED = [[[1, 5, 6], [1, 30, 31, 32], [1, 7]], [[1, 50, 51, 52, 53, 54]]]


def make(name, spec):
    torch.manual_seed(1234 + len(name))
    cfg = LlamaConfig(**spec["config"], attention_bias=False, mlp_bias=False, hidden_act="silu",
                      initializer_range=0.2)
    model = LlamaForCausalLM(cfg)
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            # Round through the storage dtype so the golden logits use the stored weights.
            p.copy_(p.to(spec["dtype"]).to(torch.float32))
    model.eval()
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    sd = {k: v.detach().to(spec["dtype"]).contiguous() for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    conf = dict(spec["config"], architectures=["LlamaForCausalLM"], model_type="llama",
                hidden_act="silu", attention_bias=False, mlp_bias=False)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)

    def run(ids, pos, mask):
        with torch.no_grad():
            return model(input_ids=torch.tensor(ids), position_ids=torch.tensor(pos),
                         attention_mask=torch.tensor(mask)).logits

    # Padded batch (right padding, explicit positions): logits at valid positions only.
    t = max(map(len, SEQS))
    ids = [s + [0] * (t - len(s)) for s in SEQS]
    mask = [[1] * len(s) + [0] * (t - len(s)) for s in SEQS]
    pos = [list(range(t)) for _ in SEQS]
    padded = run(ids, pos, mask)
    padded_out = [padded[i, : len(s)].flatten().tolist() for i, s in enumerate(SEQS)]
    # Each sequence alone, to prove padding does not leak.
    single = [run([s], [list(range(len(s)))], [[1] * len(s)])[0].flatten().tolist() for s in SEQS]
    # Packed rows: the reference is every example run on its own.
    packed_out = []
    for row in PACKED:
        logits = []
        for ex in row:
            logits += run([ex], [list(range(len(ex)))], [[1] * len(ex)])[0].flatten().tolist()
        packed_out.append(logits)
    golden = dict(seqs=SEQS, padded_logits=padded_out, single_logits=single, packed=PACKED,
                  packed_logits=packed_out, vocab_size=cfg.vocab_size,
                  transformers=__import__("transformers").__version__, torch=torch.__version__)
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f)
    print(f"{name}: wrote {d}", file=sys.stderr)


SMOL_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nName three primary colours.<|im_end|>\n<|im_start|>assistant\n",
    "In 1969, Neil Armstrong",
]
SMOL_TEXTS = [
    "Hello, world!",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\n\n\nmany",
    "digits 1234567890 and 3.14159, 1e-5",
    "unicode: naïve café, Zürich, Ελληνικά, 日本語, emoji 🎉🚀",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>",
    "code: fn main() { println!(\"{}\", x); } // comment",
    "MiXeD CaSe and    whitespace\u00a0runs",
    "",
]


def smollm2(gguf_path):
    """Reference values for SmolLM2 computed by transformers from the same GGUF file."""
    import time
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    prompts = []
    for text in SMOL_PROMPTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            gen = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False,
                                 attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        top = torch.topk(logits[-1], 64)
        prompts.append(dict(text=text, ids=ids, top1=logits.argmax(-1).tolist(),
                            last_top_ids=top.indices.tolist(), last_top_logits=top.values.tolist(),
                            greedy32=gen[0, len(ids):].tolist()))
    texts = [dict(text=t, ids=tok(t, add_special_tokens=False)["input_ids"]) for t in SMOL_TEXTS]
    # CPU forward throughput on the same 128-token input the Rust bench uses.
    vocab = model.config.vocab_size
    seq = torch.tensor([[(i * 7919 + 13) % vocab for i in range(128)]])
    with torch.no_grad():
        model(seq)
        t0 = time.perf_counter()
        for _ in range(3):
            model(seq)
        secs = (time.perf_counter() - t0) / 3
    import resource
    bench = dict(tokens=128, forward_s=secs, tokens_per_s=128 / secs, threads=torch.get_num_threads(),
                 peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = os.path.join(OUT, "smollm2_reference.json")
    with open(out, "w") as fh:
        json.dump(dict(prompts=prompts, texts=texts, transformers=__import__("transformers").__version__,
                       torch=torch.__version__), fh, indent=1)
    print(json.dumps(dict(pytorch_bench=bench)))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--smollm2":
        smollm2(sys.argv[2])
    else:
        for name, spec in CASES.items():
            make(name, spec)
