#!/usr/bin/env bash
# The README's demo command: install what is needed, build, then run the demo experiment
# (experiments/demo.toml) on the bundled stories260K model: float vs RTN, GPTQ and AWQ at
# 4, 3 and 2 bits (group 32), cluster and NF4 codebooks, per-layer errors and perplexities
# into results/runs/demo.h5, a table at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps"
bash "$root/.ci/build"
cd "$root"
qlab=build/core/qlab
echo
echo "== the plugins qlab found =="
"$qlab" plugins | grep -E "^[a-z_]+ [0-9]"
echo
echo "== qlab run experiments/demo.toml =="
"$qlab" run experiments/demo.toml --out results/runs/demo.h5 --overwrite  # the demo replaces its own earlier log
echo
echo "== qlab run experiments/export.toml: a GPTQ run exported as GPTQ, AWQ and GGUF, each read back =="
"$qlab" run experiments/export.toml --out results/runs/export.h5 --overwrite
echo
echo "== qlab run experiments/zeroshot.toml: RTN and GPTQ at 4 and 3 bits, six zero-shot tasks (first 200 documents each) =="
"$qlab" run experiments/zeroshot.toml --out results/runs/zeroshot.h5 --overwrite
"$qlab" report results/runs/zeroshot.h5 | sed -n '/^## Zero-shot tasks/,$p'
echo
echo "== qlab run experiments/w4a4.toml: W4A4 with and without QuaRot's rotation, then W4A4KV4 =="
"$qlab" run experiments/w4a4.toml --out results/runs/w4a4.h5 --overwrite
echo
echo "== qlab run experiments/budget.toml: GPTQ at 2.75, 3.25 and 3.5 average bits beside uniform 2, 3 and 4 =="
"$qlab" run experiments/budget.toml --out results/runs/budget.h5 --overwrite
"$qlab" report results/runs/budget.h5 --plot results/runs/budget.png > /dev/null && echo "plot: results/runs/budget.png"
echo
echo "== a greedy sample from the float model =="
"$qlab" generate --model datasets/stories260K/stories260K.bin --prompt "Once upon a time" --max-tokens 60
