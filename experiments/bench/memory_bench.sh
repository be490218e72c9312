#!/usr/bin/env bash
# Peak memory and time of qlab on the published models' shapes, with synthetic fp16 weights
# (make_synthetic.py): the README's memory table. Peak RSS is /usr/bin/time -v's "Maximum
# resident set size"; perplexities of random weights are meaningless and only show that the
# same number comes out however the model is cut.
#
#   experiments/bench/memory_bench.sh [eval] [run] [70b] [stream]   (default: all four)
#
#   eval    qlab eval, 2 segments × 2048 of WikiText-2, llama-2-7b shape at 1, 4, 8, 32 blocks
#   run     qlab run, GPTQ w4 g128 on 4 × 2048 calibration tokens, llama-2-7b shape at 1, 8 blocks
#   70b     the same run on one llama-2-70b-shaped block (d 8192, ffn 28672, 64 heads, 8 kv heads)
#   stream  time per block, streamed from the files vs the whole model in memory (qlab_bench_streaming)
#
# Environment: QLAB_BUILD (default build), QLAB_BENCH_DIR for the synthetic models and logs
# (default /tmp/qlab-memory-bench; 22 GB of disk), QLAB_DATA (default ../shared/data),
# THREADS (default 2). Models already written there are reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${QLAB_BUILD:-$root/build}
qlab=$build/core/qlab
work=${QLAB_BENCH_DIR:-/tmp/qlab-memory-bench}
data=${QLAB_DATA:-$root/../shared/data}
threads=${THREADS:-2}
tokenizer=$data/llama-tokenizer/tokenizer.model
wikitext=$data/wikitext-2-raw/wiki.test.raw
for f in "$qlab" "$tokenizer" "$wikitext" /usr/bin/time; do
  [[ -e $f ]] || { echo "memory_bench: $f is missing" >&2; exit 1; }
done
mkdir -p "$work"
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(eval run 70b stream)

# A model directory, written once: .written marks one make_synthetic finished.
model() {  # model SHAPE BLOCKS -> prints the directory
  local dir=$work/$1-$2
  if [[ ! -f $dir/.written ]]; then
    python3 "$root/experiments/bench/make_synthetic.py" "$dir" "$1" --blocks "$2" --overwrite >&2
    touch "$dir/.written"
  fi
  echo "$dir"
}

# measure LABEL CMD...: runs CMD under /usr/bin/time -v, prints peak RSS and wall time.
measure() {
  local label=$1; shift
  local out=$work/$label
  if ! /usr/bin/time -v "$@" >"$out.out" 2>"$out.err"; then
    echo "memory_bench: $label failed; see $out.err" >&2
    tail -5 "$out.err" >&2
    return 1
  fi
  local rss_kb wall
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.err")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.err")
  printf '%-34s peak RSS %6.2f GiB  wall %8s\n' "$label" "$(echo "$rss_kb / 1048576" | bc -l)" "$wall"
}

run_config() {  # run_config MODEL LOG_NAME -> writes an experiment file, prints its path
  local toml=$work/$2.toml
  cat >"$toml" <<EOF
name = "$2"
[model]
path = "$1"
tokenizer = "$tokenizer"
[calibration]
data = "wikitext2:$wikitext"
sampler = "gptq"
n_segments = 4
seq_len = 2048
seed = 0
[eval]
data = ["wikitext2:$wikitext"]
seq_len = 2048
max_segments = 1
[quant]
bits = 4
group_size = 128
sym = false
range = "gptq"
[[pipeline]]
plugin = "gptq"
EOF
  echo "$toml"
}

for part in "${parts[@]}"; do
  case $part in
    eval)
      for n in 1 4 8 32; do
        m=$(model llama-2-7b "$n")
        measure "eval-7b-$n-blocks" "$qlab" eval --model "$m" --tokenizer "$tokenizer" --data "wikitext2:$wikitext" \
          --seqlen 2048 --max-segments 2 --threads "$threads" --json
        grep -o '"ppl":[^,]*' "$work/eval-7b-$n-blocks.out" || true
      done
      ;;
    run)
      for n in 1 8; do
        m=$(model llama-2-7b "$n")
        rm -rf "$work/run-7b-$n.h5" "$work/run-7b-$n.h5.blocks"
        measure "run-gptq-7b-$n-blocks" "$qlab" run "$(run_config "$m" "run-7b-$n")" --out "$work/run-7b-$n.h5" \
          --threads "$threads"
        grep -E "^quantize: $n/$n" "$work/run-gptq-7b-$n-blocks.err" | tail -1 || true
      done
      ;;
    70b)
      m=$(model llama-2-70b 1)
      rm -rf "$work/run-70b-1.h5" "$work/run-70b-1.h5.blocks"
      measure "run-gptq-70b-1-block" "$qlab" run "$(run_config "$m" "run-70b-1")" --out "$work/run-70b-1.h5" --threads "$threads"
      ;;
    stream)
      m=$(model llama-2-7b 4)
      "$build/experiments/bench/qlab_bench_streaming" --model "$m" --threads "$threads"
      ;;
    *) echo "memory_bench: unknown part '$part' (eval, run, 70b, stream)" >&2; exit 2 ;;
  esac
done
