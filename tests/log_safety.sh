#!/usr/bin/env bash
# The experiment log survives what the reliability probe threw at it: an existing --out, an
# --out naming an input, a second writer, a full disk, corrupted bytes, changed inputs on
# resume, a plugin that crashes or calls exit(), a checkpoint path that is a file, and
# --only/--skip. Usage: log_safety.sh QLAB SOURCE_DIR FIXTURE_DIR WORK_DIR CASE
set -uo pipefail
qlab=$1 src=$2 fixtures=$3 work=$4/log_safety_$5 case=$5
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() { echo "FAILED: $*"; exit 1; }
expect() {  # expect EXIT_CODE PATTERN -- command...: runs it, checks its exit code and output
  local code=$1 pattern=$2; shift 3
  out=$("$@" 2>&1); rc=$?
  [ "$rc" = "$code" ] || fail "exit $rc (wanted $code) from: $* :: $out"
  grep -qE -- "$pattern" <<< "$out" || fail "no '$pattern' in the output of: $* :: $out"
}

experiment() {  # experiment FILE PIPELINE_AXIS_OR_EMPTY [N_SEGMENTS]
  cat > "$1" <<TOML
name = "safety"
[model]
path = "\${SAFETY_MODEL:-$src/datasets/stories260K/stories260K.bin}"
[calibration]
data = "text:$work/calib.txt"
n_segments = ${3:-8}
seq_len = 128
[eval]
data = ["text:$src/datasets/tinystories/tinystories_eval.txt"]
seq_len = 256
max_segments = 8
[quant]
bits = 4
group_size = 32
[[pipeline]]
plugin = "rtn"
TOML
  [ -n "$2" ] && printf '[sweep]\n"pipeline" = %s\n' "$2" >> "$1"
  return 0
}
cp "$src/datasets/tinystories/tinystories_calib.txt" calib.txt
three='[[{ plugin = "rtn" }], [{ plugin = "gptq" }], [{ plugin = "rtn", search = "mse" }]]'
ppl_column() { "$qlab" report "$1" --format csv | cut -d, -f1,4,5; }

case $case in
existing_out)
  experiment e.toml ""
  "$qlab" run e.toml --out a.h5 > /dev/null 2>&1 || fail "first run"
  expect 1 "a.h5: exists; continue it with --resume, or replace it and its checkpoints with --overwrite" -- "$qlab" run e.toml --out a.h5
  expect 0 "r0000 .* done" -- "$qlab" run e.toml --out a.h5 --overwrite
  echo "my notes" > notes.txt
  expect 1 "notes.txt: exists and is not a qlab experiment log; refusing to replace it" -- "$qlab" run e.toml --out notes.txt
  expect 1 "notes.txt: exists and is not a qlab experiment log" -- "$qlab" run e.toml --out notes.txt --overwrite
  [ "$(cat notes.txt)" = "my notes" ] || fail "notes.txt changed"
  before=$(sha256sum calib.txt e.toml)
  expect 1 "calib.txt: --out names one of the run's inputs \(data file .*calib.txt\)" -- "$qlab" run e.toml --out calib.txt --overwrite
  expect 1 "e.toml: --out names one of the run's inputs \(experiment file" -- "$qlab" run e.toml --out ./sub/../e.toml
  expect 1 "--out names one of the run's inputs \(model file .*stories260K.bin\)" -- "$qlab" run e.toml --out "$src/datasets/stories260K/stories260K.bin"
  [ "$(sha256sum calib.txt e.toml)" = "$before" ] || fail "an input changed"
  expect 1 "merged.h5: exists and is not a qlab experiment log" -- bash -c "echo x > merged.h5; '$qlab' merge merged.h5 a.h5"
  echo "existing outputs refused, inputs untouched" ;;
concurrent_writer)
  experiment e.toml "$three" 64
  "$qlab" run e.toml --out c.h5 > first.out 2>&1 & first=$!
  for _ in $(seq 200); do [ -e c.h5.lock ] && [ -e c.h5 ] && break; sleep 0.05; done
  expect 1 "c.h5: another qlab process \(pid $first\) is writing this log" -- "$qlab" run e.toml --out c.h5 --overwrite
  expect 1 "another qlab process \(pid $first\)" -- "$qlab" run e.toml --out c.h5 --resume
  expect 0 "float" -- "$qlab" report c.h5  # a running log reads as of its last commit
  wait $first || fail "the first writer failed: $(cat first.out)"
  expect 0 "r0002 .* done" -- "$qlab" report c.h5
  [ ! -e c.h5.lock ] || fail "lock file left behind"
  echo "second writer refused, first finished intact" ;;
disk_full)
  experiment e.toml "$three"
  "$qlab" run e.toml --out whole.h5 > /dev/null 2>&1 || fail "reference run"
  # A file-size limit stands in for a full disk: writes past it fail with EFBIG.
  expect 1 "full.h5: (cannot|writing the log failed)" -- bash -c "trap '' XFSZ; ulimit -f 300; exec '$qlab' run e.toml --out full.h5"
  "$qlab" report full.h5 > /dev/null || fail "the log is unreadable after the failed write"
  expect 0 "r0002 .* done" -- "$qlab" run e.toml --out full.h5 --resume
  [ "$(ppl_column whole.h5)" = "$(ppl_column full.h5)" ] || fail "resumed results differ: $(ppl_column whole.h5) vs $(ppl_column full.h5)"
  echo "disk full: last commit kept, resume equals the uninterrupted run" ;;
corrupt_log)
  experiment e.toml ""
  "$qlab" run e.toml --out good.h5 > /dev/null 2>&1 || fail "run"
  /usr/bin/python3 - <<'PY' || fail "python"
import random
b = bytearray(open("good.h5", "rb").read()); random.seed(1)
for _ in range(200):
    i = random.randrange(2048, len(b)); b[i] ^= 0xFF
open("flipped.h5", "wb").write(b)
open("cut.h5", "wb").write(open("good.h5", "rb").read()[:-200])
PY
  for bad in flipped cut; do
    expect 1 "$bad.h5: the log is damaged" -- "$qlab" report $bad.h5
    cp $bad.h5 $bad.copy
    expect 1 "$bad.h5: the log is damaged" -- "$qlab" run e.toml --out $bad.h5 --resume
    cmp -s $bad.h5 $bad.copy || fail "--resume wrote into the damaged log"
  done
  expect 1 "empty.h5: cannot open as an HDF5 experiment log" -- bash -c ": > empty.h5; '$qlab' run e.toml --out empty.h5 --resume"
  [ ! -s empty.h5 ] || fail "--resume wrote into a 0-byte log"
  echo "damaged logs refused, untouched" ;;
resume_changed_inputs)
  experiment e.toml ""
  mkdir other && cp "$src/datasets/stories260K/stories260K.bin" other/
  QLAB_TEST_ABORT_AFTER_BLOCK=2 "$qlab" run e.toml --out r.h5 --threads 2 > /dev/null 2>&1; [ $? = 86 ] || fail "abort hook"
  expect 1 "r.h5: --resume: the run's inputs changed .*threads: was 2, now 1" -- "$qlab" run e.toml --out r.h5 --resume --threads 1
  expect 1 "inputs changed .*other/stories260K.bin is a new input" -- env SAFETY_MODEL="$work/other/stories260K.bin" "$qlab" run e.toml --out r.h5 --resume --threads 2
  expect 0 "r0000 .* done" -- "$qlab" run e.toml --out r.h5 --resume --threads 2
  echo "changed inputs refused on resume" ;;
crash_marker)
  experiment e.toml '[[{ plugin = "rtn" }], [{ plugin = "crashing" }], [{ plugin = "rtn", search = "mse" }]]'
  "$qlab" run e.toml --out k.h5 --plugin-path "$fixtures/crashing" > k.out 2>&1; rc=$?
  [ $rc -gt 128 ] || fail "expected death by a signal, got exit $rc"
  grep -q "run r0001 died: SIGSEGV" k.out || fail "no crash message: $(cat k.out)"
  expect 1 "r0001 .* crashed" -- "$qlab" run e.toml --out k.h5 --plugin-path "$fixtures/crashing" --resume
  expect 0 "r0002 .* done" -- "$qlab" report k.h5
  expect 0 "Retry it with --resume --only r0001" -- "$qlab" report k.h5 --format json
  "$qlab" run e.toml --out k.h5 --plugin-path "$fixtures/crashing" --resume --only r0001 > /dev/null 2>&1; [ $? -gt 128 ] || fail "--only did not retry"
  experiment x.toml '[[{ plugin = "rtn" }], [{ plugin = "crashing", how = "exit" }], [{ plugin = "rtn", search = "mse" }]]'
  expect 1 "exit\(\) was called during the run" -- "$qlab" run x.toml --out x.h5 --plugin-path "$fixtures/crashing"
  expect 1 "r0002 .* done" -- "$qlab" run x.toml --out x.h5 --plugin-path "$fixtures/crashing" --resume
  experiment h.toml '[[{ plugin = "rtn" }], [{ plugin = "crashing", how = "hang" }], [{ plugin = "rtn", search = "mse" }]]'
  expect 134 "the quantize hook of plugin 'crashing' on 0.self_attn.q_proj ran longer than --hook-timeout 1 s" -- "$qlab" run h.toml --out h.h5 --plugin-path "$fixtures/crashing" --hook-timeout 1
  expect 1 "r0001 .* crashed" -- "$qlab" run h.toml --out h.h5 --plugin-path "$fixtures/crashing" --resume
  expect 0 "ran longer than --hook-timeout 1 s" -- "$qlab" report h.h5 --format json
  echo "crashed runs marked and skipped" ;;
blocks_is_file)
  experiment e.toml '[[{ plugin = "rtn" }], [{ plugin = "gptq" }]]'
  echo x > b.h5.blocks
  expect 1 "r0001 .* failed" -- "$qlab" run e.toml --out b.h5
  expect 0 "cannot create the checkpoint directory" -- "$qlab" report b.h5 --format json
  echo "a failing checkpoint fails its runs only" ;;
only_skip)
  experiment e.toml "$three"
  expect 0 "r0002 .* done" -- "$qlab" run e.toml --out o.h5 --only r0002
  "$qlab" report o.h5 --format csv | grep -q "^r0000" && fail "--only ran r0000"
  expect 0 "r0000 .* done" -- "$qlab" run e.toml --out s.h5 --skip r0001,r0002
  expect 1 "--only r0009: no such grid point" -- "$qlab" run e.toml --out z.h5 --only r0009
  echo "only and skip select grid points" ;;
*) fail "unknown case $case" ;;
esac
