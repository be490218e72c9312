// Scaling transforms on input they cannot use: an architecture that offers them nothing to
// scale, and a layer whose calibration statistics are all zero.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "config/experiment.h"
#include "forward/forward.h"
#include "format/hf_loader.h"
#include "format/model_loader.h"
#include "plugin_host/plugin_loader.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "util/error.h"
#include "support/walk_model.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

using namespace qlab;
using namespace qlab::test;

namespace {

// Walks `model` with the pipeline in `toml` (and [quant] lines); returns every linear's logged metrics.
std::map<std::string, std::map<std::string, double>> walk(Model& model, const std::filesystem::path& dir, const std::string& toml) {
  std::ofstream(dir / "e.toml") << "[model]\npath = \"unused\"\n" << toml;
  Experiment ex = load_experiment((dir / "e.toml").string());
  PluginRegistry reg = PluginRegistry::discover({});
  Pipeline p = build_pipeline(ex.runs[0], reg);
  std::vector<std::vector<int32_t>> calib(4, std::vector<int32_t>(32));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t i = 0; i < 32; ++i) calib[s][i] = static_cast<int32_t>(1 + (s * 31 + i * 17) % 50);
  std::map<std::string, std::map<std::string, double>> metrics;
  ActivationPlan act{ex.runs[0].act, {}};
  model = walk_model(model, calib, p, ex.runs[0], act, [&](const BlockResult& r) {
    for (const LinearRow& row : r.linears) metrics[row.id] = row.metrics;
  });
  return metrics;
}

}  // namespace

TEST_CASE("SmoothQuant on post-LayerNorm OPT (no norm feeds the linears) is refused, naming the groups offered", "[smoothquant][bad-input]") {
  TempDir dir;
  OptShape shape{32, 64, 1, 4, 60, 64, 32, false};
  write_hf_dir(dir / "opt", opt_config(shape), random_opt(shape, 3));
  Model m = load_hf_model(dir / "opt");
  CHECK_THROWS_WITH(walk(m, dir.path(), "[quant]\nbits = 8\n[[pipeline]]\nplugin = \"smoothquant\"\n[[pipeline]]\nplugin = \"rtn\"\n"),
                    Catch::Contains("plugin 'smoothquant' scaled none of block 0's groups") &&
                        Catch::Contains("0.self_attn.v_proj → 1 linear(s)") && Catch::Contains("offers it nothing it can scale"));
  // AWQ can scale the linear → linear groups the same blocks do offer.
  Model m2 = load_hf_model(dir / "opt");
  auto metrics = walk(m2, dir.path(), "[quant]\nbits = 4\n[[pipeline]]\nplugin = \"awq\"\n[[pipeline]]\nplugin = \"rtn\"\n");
  CHECK(metrics.at("0.self_attn.out_proj").count("awq.ratio") == 1);
  CHECK(metrics.at("0.fc2").count("awq.ratio") == 1);
}

TEST_CASE("A dead norm (all-zero statistics) keeps s = 1 under SmoothQuant and AWQ, logged, with finite results", "[smoothquant][awq][bad-input]") {
  TempDir dir;
  Model model = load_model(source_dir() / "datasets/stories260K/stories260K.bin");
  model.blocks[0].attn_norm.weight.setZero();  // q, k, v of block 0 see only zeros
  const Matrix reference = forward_logits(model, std::vector<int32_t>{1, 5, 9, 13});
  SECTION("smoothquant") {
    Model m = model;
    auto metrics = walk(m, dir.path(), "[quant]\nbits = 8\nsym = true\nact_bits = 8\n[[pipeline]]\nplugin = \"smoothquant\"\n[[pipeline]]\nplugin = \"rtn\"\n");
    CHECK(metrics.at("0.self_attn.q_proj").at("smoothquant.fallback_unscaled") == 1.0);
    CHECK(metrics.at("1.self_attn.q_proj").count("smoothquant.fallback_unscaled") == 0);
    CHECK(m.blocks[0].attn_norm.weight.isZero());  // not divided by the 1e-5 clamp
    CHECK(forward_logits(m, std::vector<int32_t>{1, 5, 9, 13}).allFinite());
  }
  SECTION("static activation ranges cannot be calibrated from all-zero inputs: an error naming the linear") {
    Model m = model;
    CHECK_THROWS_WITH(walk(m, dir.path(), "[calibration]\ndata = \"text:unused\"\n[quant]\nbits = 8\nsym = true\nact_bits = 8\n"
                                          "act_scheme = \"static\"\n[[pipeline]]\nplugin = \"rtn\"\n"),
                      Catch::Contains("block 0: every calibration input of 0.self_attn.q_proj is zero"));
  }
  SECTION("awq then gptq") {
    Model m = model;
    auto metrics = walk(m, dir.path(), "[quant]\nbits = 3\ngroup_size = 16\n[[pipeline]]\nplugin = \"awq\"\n[[pipeline]]\nplugin = \"gptq\"\n");
    CHECK(metrics.at("0.self_attn.q_proj").at("awq.ratio") == 0.0);  // every ratio ties at zero loss: s = 1
    CHECK(m.blocks[0].q.weight.allFinite());
    const Matrix logits = forward_logits(m, std::vector<int32_t>{1, 5, 9, 13});
    CHECK(logits.allFinite());
    CHECK((logits - reference).norm() < 0.5 * reference.norm());
  }
}
