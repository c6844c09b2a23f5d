"""Writes a Hugging Face FP8 directory of any Llama shape (Meta's fp8_mixed
layout, llama31.md 7.1) whose safetensors file is sparse: the header is real,
the tensor bytes are a hole (zeros, no disk), so `herd inspect` can plan a
405B FP8 model on a small machine. Config, tokenizer and naming come from a
small FP8 directory written by `herd make-model --dtype fp8 --format hf`.

Usage: sparse_fp8_checkpoint.py TEMPLATE_DIR OUT_DIR d_model n_layers n_heads n_kv_heads d_ff

Prints, independently of herd, what the weights take as herd holds them
(matrices as stored, FP8 row scales in f32, norms in f32) as JSON:
{"fp8_matrices", "matrices", "fp8_bytes", "weight_bytes", "bf16_bytes"}.
"""
import json
import os
import shutil
import struct
import sys


def main():
    tpl, out = sys.argv[1], sys.argv[2]
    d, n_layers, n_heads, n_kv, d_ff = (int(x) for x in sys.argv[3:8])
    cfg = json.load(open(os.path.join(tpl, "config.json")))
    vocab = cfg["vocab_size"]
    head_dim = d // n_heads
    kv = n_kv * head_dim
    cfg.update(hidden_size=d, num_hidden_layers=n_layers, num_attention_heads=n_heads,
               num_key_value_heads=n_kv, intermediate_size=d_ff)
    keep = []
    for i in range(n_layers):
        keep += [f"model.layers.{i}.self_attn.{p}_proj" for p in "qkvo"]
        if i in (0, n_layers - 1):
            keep += [f"model.layers.{i}.mlp.{p}_proj" for p in ("gate", "up", "down")]
    cfg["quantization_config"]["modules_to_not_convert"] = keep + ["lm_head"]
    os.makedirs(out)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(tpl, f)):
            shutil.copy(os.path.join(tpl, f), out)

    header, off = {"__metadata__": {"format": "pt"}}, 0
    stats = dict(fp8_matrices=0, matrices=0, fp8_bytes=0, weight_bytes=0, bf16_bytes=0)

    def add(name, dtype, shape, matrix=False):
        nonlocal off
        size = {"BF16": 2, "F8_E4M3": 1, "F32": 4}[dtype]
        for s in shape:
            size *= s
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
        off += size
        numel = size // {"BF16": 2, "F8_E4M3": 1, "F32": 4}[dtype]
        if len(shape) == 1:  # a norm: herd holds it in f32
            stats["weight_bytes"] += 4 * numel
            stats["bf16_bytes"] += 4 * numel
        elif matrix:
            stats["matrices"] += 1
            stats["bf16_bytes"] += 2 * numel
            if dtype == "F8_E4M3":
                held = numel + 4 * shape[0]
                stats["fp8_matrices"] += 1
                stats["fp8_bytes"] += held
                stats["weight_bytes"] += held
            else:
                stats["weight_bytes"] += 2 * numel

    add("model.embed_tokens.weight", "BF16", [vocab, d])
    stats["weight_bytes"] += 2 * vocab * d
    stats["bf16_bytes"] += 2 * vocab * d
    for i in range(n_layers):
        p = f"model.layers.{i}."
        add(p + "input_layernorm.weight", "BF16", [d])
        add(p + "post_attention_layernorm.weight", "BF16", [d])
        for name, rows in (("q", d), ("k", kv), ("v", kv), ("o", d)):
            add(p + f"self_attn.{name}_proj.weight", "BF16", [rows, d], True)
        fp8 = 0 < i < n_layers - 1
        for name, shape in (("gate", [d_ff, d]), ("up", [d_ff, d]), ("down", [d, d_ff])):
            add(p + f"mlp.{name}_proj.weight", "F8_E4M3" if fp8 else "BF16", shape, True)
            if fp8:
                add(p + f"mlp.{name}_proj.weight_scale", "F32", [shape[0], 1])
    add("model.norm.weight", "BF16", [d])
    add("lm_head.weight", "BF16", [vocab, d], True)

    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + off)  # the data: a hole
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
