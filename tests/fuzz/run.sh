#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS
# (default 180). Not part of the test suite; needs clang and libclang-rt-14-dev.
# Usage: bash tests/fuzz/run.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-180}
out=$root/build-fuzz
mkdir -p "$out"
core=$root/core
common=(
  "$core/util/error.cpp" "$core/util/file_io.cpp" "$core/tensor/half.cpp" "$core/format/safetensors.cpp"
  "$core/model/tokenizer.cpp" "$core/model/bpe_merge.cpp" "$core/model/llama2c_tokenizer.cpp"
  "$core/model/sentencepiece_tokenizer.cpp" "$core/model/byte_level_bpe_tokenizer.cpp"
  "$core/model/metaspace_bpe_tokenizer.cpp" "$core/model/tokenizer_loader.cpp"
)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$core" -I/usr/include/eigen3)
libs=(-lfmt -lsentencepiece -lpcre2-8)
corpus_seed() {  # a valid input to start from
  case $1 in
    fuzz_safetensors) python3 -c "
import json,struct,sys
h=json.dumps({'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]},'__metadata__':{'format':'pt'}}).encode()
sys.stdout.buffer.write(struct.pack('<Q',len(h))+h+bytes(16))" ;;
    fuzz_llama2c_tokenizer) cat "$root/datasets/stories260K/tok512.bin" ;;
    fuzz_tokenizer_json) echo '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<s>":3},"merges":["a b"],"byte_fallback":false},"pre_tokenizer":{"type":"Metaspace","prepend_scheme":"first"},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}]}}' ;;
  esac
}
for target in fuzz_safetensors fuzz_llama2c_tokenizer fuzz_tokenizer_json; do
  clang++ "${flags[@]}" "$root/tests/fuzz/$target.cpp" "${common[@]}" "${libs[@]}" -o "$out/$target" 2> "$out/$target.build.log" ||
    { cat "$out/$target.build.log"; exit 1; }
  mkdir -p "$out/corpus_$target"
  corpus_seed $target > "$out/corpus_$target/seed"
  echo "== $target: ${seconds} s"
  "$out/$target" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 "$out/corpus_$target" \
    2>&1 | grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==.*ERROR|SUMMARY)" || true
done
