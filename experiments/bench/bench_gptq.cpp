// GPTQ speed against the machine's SGEMM peak (the runtime's GEMM, 4096³, same run):
//  (a) Hessian accumulation (SYRK) for a 4096-wide input over N×2048 tokens;
//  (b) the GPTQ solve with a given H for 4096×4096, 11008×4096 and 4096×11008 (out×in),
//      counted as 2·rows·cols² (the block updates, as the issue counts them) + 4/3·cols³
//      (Cholesky n³/3, inverse from the factor 2n³/3, Cholesky of the inverse n³/3);
//  (c) one LLaMA-7B-shaped block quantized end to end (capture, GPTQ, measure, propagate).
// Targets: (a) ≥ 70% of peak, (b) ≥ 50%.
// Usage: qlab_bench_gptq [--threads N] [--sequences N] [--skip-block]
#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "bench_common.h"
#include "config/experiment.h"
#include "forward/block_forward.h"
#include "plugin_host/plugin_instance.h"
#include "util/parallel.h"
#include "model/weight_source.h"
#include "plan/layer_plan.h"
#include "walk/layer_walker.h"
#include "walk/linear_hooks.h"
#include "walk/stats.h"

using namespace qlab;
using namespace qlab::bench;

namespace {

void bench_hessian(double peak, int sequences) {
  const int64_t in = 4096, t = 2048;
  Matrix x = random_matrix(t, in, 1.0f, 7);
  StatsCollector stats(QLAB_STAT_HESSIAN, in, sequences * t);
  double s = seconds_of([&] {
    for (int i = 0; i < sequences; ++i) stats.add_sequence(x);
  });
  // SYRK computes one triangle: in·(in+1)·t multiply-adds per sequence.
  const double flops = double(in) * double(in + 1) * double(t) * sequences;
  fmt::print("(a) Hessian accumulation, 4096 wide, {}×2048 tokens: {:.2f} s, {:.1f} GFLOP/s = {:.1f}% of peak  [target >= 70%]\n",
             sequences, s, flops / s / 1e9, 100.0 * flops / s / 1e9 / peak);
}

void bench_solve(double peak, const PluginRegistry& reg) {
  const LoadedPlugin& gptq = reg.get("gptq");
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4096, 4096}, {11008, 4096}, {4096, 11008}}) {
    Matrix w = random_matrix(rows, cols, 0.02f, 1);
    Matrix x = random_matrix(2 * cols, cols, 1.0f, 2);  // a well-conditioned H = 2/S XᵀX
    StatsCollector sc(QLAB_STAT_HESSIAN, cols, x.rows());
    sc.add_sequence(x);
    Matrix h = sc.hessian();
    qlab_stats stats{};
    stats.hessian = {h.data(), cols, cols, cols};
    PluginInstance inst(gptq, resolve_params(*gptq.descriptor, {}, "bench"));
    Linear l{"bench", w, {}};
    QuantizedLinear q;
    double s = seconds_of([&] { q = quantize_linear(l, 0, {4, 128, 0, QLAB_RANGE_GPTQ}, inst, stats); });
    double factor = 0, solve = 0;
    for (const auto& [k, v] : q.metrics) {
      if (k == "gptq.time_factor_s") factor = v;
      if (k == "gptq.time_solve_s") solve = v;
    }
    const double flops = 2.0 * rows * double(cols) * cols + 4.0 / 3.0 * double(cols) * cols * cols;
    fmt::print("(b) GPTQ solve {}×{} (g128, 4 bit): {:.2f} s (factorizations {:.2f} s, column loop + lazy updates {:.2f} s), "
               "{:.1f} GFLOP/s = {:.1f}% of peak  [target >= 50%]\n",
               rows, cols, s, factor, solve, flops / s / 1e9, 100.0 * flops / s / 1e9 / peak);
  }
}

void bench_block(const PluginRegistry& reg, int sequences) {
  const ModelConfig c = llama7b_config();
  Model m;
  m.config = c;
  m.source = "synthetic 7B-shaped block";
  m.embed_tokens = random_matrix(c.vocab_size, c.dim, 1.0f, 3);
  m.blocks.push_back(random_llama_block(c, 20));
  m.config.n_layers = 1;  // the one block walked
  std::vector<std::vector<int32_t>> calib(sequences, std::vector<int32_t>(2048));
  for (int s = 0; s < sequences; ++s)
    for (int t = 0; t < 2048; ++t) calib[s][t] = (s * 7919 + t * 104729) % 32000;
  RunConfig run;
  run.format = {4, 128, 0, QLAB_RANGE_GPTQ};
  run.pipeline = {{"gptq", {}, "bench"}};
  Pipeline p = build_pipeline(run, reg);
  BlockRow row;
  ActivationPlan act{run.act, {}};
  InMemorySource source(m);
  const LayerPlan plan = resolve_plan(run, m.config, source.linears(), p.needs());
  CallbackSink sink([&](const BlockResult& r, const Block&, const ActivationPlan&) { row = r.row; });
  double s = seconds_of([&] { walk_layers(source, plan, calib, p, act, sink, false); });
  fmt::print("(c) LLaMA-7B-shaped block, GPTQ 4-bit g128, {}×2048 calibration tokens: {:.1f} s end to end "
             "(capture {:.1f} s, quantize {:.1f} s, propagate {:.1f} s; peak RSS {:.1f} GiB)\n",
             sequences, s, row.time_capture_s, row.time_quantize_s, row.time_propagate_s, row.peak_rss_bytes / double(1 << 30));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, sequences = 32;
  bool block = true;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines appear as each measurement ends
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--sequences") && i + 1 < argc) sequences = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--skip-block")) block = false;
  }
  set_threads(threads);
  const double peak = measure_sgemm_peak_gflops();
  fmt::print("threads {}; SGEMM peak (4096^3, the runtime's OpenBLAS sgemm): {:.1f} GFLOP/s\n", threads, peak);
  PluginRegistry reg = PluginRegistry::discover({});
  bench_hessian(peak, sequences);
  bench_solve(peak, reg);
  if (block) bench_block(reg, 8);
  return 0;
}
