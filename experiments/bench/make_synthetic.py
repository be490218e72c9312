#!/usr/bin/env python3
"""A synthetic Hugging Face model of a published shape with seeded random fp16 weights, so
memory and time can be measured on real shapes without real weights (perplexities are
meaningless). Weights are N(0, 0.02²) from one seeded pool of 2^20 fp16 values, tiled (a
13.5 GB llama-2-7b is written at disk speed); norm weights are ones, biases zeros. Large
models are sharded like Hugging Face's (model-0000i-of-0000n.safetensors plus
model.safetensors.index.json).

  make_synthetic.py OUT_DIR llama-2-7b --blocks 4
  make_synthetic.py OUT_DIR tiny --dim 64 --ffn 160 --heads 4 --vocab 512 --blocks 2

Shapes: llama-2-7b, llama-2-13b, llama-2-70b (GQA, 8 kv heads), opt-6.7b (biases, learned
positions, tied head) and tiny (a llama of 2 blocks, d 64; --dim/--ffn/... override any shape).
Use a vocabulary of 512 and datasets/stories260K/tok512.bin as tokenizer to evaluate one.
"""
import argparse
import json
import os
import random
import struct
import sys

SHAPES = {
    #               family   dim   ffn    heads kv  blocks vocab  context
    "llama-2-7b":  ("llama", 4096, 11008, 32, 32, 32, 32000, 4096),
    "llama-2-13b": ("llama", 5120, 13824, 40, 40, 40, 32000, 4096),
    "llama-2-70b": ("llama", 8192, 28672, 64, 8,  80, 32000, 4096),
    "opt-6.7b":    ("opt",   4096, 16384, 32, 32, 32, 50272, 2048),
    "tiny":        ("llama", 64,   160,   4,  4,  2,  512,   256),
}
POOL = 1 << 20


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="directory to write (created)")
    p.add_argument("shape", choices=sorted(SHAPES))
    p.add_argument("--blocks", type=int, help="keep the first N blocks (default: all of the shape's)")
    for name in ("dim", "ffn", "heads", "kv-heads", "vocab", "context"):
        p.add_argument("--" + name, type=int, help="override the shape's value")
    p.add_argument("--shard-gb", type=float, default=5.0, help="largest shard, in GB (Hugging Face's default: 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace the model files of an existing directory")
    a = p.parse_args()
    family, dim, ffn, heads, kv, blocks, vocab, context = SHAPES[a.shape]
    s = dict(family=family, dim=a.dim or dim, ffn=a.ffn or ffn, heads=a.heads or heads,
             kv=a.kv_heads or a.heads or kv, blocks=a.blocks or blocks,
             vocab=a.vocab or vocab, context=a.context or context)
    for k in ("dim", "ffn", "heads", "kv", "blocks", "vocab", "context"):
        if s[k] <= 0:
            p.error(f"{k} must be positive, got {s[k]}")
    if s["dim"] % s["heads"] or s["heads"] % s["kv"] or (s["dim"] // s["heads"]) % 2:
        p.error(f"dim {s['dim']}, heads {s['heads']}, kv heads {s['kv']}: heads must divide dim into even head "
                "dimensions and kv heads must divide heads")
    return a, s


def tensors(s):
    """(name, shape, fill) in file order; fill is 'random', 'ones' or 'zeros'."""
    d, f, V, L = s["dim"], s["ffn"], s["vocab"], s["blocks"]
    kv = d // s["heads"] * s["kv"]
    out = []
    if s["family"] == "llama":
        out.append(("model.embed_tokens.weight", [V, d], "random"))
        for i in range(L):
            p = f"model.layers.{i}."
            out += [(p + "input_layernorm.weight", [d], "ones"),
                    (p + "self_attn.q_proj.weight", [d, d], "random"),
                    (p + "self_attn.k_proj.weight", [kv, d], "random"),
                    (p + "self_attn.v_proj.weight", [kv, d], "random"),
                    (p + "self_attn.o_proj.weight", [d, d], "random"),
                    (p + "post_attention_layernorm.weight", [d], "ones"),
                    (p + "mlp.gate_proj.weight", [f, d], "random"),
                    (p + "mlp.up_proj.weight", [f, d], "random"),
                    (p + "mlp.down_proj.weight", [d, f], "random")]
        out += [("model.norm.weight", [d], "ones"), ("lm_head.weight", [V, d], "random")]
        return out
    p0 = "model.decoder."
    out += [(p0 + "embed_tokens.weight", [V, d], "random"),
            (p0 + "embed_positions.weight", [s["context"] + 2, d], "random")]
    for i in range(L):
        p = f"{p0}layers.{i}."
        out += [(p + "self_attn_layer_norm.weight", [d], "ones"), (p + "self_attn_layer_norm.bias", [d], "zeros")]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(p + f"self_attn.{proj}.weight", [d, d], "random"), (p + f"self_attn.{proj}.bias", [d], "zeros")]
        out += [(p + "final_layer_norm.weight", [d], "ones"), (p + "final_layer_norm.bias", [d], "zeros"),
                (p + "fc1.weight", [f, d], "random"), (p + "fc1.bias", [f], "zeros"),
                (p + "fc2.weight", [d, f], "random"), (p + "fc2.bias", [d], "zeros")]
    out += [(p0 + "final_layer_norm.weight", [d], "ones"), (p0 + "final_layer_norm.bias", [d], "zeros")]
    return out


def config(s):
    d = s["dim"]
    if s["family"] == "llama":
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d,
                "intermediate_size": s["ffn"], "num_hidden_layers": s["blocks"], "num_attention_heads": s["heads"],
                "num_key_value_heads": s["kv"], "vocab_size": s["vocab"], "max_position_embeddings": s["context"],
                "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
                "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
    return {"architectures": ["OPTForCausalLM"], "model_type": "opt", "hidden_size": d, "ffn_dim": s["ffn"],
            "num_hidden_layers": s["blocks"], "num_attention_heads": s["heads"], "vocab_size": s["vocab"],
            "max_position_embeddings": s["context"], "word_embed_proj_dim": d, "do_layer_norm_before": True,
            "activation_function": "relu", "enable_bias": True, "tie_word_embeddings": True,
            "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float16"}


class Filler:
    """Writes fp16 bytes: a seeded pool of N(0, 0.02²) values tiled, or constants."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.pool = struct.pack(f"<{POOL}e", *(rng.gauss(0.0, 0.02) for _ in range(POOL)))
        self.offset = 0  # in bytes, continues across tensors so no two tensors start alike

    def write(self, out, n, fill):
        if fill != "random":
            out.write(struct.pack("<e", 1.0 if fill == "ones" else 0.0) * n)
            return
        left = 2 * n
        while left > 0:
            take = min(left, len(self.pool) - self.offset)
            out.write(self.pool[self.offset:self.offset + take])
            self.offset = (self.offset + take) % len(self.pool)
            left -= take


def numel(shape):
    n = 1
    for x in shape:
        n *= x
    return n


def shards(items, limit):
    """Hugging Face's split: tensors in order, a new shard when the next would pass the limit."""
    out, size = [[]], 0
    for t in items:
        b = 2 * numel(t[1])
        if out[-1] and size + b > limit:
            out.append([])
            size = 0
        out[-1].append(t)
        size += b
    return out


def write_shard(path, items, filler):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in items:
        b = 2 * numel(shape)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + b]}
        offset += b
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for _, shape, fill in items:
            filler.write(out, numel(shape), fill)
    return offset


def main():
    a, s = parse()
    os.makedirs(a.out, exist_ok=True)
    # Stale shards of another shape would be read beside the new ones.
    old = [f for f in os.listdir(a.out) if f.endswith(".safetensors") or f in ("config.json", "model.safetensors.index.json")]
    if old and not a.overwrite:
        sys.exit(f"make_synthetic.py: {a.out} already holds {', '.join(sorted(old))}; pass --overwrite to replace them")
    for f in old:
        os.remove(os.path.join(a.out, f))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config(s), f, indent=2)
    filler = Filler(a.seed)
    parts = shards(tensors(s), int(a.shard_gb * 1e9))
    if len(parts) == 1:
        total = write_shard(os.path.join(a.out, "model.safetensors"), parts[0], filler)
    else:
        total, weight_map = 0, {}
        for i, part in enumerate(parts):
            name = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            total += write_shard(os.path.join(a.out, name), part, filler)
            weight_map.update({t[0]: name for t in part})
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    print(f"{a.out}: {a.shape} {s['family']} d {s['dim']} ffn {s['ffn']} heads {s['heads']}/{s['kv']} "
          f"blocks {s['blocks']} vocab {s['vocab']}: {total / 1e9:.2f} GB fp16 in {len(parts)} file(s)")


if __name__ == "__main__":
    main()
