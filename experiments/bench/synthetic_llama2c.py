#!/usr/bin/env python3
"""A synthetic llama2.c checkpoint of a chosen size, for memory and speed measurements of
`qlab run` (e.g. peak RSS with /usr/bin/time -v). Weights are N(0, 0.02²) from one seeded
pool of 2^20 values, tiled; norms are ones; the classifier is shared with the embeddings.
Use vocab 512 and copy datasets/stories260K/tok512.bin beside it for a tokenizer.

  synthetic_llama2c.py OUT.bin --dim 1024 --hidden 2816 --layers 8 --heads 16 --vocab 512 --seq 256
"""
import argparse
import random
import struct
from array import array

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("out")
p.add_argument("--dim", type=int, default=1024)
p.add_argument("--hidden", type=int, default=2816)
p.add_argument("--layers", type=int, default=8)
p.add_argument("--heads", type=int, default=16)
p.add_argument("--kv-heads", type=int, default=0, help="default: --heads")
p.add_argument("--vocab", type=int, default=512)
p.add_argument("--seq", type=int, default=256)
a = p.parse_args()
kv_heads = a.kv_heads or a.heads
d, f, L, V = a.dim, a.hidden, a.layers, a.vocab
kv = d // a.heads * kv_heads

rng = random.Random(0)
pool = array("f", (rng.gauss(0.0, 0.02) for _ in range(1 << 20)))
offset = 0


def weights(out, n):
    global offset
    while n > 0:
        take = min(n, len(pool) - offset)
        pool[offset:offset + take].tofile(out)
        offset = (offset + take) % len(pool)
        n -= take


def ones(out, n):
    array("f", [1.0] * n).tofile(out)


with open(a.out, "wb") as out:
    out.write(struct.pack("7i", d, f, L, a.heads, kv_heads, V, a.seq))
    weights(out, V * d)                        # token embeddings
    ones(out, L * d)                           # rms_att
    weights(out, L * d * d)                    # wq
    weights(out, 2 * L * d * kv)               # wk, wv
    weights(out, L * d * d)                    # wo
    ones(out, L * d)                           # rms_ffn
    weights(out, 3 * L * d * f)                # w1, w2, w3
    ones(out, d)                               # rms_final
    array("f", [0.0] * (a.seq * (d // a.heads))).tofile(out)  # legacy RoPE tables (unused)
