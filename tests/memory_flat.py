#!/usr/bin/env python3
"""Peak memory does not grow with the number of blocks (issue 14's test).

Synthetic fp16 LLaMAs of d 768 (make_synthetic.py) at 2 and 8 blocks; each is evaluated with
`qlab eval` and quantized with a GPTQ `qlab run`, and the peak RSS of each process is read
from os.wait4 (the kernel's maxrss for that child alone). One block is 28 MiB in float32 and
14 MiB in fp16: a process that kept the walked blocks, in either precision, or the file's
pages, would grow by at least 6 × 14 = 84 MiB from 2 to 8 blocks. The 8-block peak may exceed
the 2-block one by at most one float32 block (28 MiB): allocator and page-cache noise.
The 8-block run keeps its quantized blocks (--keep-quantized): at most 4.425 bits per weight.
Streamed perplexity equals the in-memory one: the same model is evaluated a second time with
a --max-memory that forces its activations through a spill file, which must not change a digit.

  memory_flat.py QLAB MAKE_SYNTHETIC TOKENIZER TEXT WORKDIR
"""
import json
import os
import subprocess
import sys

qlab, make_synthetic, tokenizer, text, work = map(os.path.abspath, sys.argv[1:6])
BLOCK_F32 = 4 * (4 * 768 * 768 + 3 * 768 * 2048)
MARGIN = BLOCK_F32


def run_measured(cmd):
    """Runs cmd, reaping the child itself so that its own rusage is read; returns (stdout, peak RSS in bytes)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err}")
    return out, usage.ru_maxrss * 1024


def model(blocks):
    d = os.path.join(work, f"d768-{blocks}")
    subprocess.run([sys.executable, make_synthetic, d, "tiny", "--blocks", str(blocks), "--dim", "768", "--ffn", "2048",
                    "--heads", "12", "--vocab", "512", "--context", "512", "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    return d


def eval_cmd(d, *extra):
    return [qlab, "eval", "--model", d, "--tokenizer", tokenizer, "--data", "text:" + text, "--seqlen", "256",
            "--max-segments", "4", "--threads", "2", "--json", *extra]


def gptq_run(d, blocks):
    toml = os.path.join(work, f"gptq-{blocks}.toml")
    with open(toml, "w") as f:
        f.write(f'''name = "gptq{blocks}"
[model]
path = "{d}"
tokenizer = "{tokenizer}"
[calibration]
data = "text:{text}"
n_segments = 4
seq_len = 256
[eval]
data = ["text:{text}"]
seq_len = 256
max_segments = 2
[quant]
bits = 4
group_size = 128
[[pipeline]]
plugin = "gptq"
''')
    log = os.path.join(work, f"gptq-{blocks}.h5")
    keep = ["--keep-quantized"] if blocks == 8 else []
    _, rss = run_measured([qlab, "run", toml, "--out", log, "--overwrite", "--threads", "2", *keep])
    packed = os.path.join(log + ".blocks", "r0000")
    if not keep:
        if os.path.exists(packed):
            raise SystemExit(f"FAIL: {packed} was left behind without --keep-quantized")
        return rss
    # The quantized model on disk: 4-bit codes, per group of 128 an f32 scale and an fp16
    # zero (4 + 48/128 bits per weight), plus the f32 norms and the files' headers.
    files = sorted(os.listdir(packed))
    stored = sum(os.path.getsize(os.path.join(packed, f)) for f in files)
    bits = 8 * stored / (blocks * BLOCK_F32 / 4)
    print(f"8 blocks quantized: {len(files)} packed files, {stored / 2**20:.2f} MiB, {bits:.3f} bits per weight")
    if len(files) != blocks or bits > 4 + 48 / 128 + 0.05:
        raise SystemExit("FAIL: the quantized blocks are not stored at their packed size")
    return rss


os.makedirs(work, exist_ok=True)
peaks = {}
for blocks in (2, 8):
    d = model(blocks)
    out, peaks["eval", blocks] = run_measured(eval_cmd(d))
    ppl = json.loads(out)["ppl"]
    if blocks == 8:
        # Evaluation needs one float32 block and one working segment (256×768 float32, 0.75 MiB);
        # room for 1.5 stored segments of 4 sends them to a spill file.
        segment = 256 * 768 * 4
        spilled, _ = run_measured(eval_cmd(d, "--max-memory", str(BLOCK_F32 + segment + segment * 3 // 2)))
        ppl_spilled = json.loads(spilled)["ppl"]
        print(f"8 blocks: perplexity {ppl!r} in memory, {ppl_spilled!r} spilled")
        if not json.loads(spilled)["activations_spilled"]:
            raise SystemExit("FAIL: the small --max-memory did not spill the activations")
        if ppl_spilled != ppl:
            raise SystemExit("FAIL: spilling the activations changed the perplexity")
    peaks["run", blocks] = gptq_run(d, blocks)

failed = False
for what in ("eval", "run"):
    two, eight = peaks[what, 2], peaks[what, 8]
    ok = eight <= two + MARGIN
    failed |= not ok
    print(f"{what}: peak RSS {two / 2**20:.1f} MiB at 2 blocks, {eight / 2**20:.1f} MiB at 8 blocks "
          f"(growth {(eight - two) / 2**20:+.1f} MiB, allowed {MARGIN / 2**20:.1f}): {'ok' if ok else 'FAIL'}")
if failed:
    raise SystemExit("FAIL: peak memory grows with the number of blocks")
