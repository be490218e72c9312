#!/usr/bin/env python3
"""The export demo (experiments/export.toml) end to end: a GPTQ run exported as GPTQ, AWQ and
GGUF, each read back through qlab's loader and evaluated by the runner, then `qlab export` by
hand: the refusals for a removed run, an occupied --out and a grid GGUF cannot hold.

Tolerances: the exports keep the run's codes and zeros, and the run rounds its scales to fp16
as the checkpoints store them (quant.scale_dtype = "f16") with float parts in f32, so GPTQ and
AWQ read back give the run's perplexity to the last digit. GGUF's Q4_1 also rounds m = −s·z to
fp16 (relative change ≤ 2^-11 per weight offset): measured ~5e-5, bounded by 5e-4.

  tests/export_round_trip.py QLAB SOURCE_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

qlab, src, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
log = os.path.join(work, "export.h5")
failures = []


def run(*args, expect=0):
    p = subprocess.run([qlab, *args], capture_output=True, text=True)
    if p.returncode != expect:
        failures.append(f"`qlab {' '.join(args)}` exited {p.returncode}, expected {expect}: {p.stderr.strip()[-400:]}")
    return p


def check(what, ok):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        failures.append(what)


run("run", os.path.join(src, "experiments/export.toml"), "--out", log, "--threads", "2")
report = json.loads(run("report", log, "--format", "json").stdout)
r = report["runs"][0]
ppl = list(r["ppl"].values())[0]
exports = {e["format"]: e for e in r["exports"]}
check(f"three exports, all done: {sorted((f, e['status']) for f, e in exports.items())}",
      sorted(exports) == ["awq", "gguf", "gptq"] and all(e["status"] == "done" for e in exports.values()))
for fmt in ("gptq", "awq"):
    back = list(exports[fmt]["ppl"].values())[0]
    check(f"{fmt}: perplexity read back {back!r} equals the run's {ppl!r}", back == ppl)
back = list(exports["gguf"]["ppl"].values())[0]
rel = abs(back - ppl) / ppl
check(f"gguf (Q4_1): perplexity read back {back:.10f} vs the run's {ppl:.10f} (relative {rel:.2e} <= 5e-4)", rel <= 5e-4)

# An exported checkpoint is a starting point: qlab run quantizes the GPTQ directory again.
toml = os.path.join(work, "again.toml")
with open(os.path.join(src, "experiments/export.toml")) as f:
    text = f.read().replace('path = "../datasets/stories260K/stories260K.bin"',
                            f'path = "{exports["gptq"]["path"]}"\ntokenizer = "{os.path.join(src, "datasets/stories260K/tok512.bin")}"')
    text = text[:text.index("[export]")].replace("../datasets", os.path.join(src, "datasets")).replace('plugin = "gptq"', 'plugin = "rtn"')
    text = text.replace("bits = 4", "bits = 8")
with open(toml, "w") as f:
    f.write(text)
run("run", toml, "--out", os.path.join(work, "again.h5"), "--threads", "2")
again = json.loads(run("report", os.path.join(work, "again.h5"), "--format", "json").stdout)
float_again = list(again["float_ppl"].values())[0]
check(f"the GPTQ export as a model: its float perplexity {float_again!r} is the run's {ppl!r}", float_again == ppl)
check("and it quantizes again (RTN W8): done", again["runs"][0]["status"] == "done")

# The run's packed blocks were removed when it finished: a later `qlab export` says how to keep them.
p = run("export", log, "--run", "r0000", "--format", "gguf", "--out", os.path.join(work, "late.gguf"), expect=1)
check("a removed run's export names --keep-quantized", "--keep-quantized" in p.stderr)
p = run("export", log, "--run", "r0009", "--format", "gguf", "--out", os.path.join(work, "x.gguf"), expect=1)
check("an unknown run is named with the runs there", "no run 'r0009'" in p.stderr and "r0000" in p.stderr)

# An NF4 run (a codebook) kept for export: GPTQ and GGUF refuse it, saying why and what to do.
toml = os.path.join(work, "nf4.toml")
with open(os.path.join(src, "experiments/export.toml")) as f:
    text = f.read().replace('plugin = "gptq"', 'plugin = "nf4"').replace("group_size = 32", "group_size = 64")
    text = text[:text.index("[export]")].replace("../datasets", os.path.join(src, "datasets"))
with open(toml, "w") as f:
    f.write(text)
nf4 = os.path.join(work, "nf4.h5")
run("run", toml, "--out", nf4, "--keep-quantized", "--threads", "2")
p = run("export", nf4, "--run", "r0000", "--format", "gptq", "--out", os.path.join(work, "nf4-gptq"), expect=1)
check("NF4 to GPTQ is refused naming the linear and the codebook",
      "0.self_attn.q_proj" in p.stderr and "codebook" in p.stderr and not os.path.exists(os.path.join(work, "nf4-gptq")))
p = run("export", nf4, "--run", "r0000", "--format", "gguf", "--out", os.path.join(work, "nf4.gguf"), expect=1)
check("NF4 to GGUF is refused naming --allow-requantize", "--allow-requantize" in p.stderr and not os.path.exists(os.path.join(work, "nf4.gguf")))
out = os.path.join(work, "nf4-q8.gguf")
p = run("export", nf4, "--run", "r0000", "--format", "gguf", "--allow-requantize", "q8_0", "--out", out)
check("--allow-requantize q8_0 re-encodes and says so", "re-encoded" in p.stdout and os.path.exists(out))
nf4_report = json.loads(run("report", nf4, "--format", "json").stdout)
check("the log records the re-encoded export", any(e["format"] == "gguf" and e["status"] == "done" for e in nf4_report["runs"][0]["exports"]))
# An existing file that is not an earlier qlab export is never replaced.
victim = os.path.join(work, "mine.gguf")
with open(victim, "w") as f:
    f.write("precious")
p = run("export", nf4, "--run", "r0000", "--format", "gguf", "--allow-requantize", "q8_0", "--out", victim, "--overwrite", expect=1)
check("a file qlab did not write is not overwritten", "not an earlier qlab export" in p.stderr and open(victim).read() == "precious")

# The GGUF vocabulary is the same whether the run read tok512.bin (llama2.c) or tok512.model
# (SentencePiece): 512 unique pieces with ▁, "<s>"/"</s>" as control tokens.
def gguf_tokens(path):
    import struct
    d = open(path, "rb").read()
    i = d.find(b"tokenizer.ggml.tokens") + len(b"tokenizer.ggml.tokens")
    _, _, n = struct.unpack_from("<IIQ", d, i)
    i += 16
    out = []
    for _ in range(n):
        (length,) = struct.unpack_from("<Q", d, i)
        out.append(d[i + 8:i + 8 + length].decode())
        i += 8 + length
    return out


toml = os.path.join(work, "spm.toml")
with open(os.path.join(src, "experiments/export.toml")) as f:
    text = f.read().replace("[calibration]", f'tokenizer = "{os.path.join(src, "datasets/stories260K/tok512.model")}"\n[calibration]')
    text = text.replace("../datasets", os.path.join(src, "datasets")).replace('["gptq", "awq", "gguf"]', '["gguf"]')
with open(toml, "w") as f:
    f.write(text)
run("run", toml, "--out", os.path.join(work, "spm.h5"), "--threads", "2")
from_bin = gguf_tokens(os.path.join(work, "export.h5.exports/r0000-gguf.gguf"))
from_model = gguf_tokens(os.path.join(work, "spm.h5.exports/r0000-gguf.gguf"))
check(f"GGUF vocabulary from tok512.bin equals tok512.model's ({len(from_bin)} pieces, {from_bin[1]!r}, {from_bin[300]!r})",
      from_bin == from_model and len(set(from_bin)) == 512 and from_bin[1:3] == ["<s>", "</s>"])

# A run killed mid-walk (status running) is not exported.
killed = os.path.join(work, "killed.h5")
env = dict(os.environ, QLAB_TEST_ABORT_AFTER_BLOCK="0")
subprocess.run([qlab, "run", os.path.join(src, "experiments/export.toml"), "--out", killed, "--threads", "2"], env=env, capture_output=True)
p = run("export", killed, "--run", "r0000", "--format", "gptq", "--out", os.path.join(work, "killed-gptq"), expect=1)
check("an unfinished run is refused: " + p.stderr.strip()[-120:], "run r0000 is running" in p.stderr and "only a done run" in p.stderr)

# OPT (biases, learned positions, tied head) as GPTQ and AWQ; GGUF refused (llama.cpp has no OPT).
opt = os.path.join(work, "opt-tiny")
subprocess.run([sys.executable, os.path.join(src, "experiments/bench/make_synthetic.py"), opt, "opt-6.7b", "--dim", "128",
                "--ffn", "256", "--heads", "4", "--vocab", "512", "--context", "512", "--blocks", "2", "--overwrite"],
               check=True, capture_output=True)
toml = os.path.join(work, "opt.toml")
with open(os.path.join(src, "experiments/export.toml")) as f:
    text = f.read().replace('path = "../datasets/stories260K/stories260K.bin"',
                            f'path = "{opt}"\ntokenizer = "{os.path.join(src, "datasets/stories260K/tok512.bin")}"')
    text = text.replace("../datasets", os.path.join(src, "datasets")).replace('match = "*.mlp.*"', 'match = "*.fc2"')
with open(toml, "w") as f:
    f.write(text)
p = run("run", toml, "--out", os.path.join(work, "opt.h5"), "--threads", "2", expect=1)  # the GGUF export fails the command
opt_run = json.loads(run("report", os.path.join(work, "opt.h5"), "--format", "json").stdout)["runs"][0]
opt_ppl = list(opt_run["ppl"].values())[0]
opt_exports = {e["format"]: e for e in opt_run["exports"]}
for fmt in ("gptq", "awq"):
    e = opt_exports.get(fmt, {"status": "missing (the process died?)", "ppl": {}})
    back = list(e["ppl"].values())[0] if e["ppl"] else float("nan")
    check(f"OPT {fmt}: {e['status']}, perplexity read back {back:.6f} vs the run's {opt_ppl:.6f} (relative <= 5e-4)",
          e["status"] == "done" and abs(back - opt_ppl) / opt_ppl <= 5e-4)
gguf = opt_exports.get("gguf", {"status": "missing", "error": ""})
check("OPT to GGUF fails naming the architecture", gguf["status"] == "failed" and "no 'opt' architecture" in gguf["error"])

if failures:
    print(f"export round trip: {len(failures)} check(s) FAILED")
    sys.exit(1)
print("export round trip: all checks passed")
