// The host does not trust a plugin: out-of-range indices, codes that do not reproduce the
// dequantized weight, impossible storage costs, unterminated messages and unsafe metric
// names fail the run naming the plugin and the linear, while honest plugins pass.
#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "config/experiment.h"
#include "log/experiment_log.h"
#include "log/h5.h"
#include "log/log_summary.h"
#include "plugin_host/params.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_loader.h"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "walk/linear_hooks.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::string kFixtures = QLAB_FIXTURE_DIR;

// An 8 × 48 linear at 4 bits, group 32 (two groups per row, the second one short).
QuantizedLinear quantize_with(const std::string& plugin, const std::string& fault) {
  PluginRegistry reg = PluginRegistry::discover({kFixtures + "/" + plugin});
  const LoadedPlugin& p = reg.get(plugin);
  PluginInstance inst(p, resolve_params(*p.descriptor, {{"fault", {fault, "test"}}}, "test"));
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix w(8, 48);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = normal(rng);
  Linear l{"0.self_attn.q_proj", w, {}};
  return quantize_linear(l, 0, {4, 32, 0, QLAB_RANGE_GPTQ}, inst, qlab_stats{});
}
}  // namespace

TEST_CASE("honest uniform and codebook quantizers pass the host's checks", "[plugin][trust]") {
  for (const char* plugin : {"evil", "evil_codebook"}) {
    INFO(plugin);
    QuantizedLinear q = quantize_with(plugin, "none");
    CHECK(q.n_groups == 2);
    CHECK(q.sparse.empty());
    CHECK(q.dequantize() == q.dequant);
    CHECK(q.bits_per_weight == Approx(4 + 2 * 20.0 / 48));  // host formula: 2 groups of fp16 scale + 4-bit zero
  }
}

TEST_CASE("indices out of range fail naming the plugin, the linear and the first bad index", "[plugin][trust]") {
  CHECK_THROWS_WITH(quantize_with("evil", "g_idx_high"),
                    "plugin 'evil' returned an invalid index for 0.self_attn.q_proj: g_idx[47] = 100000000 is outside 0..1");
  CHECK_THROWS_WITH(quantize_with("evil_codebook", "g_idx_high"),
                    "plugin 'evil_codebook' returned an invalid index for 0.self_attn.q_proj: g_idx[47] = 100000000 is outside 0..1");
  CHECK_THROWS_WITH(quantize_with("evil_codebook", "g_idx_negative"),
                    "plugin 'evil_codebook' returned an invalid index for 0.self_attn.q_proj: g_idx[0] = -100000000 is outside 0..1");
  CHECK_THROWS_WITH(quantize_with("evil", "code_high"),
                    "plugin 'evil' returned an invalid index for 0.self_attn.q_proj: code 255 at flat index 383 is above 15 (4 bits)");
  CHECK_THROWS_WITH(quantize_with("evil_codebook", "code_high"),
                    "plugin 'evil_codebook' returned an invalid index for 0.self_attn.q_proj: code 255 at flat index 383 is above 15 (4 bits)");
}

TEST_CASE("a uniform quantizer returning the float weights as dequant fails", "[plugin][trust]") {
  CHECK_THROWS_WITH(quantize_with("evil", "float_dequant"),
                    Catch::StartsWith("plugin 'evil' returned a dequantized weight for 0.self_attn.q_proj that is not "
                                      "scale·(code − zero) at flat index 0: "));
}

TEST_CASE("bits_per_weight outside 0 to 32 fails naming the plugin", "[plugin][trust]") {
  CHECK_THROWS_WITH(quantize_with("evil", "bits_inf"), "plugin 'evil' reported bits_per_weight inf for 0.self_attn.q_proj: "
                                                       "it must lie in (0, 32] (or 0 for the host's count)");
  CHECK_THROWS_WITH(quantize_with("evil", "bits_nan"), "plugin 'evil' reported bits_per_weight nan for 0.self_attn.q_proj: "
                                                       "it must lie in (0, 32] (or 0 for the host's count)");
  CHECK_THROWS_WITH(quantize_with("evil", "bits_negative"), "plugin 'evil' reported bits_per_weight -5 for 0.self_attn.q_proj: "
                                                            "it must lie in (0, 32] (or 0 for the host's count)");
}

TEST_CASE("an error message without a NUL is read within its 512 bytes", "[plugin][trust]") {
  CHECK_THROWS_WITH(quantize_with("evil", "no_nul"),
                    "plugin 'evil' failed in quantize on layer 0.self_attn.q_proj: " + std::string(512, 'x'));
}

TEST_CASE("a metric name with '/' is logged with '_'", "[plugin][trust]") {
  QuantizedLinear q = quantize_with("evil", "metric_slash");
  REQUIRE(q.metrics.size() == 1);
  CHECK(q.metrics[0].first == "evil.a_b_c");
  CHECK(q.metrics[0].second == 1.5);
}

TEST_CASE("lying plugins fail their own run of a sweep, honest points finish and log safe metric names", "[plugin][trust][walker]") {
  TempDir dir;
  std::ofstream(dir / "e.toml") << bundled_header({.name = "trust", .n_segments = 8, .calibration_seq_len = 64, .eval_seq_len = 128, .eval_max_segments = 4})
                                << "[quant]\nbits = 4\ngroup_size = 32\n[[pipeline]]\nplugin = \"evil\"\n"
                                << "[sweep]\n\"pipeline\" = [[{ plugin = \"evil\", fault = \"metric_slash\" }], "
                                << "[{ plugin = \"evil\", fault = \"huge\" }], [{ plugin = \"evil\", fault = \"float_dequant\" }], "
                                << "[{ plugin = \"evil_codebook\", fault = \"g_idx_high\" }]]\n";
  Experiment ex = load_experiment((dir / "e.toml").string());
  RunOptions opt;
  opt.log_path = (dir / "e.h5").string();
  opt.plugin_dirs = {kFixtures + "/evil", kFixtures + "/evil_codebook"};
  opt.progress = false;
  ExperimentSummary s = run_experiment(ex, opt);
  REQUIRE(s.runs.size() == 4);
  CHECK(s.runs[0].status == "done");
  CHECK(s.runs[1].status == "failed");
  CHECK(s.runs[1].error == "block 1: the quantized block's output has a non-finite value (activations overflow)");
  CHECK(s.runs[2].status == "failed");
  CHECK_THAT(s.runs[2].error, Catch::StartsWith("plugin 'evil' returned a dequantized weight for 0.self_attn.q_proj that is not"));
  CHECK(s.runs[3].status == "failed");
  CHECK(s.runs[3].error == "plugin 'evil_codebook' returned an invalid index for 0.self_attn.q_proj: g_idx[63] = 100000000 is outside 0..1");
  ExperimentLog log = ExperimentLog::open_read(opt.log_path);
  h5::Handle linears = h5::open_group(log.file(), "runs/r0000/linears");
  const std::vector<double> metric = h5::read_numbers(linears.id(), "evil.a_b_c");
  REQUIRE(metric.size() == 35);
  for (double v : metric) CHECK(v == 1.5);
  // Storage by the host's count at 4 bits, group 32, asymmetric: 64-wide rows hold 2 groups
  // (4 + 2·20/64 = 4.625), down_proj's 172-wide rows 6 (4 + 6·20/172 = 4.6977).
  const std::vector<double> cols = h5::read_numbers(linears.id(), "n_cols"), bits = h5::read_numbers(linears.id(), "bits_per_weight");
  for (size_t i = 0; i < cols.size(); ++i) CHECK(bits[i] == Approx(cols[i] == 172 ? 4.6976744 : 4.625).epsilon(1e-7));
  CHECK(s.runs[0].bits_per_weight == Approx(4.642655).epsilon(1e-6));  // weighted by size: 34304 weights at 4.625, 11008 at 4.6977
}

TEST_CASE("the host prefills g_idx with the contiguous grouping, so a quantizer need not write it", "[plugin][trust]") {
  PluginRegistry reg = PluginRegistry::discover({kFixtures + "/constrained"});
  const LoadedPlugin& p = reg.get("constrained");
  PluginInstance inst(p, resolve_params(*p.descriptor, {}, "test"));
  Matrix w(4, 80);  // groups of 32: [0, 32) [32, 64) [64, 80)
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>((i * 37) % 23) - 11.0f;
  Linear l{"0.mlp.up_proj", w, {}};
  // The fixture fails its hook unless g_idx[c] == c / 32 on entry.
  const QuantizedLinear q = quantize_linear(l, 0, {4, 32, 0, QLAB_RANGE_GPTQ}, inst, qlab_stats{});
  REQUIRE(q.n_groups == 3);
  for (int64_t c = 0; c < 80; ++c) CHECK(q.g_idx[static_cast<size_t>(c)] == (c < 32 ? 0 : c < 64 ? 1 : 2));
  CHECK(q.dequantize() == q.dequant);
  SECTION("a format it does not declare is refused before its hook runs") {
    CHECK_THROWS_WITH(quantize_linear(l, 0, {4, 16, 0, QLAB_RANGE_GPTQ}, inst, qlab_stats{}),
                      "plugin 'constrained' cannot quantize 0.mlp.up_proj: group_size = 16, but it supports bits 3, 4; group_size a "
                      "multiple of 32; no per-row groups (group_size > 0)");
    CHECK_THROWS_WITH(quantize_linear(l, 0, {2, 32, 0, QLAB_RANGE_GPTQ}, inst, qlab_stats{}),
                      "plugin 'constrained' cannot quantize 0.mlp.up_proj: bits = 2, but it supports bits 3, 4");
  }
}

TEST_CASE("more metrics than QLAB_MAX_METRICS fail the run instead of being dropped", "[plugin][trust]") {
  CHECK_THROWS_WITH(quantize_with("evil", "metrics_overflow"), "plugin 'evil' returned 17 metrics; at most 16 fit");
}
