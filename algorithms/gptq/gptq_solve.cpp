#include "gptq_solve.h"

#include <qlab/plugin.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace qlab::gptq {

namespace {
using sdk::RowMatrix;
using Clock = std::chrono::steady_clock;
using sdk::cview;
using sdk::view;

// Upper Cholesky factor of (H + damp·I)⁻¹: cholesky, cholesky_inverse, cholesky(upper), as
// the reference. Raises the dampening ×10 while H + damp·I is not positive definite. Works
// in h's own storage (a 28672² Hessian is 3.1 GiB) and asks `rebuild` for H again to retry.
RowMatrix inverse_factor(RowMatrix h, const std::function<RowMatrix()>& rebuild, const qlab_linalg& la, const Options& opt,
                         Result& r) {
  const double mean_diag = h.diagonal().cast<double>().mean();
  r.damp = opt.damp_frac * mean_diag;
  for (;;) {
    h.diagonal().array() += static_cast<float>(r.damp);
    int32_t rc = la.potrf(la.ctx, view(h), 0);
    if (rc == 0) rc = la.potri(la.ctx, view(h), 0);
    if (rc == 0) rc = la.potrf(la.ctx, view(h), 1);
    if (rc == 0) return h;
    if (r.damp_retries >= opt.max_damp_retries || !(mean_diag > 0))
      throw sdk::Failure("the Hessian is not positive definite even with dampening " + std::to_string(r.damp) +
                               " after " + std::to_string(r.damp_retries) + " ×10 retries (column " + std::to_string(rc) + ")");
    r.damp = std::max(r.damp * 10.0, 1e-6 * mean_diag);  // from zero dampening, start at a millionth of the diagonal
    ++r.damp_retries;
    h = rebuild();
  }
}

// The host's solve on its compute backend; false when it has none for these options.
bool quantize_by_host(const qlab_linear_in& in, qlab_quantize_out& out, const Options& opt, Result& r) {
  if (in.la->gptq_solve == nullptr) return false;
  const qlab_gptq_options o{opt.damp_frac, opt.block_size, opt.act_order, opt.static_groups, opt.fit_on_updated, opt.mse,
                            opt.max_damp_retries};
  qlab_gptq_result res{};
  qlab_error err{};
  const int32_t rc = in.la->gptq_solve(in.la->ctx, &in, &o, &out, &res, &err);
  if (rc == QLAB_LINALG_UNSUPPORTED) return false;
  if (rc != 0) throw sdk::Failure(err.message);
  r.loss = res.loss;
  r.damp = res.damp;
  r.damp_retries = res.damp_retries;
  r.n_dead = res.n_dead;
  r.time_factor_s = res.time_factor_s;
  r.time_solve_s = res.time_solve_s;
  r.on_device = true;
  return true;
}
}  // namespace

Result quantize(const qlab_linear_in& in, qlab_quantize_out& out, const Options& opt) {
  Result res;
  if (quantize_by_host(in, out, opt, res)) return res;
  if (in.stats.hessian.data == nullptr) throw sdk::Failure("gptq needs the Hessian statistic");
  const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
  const qlab_format f = in.format;
  const int32_t maxq = grid::max_code(f.bits);
  const int64_t gs = f.group_size > 0 ? f.group_size : 0;
  const int64_t n_groups = sdk::n_groups(cols, f.group_size);
  auto fit = [&](const float* x, int64_t n, int64_t stride) {
    return opt.mse ? grid::fit_mse(x, n, stride, f.bits, f.sym, f.range, opt.mse_search) : grid::fit(x, n, stride, f.bits, f.sym, f.range);
  };
  auto t0 = Clock::now();

  RowMatrix w = sdk::map(in.weight);
  const sdk::ConstMap host_h = sdk::map(in.stats.hessian);
  // Per-channel parameters come from W before dead columns are zeroed (reference order).
  std::vector<grid::GroupParams> row_params(gs == 0 ? rows : 0);
  for (int64_t r = 0; r < static_cast<int64_t>(row_params.size()); ++r) row_params[r] = fit(w.row(r).data(), cols, 1);
  // H with a dead column's diagonal (an input that is always zero) set to 1, in `perm`'s order.
  std::vector<int64_t> perm(cols);
  std::iota(perm.begin(), perm.end(), 0);
  auto prepared_hessian = [&] {
    RowMatrix h = host_h;
    for (int64_t j = 0; j < cols; ++j)
      if (h(j, j) == 0.0f) h(j, j) = 1.0f;
    if (!opt.act_order) return h;
    RowMatrix hp(cols, cols);
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(perm[i], perm[j]);
    return hp;
  };
  for (int64_t j = 0; j < cols; ++j)
    if (host_h(j, j) == 0.0f) {
      w.col(j).setZero();
      ++res.n_dead;
    }
  // Static groups: fitted on contiguous original columns before any update or permutation.
  std::vector<grid::GroupParams> static_params;
  if (gs > 0 && opt.static_groups) {
    static_params.resize(static_cast<size_t>(rows * n_groups));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < n_groups; ++g)
        static_params[r * n_groups + g] = fit(w.row(r).data() + g * gs, std::min(gs, cols - g * gs), 1);
  }
  if (opt.act_order) {
    auto diag = [&](int64_t j) { return host_h(j, j) == 0.0f ? 1.0f : host_h(j, j); };
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
    RowMatrix wp(rows, cols);
    for (int64_t j = 0; j < cols; ++j) wp.col(j) = w.col(perm[j]);
    w.swap(wp);
  }
  const RowMatrix hinv = inverse_factor(prepared_hessian(), prepared_hessian, *in.la, opt, res);
  res.time_factor_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();

  std::vector<grid::GroupParams> current(static_cast<size_t>(rows));
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  RowMatrix dq(rows, cols);
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min<int64_t>(i1 + opt.block_size, cols), count = i2 - i1;
    RowMatrix w1 = w.middleCols(i1, count);
    RowMatrix err1(rows, count);
    // Inside a block every row is independent: its own parameters, its own error feedback.
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> group(static_cast<size_t>(gs > 0 ? gs : 0));
      for (int64_t i = 0; i < count; ++i) {
        const int64_t col = i1 + i;
        grid::GroupParams p;
        if (gs == 0) {
          p = row_params[r];
        } else if (opt.static_groups) {
          p = static_params[r * n_groups + perm[col] / gs];
        } else {
          if (col % gs == 0) {
            const int64_t n = std::min(gs, cols - col);
            for (int64_t c = 0; c < n; ++c) {
              const int64_t k = col + c;
              if (!opt.fit_on_updated) {
                group[c] = w(r, k);  // the reference: W without this block's pending updates
              } else if (k < i2) {
                group[c] = w1(r, k - i1);
              } else {
                float v = w(r, k);
                for (int64_t j = 0; j < i; ++j) v -= err1(r, j) * hinv(i1 + j, k);
                group[c] = v;
              }
            }
            current[r] = fit(group.data(), n, 1);
            out.scales[r * n_groups + col / gs] = current[r].scale;
            out.zeros[r * n_groups + col / gs] = current[r].zero;
          }
          p = current[r];
        }
        const float x = w1(r, i);
        const float code = grid::code_of(x, p, maxq);
        const float q = grid::dequant(code, p);
        const float d = hinv(col, col);
        const float e = (x - q) / d;
        row_loss[r] += static_cast<double>((x - q) * (x - q)) / (static_cast<double>(d) * d) / 2.0;
        for (int64_t j = i + 1; j < count; ++j) w1(r, j) -= e * hinv(col, i1 + j);
        err1(r, i) = e;
        dq(r, col) = q;
        codes[r * cols + col] = static_cast<uint8_t>(code);
      }
    }
    if (i2 < cols) {  // the lazy batch update, in place: W[:, i2:] −= Err1 · Hinv[i1:i2, i2:]
      const RowMatrix hinv_t = hinv.block(i1, i2, count, cols - i2).transpose();
      qlab_view tail{w.data() + i2, rows, cols - i2, cols};
      in.la->gemm_nt(in.la->ctx, cview(err1), cview(hinv_t), -1.0f, 1.0f, tail);
    }
  }
  res.time_solve_s = std::chrono::duration<double>(Clock::now() - t0).count();
  for (double l : row_loss) res.loss += l;

  // Back to the original column order; groups keep the order they were fitted in.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      out.dequant.data[r * out.dequant.row_stride + perm[j]] = dq(r, j);
      out.codes[r * cols + perm[j]] = codes[r * cols + j];
    }
  for (int64_t j = 0; j < cols; ++j)
    out.g_idx[perm[j]] = static_cast<int32_t>(gs == 0 ? 0 : opt.static_groups ? perm[j] / gs : j / gs);
  if (gs == 0)
    for (int64_t r = 0; r < rows; ++r) out.scales[r] = row_params[r].scale, out.zeros[r] = row_params[r].zero;
  if (gs > 0 && opt.static_groups)
    for (int64_t k = 0; k < rows * n_groups; ++k) out.scales[k] = static_params[k].scale, out.zeros[k] = static_params[k].zero;
  return res;
}

}  // namespace qlab::gptq
