#!/usr/bin/env bash
# The README's demo command: install what is needed, build, then evaluate the bundled
# stories260K model on held-out TinyStories text and show a greedy sample.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps"
bash "$root/.ci/build"
cd "$root"
qlab=build/core/qlab
model=datasets/stories260K/stories260K.bin
echo
echo "== perplexity of the bundled model (GPTQ protocol, 512-token segments) =="
"$qlab" eval --model "$model" --data datasets/tinystories/tinystories_eval.txt --seqlen 512
echo
echo "== greedy sample =="
"$qlab" generate --model "$model" --prompt "Once upon a time" --max-tokens 120
