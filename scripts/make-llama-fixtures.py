#!/usr/bin/env python3
"""Generate tiny random Llama checkpoints and golden logits from transformers.

Writes crates/sealtune-model/tests/fixtures/<case>/{config.json,model.safetensors,golden.json}.
The Rust tests (crates/sealtune-model/tests/golden.rs) compare against these without Python.

    python3 -m venv .venv && .venv/bin/pip install torch transformers safetensors
    .venv/bin/python scripts/make-llama-fixtures.py
    # SmolLM2 reference (needs `pip install gguf` and scripts/fetch-smollm2.sh first):
    .venv/bin/python scripts/make-llama-fixtures.py --smollm2 models/smollm2-135m-instruct.gguf
    # SmolLM2 in bfloat16 (the same GGUF, loaded in float32 and cast, as sealtune casts):
    .venv/bin/python scripts/make-llama-fixtures.py --smollm2-bf16 models/smollm2-135m-instruct.gguf
    # CPU forward benchmark, sealtune next to transformers in one run:
    .venv/bin/python scripts/make-llama-fixtures.py --bench models/smollm2-135m-instruct.gguf
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


def bytes_to_unicode():
    """GPT-2's printable mapping of the 256 byte values."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def make_gguf():
    """A tiny llama GGUF (several quantisation types, llama.cpp q/k permutation, byte-level
    BPE tokenizer) and the reference transformers computes from it, plus dequantisation
    vectors for every supported block type from gguf-py."""
    import numpy as np
    import gguf
    from gguf import GGMLQuantizationType as Q
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rng = np.random.default_rng(7)
    d = os.path.join(OUT, "gguf_tiny")
    os.makedirs(d, exist_ok=True)
    # Dequantisation vectors: random blocks with sane f16 scales.
    vectors = []
    scale_offsets = {Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
                     Q.Q4_K: [0, 2], Q.Q6_K: [208]}
    for qt, offs in scale_offsets.items():
        bsize, tsize = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, size=2 * tsize, dtype=np.uint8)
        for blk in range(2):
            for o in offs:
                v = np.float16(rng.uniform(0.01, 0.5)).tobytes()
                raw[blk * tsize + o: blk * tsize + o + 2] = np.frombuffer(v, dtype=np.uint8)
        vals = gguf.quants.dequantize(raw, qt).astype(np.float32).flatten()
        vectors.append(dict(type=qt.name, bytes=raw.tobytes().hex(), values=vals.tolist()))

    # Tokenizer: 256 byte symbols, a few merges, two control tokens.
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    tokens += ["<|im_start|>", "<|im_end|>"]
    types = [1] * (len(tokens) - 2) + [3, 3]
    vocab = len(tokens)
    hidden, inter, n_head, n_kv, n_layer = 32, 64, 4, 2, 2
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter,
                      num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_kv,
                      rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=64,
                      tie_word_embeddings=False, initializer_range=0.2)
    torch.manual_seed(99)
    model = LlamaForCausalLM(cfg)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}

    def permute(w, heads):
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = gguf.GGUFWriter(os.path.join(d, "tiny.gguf"), "llama")
    w.add_block_count(n_layer)
    w.add_context_length(64)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(inter)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(hidden // n_head)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab - 2)
    w.add_eos_token_id(vocab - 1)
    w.add_pad_token_id(vocab - 1)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}")

    def put(name, arr, qt):
        if qt == Q.F32:
            w.add_tensor(name, arr.astype(np.float32))
        elif qt == Q.F16:
            w.add_tensor(name, arr.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(arr, qt), raw_dtype=qt)

    put("token_embd.weight", sd["model.embed_tokens.weight"], Q.Q8_0)
    put("output_norm.weight", sd["model.norm.weight"], Q.F32)
    put("output.weight", sd["lm_head.weight"], Q.F16)
    kinds = dict(q=Q.Q4_0, k=Q.Q4_1, v=Q.Q5_0, o=Q.Q5_1, gate=Q.Q8_0, up=Q.F16, down=Q.Q8_0)
    for i in range(n_layer):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"], Q.F32)
        put(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], Q.F32)
        put(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], n_head), kinds["q"])
        put(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], n_kv), kinds["k"])
        put(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"], kinds["v"])
        put(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"], kinds["o"])
        put(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"], kinds["gate"])
        put(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"], kinds["up"])
        put(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"], kinds["down"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ref = AutoModelForCausalLM.from_pretrained(d, gguf_file="tiny.gguf", dtype=torch.float32)
    ref.eval()
    tok = AutoTokenizer.from_pretrained(d, gguf_file="tiny.gguf")
    texts = ["the theme in a hat", " then\n\nthe 42", "<|im_start|>user\nhi the<|im_end|>"]
    tok_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    seq = tok_ids[0]
    with torch.no_grad():
        logits = ref(torch.tensor([seq])).logits[0].flatten().tolist()
    with open(os.path.join(d, "reference.json"), "w") as fh:
        json.dump(dict(dequant=vectors, texts=texts, text_ids=tok_ids, seq=seq, logits=logits,
                       vocab_size=vocab), fh)
    print(f"gguf_tiny: wrote {d}", file=sys.stderr)


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


def smollm2_bf16(gguf_path, new_tokens=16):
    """transformers' SmolLM2 in bfloat16 on the CPU, with its own float32 run beside it so the
    test can state its tolerance as a multiple of what bf16 itself changes: per prompt, the
    last position's logits on the float32 top-64 entries in both precisions, every position's
    bf16 top-1 and its margin over the runner-up, and a bf16 greedy continuation with the
    margin of each step."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    f32 = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    bf16 = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    bf16.to(torch.bfloat16)
    prompts = []
    for text in SMOL_PROMPTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            lf = f32(torch.tensor([ids])).logits[0].float()
            lb = bf16(torch.tensor([ids])).logits[0].float()
            gen = bf16.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False,
                                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                output_scores=True, return_dict_in_generate=True)
        top = torch.topk(lf[-1], 64).indices
        two = torch.topk(lb, 2, dim=-1).values
        step_margins = [float(s[0].float().topk(2).values[0] - s[0].float().topk(2).values[1])
                        for s in gen.scores]
        prompts.append(dict(text=text, ids=ids, top1=lb.argmax(-1).tolist(),
                            top1_margin=(two[:, 0] - two[:, 1]).tolist(),
                            last_top_ids=top.tolist(), last_f32=lf[-1][top].tolist(),
                            last_bf16=lb[-1][top].tolist(),
                            greedy=gen.sequences[0, len(ids):].tolist(), greedy_margin=step_margins))
    out = os.path.join(OUT, "smollm2_bf16_reference.json")
    with open(out, "w") as fh:
        json.dump(dict(prompts=prompts, transformers=__import__("transformers").__version__,
                       torch=torch.__version__), fh, indent=1)
    print(f"wrote {out}", file=sys.stderr)


def bench(gguf_path, tokens=128, repeats=3):
    """CPU forward throughput of transformers and of sealtune on the same input, one after
    the other in one run, plus sealtune's GGUF import time."""
    import resource
    import subprocess
    import time
    from transformers import AutoModelForCausalLM

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    model_dir = os.path.join(root, "models", "smollm2-135m-instruct")
    cargo = ["cargo", "run", "-q", "-p", "sealtune-model", "--example", "smollm2", "--"]
    subprocess.run(["cargo", "build", "-q", "-p", "sealtune-model", "--example", "smollm2"], check=True, cwd=root)
    imp = subprocess.run(cargo + ["import", os.path.abspath(gguf_path), model_dir], check=True, cwd=root,
                         capture_output=True, text=True).stdout.strip()
    ours = json.loads(subprocess.run(cargo + ["bench", model_dir, str(tokens), str(repeats)], check=True,
                                     cwd=root, capture_output=True, text=True).stdout)
    d, f = os.path.split(os.path.abspath(gguf_path))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    seq = torch.tensor([[(i * 7919 + 13) % vocab for i in range(tokens)]])
    with torch.no_grad():
        model(seq)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(seq)
        secs = (time.perf_counter() - t0) / repeats
    torch_res = dict(tokens=tokens, forward_s=secs, tokens_per_s=tokens / secs, threads=torch.get_num_threads(),
                     peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     torch=torch.__version__)
    print(json.dumps(dict(sealtune_import=imp, sealtune=ours, pytorch=torch_res), indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--smollm2":
        smollm2(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--smollm2-bf16":
        smollm2_bf16(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
    else:
        for name, spec in CASES.items():
            make(name, spec)
        make_gguf()
