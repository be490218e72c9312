// GPTQ on a compute backend (core/backend/gptq_on_backend.h): the CPU backend's solve against
// the gptq plugin's own loop (the same math: codes agree but for fp32 rounding of the lazy
// update's GEMM at ties, held to 0.5% of codes, the loss to 1%), the dampening retries,
// the plugin's use of qlab_linalg.gptq_solve, the two ops against naive loops, and the CUDA
// backend against the CPU one (skipped with the reason when no GPU is visible).
#include <catch2/catch.hpp>
#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "backend/backend_select.h"
#include "backend/gptq_on_backend.h"
#include "backend/linalg.h"
#include "plugin_host/plugin_instance.h"
#include "qlab/grid.hpp"
#include "support/skip.h"
#include "util/error.h"

using namespace qlab;

namespace {
struct Setting {
  int64_t rows, cols;
  int32_t bits, group_size;
  bool sym, act_order = false, static_groups = false, mse = false;
  int32_t block_size = 128;
};

Matrix random_weight(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.5f);
  Matrix w(rows, cols);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = n(rng);
  return w;
}

// H = 2/T · XᵀX from correlated random inputs; `dead` columns never fire (H_jj = 0).
Matrix hessian(int64_t cols, uint32_t seed, const std::vector<int64_t>& dead) {
  const int64_t tokens = 2 * cols;
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Matrix x(tokens, cols);
  for (int64_t t = 0; t < tokens; ++t) {
    const float shared = n(rng);
    for (int64_t c = 0; c < cols; ++c) x(t, c) = n(rng) * (1.0f + 0.01f * static_cast<float>(c % 7)) + 0.5f * shared;
  }
  for (int64_t c : dead) x.col(c).setZero();
  return (x.transpose() * x) * (2.0f / static_cast<float>(tokens));
}

// What a quantize hook returns, in buffers the test owns (as the host allocates them).
struct Quantized {
  Matrix dequant;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
  std::vector<int32_t> g_idx;
  qlab_quantize_out out{};
  Quantized(int64_t rows, int64_t cols, int32_t group_size) : dequant(rows, cols), codes(size_t(rows * cols)) {
    const int64_t groups = sdk::n_groups(cols, group_size);
    scales.resize(size_t(rows * groups));
    zeros.resize(size_t(rows * groups));
    g_idx.resize(size_t(cols));
    for (int64_t c = 0; c < cols; ++c) g_idx[size_t(c)] = group_size > 0 ? int32_t(c / group_size) : 0;
    out.dequant = {dequant.data(), rows, cols, cols};
    out.codes = codes.data();
    out.scales = scales.data();
    out.zeros = zeros.data();
    out.g_idx = g_idx.data();
    out.n_groups = groups;
  }
  double metric(const std::string& name) const {
    for (int32_t i = 0; i < out.n_metrics; ++i)
      if (name == out.metrics[i].name) return out.metrics[i].value;
    FAIL("no metric " << name);
    return 0;
  }
};

qlab_format format_of(const Setting& s) { return {s.bits, s.group_size, s.sym ? 1 : 0, QLAB_RANGE_GPTQ}; }

qlab_linear_in linear_in(const Matrix& w, const Matrix& h, const Setting& s, const qlab_linalg* la) {
  qlab_linear_in in{};
  in.name = "x.proj";
  in.weight = {w.data(), w.rows(), w.cols(), w.cols()};
  in.stats.hessian = {h.data(), h.rows(), h.cols(), h.cols()};
  in.format = format_of(s);
  in.la = la;
  in.n_threads = 1;
  return in;
}

qlab_gptq_options options_of(const Setting& s, double damp_frac = 0.01, int32_t max_damp_retries = 6) {
  return {damp_frac, s.block_size, s.act_order, s.static_groups, 0, s.mse, max_damp_retries};
}

// The plugin, through whatever linalg table the test gives it.
Quantized run_plugin(const Matrix& w, const Matrix& h, const Setting& s, const qlab_linalg* la, double damp_frac = 0.01) {
  static PluginRegistry reg = PluginRegistry::discover({});
  const std::map<std::string, ParamValue> given = {{"act_order", {s.act_order, "test"}},
                                                   {"static_groups", {s.static_groups, "test"}},
                                                   {"block_size", {int64_t(s.block_size), "test"}},
                                                   {"search", {std::string(s.mse ? "mse" : "none"), "test"}},
                                                   {"damp_frac", {damp_frac, "test"}}};
  const LoadedPlugin& p = reg.get("gptq");
  PluginInstance inst(p, resolve_params(*p.descriptor, given, "test"));
  Quantized q(w.rows(), w.cols(), s.group_size);
  inst.quantize(linear_in(w, h, s, la), q.out);
  return q;
}

struct BackendRun {
  Quantized q;
  qlab_gptq_result res;
};

BackendRun run_backend(Backend& backend, const Matrix& w, const Matrix& h, const Setting& s, double damp_frac = 0.01) {
  BackendRun r{Quantized(w.rows(), w.cols(), s.group_size), {}};
  r.res = gptq_on_backend(backend, linear_in(w, h, s, cpu_linalg()), options_of(s, damp_frac), r.q.out);
  return r;
}

double differing_codes(const Quantized& a, const Quantized& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.codes.size(); ++i) n += a.codes[i] != b.codes[i];
  return double(n) / double(a.codes.size());
}

// Both answers hold the same quantization: codes, the reconstruction, the loss, the groups.
void check_same(const Quantized& got, double got_loss, const Quantized& want, double want_loss) {
  const double diff = differing_codes(got, want);
  INFO("codes differing: " << diff * 100 << "%, loss " << got_loss << " vs " << want_loss);
  CHECK(diff <= 0.005);
  CHECK(std::abs(got_loss - want_loss) <= 0.01 * want_loss);
  CHECK(got.g_idx == want.g_idx);
  // A differing code moves its weight by one step; elsewhere the values are the same grid points.
  const float step = *std::max_element(want.scales.begin(), want.scales.end());
  CHECK((got.dequant - want.dequant).cwiseAbs().maxCoeff() <= 1.01f * step);
  int64_t same = 0;
  for (size_t i = 0; i < got.codes.size(); ++i) same += got.dequant.data()[i] == want.dequant.data()[i];
  CHECK(double(same) >= (1.0 - 0.005) * double(got.codes.size()));
}

const std::vector<Setting> kSettings = {
    {64, 256, 4, 0, true},
    {64, 256, 4, 32, false},
    {64, 256, 3, 32, true, true},
    {96, 384, 4, 128, false},
    {96, 384, 4, 128, false, false, false, false, 64},  // groups span blocks: later blocks read the fitted parameters
    {96, 384, 4, 128, true, true, true},                 // act-order with static groups
    {96, 384, 3, 0, false, true, false, true},           // per-row MSE search, fitted on the host
};

std::string describe(const Setting& s) {
  return fmt::format("{}×{} {} bits group {} {}{}{}{} block {}", s.rows, s.cols, s.bits, s.group_size, s.sym ? "sym" : "asym",
                     s.act_order ? " act_order" : "", s.static_groups ? " static" : "", s.mse ? " mse" : "", s.block_size);
}

// A table like the CUDA one, solving on the CPU backend: exercises the plugin's side.
Backend* g_table_backend = nullptr;
int32_t cpu_backend_solve(void*, const qlab_linear_in* in, const qlab_gptq_options* opt, qlab_quantize_out* out,
                          qlab_gptq_result* res, qlab_error* err) {
  if (!gptq_on_backend_supports(in->format, *opt)) return QLAB_LINALG_UNSUPPORTED;
  try {
    *res = gptq_on_backend(*g_table_backend, *in, *opt, *out);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err->message, sizeof err->message, "%s", e.what());
    return 1;
  }
}
}  // namespace

TEST_CASE("gptq on the CPU backend matches the plugin's own loop", "[gptq][backend]") {
  auto cpu = make_backend("cpu");
  uint32_t seed = 1;
  for (const Setting& s : kSettings) {
    INFO(describe(s));
    const Matrix w = random_weight(s.rows, s.cols, seed++);
    const Matrix h = hessian(s.cols, seed++, {3, 17, s.cols - 1});
    const Quantized want = run_plugin(w, h, s, cpu_linalg());
    CHECK(want.metric("on_device") == 0.0);
    const BackendRun got = run_backend(*cpu, w, h, s);
    CHECK(got.res.n_dead == 3);
    CHECK(got.res.n_dead == want.metric("n_dead"));
    CHECK(got.res.damp == want.metric("damp"));
    CHECK(got.res.damp_retries == 0);
    check_same(got.q, got.res.loss, want, want.metric("loss"));
    // Fitted on the same values, but a group fitted inside the loop reads W after lazy updates
    // the plugin sums as NT and the backend as NN: equal here, not guaranteed by every BLAS.
    const auto close = [](const std::vector<float>& a, const std::vector<float>& b) {
      int64_t same = 0;
      for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
      return a.size() == b.size() && double(same) >= 0.995 * double(a.size());
    };
    CHECK(close(got.q.scales, want.scales));
    CHECK(close(got.q.zeros, want.zeros));
  }
}

TEST_CASE("gptq on the CPU backend retries the dampening as the plugin does", "[gptq][backend]") {
  auto cpu = make_backend("cpu");
  const Setting s{64, 256, 4, 32, false};
  const Matrix w = random_weight(s.rows, s.cols, 11);
  Matrix h = hessian(s.cols, 12, {5});
  // Indefinite: the smallest eigenvalue near −0.3 mean(diag), so 0.01 and 0.1 of the mean fail
  // and the second ×10 retry (the mean itself) succeeds.
  const float shift = 0.3f * h.diagonal().mean();
  h.diagonal().array() -= shift;
  h(5, 5) = 0.0f;  // still dead
  const Quantized want = run_plugin(w, h, s, cpu_linalg());
  const BackendRun got = run_backend(*cpu, w, h, s);
  CHECK(want.metric("damp_retries") == 2);
  CHECK(got.res.damp_retries == 2);
  CHECK(got.res.damp == want.metric("damp"));
  check_same(got.q, got.res.loss, want, want.metric("loss"));

  qlab_gptq_options no_retries = options_of(s, 0.01, 0);
  Quantized q(s.rows, s.cols, s.group_size);
  CHECK_THROWS_WITH(gptq_on_backend(*cpu, linear_in(w, h, s, cpu_linalg()), no_retries, q.out),
                    Catch::StartsWith("the Hessian is not positive definite even with dampening") &&
                        Catch::Contains("after 0 ×10 retries"));
}

TEST_CASE("the gptq plugin solves through qlab_linalg.gptq_solve when the host offers it", "[gptq][backend]") {
  auto cpu = make_backend("cpu");
  CHECK(linalg_for(nullptr) == cpu_linalg());
  CHECK(linalg_for(cpu.get()) == cpu_linalg());
  CHECK(cpu_linalg()->gptq_solve == nullptr);

  g_table_backend = cpu.get();
  qlab_linalg table = *cpu_linalg();
  table.gptq_solve = cpu_backend_solve;
  const Setting s{64, 256, 4, 32, true, true};
  const Matrix w = random_weight(s.rows, s.cols, 21);
  const Matrix h = hessian(s.cols, 22, {0});
  const Quantized via_service = run_plugin(w, h, s, &table);
  const BackendRun direct = run_backend(*cpu, w, h, s);
  CHECK(via_service.metric("on_device") == 1.0);
  CHECK(via_service.metric("loss") == direct.res.loss);
  CHECK(via_service.codes == direct.q.codes);
  CHECK(via_service.dequant == direct.q.dequant);
  CHECK(via_service.g_idx == direct.q.g_idx);

  // Options the backend does not run (groups fitted on updated columns, blocks wider than the
  // kernel's) fall back to the plugin's loop.
  Setting wide = s;
  wide.block_size = 256;
  CHECK(run_plugin(w, h, wide, &table).metric("on_device") == 0.0);
  CHECK_FALSE(gptq_on_backend_supports(format_of(s), {0.01, 128, 0, 0, 1, 0, 6}));
  CHECK(gptq_on_backend_supports(format_of({64, 256, 4, 0, true}), {0.01, 128, 0, 0, 1, 1, 6}));  // per row: fitted before the loop
}

TEST_CASE("backend gemm_window against a naive loop", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix a = random_weight(7, 9, 31), b = random_weight(10, 8, 32), c0 = random_weight(6, 11, 33);
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      INFO("trans_a " << ta << " trans_b " << tb);
      // op(a window) is 3×4, op(b window) 4×5, written into c's window at (2, 3).
      const Window wa = ta ? Window{2, 1, 4, 3} : Window{1, 2, 3, 4};
      const Window wb = tb ? Window{3, 2, 5, 4} : Window{2, 1, 4, 5};
      const Window wc{2, 3, 3, 5};
      DeviceBuffer ad = cpu->upload(a), bd = cpu->upload(b), cd = cpu->upload(c0);
      cpu->gemm_window(ad, wa, ta, bd, wb, tb, -1.5f, 0.5f, cd, wc);
      const Matrix got = cd.download();
      Eigen::MatrixXd want = c0.cast<double>();
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j) {
          double dot = 0;
          for (int64_t k = 0; k < 4; ++k) {
            const double x = ta ? a(wa.row + k, wa.col + i) : a(wa.row + i, wa.col + k);
            const double y = tb ? b(wb.row + j, wb.col + k) : b(wb.row + k, wb.col + j);
            dot += x * y;
          }
          want(wc.row + i, wc.col + j) = -1.5 * dot + 0.5 * c0(wc.row + i, wc.col + j);
        }
      CHECK((got.cast<double>() - want).cwiseAbs().maxCoeff() <= 1e-5 * want.cwiseAbs().maxCoeff());
    }
  DeviceBuffer ad = cpu->upload(a), bd = cpu->upload(b), cd = cpu->upload(c0);
  CHECK_THROWS_WITH(cpu->gemm_window(ad, {5, 0, 3, 4}, false, bd, {0, 0, 4, 5}, false, 1, 0, cd, {0, 0, 3, 5}),
                    "gemm_window: window 3×4 at (5, 0) of a is outside its 7×9");
}

TEST_CASE("backend gptq_block against a naive column loop", "[backend][gptq]") {
  auto cpu = make_backend("cpu");
  const int64_t rows = 16, cols = 96, gs = 16, i1 = 32, i2 = 80;  // groups 2..4 start inside the block
  const Matrix w = random_weight(rows, cols, 41);
  Matrix hinv = hessian(cols, 42, {}).llt().matrixU();  // any upper triangle with a positive diagonal
  const GptqGrid g{3, false, QLAB_RANGE_GPTQ, gs};
  const int32_t maxq = 7;
  DeviceBuffer wd = cpu->upload(w), hd = cpu->upload(hinv), none;
  DeviceBuffer scales = cpu->upload(Matrix::Zero(rows, cols / gs)), zeros = cpu->upload(Matrix::Zero(rows, cols / gs));
  DeviceBuffer dq = cpu->upload(Matrix::Zero(rows, cols)), codes = cpu->upload(Matrix::Zero(rows, cols));
  DeviceBuffer err1 = cpu->alloc(rows, 64), loss = cpu->upload(Matrix::Constant(rows, 1, 1.0f));
  // Column 32 starts group 2 inside the block; column 40's group 2 was fitted there.
  cpu->gptq_block(wd, hd, i1, i2, g, none, scales, zeros, dq, codes, err1, loss);
  const Matrix got_dq = dq.download(), got_codes = codes.download(), got_err = err1.download(), got_loss = loss.download();
  const Matrix got_scales = scales.download();
  int64_t mismatches = 0;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> v(w.row(r).data(), w.row(r).data() + cols);
    double row_loss = 0;
    grid::GroupParams p;
    for (int64_t c = i1; c < i2; ++c) {
      if (c % gs == 0) p = grid::fit(w.row(r).data() + c, gs, 1, g.bits, g.sym, g.range);  // W before the block's updates
      const float x = static_cast<float>(v[size_t(c)]);
      const float code = grid::code_of(x, p, maxq), q = grid::dequant(code, p);
      const double e = (v[size_t(c)] - q) / hinv(c, c);
      row_loss += (v[size_t(c)] - q) * (v[size_t(c)] - q) / (double(hinv(c, c)) * hinv(c, c)) / 2;
      for (int64_t j = c + 1; j < i2; ++j) v[size_t(j)] -= e * hinv(c, j);
      mismatches += got_codes(r, c) != code;
      CHECK(std::abs(got_err(r, c - i1) - e) <= 1e-4 * (1 + std::abs(e)));
      if (got_codes(r, c) == code) CHECK(got_dq(r, c) == q);
      if (c % gs == 0) CHECK(got_scales(r, c / gs) == p.scale);
    }
    CHECK(std::abs(got_loss(r, 0) - (1.0 + row_loss)) <= 1e-4 * (1.0 + row_loss));
    for (int64_t c : {int64_t(0), i1 - 1, i2, cols - 1}) CHECK(got_dq(r, c) == 0.0f);  // outside the block: untouched
  }
  CHECK(mismatches <= 1);  // fp32 against double: a code may flip at an exact rounding tie, no more

  // Per-column parameters: static groups / per row, given, never fitted.
  Matrix given_scales = Matrix::Constant(rows, 2, 0.25f), given_zeros = Matrix::Constant(rows, 2, 4.0f);
  given_scales.col(1).setConstant(0.5f);
  Matrix col_group = Matrix::Zero(1, cols);
  col_group.rightCols(cols / 2).setOnes();
  DeviceBuffer gd = cpu->upload(col_group), sd = cpu->upload(given_scales), zd = cpu->upload(given_zeros);
  DeviceBuffer err96 = cpu->alloc(rows, 96);
  cpu->gptq_block(wd, hd, 0, 96, {3, false, QLAB_RANGE_GPTQ, 0}, gd, sd, zd, dq, codes, err96, loss);
  const Matrix dq2 = dq.download();
  CHECK(dq2(0, 0) == grid::quant_dequant(w(0, 0), {0.25f, 4.0f}, maxq));  // the first column is W's own
  CHECK((dq2.leftCols(48).array() / 0.25f).round().matrix().isApprox(dq2.leftCols(48) / 0.25f));
  CHECK((dq2.rightCols(48).array() / 0.5f).round().matrix().isApprox(dq2.rightCols(48) / 0.5f));
  CHECK(sd.download() == given_scales);

  CHECK_THROWS_WITH(cpu->gptq_block(wd, hd, 0, 96, {3, false, QLAB_RANGE_GPTQ, 0}, gd, sd, zd, dq, codes, err1, loss),
                    Catch::Contains("err1 is 16×64, needs 16×96"));
  DeviceBuffer wide_err = cpu->alloc(rows, 200), wide_w = cpu->upload(random_weight(rows, 200, 43));
  DeviceBuffer wide_h = cpu->alloc(200, 200);
  CHECK_THROWS_WITH(cpu->gptq_block(wide_w, wide_h, 0, 129, g, none, scales, zeros, dq, codes, wide_err, loss),
                    "gptq_block: block of 129 columns, at most 128");
}

TEST_CASE("cuda parity: the GPTQ solve on the GPU against the CPU backend", "[backend][cuda][gptq]") {
  std::string why;
  if (visible_cuda_devices(&why) == 0) QLAB_SKIP(("no CUDA device visible: " + why).c_str());
  auto cpu = make_backend("cpu");
  auto gpu = make_backend("cuda");
  const qlab_linalg* la = linalg_for(gpu.get());
  REQUIRE(la->gptq_solve != nullptr);
  CHECK(la->ctx == gpu.get());
  uint32_t seed = 51;
  for (const Setting& s : kSettings) {
    INFO(describe(s));
    const Matrix w = random_weight(s.rows, s.cols, seed++);
    const Matrix h = hessian(s.cols, seed++, {3, 17, s.cols - 1});
    const BackendRun want = run_backend(*cpu, w, h, s);
    const BackendRun got = run_backend(*gpu, w, h, s);
    CHECK(got.res.n_dead == want.res.n_dead);
    CHECK(got.res.damp == want.res.damp);
    check_same(got.q, got.res.loss, want.q, want.res.loss);
    // Parameters from the same W with the same float math; inside the loop from a W whose
    // earlier lazy updates are cuBLAS's, so allow what check_same allows for codes.
    int64_t same = 0;
    for (size_t i = 0; i < got.q.scales.size(); ++i) same += got.q.scales[i] == want.q.scales[i];
    CHECK(double(same) >= 0.995 * double(got.q.scales.size()));
    // The plugin through the CUDA table: solved there.
    const Quantized via_plugin = run_plugin(w, h, s, la);
    CHECK(via_plugin.metric("on_device") == 1.0);
    CHECK(via_plugin.codes == got.q.codes);
  }
}
