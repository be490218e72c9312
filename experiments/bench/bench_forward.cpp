// Forward-pass throughput against the machine's SGEMM peak:
//  (a) the bundled stories260K model on 512-token segments,
//  (b) one LLaMA-7B-shaped block (d 4096, ffn 11008, 32 heads) on a 2048-token segment.
// Target for (b): at least 70% of the measured peak on 2 threads.
// Usage: qlab_bench_forward [--threads N] [--model PATH]
#include <fmt/format.h>

#include <cstring>
#include <string>

#include "bench_common.h"
#include "forward/block_forward.h"
#include "forward/forward.h"
#include "format/model_loader.h"
#include "util/parallel.h"

using namespace qlab;
using namespace qlab::bench;

namespace {

// FLOPs of one block's linears and of causal attention (only the visible half of QKᵀ and PV).
double block_linear_flops(const ModelConfig& c, int64_t t) {
  const double d = double(c.dim), kv = double(c.kv_dim()), f = double(c.hidden_dim);
  return 2.0 * double(t) * (2 * d * d + 2 * d * kv + 3 * d * f);
}
double block_attention_flops(const ModelConfig& c, int64_t t) {
  return 2.0 * 2.0 * double(c.n_heads * c.head_dim) * double(t) * double(t + 1) / 2.0;
}

void bench_bundled(const std::string& path, double peak) {
  Model m = load_model(path);
  const int64_t t = m.config.max_seq_len, n_segments = 16;
  std::vector<int32_t> tokens(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) tokens[size_t(i)] = int32_t((i * 31 + 7) % m.config.vocab_size);
  double s = best_seconds([&] {
    for (int64_t k = 0; k < n_segments; ++k) forward_logits(m, tokens);
  }, 3) / n_segments;
  double linear = block_linear_flops(m.config, t) * double(m.config.n_layers) +
                  2.0 * double(t) * double(m.config.dim) * double(m.config.vocab_size);
  double total = linear + block_attention_flops(m.config, t) * double(m.config.n_layers);
  fmt::print("(a) bundled model {}: {} tokens/segment, {:.0f} tokens/s, {:.2f} GFLOP/s ({:.1f}% of peak; "
             "dim {} is far too small to fill the GEMM)\n",
             path, t, double(t) / s, total / s / 1e9, 100.0 * total / s / 1e9 / peak, m.config.dim);
}

void bench_7b_block(double peak) {
  const ModelConfig c = llama7b_config();
  Block b = random_llama_block(c, 10);
  const int64_t t = 2048;
  Matrix x0 = random_matrix(t, c.dim, 1.0f, 99);
  double s = best_seconds([&] {
    Matrix x = x0;
    block_forward(b, c, x);
  }, 2);
  double linear = block_linear_flops(c, t), attention = block_attention_flops(c, t);
  double gflops = (linear + attention) / s / 1e9;
  fmt::print("(b) LLaMA-7B-shaped block, {} tokens: {:.3f} s, {:.0f} tokens/s\n", t, s, double(t) / s);
  fmt::print("    linears {:.1f} GFLOP + causal attention {:.1f} GFLOP: {:.1f} GFLOP/s = {:.1f}% of peak "
             "(linear FLOPs alone over the whole time: {:.1f}%)  [target >= 70%]\n",
             linear / 1e9, attention / 1e9, gflops, 100.0 * gflops / peak, 100.0 * linear / s / 1e9 / peak);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::string model = std::string(QLAB_SOURCE_DIR) + "/datasets/stories260K/stories260K.bin";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--model")) model = argv[i + 1];
  }
  set_threads(threads);
  double peak = measure_sgemm_peak_gflops();
  fmt::print("threads {}; SGEMM peak (4096^3, OpenBLAS sgemm as used by the runtime): {:.1f} GFLOP/s\n", threads, peak);
  bench_bundled(model, peak);
  bench_7b_block(peak);
  return 0;
}
