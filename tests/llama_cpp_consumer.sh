#!/usr/bin/env bash
# qlab's GGUF exports read by the real consumer, llama.cpp v0.4.0 (qlab_llama_cpp_eval), agree
# with qlab's own evaluation of the same weights.
#
#   bash tests/llama_cpp_consumer.sh QLAB QLAB_LLAMA_CPP_EVAL SOURCE_DIR WORK_DIR
#
# 1. `qlab run` a two-point RTN experiment on the bundled stories260K with --keep-quantized:
#    r0000 4-bit symmetric group 32 (→ Q4_0), r0001 4-bit asymmetric group 32 (→ Q4_1).
# 2. `qlab export LOG --run RUN --format gguf --out X.gguf` for both runs (the run's own codes),
#    and r0000's dequantized weights as F32 (`--tensor-type f32`).
# 3. For each GGUF: `qlab eval --model X.gguf --json` and `qlab_llama_cpp_eval X.gguf` on the
#    same text (seqlen 512, 8 segments), then:
#    - F32: llama.cpp's perplexity within 1e-4 relative of the run's in the log, qlab's of the
#      export equal to it (1e-12);
#    - Q4_0, Q4_1: llama.cpp's within 2e-3 relative of qlab's eval of the export and of the
#      run's perplexity in the log (`qlab report LOG --format json`); llama.cpp quantizes
#      activations to Q8_0/Q8_1 in its dot products, qlab does not;
#    - the token ids llama.cpp reads from the GGUF's vocabulary equal qlab's (`qlab tokenize`
#      with the model's own tokenizer, tok512.bin), and the counts of qlab eval of the GGUF;
#    - F32: llama.cpp's 20-token greedy continuation of "Once upon a time" equals
#      `qlab generate` of the same GGUF (stdout: the prompt and the continuation as text).
# Every failed check prints a line starting "FAILED:"; the last line says whether all passed.
set -uo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 QLAB QLAB_LLAMA_CPP_EVAL SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
qlab=$1 lce=$2 src=$3 work=$4
model=$src/datasets/stories260K/stories260K.bin
tokenizer=$src/datasets/stories260K/tok512.bin
text=$src/datasets/tinystories/tinystories_eval.txt
calib=$src/datasets/tinystories/tinystories_calib.txt
seqlen=512
segments=8
threads=2
prompt="Once upon a time"
n_predict=20
log=$work/consumer.h5
mkdir -p "$work"
rm -f "$work"/*.gguf "$work"/*.json "$work"/*.ids "$work"/*.err

failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

# run NAME CMD...: stdout to $work/NAME.out, stderr to $work/NAME.err; a failure names the
# command, its exit code and its last lines of stderr.
run() {
  local name=$1; shift
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    fail "$name: \`$*\` exited $rc: $(tail -n 3 "$work/$name.err" | tr '\n' ' ')"
    return 1
  fi
}

# json FILE EXPR: EXPR evaluated in Python with d = the JSON object in FILE.
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# close WHAT A B TOL: |A - B| / |B| <= TOL, printed either way.
close() {
  local what=$1 a=$2 b=$3 tol=$4 rel
  rel=$(python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print("%.3g" % (abs(a - b) / abs(b)))' "$a" "$b") || {
    fail "$what: not numbers: '$a' vs '$b'"; return; }
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$rel" "$tol"; then
    echo "ok: $what: $a vs $b (relative $rel <= $tol)"
  else
    fail "$what: $a vs $b, relative difference $rel > $tol"
  fi
}

echo "== 1. the experiment (RTN W4 g32 sym and asym), quantized blocks kept"
cat > "$work/consumer.toml" <<EOF
name = "llama_cpp_consumer"
[model]
path = "$model"
[calibration]
data = "text:$calib"
n_segments = 4
seq_len = 64
[eval]
data = "text:$text"
seq_len = $seqlen
max_segments = $segments
[quant]
bits = 4
group_size = 32
[[pipeline]]
plugin = "rtn"
[sweep]
mode = "zip"
"quant.sym" = [true, false]
EOF
have_log=0
if run experiment "$qlab" run "$work/consumer.toml" --out "$log" --overwrite --keep-quantized --threads $threads &&
   run report "$qlab" report "$log" --format json; then
  have_log=1
fi

echo "== 2. qlab's references: float perplexity, token ids, greedy text"
run float_eval "$qlab" eval --model "$model" --data "text:$text" --seqlen $seqlen --max-segments $segments --json --threads $threads
float_ppl=$(json "$work/float_eval.out" 'd["ppl"]' 2> /dev/null)
run qlab_ids "$qlab" tokenize --tokenizer "$tokenizer" --data "text:$text" --ids && tail -n 1 "$work/qlab_ids.out" > "$work/qlab.ids"
[ $have_log = 1 ] && close "float perplexity in the log vs qlab eval" \
  "$(json "$work/report.out" 'list(d["float_ppl"].values())[0]')" "$float_ppl" 1e-12

"$qlab" --help | grep -q '^  export ' ||
  fail "qlab has no \`export\` subcommand (not in \`qlab --help\`): the GGUF exporter has not landed"

# check NAME GGUF: qlab eval and llama.cpp on one export; prints their perplexities' names.
check() {
  local name=$1 gguf=$2 extra=()
  [ "$name" = f32 ] && extra=(--greedy "$prompt" --n-predict $n_predict)
  run "${name}_qlab" "$qlab" eval --model "$gguf" --data "text:$text" --seqlen $seqlen --max-segments $segments --json --threads $threads
  local qlab_ok=$?
  run "${name}_llama" "$lce" "$gguf" --text "$text" --seqlen $seqlen --max-segments $segments --threads $threads \
      --dump-tokens "$work/$name.ids" "${extra[@]}" || return 1
  local llama_ppl
  llama_ppl=$(json "$work/${name}_llama.out" 'd["ppl"]')
  if cmp -s "$work/$name.ids" "$work/qlab.ids"; then
    echo "ok: $name: llama.cpp's token ids equal qlab tokenize's ($(wc -w < "$work/$name.ids") ids)"
  else
    fail "$name: llama.cpp's token ids differ from qlab tokenize's ($(wc -w < "$work/$name.ids") vs $(wc -w < "$work/qlab.ids") ids; first difference: $(cmp "$work/$name.ids" "$work/qlab.ids" 2>&1 | head -n 1))"
  fi
  if [ $qlab_ok = 0 ]; then
    local q_n l_n
    q_n=$(json "$work/${name}_qlab.out" '(d["n_tokens"], d["n_segments"])')
    l_n=$(json "$work/${name}_llama.out" '(d["n_tokens"], d["n_segments"])')
    [ "$q_n" = "$l_n" ] && echo "ok: $name: (tokens, segments) $q_n in both" ||
      fail "$name: (tokens, segments) of qlab eval $q_n vs llama.cpp $l_n"
  fi
  if [ "$name" = f32 ]; then
    # The run's dequantized weights in F32: qlab's perplexity of it is the run's, exactly.
    local run_ppl
    run_ppl=$(json "$work/report.out" '[list(r["ppl"].values())[0] for r in d["runs"] if r["run"] == "'"$3"'"][0]')
    close "f32: llama.cpp ppl of the export vs the log's run $3" "$llama_ppl" "$run_ppl" 1e-4
    [ $qlab_ok = 0 ] && close "f32: qlab ppl of the export vs the log's run $3" \
      "$(json "$work/${name}_qlab.out" 'd["ppl"]')" "$run_ppl" 1e-12
    run generate "$qlab" generate --model "$gguf" --prompt "$prompt" --max-tokens $n_predict --threads $threads
    local want got
    want=$(cat "$work/generate.out")
    got="$prompt$(json "$work/${name}_llama.out" 'd["greedy_text"]')"
    if [ "$got" = "$want" ]; then
      echo "ok: f32: greedy $n_predict tokens: '$got' (ids $(json "$work/${name}_llama.out" 'd["greedy"]'))"
    else
      fail "f32: llama.cpp's greedy text '$got' (ids $(json "$work/${name}_llama.out" 'd["greedy"]')) != qlab generate's '$want'"
    fi
  else
    [ $qlab_ok = 0 ] && close "$name: llama.cpp ppl vs qlab eval of the export" \
      "$llama_ppl" "$(json "$work/${name}_qlab.out" 'd["ppl"]')" 2e-3
    [ $have_log = 1 ] && close "$name: llama.cpp ppl vs the log's run $3" "$llama_ppl" \
      "$(json "$work/report.out" '[list(r["ppl"].values())[0] for r in d["runs"] if r["run"] == "'"$3"'"][0]')" 2e-3
  fi
}

echo "== 3. F32 export of run r0000 (its dequantized weights)"
if [ $have_log = 1 ] && run export_f32 "$qlab" export "$log" --run r0000 --format gguf --tensor-type f32 --out "$work/f32.gguf"; then
  check f32 "$work/f32.gguf" r0000
fi
for spec in "q4_0 r0000" "q4_1 r0001"; do
  set -- $spec
  echo "== 4. $1 export of run $2"
  if [ $have_log = 1 ] && run "export_$1" "$qlab" export "$log" --run "$2" --format gguf --out "$work/$1.gguf"; then
    check "$1" "$work/$1.gguf" "$2"
  fi
done

if [ $failures -eq 0 ]; then
  echo "llama.cpp consumer: all checks passed"
else
  echo "llama.cpp consumer: $failures check(s) FAILED"
  exit 1
fi
