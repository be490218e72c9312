#!/usr/bin/env bash
# The plan `qlab run --dry-run` prints is the plan the walker executes: a two-point sweep with
# overrides and true-sequential stages is dry-run, then run, and each run's executed plan as
# logged (`qlab report --plan`) must equal its dry-run section byte for byte.
# Usage: plan_matches_dry_run.sh QLAB SOURCE_DIR WORK_DIR
set -uo pipefail
qlab=$1 src=$2 work=$3/plan_matches_dry_run
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAILED: $*"; exit 1; }
cat > e.toml <<TOML
name = "plan"
[model]
path = "$src/datasets/stories260K/stories260K.bin"
[calibration]
data = "text:$src/datasets/tinystories/tinystories_calib.txt"
n_segments = 4
seq_len = 64
[eval]
data = "text:$src/datasets/tinystories/tinystories_eval.txt"
seq_len = 128
max_segments = 2
[quant]
bits = 4
group_size = 32
[walker]
true_sequential = true
[[pipeline]]
plugin = "rtn"
[[override]]
match = "*.mlp.down_proj"
bits = 8
[[override]]
match = "3.self_attn.*"
skip = true
[sweep]
"quant.group_size" = [32, 0]
TOML
"$qlab" run e.toml --dry-run > dry.txt 2>&1 || fail "dry run: $(cat dry.txt)"
[ -e results ] && fail "--dry-run created results/"
"$qlab" run e.toml --out e.h5 > run.txt 2>&1 || fail "run: $(cat run.txt)"
for id in r0000 r0001; do
  # The dry run's section for this run: from "plan <id>:" up to the blank line that ends it.
  awk -v id="$id" '$0 ~ "^plan " id ":" {on=1} on && $0 == "" {exit} on {print}' dry.txt > "dry_$id.txt"
  [ -s "dry_$id.txt" ] || fail "no plan for $id in the dry run: $(cat dry.txt)"
  "$qlab" report e.h5 --plan "$id" > "run_$id.txt" 2>&1 || fail "report --plan $id: $(cat run_$id.txt)"
  diff "dry_$id.txt" "run_$id.txt" > "diff_$id.txt" || fail "$id: the executed plan differs from the dry run's: $(cat diff_$id.txt)"
done
grep -q "3.self_attn.q_proj: 64×64 float (skip)" dry.txt || fail "the skipped block-3 linears are not listed as differing: $(cat dry.txt)"
echo "plans match"
