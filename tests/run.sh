#!/usr/bin/env bash
# The README's test command: install what is needed, build, run the whole suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps"
bash "$root/.ci/build"
cd "$root/build"
# Two test processes share the 2 cores: OpenMP's default spin-waiting makes each starve the
# other (the demo run takes 180 s instead of 12), so threads sleep while they wait.
export OMP_WAIT_POLICY=PASSIVE
ctest --output-on-failure -j 2
