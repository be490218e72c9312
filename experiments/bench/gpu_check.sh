#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build qlab with the CUDA backend, run the CUDA parity
# tests (CPU as the reference; a skip counts as a failure here), then the backend benchmark,
# which prints one table of times and ratios to the GEMM peaks it measures (the 7B block's
# shapes, the factorizations and the whole GPTQ solve of a 4096×4096 and a 4096×11008 linear).
#
#   experiments/bench/gpu_check.sh [cuda:N]      BUILD_DIR (default build-cuda), CUDA_ARCH (e.g. 90)
set -euo pipefail

die() { echo "gpu_check: $*" >&2; exit 1; }
command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this check needs a machine with an NVIDIA GPU and its driver"
nvidia-smi -L | grep -q GPU || die "nvidia-smi lists no GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

device=${1:-cuda}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-cuda}
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQLAB_CUDA=ON \
  ${CUDA_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH}
cmake --build "$build" --target qlab_tests qlab_bench_backend -j "$(nproc)"

echo "== parity: qlab_tests [cuda]"
rc=0
QLAB_SKIP_EXIT_CODE=77 "$build/tests/qlab_tests" "[cuda]" || rc=$?
[ "$rc" = 77 ] && die "the parity tests skipped: qlab sees no CUDA device (see the SKIPPED line above)"
[ "$rc" = 0 ] || die "the parity tests failed (exit $rc)"

echo "== benchmark: qlab_bench_backend $device"
"$build/experiments/bench/qlab_bench_backend" "$device"
