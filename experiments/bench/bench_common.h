// Shared by the benchmarks: wall-clock timing and the machine's measured SGEMM peak with
// the GEMM the runtime uses (4096³, best of a few runs), the denominator of every ratio.
#pragma once
#include <chrono>
#include <functional>
#include <random>

#include "model/arch.h"
#include "model/block_layout.h"
#include "model/model.h"
#include "tensor/gemm.h"
#include "tensor/tensor.h"

namespace qlab::bench {

inline double seconds_of(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best time of `repeats` runs after one warm-up.
inline double best_seconds(const std::function<void()>& fn, int repeats) {
  fn();
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) best = std::min(best, seconds_of(fn));
  return best;
}

inline Matrix random_matrix(int64_t rows, int64_t cols, float stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// GFLOP/s of C = A·Bᵀ at 4096³ through gemm_nt.
inline double measure_sgemm_peak_gflops() {
  const int64_t n = 4096;
  Matrix a = random_matrix(n, n, 1.0f, 1), b = random_matrix(n, n, 1.0f, 2), c(n, n);
  double s = best_seconds([&] { gemm_nt(n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); }, 3);
  return 2.0 * n * n * n / s / 1e9;
}

// One LLaMA-7B-shaped block (d 4096, ffn 11008, 32 heads, context 2048) with seeded random
// weights of LLaMA-like scale.
inline ModelConfig llama7b_config() {
  ModelConfig c;
  c.dim = 4096;
  c.hidden_dim = 11008;
  c.n_layers = 1;
  c.n_heads = c.n_kv_heads = 32;
  c.head_dim = 128;
  c.max_seq_len = 2048;
  c.vocab_size = 32000;
  return c;
}
inline Block random_llama_block(const ModelConfig& c, uint32_t seed) {
  Block b = named_block(arch_llama(), 0);
  const BlockLayout layout = block_layout(c, 0);
  for (size_t i = 0; i < layout.linears.size(); ++i)
    b.linears()[i]->weight = random_matrix(layout.linears[i].out_features, layout.linears[i].in_features, 0.02f, seed++);
  b.attn_norm.weight = b.mlp_norm.weight = Vector::Ones(c.dim);
  return b;
}

}  // namespace qlab::bench
