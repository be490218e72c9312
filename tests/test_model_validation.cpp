// Model directories that load but would evaluate wrongly are refused: non-positive norm
// epsilons and RoPE bases, more layers in the weights than in config.json, overlapping
// tensor buffers, shard names outside the directory; an overflowing forward pass is an
// error, never a NaN perplexity.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "eval/perplexity.h"
#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "format/safetensors.h"
#include "support/compare.h"
#include "support/llama2c_file.h"
#include "support/quiet_options.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kBundled = source_dir() / "datasets/stories260K/stories260K.bin";

void edit_config(const std::filesystem::path& dir, const std::function<void(nlohmann::json&)>& change) {
  nlohmann::json c = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  change(c);
  std::ofstream(dir / "config.json") << c.dump();
}

}  // namespace

TEST_CASE("config.json epsilons and RoPE bases must be finite and positive", "[hf][bad-input]") {
  TempDir dir;
  write_hf_llama(load_llama2c(kBundled), dir / "hf");
  const std::string config = (dir / "hf/config.json").string();
  edit_config(dir / "hf", [](nlohmann::json& c) { c["rms_norm_eps"] = -1.0; });
  REQUIRE_THROWS_WITH(load_hf_model(dir / "hf"), config + ": key 'rms_norm_eps' must be a finite number > 0, got -1");
  edit_config(dir / "hf", [](nlohmann::json& c) { c["rms_norm_eps"] = 0.0; });
  REQUIRE_THROWS_WITH(load_hf_model(dir / "hf"), config + ": key 'rms_norm_eps' must be a finite number > 0, got 0");
  edit_config(dir / "hf", [](nlohmann::json& c) {
    c["rms_norm_eps"] = 1e-5;
    c["rope_theta"] = 0;
  });
  REQUIRE_THROWS_WITH(load_hf_model(dir / "hf"), config + ": key 'rope_theta' must be a finite number > 0, got 0");
  edit_config(dir / "hf", [](nlohmann::json& c) { c["rope_theta"] = 10000.0; });
  CHECK(load_hf_model(dir / "hf").config.rope_theta == 10000.0f);
}

TEST_CASE("weights holding more layers than num_hidden_layers are refused", "[hf][bad-input]") {
  TempDir dir;
  write_hf_llama(load_llama2c(kBundled), dir / "hf");
  edit_config(dir / "hf", [](nlohmann::json& c) { c["num_hidden_layers"] = 4; });
  REQUIRE_THROWS_WITH(load_hf_model(dir / "hf"),
                      (dir / "hf/config.json").string() +
                          ": the weights hold 5 layers (model.layers.4.* present) but config.json says num_hidden_layers = 4");
}


TEST_CASE("a shard index naming a file outside the model directory is refused", "[hf][bad-input]") {
  TempDir dir;
  write_hf_llama(load_llama2c(kBundled), dir / "hf");
  for (const std::string shard : {"../other/model.safetensors", "sub/model.safetensors", ".."}) {
    std::ofstream(dir / "hf/model.safetensors.index.json")
        << nlohmann::json{{"weight_map", {{"model.norm.weight", shard}}}}.dump();
    REQUIRE_THROWS_WITH(load_hf_model(dir / "hf"), (dir / "hf/model.safetensors.index.json").string() +
                                                       ": weight_map['model.norm.weight'] names '" + shard +
                                                       "', which is not a plain file name inside the model directory");
  }
}

TEST_CASE("a forward pass that overflows float fails the perplexity naming the model", "[perplexity][bad-input]") {
  Model m = load_llama2c(kBundled);
  m.find_linear("1.mlp.down_proj")->weight.row(0).setConstant(3e38f);  // finite, but the sum is not
  REQUIRE_THROWS_WITH(perplexity(m, some_tokens(64, 512), test::quiet_options(32)),
                      Catch::Matches("perplexity of .*stories260K\\.bin is (nan|inf): the forward pass overflowed "
                                     "\\(a weight or activation beyond float range\\)"));
}
