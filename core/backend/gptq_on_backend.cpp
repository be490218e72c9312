#include "backend/gptq_on_backend.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

#include "qlab/grid.hpp"
#include "qlab/plugin.hpp"
#include "util/error.h"

namespace qlab {

namespace {
using Clock = std::chrono::steady_clock;

bool dynamic_groups(const qlab_format& f, const qlab_gptq_options& opt) { return f.group_size > 0 && !opt.static_groups; }

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Rows × groups parameters as two buffers' worth of host matrices.
struct HostParams {
  Matrix scales, zeros;
  HostParams(int64_t rows, int64_t groups) : scales(rows, groups), zeros(rows, groups) {}
  void set(int64_t r, int64_t g, grid::GroupParams p) {
    scales(r, g) = p.scale;
    zeros(r, g) = p.zero;
  }
};
}  // namespace

bool gptq_on_backend_supports(const qlab_format& f, const qlab_gptq_options& opt) {
  if (opt.block_size < 1 || opt.block_size > kGptqBlockMaxColumns || f.bits < 2 || f.bits > 8) return false;
  // Groups fitted inside the loop: the kernel fits the reference's way with plain min/max.
  return !(dynamic_groups(f, opt) && (opt.fit_on_updated || opt.mse));
}

// The plugin's quantize (algorithms/gptq/gptq_solve.cpp) step for step; what differs is
// where the matrices live. Keep the two in step.
qlab_gptq_result gptq_on_backend(Backend& backend, const qlab_linear_in& in, const qlab_gptq_options& opt,
                                 qlab_quantize_out& out) {
  const qlab_format f = in.format;
  if (!gptq_on_backend_supports(f, opt))
    fail("gptq on {}: these options are the plugin's own loop (block {}, {} bits, group fit {}, search {})", backend.name(),
         opt.block_size, f.bits, opt.fit_on_updated ? "updated" : "reference", opt.mse ? "mse" : "none");
  if (in.stats.hessian.data == nullptr) fail("gptq needs the Hessian statistic");
  const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
  if (in.stats.hessian.n_rows != cols || in.stats.hessian.n_cols != cols)
    fail("gptq on {}: the Hessian is {}×{}, the weight has {} columns", backend.name(), in.stats.hessian.n_rows,
         in.stats.hessian.n_cols, cols);
  qlab_gptq_result res{};
  const int64_t gs = f.group_size > 0 ? f.group_size : 0;
  const int64_t n_groups = sdk::n_groups(cols, f.group_size);
  const grid::MseSearch mse_search;  // the plugin's Options default
  auto fit = [&](const float* x, int64_t n) {
    return opt.mse ? grid::fit_mse(x, n, 1, f.bits, f.sym, f.range, mse_search) : grid::fit(x, n, 1, f.bits, f.sym, f.range);
  };
  auto t0 = Clock::now();

  Matrix w = sdk::map(in.weight);
  const sdk::ConstMap host_h = sdk::map(in.stats.hessian);
  // Parameters fitted before the loop: per row from W before dead columns are zeroed, static
  // groups after. Groups fitted in the loop are written by gptq_block.
  HostParams params(rows, gs == 0 ? 1 : n_groups);
  if (gs == 0)
    for (int64_t r = 0; r < rows; ++r) params.set(r, 0, fit(w.row(r).data(), cols));
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  auto prepared_hessian = [&] {
    Matrix h = host_h;
    for (int64_t j = 0; j < cols; ++j)
      if (h(j, j) == 0.0f) h(j, j) = 1.0f;
    if (!opt.act_order) return h;
    Matrix hp(cols, cols);
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(perm[i], perm[j]);
    return hp;
  };
  for (int64_t j = 0; j < cols; ++j)
    if (host_h(j, j) == 0.0f) {
      w.col(j).setZero();
      ++res.n_dead;
    }
  if (gs > 0 && opt.static_groups)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < n_groups; ++g) params.set(r, g, fit(w.row(r).data() + g * gs, std::min(gs, cols - g * gs)));
  if (opt.act_order) {
    auto diag = [&](int64_t j) { return host_h(j, j) == 0.0f ? 1.0f : host_h(j, j); };
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
    Matrix wp(rows, cols);
    for (int64_t j = 0; j < cols; ++j) wp.col(j) = w.col(perm[j]);
    w.swap(wp);
  }

  // Upper Cholesky factor of (H + damp·I)⁻¹, as the plugin's inverse_factor: H is prepared
  // and dampened on the host and factored on the backend; a retry uploads it again.
  DeviceBuffer hinv = backend.alloc(cols, cols);
  {
    Matrix h = prepared_hessian();
    const double mean_diag = h.diagonal().cast<double>().mean();
    res.damp = opt.damp_frac * mean_diag;
    for (;;) {
      h.diagonal().array() += static_cast<float>(res.damp);
      hinv.upload(h);
      int rc = backend.potrf(hinv, false);
      if (rc == 0) {
        backend.cholesky_inverse(hinv, false);
        rc = backend.potrf(hinv, true);
      }
      if (rc == 0) break;
      if (res.damp_retries >= opt.max_damp_retries || !(mean_diag > 0))
        fail("the Hessian is not positive definite even with dampening {} after {} ×10 retries (column {})", res.damp,
             res.damp_retries, rc);
      res.damp = std::max(res.damp * 10.0, 1e-6 * mean_diag);  // from zero dampening, start at a millionth of the diagonal
      ++res.damp_retries;
      h = prepared_hessian();
    }
  }
  backend.synchronize();
  res.time_factor_s = seconds_since(t0);
  t0 = Clock::now();

  DeviceBuffer wd = backend.upload(w);
  w = Matrix();
  GptqGrid grid{f.bits, f.sym != 0, f.range, 0};
  DeviceBuffer col_group, scales, zeros;
  if (dynamic_groups(f, opt)) {
    grid.group_size = gs;
    scales = backend.alloc(rows, n_groups);
    zeros = backend.alloc(rows, n_groups);
  } else {
    Matrix groups(1, cols);
    for (int64_t j = 0; j < cols; ++j) groups(0, j) = static_cast<float>(gs == 0 ? 0 : perm[j] / gs);
    col_group = backend.upload(groups);
    scales = backend.upload(params.scales);
    zeros = backend.upload(params.zeros);
  }
  DeviceBuffer dq = backend.alloc(rows, cols), codes = backend.alloc(rows, cols);
  DeviceBuffer err1 = backend.alloc(rows, std::min<int64_t>(opt.block_size, cols));
  DeviceBuffer loss = backend.upload(Matrix::Zero(rows, 1));
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min<int64_t>(i1 + opt.block_size, cols), count = i2 - i1;
    backend.gptq_block(wd, hinv, i1, i2, grid, col_group, scales, zeros, dq, codes, err1, loss);
    if (i2 < cols)  // the lazy batch update, in place: W[:, i2:] −= Err1 · Hinv[i1:i2, i2:]
      backend.gemm_window(err1, {0, 0, rows, count}, false, hinv, {i1, i2, count, cols - i2}, false, -1.0f, 1.0f,
                          wd, {0, i2, rows, cols - i2});
  }
  backend.synchronize();
  res.time_solve_s = seconds_since(t0);

  const Matrix dq_host = dq.download(), codes_host = codes.download(), loss_host = loss.download();
  const Matrix scales_host = scales.download(), zeros_host = zeros.download();
  for (int64_t r = 0; r < rows; ++r) res.loss += loss_host(r, 0);
  // Back to the original column order; groups keep the order they were fitted in.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      out.dequant.data[r * out.dequant.row_stride + perm[j]] = dq_host(r, j);
      out.codes[r * cols + perm[j]] = static_cast<uint8_t>(codes_host(r, j));
    }
  for (int64_t j = 0; j < cols; ++j)
    out.g_idx[perm[j]] = static_cast<int32_t>(gs == 0 ? 0 : opt.static_groups ? perm[j] / gs : j / gs);
  std::copy(scales_host.data(), scales_host.data() + scales_host.size(), out.scales);
  std::copy(zeros_host.data(), zeros_host.data() + zeros_host.size(), out.zeros);
  return res;
}

}  // namespace qlab
