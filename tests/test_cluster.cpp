// The cluster plugin on the bundled model: at 3 bits per channel its layer errors and
// perplexity beat RTN's, dense-and-sparse improves further, and the storage it reports
// counts codebooks and the sparse part. Sensitivities from a safetensors file.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "config/experiment.h"
#include "log/experiment_log.h"
#include "log/h5.h"
#include "log/log_summary.h"
#include "format/model_loader.h"
#include "format/safetensors.h"
#include "plugin_host/params.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_loader.h"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "walk/linear_hooks.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("cluster at 3 bits beats RTN per channel on the bundled model, dense-and-sparse beats both", "[cluster][slow]") {
  TempDir dir;
  std::ofstream(dir / "c.toml") << bundled_header({.name = "cluster", .n_segments = 32, .calibration_seq_len = 256, .eval_seq_len = 512, .eval_max_segments = 96})
                                << "[quant]\nbits = 3\ngroup_size = 0\n[[pipeline]]\nplugin = \"rtn\"\n"
                                << "[sweep]\n\"pipeline\" = [[{ plugin = \"rtn\" }], [{ plugin = \"cluster\" }], "
                                << "[{ plugin = \"cluster\", sparse_fraction = 0.0045 }]]\n";
  Experiment ex = load_experiment((dir / "c.toml").string());
  RunOptions opt{(dir / "c.h5").string(), false, {}, false};
  ExperimentSummary s = run_experiment(ex, opt);
  REQUIRE(s.runs.size() == 3);
  for (const RunSummary& r : s.runs) REQUIRE(r.status == "done");
  const double rtn = s.runs[0].ppl.at(0).second, cluster = s.runs[1].ppl.at(0).second, sparse = s.runs[2].ppl.at(0).second;
  INFO("3-bit per channel: RTN " << rtn << " (" << s.runs[0].bits_per_weight << " bits), cluster " << cluster << " (" << s.runs[1].bits_per_weight
                                 << "), dense-and-sparse " << sparse << " (" << s.runs[2].bits_per_weight << ")");
  CHECK(cluster < rtn);
  CHECK(sparse < cluster);
  ExperimentLog log = ExperimentLog::open_read(opt.log_path);
  auto column = [&](const char* run, const char* name) {
    h5::Handle g = h5::open_group(log.file(), std::string("runs/") + run + "/linears");
    return h5::read_numbers(g.id(), name);
  };
  const std::vector<double> e_rtn = column("r0000", "rel_output_error"), e_cluster = column("r0001", "rel_output_error"),
                            e_sparse = column("r0002", "rel_output_error");
  REQUIRE(e_rtn.size() == 35);
  int cluster_wins = 0, sparse_wins = 0;
  for (size_t i = 0; i < e_rtn.size(); ++i) {
    cluster_wins += e_cluster[i] < e_rtn[i];
    sparse_wins += e_sparse[i] < e_cluster[i];
  }
  CHECK(cluster_wins == 35);  // every layer's output error
  CHECK(sparse_wins >= 30);
  // Storage: 3-bit codes + 8 fp16 centroids per row of 64 (+2 bits) + the sparse part.
  const std::vector<double> bits = column("r0001", "bits_per_weight");
  CHECK(bits[0] == Approx(3 + 8 * 16.0 / 64));
  CHECK(s.runs[2].bits_per_weight > s.runs[1].bits_per_weight);
  const std::vector<double> fraction = column("r0002", "cluster.sparse_fraction");
  for (double f : fraction) CHECK(f == Approx(0.0045).margin(0.5 / 4096 + 1e-4));
}

namespace {
QuantizedLinear run_cluster(const Matrix& w, const std::map<std::string, ParamValue>& given, const Matrix* h = nullptr,
                            int32_t group_size = 0) {
  static PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& p = reg.get("cluster");
  PluginInstance inst(p, resolve_params(*p.descriptor, given, "test"));
  qlab_stats stats{};
  if (h) stats.hessian = {h->data(), h->rows(), h->cols(), h->cols()};
  Linear l{"0.mlp.down_proj", w, {}};
  return quantize_linear(l, 0, {3, group_size, 0, QLAB_RANGE_GPTQ}, inst, stats);
}
}  // namespace

TEST_CASE("cluster: codebook and sparse part reproduce the weight, sensitivities from a file", "[cluster]") {
  TempDir dir;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix w(8, 64);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = normal(rng);
  w(3, 5) = 25.0f;  // an outlier
  const Matrix h = Matrix::Identity(64, 64);
  QuantizedLinear q = run_cluster(w, {{"sparse_fraction", {0.01, "test"}}}, &h);
  REQUIRE(q.sparse.size() == 5);  // round(0.01 · 512)
  CHECK(q.dequant(3, 5) == 25.0f);  // kept exact
  CHECK(q.dequantize() == q.dequant);
  CHECK(q.bits_per_weight == Approx(3 + 8 * 8 * 16.0 / 512 + (5 * 48.0 + 9 * 32.0) / 512));
  SECTION("a sensitivity file: heavy weight on one value pulls a centroid onto it") {
    Matrix s = Matrix::Constant(8, 64, 1e-3f);
    s(0, 7) = 1e6f;
    write_safetensors((dir / "fisher.safetensors").string(), {f32_tensor("model.layers.0.mlp.down_proj.weight", {8, 64}, s.data())});
    QuantizedLinear f = run_cluster(w, {{"sensitivity", {std::string("file"), "test"}},
                                        {"sensitivity_file", {(dir / "fisher.safetensors").string(), "test"}}});
    CHECK(f.dequant(0, 7) == Approx(w(0, 7)).margin(1e-4));
  }
  SECTION("a file without the linear, or with the wrong shape, is an error naming both") {
    Matrix s = Matrix::Ones(4, 64);
    write_safetensors((dir / "bad.safetensors").string(), {f32_tensor("0.mlp.down_proj", {4, 64}, s.data()),
                                                         f32_tensor("other", {4, 64}, s.data())});
    CHECK_THROWS_WITH(run_cluster(w, {{"sensitivity", {std::string("file"), "test"}},
                                      {"sensitivity_file", {(dir / "bad.safetensors").string(), "test"}}}),
                      Catch::Contains("bad.safetensors") && Catch::Contains("has shape [4, 64], the linear is [8, 64]"));
    CHECK_THROWS_WITH(run_cluster(w, {{"sensitivity", {std::string("file"), "test"}},
                                      {"sensitivity_file", {(dir / "missing.safetensors").string(), "test"}}}),
                      Catch::Contains("missing.safetensors: no such file"));
    CHECK_THROWS_WITH(run_cluster(w, {{"sensitivity", {std::string("file"), "test"}}}), Catch::Contains("needs sensitivity_file"));
  }
}

TEST_CASE("cluster in groups keeps the sparse weights of a later group exact", "[cluster]") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix w(8, 64);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = normal(rng);
  w(2, 40) = 30.0f;  // outliers in the second group of 32
  w(5, 50) = -40.0f;
  const Matrix h = Matrix::Identity(64, 64);
  QuantizedLinear q = run_cluster(w, {{"sparse_fraction", {2.0 / 512, "test"}}}, &h, 32);
  REQUIRE(q.n_groups == 2);
  REQUIRE(q.sparse.size() == 2);
  CHECK(q.dequant(2, 40) == 30.0f);
  CHECK(q.dequant(5, 50) == -40.0f);
  CHECK(q.dequantize() == q.dequant);
}
