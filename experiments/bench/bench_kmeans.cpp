// Weighted k-means (the cluster plugin) over a 4096×4096 layer at 3 and 4 bits on this
// machine's cores: time per layer, per row, and Lloyd iterations, with the same settings
// as SqueezeLLM's reference (k-means++ seeding, at most 50 iterations, Hessian-diagonal
// sensitivities). kmeans_sklearn_reference.py times the reference's per-row scikit-learn
// loop on the same rows for the comparison.
// Usage: qlab_bench_kmeans [--threads N] [--rows N]
#include <fmt/format.h>

#include <cstring>

#include "bench_common.h"
#include "config/experiment.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_loader.h"
#include "util/parallel.h"
#include "walk/linear_hooks.h"

using namespace qlab;
using namespace qlab::bench;

int main(int argc, char** argv) {
  int threads = 0;
  int64_t rows = 4096;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
  }
  if (threads > 0) set_threads(threads);
  const int64_t cols = 4096;
  PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& cluster = reg.get("cluster");
  Matrix w = random_matrix(rows, cols, 0.02f, 1);
  Matrix h = Matrix::Zero(cols, cols);  // only the diagonal is read: E[x_j²] spread over two decades
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t j = 0; j < cols; ++j) h(j, j) = std::pow(10.0f, u(rng));
  qlab_stats stats{};
  stats.hessian = {h.data(), cols, cols, cols};
  fmt::print("cluster k-means, {}×{} layer, {} threads, k-means++ then Lloyd (cap 50), Hessian-diagonal weights\n", rows, cols, thread_count());
  for (int bits : {3, 4}) {
    PluginInstance inst(cluster, resolve_params(*cluster.descriptor, {}, "bench"));
    Linear l{"0.mlp.down_proj", w, {}};
    QuantizedLinear q;
    const double s = best_seconds([&] { q = quantize_linear(l, 0, {bits, 0, 0, QLAB_RANGE_GPTQ}, inst, stats); }, 2);
    double iters = 0, unconverged = 0;
    for (const auto& [k, v] : q.metrics) {
      if (k == "cluster.mean_iterations") iters = v;
      if (k == "cluster.unconverged_groups") unconverged = v;
    }
    fmt::print("  {} bits (k = {:2}): {:.3f} s per layer, {:.1f} µs per row, {:.1f} Lloyd iterations per row, {} rows at the cap\n", bits,
               1 << bits, s, 1e6 * s / static_cast<double>(rows), iters, unconverged);
  }
  return 0;
}
