#!/usr/bin/env bash
# The README's test command: install what is needed, build, run the whole suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/.ci/install-deps"
bash "$root/.ci/build"
cd "$root/build"
ctest --output-on-failure -j 2
