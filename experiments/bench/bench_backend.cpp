// The compute seam's speed on one device (default cuda): GEMM peaks measured in this run
// (the backend's own gemm at 8192³, fp32, tf32 and fp16 inputs; fp16 includes rounding the
// fp32 inputs, as every fp16 call does), then the shapes a LLaMA-7B block puts on it, each
// as a ratio to the peak of the precision it uses, and the whole GPTQ solve of a 4096×4096
// and a 4096×11008 linear. experiments/bench/gpu_check.sh runs it.
//
// With a model directory (make_synthetic.py llama-2-7b --blocks 1), also the whole forward
// pass of its block 0 through the seam (forward/device_block.h) on one 2048-token segment.
//
//   qlab_bench_backend [cpu|cuda|cuda:N] [MODEL_DIR]
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend_select.h"
#include "backend/gptq_on_backend.h"
#include "bench_common.h"
#include "forward/device_block.h"
#include "format/model_loader.h"
#include "util/error.h"

using namespace qlab;
using bench::random_matrix;

namespace {
struct Row {
  std::string what, shape;
  double seconds, flops, peak_tflops;
  const char* peak_name;
};

// Best of `repeats` after a warm-up, the device drained around each run.
double best_seconds(Backend& be, const std::function<void()>& fn, int repeats) {
  return bench::best_seconds([&] {
    fn();
    be.synchronize();
  }, repeats);
}

double gemm_tflops(Backend& be, Precision p) {
  const int64_t n = 8192;
  DeviceBuffer a = be.upload(random_matrix(n, n, 1.0f, 1)), b = be.upload(random_matrix(n, n, 1.0f, 2)), c = be.alloc(n, n);
  const double s = best_seconds(be, [&] { be.gemm(a, false, b, true, 1.0f, 0.0f, c, p); }, 5);
  return 2.0 * n * n * n / s / 1e12;
}
}  // namespace

int main(int argc, char** argv) try {
  auto be = make_backend(argc > 1 ? argv[1] : "cuda");
  std::printf("backend %s: %s\n", be->name().c_str(), be->description().c_str());
  const double fp32 = gemm_tflops(*be, Precision::fp32), tf32 = gemm_tflops(*be, Precision::tf32),
               fp16 = gemm_tflops(*be, Precision::fp16);
  std::vector<Row> rows = {{"GEMM peak fp32", "8192³", 0, 0, fp32, "fp32"},
                           {"GEMM peak tf32", "8192³", 0, 0, tf32, "tf32"},
                           {"GEMM peak fp16", "8192³", 0, 0, fp16, "fp16"}};

  // The seven linears of a LLaMA-7B block on one 2048-token segment: y = x·Wᵀ.
  const int64_t t = 2048, d = 4096, ffn = 11008;
  DeviceBuffer x = be->upload(random_matrix(t, d, 1.0f, 3)), xf = be->upload(random_matrix(t, ffn, 1.0f, 4));
  DeviceBuffer w_dd = be->upload(random_matrix(d, d, 0.02f, 5)), w_fd = be->upload(random_matrix(ffn, d, 0.02f, 6)),
               w_df = be->upload(random_matrix(d, ffn, 0.02f, 7));
  DeviceBuffer y_d = be->alloc(t, d), y_f = be->alloc(t, ffn);
  const double linear_flops = 2.0 * t * (4.0 * d * d + 3.0 * d * ffn);
  for (auto [p, peak, name] : {std::tuple{Precision::fp32, fp32, "fp32"}, std::tuple{Precision::fp16, fp16, "fp16"}}) {
    const double s = best_seconds(*be, [&] {
      for (int i = 0; i < 4; ++i) be->gemm(x, false, w_dd, true, 1.0f, 0.0f, y_d, p);  // q, k, v, o
      for (int i = 0; i < 2; ++i) be->gemm(x, false, w_fd, true, 1.0f, 0.0f, y_f, p);  // gate, up
      be->gemm(xf, false, w_df, true, 1.0f, 0.0f, y_d, p);                               // down
    }, 3);
    rows.push_back({fmt::format("7B block linears {}", name), "2048 tok", s, linear_flops, peak, name});
  }

  // Attention of the same block: 32 heads of 128, causal (half the score matrix counts).
  DeviceBuffer q = be->upload(random_matrix(t, d, 1.0f, 8)), attn = be->alloc(t, d);
  {
    const double s = best_seconds(*be, [&] { be->causal_attention(q, q, q, 32, 32, 128, 0, attn); }, 3);
    rows.push_back({"7B block attention fp32", "2048 tok, 32×128", s, 2.0 * t * t * d, fp32, "fp32"});
  }

  // The block's whole forward pass through the seam: norms, linears, RoPE, attention, SwiGLU,
  // residuals, against the fp32 peak (linear FLOPs plus the causal attention's 2·T²·d).
  if (argc > 2) {
    const std::unique_ptr<WeightSource> source = open_weight_source(argv[2]);
    const Block block = source->load_block(0);
    const DeviceBlock resident(*be, block);
    const int64_t dim = source->config().dim;
    DeviceBuffer h = be->upload(random_matrix(t, dim, 1.0f, 12)), work = be->alloc(t, dim);
    const double s = best_seconds(*be, [&] {
      be->copy(h, work);
      device_block_forward(resident, source->config(), work);
    }, 3);
    double flops = 2.0 * t * t * dim;
    for (const Linear* l : block.linears()) flops += 2.0 * t * static_cast<double>(l->weight.size());
    rows.push_back({"block forward (seam) fp32", fmt::format("{} tok, d {}", t, dim), s, flops, fp32, "fp32"});
  }

  // Hessian accumulation: 16 segments of 2048 tokens into a 4096-wide H (n(n+1)·k useful FLOPs).
  {
    DeviceBuffer h = be->alloc(d, d);
    const double s = best_seconds(*be, [&] { for (int i = 0; i < 16; ++i) be->syrk_accumulate(x, 1.0f, h); }, 3);
    rows.push_back({"Hessian SYRK fp32", "16×2048 → 4096²", s, 16.0 * d * (d + 1.0) * t, fp32, "fp32"});
  }

  // GPTQ's factorizations: Cholesky then the inverse from it (n³/3 + 2n³/3 FLOPs).
  for (int64_t n : {d, ffn}) {
    Matrix hm = random_matrix(n, n, 1.0f, 9);
    hm = hm * hm.transpose() / static_cast<float>(n);
    hm.diagonal().array() += 1.0f;
    DeviceBuffer a = be->alloc(n, n);
    double best = 1e300;
    for (int r = 0; r < 3; ++r) {  // the factorization is in place: a fresh copy each run, not timed
      a.upload(hm);
      best = std::min(best, bench::seconds_of([&] {
        if (be->potrf(a, true) != 0) fail("bench: potrf failed on an SPD matrix");
        be->cholesky_inverse(a, true);
        be->synchronize();
      }));
    }
    rows.push_back({"potrf + inverse fp32", fmt::format("{}²", n), best, static_cast<double>(n) * n * n, fp32, "fp32"});
  }

  // The whole GPTQ solve through gptq_on_backend (4-bit, groups of 128, blocks of 128), as a
  // run's gptq_solve calls it: uploads, the factor of H⁻¹, the column loop, the lazy updates
  // and the downloads. Useful FLOPs: 4n³/3 for potrf, potri, potrf and rows·n² for the lazy
  // updates (n = in columns); the column loop's rows·n·128 is left out.
  for (int64_t n : {d, ffn}) {
    const Matrix w = random_matrix(d, n, 0.02f, 10);
    Matrix hm = random_matrix(n, n, 1.0f, 11);
    hm = hm * hm.transpose() / static_cast<float>(n);
    Matrix dq(d, n);
    std::vector<uint8_t> codes(static_cast<size_t>(d * n));
    std::vector<float> scales(static_cast<size_t>(d * (n / 128))), zeros(scales.size());
    std::vector<int32_t> g_idx(static_cast<size_t>(n));
    qlab_linear_in in{};
    in.weight = {w.data(), d, n, n};
    in.stats.hessian = {hm.data(), n, n, n};
    in.format = {4, 128, 0, QLAB_RANGE_GPTQ};
    qlab_quantize_out out{};
    out.dequant = {dq.data(), d, n, n};
    out.codes = codes.data();
    out.scales = scales.data();
    out.zeros = zeros.data();
    out.g_idx = g_idx.data();
    out.n_groups = n / 128;
    const qlab_gptq_options opt{0.01, 128, 0, 0, 0, 0, 6};
    const double s = best_seconds(*be, [&] { gptq_on_backend(*be, in, opt, out); }, 3);
    rows.push_back({"GPTQ solve fp32", fmt::format("{}×{}, g128", d, n), s, 4.0 / 3.0 * n * n * n + static_cast<double>(d) * n * n,
                    fp32, "fp32"});
  }

  std::printf("\n%-26s %-18s %10s %9s %12s\n", "op", "shape", "ms", "TFLOP/s", "of peak");
  for (const Row& r : rows) {
    if (r.seconds == 0) {
      std::printf("%-26s %-18s %10s %9.1f %12s\n", r.what.c_str(), r.shape.c_str(), "-", r.peak_tflops, "(peak)");
      continue;
    }
    const double tflops = r.flops / r.seconds / 1e12;
    std::printf("%-26s %-18s %10.2f %9.1f %8.0f%% %s\n", r.what.c_str(), r.shape.c_str(), r.seconds * 1e3, tflops,
                100.0 * tflops / r.peak_tflops, r.peak_name);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "qlab_bench_backend: %s\n", e.what());
  return 1;
}
