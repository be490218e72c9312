// File-backed weight sources: blocks served one at a time equal the whole-model load, the
// names and shapes are known before any weight is read, and a bad file fails at open.
#include <catch2/catch.hpp>

#include "format/hf_loader.h"
#include "format/hf_source.h"
#include "format/llama2c_loader.h"
#include "format/model_loader.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/llama_family_ref.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kBundled = source_dir() / "datasets/stories260K/stories260K.bin";

void check_same_blocks(const WeightSource& src, const Model& whole) {
  REQUIRE(src.n_blocks() == int64_t(whole.blocks.size()));
  for (int64_t i = src.n_blocks() - 1; i >= 0; --i) {  // any order: each block is read on its own
    Block b = src.load_block(i);
    const Block& w = whole.blocks[size_t(i)];
    REQUIRE(b.linears().size() == w.linears().size());
    for (size_t j = 0; j < w.linears().size(); ++j) {
      CHECK(b.linears()[j]->name == w.linears()[j]->name);
      CHECK(b.linears()[j]->weight == w.linears()[j]->weight);
      CHECK(b.linears()[j]->bias == w.linears()[j]->bias);
    }
    REQUIRE(b.norms().size() == w.norms().size());
    for (size_t j = 0; j < w.norms().size(); ++j) CHECK(b.norms()[j]->weight == w.norms()[j]->weight);
  }
}

void check_same_shapes(const WeightSource& src, Model whole) {
  std::vector<LinearShape> shapes = src.linears();
  std::vector<Linear*> linears = whole.linears();
  REQUIRE(shapes.size() == linears.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    CHECK(shapes[i].name == linears[i]->name);
    CHECK(shapes[i].out_features == linears[i]->out_features());
    CHECK(shapes[i].in_features == linears[i]->in_features());
    CHECK(shapes[i].has_bias == (linears[i]->bias.size() > 0));
  }
}
}  // namespace

TEST_CASE("llama2.c source: blocks read by seeking equal the Hugging Face copy's", "[weight_source]") {
  TempDir dir;
  auto src = open_weight_source(kBundled);
  Model whole = src->load_model();
  // An independent path to the same weights: the directory written from the whole model.
  write_hf_llama(whole, dir / "hf");
  HfSource hf(dir / "hf");
  check_same_blocks(hf, whole);
  check_same_blocks(*src, load_hf_model(dir / "hf"));
  check_same_shapes(*src, whole);
  CHECK(src->load_outer().blocks.empty());
  CHECK(src->load_outer().embed_tokens == whole.embed_tokens);
  REQUIRE_THROWS_WITH(src->load_block(5), Catch::Contains("block 5 requested, the model has 5"));
}

TEST_CASE("Hugging Face source: names, shapes and blocks without loading the model, bad files fail at open", "[weight_source]") {
  TempDir dir;
  LlamaShape s;
  s.arch = "Qwen3ForCausalLM";
  s.qk_norm = true;
  s.layers = 3;
  TensorMap t = random_llama(s, 4);
  write_hf_dir(dir / "q", llama_config(s), t);
  auto src = open_weight_source(dir / "q");
  CHECK(src->config().arch == "qwen3");
  Model whole = load_model(dir / "q");
  check_same_blocks(*src, whole);
  check_same_shapes(*src, whole);
  // Blocks hold the file's values: block 2's k_norm is the tensor written.
  Block b = src->load_block(2);
  const auto& k_norm = t.at("model.layers.2.self_attn.k_norm.weight").data;
  for (int64_t i = 0; i < s.head_dim; ++i) CHECK(b.k_norm.weight[i] == k_norm[size_t(i)]);

  // A wrong shape in the last block is found when the directory is opened, not at block 2.
  TensorMap bad = t;
  bad["model.layers.2.mlp.down_proj.weight"] = {{s.hidden, s.ffn + 1}, std::vector<float>(size_t(s.hidden * (s.ffn + 1)), 0.0f)};
  write_hf_dir(dir / "bad", llama_config(s), bad);
  REQUIRE_THROWS_WITH(open_weight_source(dir / "bad"),
                      Catch::Contains("tensor 'model.layers.2.mlp.down_proj.weight' has shape [32, 49], the config needs [32, 48]"));
  // Non-finite values are found when the block holding them is converted.
  bad = t;
  bad["model.layers.1.self_attn.q_norm.weight"].data[2] = std::nanf("");
  write_hf_dir(dir / "nan", llama_config(s), bad);
  auto nan_src = open_weight_source(dir / "nan");
  CHECK_NOTHROW(nan_src->load_block(0));
  REQUIRE_THROWS_WITH(nan_src->load_block(1), Catch::Contains("tensor '1.self_attn.q_norm' has a non-finite value"));
}
