#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS
# (default 180). Not part of the test suite; needs clang and libclang-rt-14-dev.
# Usage: bash tests/fuzz/run.sh [SECONDS]   (FUZZ_TARGETS="fuzz_gguf" to run a subset)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-180}
out=$root/build-fuzz
mkdir -p "$out"
core=$root/core
common=(
  "$core/util/error.cpp" "$core/util/file_io.cpp" "$core/tensor/half.cpp" "$core/format/safetensors.cpp"
  "$core/format/gguf_file.cpp" "$core/format/ggml_blocks.cpp"
  "$core/tokenizer/tokenizer.cpp" "$core/tokenizer/bpe_merge.cpp" "$core/tokenizer/llama2c_tokenizer.cpp"
  "$core/tokenizer/sentencepiece_tokenizer.cpp" "$core/tokenizer/byte_level_bpe_tokenizer.cpp"
  "$core/tokenizer/metaspace_bpe_tokenizer.cpp" "$core/tokenizer/tokenizer_loader.cpp" "$core/tokenizer/gguf_vocabulary.cpp"
)
# fuzz_packed_checkpoint's own list: HfSource and what it reads (config.json, quantization_config, packed linears).
hf_source=(
  "$core/util/error.cpp" "$core/util/file_io.cpp" "$core/tensor/half.cpp" "$core/format/safetensors.cpp"
  "$core/format/hf_source.cpp" "$core/format/hf_config.cpp" "$core/format/hf_quantization.cpp" "$core/format/rope_scaling.cpp"
  "$core/format/packed_linear_formats.cpp" "$core/run/code_packing.cpp" "$core/model/arch.cpp" "$core/model/arch_llama.cpp"
  "$core/model/arch_mixtral.cpp" "$core/model/arch_opt.cpp" "$core/model/arch_qwen3.cpp" "$core/model/weight_source.cpp"
  "$core/model/model.cpp" "$core/model/block_layout.cpp"
)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$core" -I"$root/plugins/sdk/include" -I/usr/include/eigen3)
libs=(-lfmt -lsentencepiece -lpcre2-8)
corpus_seed() {  # a valid input to start from
  case $1 in
    fuzz_safetensors) python3 -c "
import json,struct,sys
h=json.dumps({'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]},'__metadata__':{'format':'pt'}}).encode()
sys.stdout.buffer.write(struct.pack('<Q',len(h))+h+bytes(16))" ;;
    fuzz_gguf) python3 -c "
import struct,sys
s=lambda t: struct.pack('<Q',len(t))+t
kv=s(b'general.architecture')+struct.pack('<I',8)+s(b'llama')+s(b'tokenizer.ggml.scores')+struct.pack('<IIQ',9,6,2)+struct.pack('<ff',0,-1.5)
ti=s(b'w')+struct.pack('<IqqIQ',2,32,2,8,0)+s(b'n')+struct.pack('<IqIQ',1,4,0,96)
h=b'GGUF'+struct.pack('<Iqq',3,2,2)+kv+ti
h+=bytes(-len(h)%32)
sys.stdout.buffer.write(h+bytes(range(68))+bytes(28)+struct.pack('<4f',1,2,3,4))" ;;
    fuzz_llama2c_tokenizer) cat "$root/datasets/stories260K/tok512.bin" ;;
    fuzz_packed_checkpoint) python3 -c "  # a one-block GPTQ checkpoint matching the target's config.json
import json,struct,sys
t,data={},b''
def add(n,dt,shape):
    global data
    size=2 if dt=='F16' else 4
    for s in shape: size*=s
    t[n]={'dtype':dt,'shape':shape,'data_offsets':[len(data),len(data)+size]}
    data+=b'\\x00\\x3c'*(size//2) if dt=='F16' else bytes(size)
add('model.embed_tokens.weight','F16',[32,32]); add('model.norm.weight','F16',[32])
p='model.layers.0.'
add(p+'input_layernorm.weight','F16',[32]); add(p+'post_attention_layernorm.weight','F16',[32])
for n,o,i in [('self_attn.q_proj',32,32),('self_attn.k_proj',32,32),('self_attn.v_proj',32,32),('self_attn.o_proj',32,32),
              ('mlp.gate_proj',64,32),('mlp.up_proj',64,32),('mlp.down_proj',32,64)]:
    add(p+n+'.qweight','I32',[i//8,o]); add(p+n+'.qzeros','I32',[i//32,o//8]); add(p+n+'.scales','F16',[i//32,o]); add(p+n+'.g_idx','I32',[i])
h=json.dumps(t).encode()
sys.stdout.buffer.write(struct.pack('<Q',len(h))+h+data)" ;;
    fuzz_tokenizer_json) echo '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"<s>":3},"merges":["a b"],"byte_fallback":false},"pre_tokenizer":{"type":"Metaspace","prepend_scheme":"first"},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}]}}' ;;
  esac
}
for target in ${FUZZ_TARGETS:-fuzz_safetensors fuzz_gguf fuzz_llama2c_tokenizer fuzz_tokenizer_json fuzz_packed_checkpoint}; do
  sources=("${common[@]}")
  if [ "$target" = fuzz_packed_checkpoint ]; then sources=("${hf_source[@]}"); fi
  clang++ "${flags[@]}" "$root/tests/fuzz/$target.cpp" "${sources[@]}" "${libs[@]}" -o "$out/$target" 2> "$out/$target.build.log" ||
    { cat "$out/$target.build.log"; exit 1; }
  mkdir -p "$out/corpus_$target"
  corpus_seed $target > "$out/corpus_$target/seed"
  echo "== $target: ${seconds} s"
  "$out/$target" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 "$out/corpus_$target" \
    2>&1 | grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==.*ERROR|SUMMARY)" || true
done
