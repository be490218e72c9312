#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build qlab with the CUDA backend, run the CUDA parity
# tests (CPU as the reference; a skip counts as a failure here), then the benchmarks, each a
# table of times and ratios to the peaks measured in the same run:
#   1. qlab_bench_backend: GEMM peaks (fp32, tf32, fp16), a LLaMA-7B block's linears, its
#      attention, its whole forward pass through the seam on 2048 tokens, Hessian SYRK, the
#      factorizations and the whole GPTQ solve of a 4096×4096 and a 4096×11008 linear;
#   2. one LLaMA-2-7B-shaped block (synthetic, make_synthetic.py) quantized end to end by
#      `qlab run --device`, GPTQ w4 g128 on 128 × 2048 calibration tokens, then evaluated;
#   3. with WHOLE_MODEL=1, the same on all 32 blocks streamed from a 13.5 GB synthetic
#      checkpoint (target: ≤ 10 minutes), which takes the check past 10 minutes.
#
#   experiments/bench/gpu_check.sh [cuda:N]      BUILD_DIR (default build-cuda), CUDA_ARCH (e.g. 90),
#                                                WORK (default /tmp/qlab-gpu-check), WHOLE_MODEL=1
set -euo pipefail

die() { echo "gpu_check: $*" >&2; exit 1; }
command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this check needs a machine with an NVIDIA GPU and its driver"
nvidia-smi -L | grep -q GPU || die "nvidia-smi lists no GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

device=${1:-cuda}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-cuda}
work=${WORK:-/tmp/qlab-gpu-check}
mkdir -p "$work"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQLAB_CUDA=ON \
  ${CUDA_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH}
cmake --build "$build" -j "$(nproc)"

echo "== parity: qlab_tests [cuda]"
rc=0
QLAB_SKIP_EXIT_CODE=77 "$build/tests/qlab_tests" "[cuda]" || rc=$?
[ "$rc" = 77 ] && die "the parity tests skipped: qlab sees no CUDA device (see the SKIPPED line above)"
[ "$rc" = 0 ] || die "the parity tests failed (exit $rc)"

# A synthetic LLaMA-2-7B of n blocks, written once (.written marks a finished write).
model() {
  local dir=$work/llama-2-7b-$1
  [ -f "$dir/.written" ] || { python3 "$root/experiments/bench/make_synthetic.py" "$dir" llama-2-7b --blocks "$1" --overwrite >&2 && touch "$dir/.written"; }
  echo "$dir"
}

echo "== benchmark: qlab_bench_backend $device"
"$build/experiments/bench/qlab_bench_backend" "$device" "$(model 1)"

tokenizer=$root/datasets/stories260K/tok512.bin  # the synthetic vocabulary is 512
quantize() {  # quantize BLOCKS: qlab run on the device, wall time and the log's per-block times
  local m log=$work/run-$1.h5 toml=$work/run-$1.toml
  m=$(model "$1")
  rm -rf "$log" "$log.blocks"
  cat >"$toml" <<TOML
name = "gpu-check-$1"
[model]
path = "$m"
tokenizer = "$tokenizer"
[calibration]
data = "text:$root/datasets/tinystories/tinystories_calib.txt"
sampler = "gptq"
n_segments = 128
seq_len = 2048
seed = 0
[eval]
data = ["text:$root/datasets/tinystories/tinystories_eval.txt"]
seq_len = 2048
max_segments = 4
[quant]
bits = 4
group_size = 128
range = "gptq"
[[pipeline]]
plugin = "gptq"
TOML
  local start=$SECONDS
  /usr/bin/time -v "$build/core/qlab" run "$toml" --out "$log" --device "$device" 2>"$work/run-$1.err" || {
    tail -20 "$work/run-$1.err"; die "qlab run on $1 block(s) failed"; }
  echo "llama-2-7b shape, $1 block(s), GPTQ w4 g128, 128×2048 calibration tokens: $((SECONDS - start)) s wall," \
       "peak host RSS $(awk -F': ' '/Maximum resident/ {printf "%.1f GiB", $2 / 1048576}' "$work/run-$1.err")"
  "$build/core/qlab" report "$log" | head -40
}

echo "== one 7B-shaped block quantized end to end on $device"
quantize 1
if [ "${WHOLE_MODEL:-0}" = 1 ]; then
  echo "== the whole 7B-shaped model (32 blocks, streamed) on $device"
  quantize 32
fi
