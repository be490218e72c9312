// Folding scales into every scalable group of both architectures leaves the float model's
// logits unchanged (to 1e-5 relative).
#include <catch2/catch.hpp>
#include <random>

#include "forward/forward.h"
#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/compare.h"
#include "util/error.h"
#include "walk/fold.h"

using namespace qlab;
using namespace qlab::test;

namespace {
// Folds a log-normal random scale into every group; returns the groups' names.
std::vector<std::string> fold_everything(Model& m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> scale(0.0f, 0.7f);
  std::vector<std::string> names;
  for (Block& b : m.blocks)
    for (ScalableGroup& g : b.scalable_groups(m.config)) {
      Vector s(g.consumers.front()->in_features());
      for (int64_t j = 0; j < s.size(); ++j) s[j] = scale(rng);
      fold_scale(g, s);
      names.push_back(g.name);
    }
  return names;
}
std::vector<int32_t> tokens(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 17 + 3) % vocab);
  return t;
}
}  // namespace

TEST_CASE("LLaMA: norm → qkv, v → o (no GQA), norm → gate/up, up → down", "[fold]") {
  TempDir dir;
  random_llama2c({32, 72, 2, 4, 4, 37, 64}, 21).write(dir / "m.bin");  // no GQA: v → o is a group
  Model m = load_llama2c(dir / "m.bin");
  const Matrix before = forward_logits(m, tokens(30, 37));
  std::vector<std::string> names = fold_everything(m, 1);
  CHECK(names == std::vector<std::string>{"0.input_layernorm", "0.self_attn.v_proj", "0.post_attention_layernorm",
                                          "0.mlp.up_proj", "1.input_layernorm", "1.self_attn.v_proj",
                                          "1.post_attention_layernorm", "1.mlp.up_proj"});
  CHECK(max_rel(forward_logits(m, tokens(30, 37)), before) < 1e-5);
}

TEST_CASE("LLaMA with GQA (the bundled model): v → o is skipped", "[fold]") {
  Model m = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin");
  const Matrix before = forward_logits(m, tokens(64, 512));
  std::vector<std::string> names = fold_everything(m, 2);
  CHECK(names.size() == 3 * 5);
  CHECK(std::find(names.begin(), names.end(), "0.self_attn.v_proj") == names.end());
  CHECK(max_rel(forward_logits(m, tokens(64, 512)), before) < 1e-5);
}

TEST_CASE("OPT: LayerNorms with bias, v → out_proj, fc1 → fc2 through ReLU, post-LN keeps only linear groups", "[fold]") {
  TempDir dir;
  for (bool pre_norm : {true, false}) {
    OptShape shape{32, 64, 2, 4, 50, 64, 32, pre_norm};
    write_hf_dir(dir / (pre_norm ? "pre" : "post"), opt_config(shape), random_opt(shape, 5));
    Model m = load_hf_model(dir / (pre_norm ? "pre" : "post"));
    const Matrix before = forward_logits(m, tokens(20, 50));
    std::vector<std::string> names = fold_everything(m, 3);
    if (pre_norm)
      CHECK(names == std::vector<std::string>{"0.self_attn_layer_norm", "0.self_attn.v_proj", "0.final_layer_norm", "0.fc1",
                                              "1.self_attn_layer_norm", "1.self_attn.v_proj", "1.final_layer_norm", "1.fc1"});
    else
      CHECK(names == std::vector<std::string>{"0.self_attn.v_proj", "0.fc1", "1.self_attn.v_proj", "1.fc1"});
    CHECK(max_rel(forward_logits(m, tokens(20, 50)), before) < 1e-5);
  }
}

TEST_CASE("bad scales are refused naming the group", "[fold][bad-input]") {
  Model m = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin");
  ScalableGroup g = m.blocks[0].scalable_groups(m.config)[0];
  Vector s = Vector::Ones(64);
  s[3] = 0.0f;
  REQUIRE_THROWS_WITH(fold_scale(g, s), Catch::Contains("0.input_layernorm") && Catch::Contains("channel 3"));
  REQUIRE_THROWS_WITH(fold_scale(g, Vector::Ones(10)), Catch::Contains("10 channels"));
}
