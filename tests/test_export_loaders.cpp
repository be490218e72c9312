// The loaders of exported checkpoints on bad input: a GGUF file whose metadata and tensors
// disagree, or whose keys have the wrong type, and quantization_config settings qlab cannot
// decode; every error names the file and the key or tensor. (The GGUF reader itself is in
// test_gguf.cpp, the GPTQ/AWQ packing in test_packed_formats.cpp.)
#include <catch2/catch.hpp>

#include <fstream>

#include "format/gguf_source.h"
#include "format/hf_source.h"
#include "tokenizer/gguf_vocabulary.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using qlab::test::TempDir;

namespace {

// A one-block LLaMA of width 32 (1 head, MLP 32, vocabulary 8) with F32 tensors of ones;
// `change` edits the writer before the tensors are declared.
void write_tiny_gguf(const std::filesystem::path& path, const std::function<void(GgufWriter&)>& change = {},
                     int64_t q_rows = 32) {
  GgufWriter w(path);
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.context_length", 64);
  w.add_u32("llama.embedding_length", 32);
  w.add_u32("llama.block_count", 1);
  w.add_u32("llama.feed_forward_length", 32);
  w.add_u32("llama.attention.head_count", 1);
  w.add_u32("llama.attention.head_count_kv", 1);
  w.add_u32("llama.rope.dimension_count", 32);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  if (change) change(w);
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
      {"token_embd.weight", {32, 8}}, {"output_norm.weight", {32}}, {"blk.0.attn_norm.weight", {32}},
      {"blk.0.ffn_norm.weight", {32}}, {"blk.0.attn_q.weight", {32, q_rows}}, {"blk.0.attn_k.weight", {32, 32}},
      {"blk.0.attn_v.weight", {32, 32}}, {"blk.0.attn_output.weight", {32, 32}}, {"blk.0.ffn_gate.weight", {32, 32}},
      {"blk.0.ffn_up.weight", {32, 32}}, {"blk.0.ffn_down.weight", {32, 32}}};
  for (const auto& [name, ne] : tensors) w.declare_tensor(name, GgmlType::F32, ne);
  for (const auto& [name, ne] : tensors) {
    int64_t n = 1;
    for (int64_t e : ne) n *= e;
    std::vector<float> ones(static_cast<size_t>(n), 1.0f);
    w.write_tensor(name, {reinterpret_cast<const uint8_t*>(ones.data()), ones.size() * 4});
  }
  w.finish();
}

}  // namespace

TEST_CASE("a GGUF file whose tensors or keys contradict its llama metadata is refused naming the file", "[export]") {
  TempDir dir;
  const auto good = dir.path() / "good.gguf";
  write_tiny_gguf(good);
  const GgufSource source(good);
  CHECK(source.config().dim == 32);
  CHECK(source.config().vocab_size == 8);
  CHECK(source.load_block(0).q.weight.rows() == 32);

  const auto shape = dir.path() / "shape.gguf";
  write_tiny_gguf(shape, {}, 64);  // attn_q holds 64 rows where 1 head of 32 needs 32
  REQUIRE_THROWS_WITH(GgufSource(shape), Catch::Contains("shape.gguf") && Catch::Contains("blk.0.attn_q.weight") &&
                                             Catch::Contains("[32, 64]") && Catch::Contains("[32, 32]"));

  const auto typed = dir.path() / "typed.gguf";
  write_tiny_gguf(typed, [](GgufWriter& w) { w.add_f32("llama.rope.freq_base", 10000.0f); });
  CHECK_NOTHROW(GgufSource(typed));
  const auto wrong = dir.path() / "wrong.gguf";
  write_tiny_gguf(wrong, [](GgufWriter& w) { w.add_u32("llama.rope.freq_base", 10000); });
  REQUIRE_THROWS_WITH(GgufSource(wrong), Catch::Contains("wrong.gguf") && Catch::Contains("llama.rope.freq_base") &&
                                             Catch::Contains("expected f32"));

  const auto no_vocab = dir.path() / "no_vocab.gguf";
  write_tiny_gguf(no_vocab, [](GgufWriter& w) { w.add_u32("tokenizer.ggml.bos_token_id", 1); });
  CHECK_NOTHROW(GgufSource(no_vocab));
  REQUIRE_THROWS_WITH(gguf_tokenizer(no_vocab), Catch::Contains("no_vocab.gguf") && Catch::Contains("no SentencePiece-style tokenizer"));
}

TEST_CASE("a GGUF of another architecture or without its block count is refused naming the key", "[export]") {
  TempDir dir;
  GgufWriter w(dir.path() / "opt.gguf");
  w.add_string("general.architecture", "opt");
  w.finish();
  REQUIRE_THROWS_WITH(GgufSource(dir.path() / "opt.gguf"), Catch::Contains("opt.gguf") && Catch::Contains("'opt' is not supported"));
  GgufWriter v(dir.path() / "short.gguf");
  v.add_string("general.architecture", "llama");
  v.add_u32("llama.embedding_length", 32);
  v.finish();
  REQUIRE_THROWS_WITH(GgufSource(dir.path() / "short.gguf"), Catch::Contains("short.gguf") && Catch::Contains("llama.feed_forward_length"));
}

TEST_CASE("quantization_config settings qlab cannot decode are refused naming the file", "[export]") {
  TempDir dir;
  auto config = [&](const std::string& quantization) {
    std::ofstream(dir.path() / "config.json")
        << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 32, "num_hidden_layers": 1,
               "num_attention_heads": 1, "vocab_size": 8, "max_position_embeddings": 64, "quantization_config": )"
        << quantization << "}";
    std::ofstream(dir.path() / "model.safetensors", std::ios::binary) << std::string("\x02\0\0\0\0\0\0\0{}", 10);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"quant_method": "bitsandbytes"})", "quant_method 'bitsandbytes' is not supported"},
      {R"({"quant_method": "gptq", "bits": 5})", "GPTQ with 5 bits is not supported"},
      {R"({"quant_method": "gptq", "checkpoint_format": "marlin"})", "checkpoint_format 'marlin' is not supported"},
      {R"({"quant_method": "awq", "version": "gemv"})", "AWQ version 'gemv' is not supported"},
      {R"({"quant_method": "awq", "zero_point": false})", "zero_point = false is not supported"},
      {R"({"quant_method": "gptq", "group_size": 0})", "group_size = 0"},
      {R"({"quant_method": "gptq", "bits": "four"})", "must be an integer"},
  };
  for (const auto& [q, message] : cases) {
    config(q);
    INFO(q);
    REQUIRE_THROWS_WITH(HfSource(dir.path()), Catch::Contains("config.json") && Catch::Contains(message));
  }
}
