// Hugging Face model directories: the converted bundled model agrees with its llama2.c
// load, OPT (pre- and post-LayerNorm, projected embeddings) against a naive forward, dtypes,
// shards, and every broken-directory error.
#include <catch2/catch.hpp>

#include "data/data_spec.h"
#include "eval/perplexity.h"
#include "forward/forward.h"
#include "format/model_loader.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/skip.h"
#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/compare.h"
#include "support/quiet_options.h"
#include "tensor/half.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kBundled = source_dir() / "datasets/stories260K/stories260K.bin";
}  // namespace

TEST_CASE("bundled model: llama2.c and Hugging Face loads give the same logits", "[hf]") {
  TempDir dir;
  Model a = load_llama2c(kBundled);
  write_hf_llama(a, dir / "hf");
  Model b = load_hf_model(dir / "hf");
  std::vector<int32_t> tokens = some_tokens(100, 512);
  CHECK(max_rel(forward_logits(b, tokens), forward_logits(a, tokens)) < 1e-5);

  // The directory holds q/k exactly as Hugging Face's convert script permutes llama2.c's wq:
  // w.view(n_heads, hd/2, 2, dim).transpose(1, 2).reshape(dim, dim).
  Llama2cFile raw{{64, 172, 5, 8, 4, 512, 512}, {}};
  auto st = SafetensorsFile::open(dir / "hf/model.safetensors");
  Matrix q = st->to_matrix("model.layers.0.self_attn.q_proj.weight");
  std::ifstream in(kBundled, std::ios::binary);
  in.seekg(28 + raw.off_wq() * 4);
  std::vector<float> wq(64 * 64);
  in.read(reinterpret_cast<char*>(wq.data()), 64 * 64 * 4);
  const int hd = 8;
  for (int h = 0; h < 8; ++h)
    for (int i = 0; i < hd / 2; ++i)
      for (int two = 0; two < 2; ++two)
        for (int c = 0; c < 64; ++c)  // permuted row (h, two, i) ← original row (h, i, two)
          REQUIRE(q(h * hd + two * hd / 2 + i, c) == wq[size_t((h * hd + 2 * i + two) * 64 + c)]);
}

TEST_CASE("OPT directories against a naive OPT forward", "[hf][opt]") {
  TempDir dir;
  auto [shape, label] = GENERATE(table<OptShape, std::string>({
      {{32, 64, 2, 4, 50, 64, 32, true}, "pre-LayerNorm (OPT-125M style)"},
      {{32, 48, 2, 2, 40, 64, 16, false}, "post-LayerNorm with project_in/out (OPT-350M style)"},
  }));
  SECTION(label) {
    TensorMap t = random_opt(shape, 5);
    write_hf_dir(dir / "opt", opt_config(shape), t);
    Model m = load_hf_model(dir / "opt");
    CHECK(m.config.arch == "opt");
    CHECK(m.find_linear("1.fc2") != nullptr);
    CHECK(m.find_linear("0.self_attn.out_proj")->bias.size() == shape.hidden);
    std::vector<int32_t> tokens = some_tokens(20, int(shape.vocab));
    CHECK(max_rel(forward_logits(m, tokens), naive_opt_logits(shape, t, tokens)) < 1e-5);
  }
}

TEST_CASE("F16 and BF16 tensors load as float32, sharded directories load", "[hf]") {
  TempDir dir;
  Model a = load_llama2c(kBundled);
  write_hf_llama(a, dir / "f32");
  auto st = SafetensorsFile::open(dir / "f32/model.safetensors");

  for (Dtype dtype : {Dtype::f16, Dtype::bf16}) {
    std::vector<TensorToWrite> half;
    for (const auto& [name, info] : st->tensors()) {
      Vector v = st->to_vector(name);
      TensorToWrite t{name, dtype, info.shape, std::vector<uint8_t>(size_t(v.size()) * 2)};
      for (int64_t i = 0; i < v.size(); ++i) {
        uint16_t h = dtype == Dtype::f16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
        std::memcpy(t.bytes.data() + 2 * i, &h, 2);
      }
      half.push_back(std::move(t));
    }
    const auto sub = dir / dtype_name(dtype);
    std::filesystem::create_directories(sub);
    write_safetensors(sub / "model.safetensors", half);
    std::filesystem::copy_file(dir / "f32/config.json", sub / "config.json");
    Model b = load_hf_model(sub);
    const float tol = dtype == Dtype::f16 ? 1e-3f : 1e-2f;  // one rounding of each weight
    Matrix wa = a.find_linear("2.mlp.up_proj")->weight, wb = b.find_linear("2.mlp.up_proj")->weight;
    CHECK(((wa - wb).array().abs() <= tol * wa.array().abs() + 1e-6f).all());
  }

  // Two shards and an index.
  std::vector<TensorToWrite> first, second;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (const auto& [name, info] : st->tensors()) {
    Vector v = st->to_vector(name);
    bool in_first = name.find("layers.0.") != std::string::npos || name.find("embed") != std::string::npos;
    (in_first ? first : second).push_back(f32_tensor(name, info.shape, v.data()));
    index["weight_map"][name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  const auto sharded = dir / "sharded";
  std::filesystem::create_directories(sharded);
  write_safetensors(sharded / "model-00001-of-00002.safetensors", first);
  write_safetensors(sharded / "model-00002-of-00002.safetensors", second);
  std::ofstream(sharded / "model.safetensors.index.json") << index.dump();
  std::filesystem::copy_file(dir / "f32/config.json", sharded / "config.json");
  Model c = load_hf_model(sharded);
  std::vector<int32_t> tokens = some_tokens(30, 512);
  CHECK(forward_logits(c, tokens) == forward_logits(a, tokens));

  std::filesystem::remove(sharded / "model-00002-of-00002.safetensors");
  REQUIRE_THROWS_WITH(load_hf_model(sharded), Catch::Contains("model.safetensors.index.json") &&
                                                  Catch::Contains("model-00002-of-00002.safetensors") &&
                                                  Catch::Contains("missing"));
}

TEST_CASE("broken Hugging Face directories are refused naming the file and the problem", "[hf][bad-input]") {
  TempDir dir;
  OptShape shape{16, 32, 1, 2, 20, 32, 16, true};
  TensorMap t = random_opt(shape, 9);
  auto make = [&](const std::string& name, nlohmann::json config, const TensorMap& tensors) {
    write_hf_dir(dir / name, config, tensors);
    return dir / name;
  };

  SECTION("no config.json") {
    std::filesystem::create_directories(dir / "empty");
    REQUIRE_THROWS_WITH(load_hf_model(dir / "empty"), Catch::Contains("no config.json"));
  }
  SECTION("unknown architecture") {
    nlohmann::json c = opt_config(shape);
    c["architectures"] = {"GPTNeoXForCausalLM"};
    REQUIRE_THROWS_WITH(load_hf_model(make("neox", c, t)), Catch::Contains("config.json") &&
                                                                Catch::Contains("unknown architecture 'GPTNeoXForCausalLM'"));
  }
  SECTION("missing config key") {
    nlohmann::json c = opt_config(shape);
    c.erase("ffn_dim");
    REQUIRE_THROWS_WITH(load_hf_model(make("nokey", c, t)), Catch::Contains("config.json") && Catch::Contains("missing key 'ffn_dim'"));
  }
  SECTION("tensor of the wrong shape") {
    TensorMap bad = t;
    bad["model.decoder.layers.0.fc1.weight"].shape = {16, 32};
    REQUIRE_THROWS_WITH(load_hf_model(make("shape", opt_config(shape), bad)),
                        Catch::Contains("model.safetensors") && Catch::Contains("layers.0.fc1.weight") &&
                            Catch::Contains("[16, 32]") && Catch::Contains("[32, 16]"));
  }
  SECTION("missing tensor") {
    TensorMap bad = t;
    bad.erase("model.decoder.layers.0.fc2.bias");
    REQUIRE_THROWS_WITH(load_hf_model(make("missing", opt_config(shape), bad)),
                        Catch::Contains("missing tensor 'model.decoder.layers.0.fc2.bias'"));
  }
  SECTION("NaN weight") {
    TensorMap bad = t;
    bad["model.decoder.layers.0.fc1.weight"].data[3] = std::nanf("");
    REQUIRE_THROWS_WITH(load_hf_model(make("nan", opt_config(shape), bad)), Catch::Contains("0.fc1") && Catch::Contains("non-finite"));
  }
  SECTION("an unknown rope_scaling type is refused clearly") {
    Model a = load_llama2c(kBundled);
    write_hf_llama(a, dir / "l31");
    nlohmann::json c = nlohmann::json::parse(std::ifstream(dir / "l31/config.json"));
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 8.0}};
    std::ofstream(dir / "l31/config.json") << c.dump();
    REQUIRE_THROWS_WITH(load_hf_model(dir / "l31"), Catch::Contains("config.json") && Catch::Contains("rope_scaling of type 'yarn' is not implemented"));
  }
}

TEST_CASE("an OPT directory evaluates end to end with its byte-level tokenizer", "[hf][opt]") {
  const auto gpt2 = source_dir() / "../shared/data/gpt2-tokenizer";
  if (!std::filesystem::exists(gpt2 / "vocab.json")) QLAB_SKIP("GPT-2 tokenizer files not found in ../shared/data");
  TempDir dir;
  OptShape shape{16, 32, 1, 2, 50272, 128, 16, true};  // OPT's embedding has 50272 rows for 50265 tokens
  write_hf_dir(dir / "opt", opt_config(shape), random_opt(shape, 3));
  for (const char* f : {"vocab.json", "merges.txt"}) std::filesystem::copy_file(gpt2 / f, dir / "opt" / f);
  std::ofstream(dir / "opt/tokenizer_config.json") << R"({"add_bos_token": true, "bos_token": "<|endoftext|>"})";
  Model m = load_model(dir / "opt");
  auto tok = load_tokenizer_for(m, "");
  TokenData d = load_eval_tokens("wikitext2:" + (source_dir() / "../shared/data/wikitext-2-raw/wiki.test.raw").string(), *tok, 128);
  CHECK(d.tokens.size() == 287644 + 1);  // GPT-2's count plus the BOS the OPT-style config adds
  PerplexityResult r = perplexity(m, d.tokens, test::quiet_options(128, 3));
  CHECK(r.n_segments == 3);
  CHECK(std::isfinite(r.ppl));
  CHECK(r.ppl > 1.0);

  // The same tokenizer against a model whose embedding is too small is refused.
  OptShape small{16, 32, 1, 2, 50, 128, 16, true};
  write_hf_dir(dir / "small", opt_config(small), random_opt(small, 3));
  for (const char* f : {"vocab.json", "merges.txt"}) std::filesystem::copy_file(gpt2 / f, dir / "small" / f);
  Model s = load_model(dir / "small");
  REQUIRE_THROWS_WITH(load_tokenizer_for(s, ""), Catch::Contains("vocab.json") && Catch::Contains("50257 tokens") &&
                                                     Catch::Contains("vocabulary of 50"));
}
