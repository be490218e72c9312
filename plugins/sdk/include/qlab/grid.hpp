// Uniform grids shared by every uniform quantizer (RTN, GPTQ, clip search): fitting a group's
// scale and zero under the two reference range conventions, rounding onto the grid, and
// GPTQ's MSE shrink search. A value x is coded q = clamp(round(x / scale) + zero, 0, maxq)
// and reconstructed scale · (q − zero). Rounding is half-to-even, as torch.round.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "qlab/groups.hpp"
#include "qlab/plugin.h"

namespace qlab::grid {

struct GroupParams {
  float scale = 1.0f;
  float zero = 0.0f;
};

inline int32_t max_code(int32_t bits) { return (1 << bits) - 1; }

inline float code_of(float x, GroupParams p, int32_t maxq) {
  float q = std::nearbyint(x / p.scale) + p.zero;
  return std::min(std::max(q, 0.0f), static_cast<float>(maxq));
}
inline float dequant(float code, GroupParams p) { return p.scale * (code - p.zero); }
inline float quant_dequant(float x, GroupParams p, int32_t maxq) { return dequant(code_of(x, p, maxq), p); }

// Scale and zero for a range [lo, hi] already adjusted to the convention.
inline GroupParams params_for_range(float lo, float hi, int32_t bits, bool sym, int32_t range) {
  const int32_t maxq = max_code(bits);
  GroupParams p;
  if (range == QLAB_RANGE_MINMAX) {
    if (sym) {  // AWQ's zero_point=False: absmax / (2^(b−1) − 1), codes centred on 2^(b−1)
      const float half = static_cast<float>((1 << (bits - 1)) - 1);
      p.scale = std::max(std::max(std::fabs(lo), std::fabs(hi)), 1e-5f) / half;  // clamp as in the reference
      p.zero = static_cast<float>(1 << (bits - 1));
    } else {  // AWQ's pseudo_quantize_tensor: clamp(max − min, 1e-5) / maxq, zero clamped to the codes
      p.scale = std::max(hi - lo, 1e-5f) / static_cast<float>(maxq);
      p.zero = std::min(std::max(-std::nearbyint(lo / p.scale), 0.0f), static_cast<float>(maxq));
    }
    return p;
  }
  // GPTQ's Quantizer.find_params for one row or group.
  p.scale = (hi - lo) / static_cast<float>(maxq);
  p.zero = sym ? static_cast<float>(maxq + 1) / 2.0f : std::nearbyint(-lo / p.scale);
  return p;
}

// The convention's range of n values at x[0], x[stride], ...
inline void range_of(const float* x, int64_t n, int64_t stride, bool sym, int32_t range, float& lo, float& hi) {
  lo = std::numeric_limits<float>::infinity();
  hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i * stride]);
    hi = std::max(hi, x[i * stride]);
  }
  if (range == QLAB_RANGE_MINMAX) return;
  lo = std::min(lo, 0.0f);  // GPTQ: the range always contains 0
  hi = std::max(hi, 0.0f);
  if (sym) {
    hi = std::max(std::fabs(lo), hi);
    if (lo < 0) lo = -hi;  // a row with no negative value keeps lo = 0 (the reference's quirk)
  }
  if (lo == 0.0f && hi == 0.0f) {
    lo = -1.0f;
    hi = 1.0f;
  }
}

inline GroupParams fit(const float* x, int64_t n, int64_t stride, int32_t bits, bool sym, int32_t range) {
  float lo, hi;
  range_of(x, n, stride, sym, range, lo, hi);
  return params_for_range(lo, hi, bits, sym, range);
}

struct MseSearch {
  int32_t grid = 100;
  float max_shrink = 0.8f;
  float norm = 2.4f;
};

// GPTQ's MSE shrink search: ranges p·[lo, hi] for p = 1, 1 − 1/grid, … (max_shrink·grid
// candidates), keeping the one with the least Σ|Q(x) − x|^norm. Symmetric grids keep their zero.
inline GroupParams fit_mse(const float* x, int64_t n, int64_t stride, int32_t bits, bool sym, int32_t range,
                           MseSearch search) {
  float lo, hi;
  range_of(x, n, stride, sym, range, lo, hi);
  const int32_t maxq = max_code(bits);
  GroupParams best = params_for_range(lo, hi, bits, sym, range);
  double best_err = std::numeric_limits<double>::infinity();
  const int32_t steps = static_cast<int32_t>(search.max_shrink * static_cast<float>(search.grid));
  for (int32_t i = 0; i < steps; ++i) {
    const float p = static_cast<float>(1.0 - static_cast<double>(i) / search.grid);
    GroupParams c = params_for_range(p * lo, p * hi, bits, sym, range);
    if (sym && range == QLAB_RANGE_GPTQ) c.zero = best.zero;
    double err = 0;
    for (int64_t k = 0; k < n; ++k)
      err += std::pow(std::fabs(quant_dequant(x[k * stride], c, maxq) - x[k * stride]), search.norm);
    if (err < best_err) {
      best_err = err;
      best = c;
    }
  }
  return best;
}

// Rounds n values at x onto the grid of p: codes (when given) and the reconstruction.
inline void quantize_group(const float* x, int64_t n, GroupParams p, int32_t maxq, uint8_t* codes, float* out) {
  for (int64_t j = 0; j < n; ++j) {
    const float code = code_of(x[j], p, maxq);
    if (codes) codes[j] = static_cast<uint8_t>(code);
    out[j] = dequant(code, p);
  }
}

// Round-to-nearest of a rows × cols matrix (row stride `stride`) in the given format, group
// by group along each row; writes the reconstruction to `out` (row stride `out_stride`) and, when given,
// the codes (rows × cols, packed) and per-group scales/zeros (rows × n_groups).
inline void quantize_rows(const float* w, int64_t rows, int64_t cols, int64_t stride, const qlab_format& f, float* out,
                          int64_t out_stride,
                          uint8_t* codes = nullptr, float* scales = nullptr, float* zeros = nullptr,
                          const MseSearch* mse = nullptr) {
  const int32_t maxq = max_code(f.bits);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    sdk::for_each_group_in_row(r, cols, f.group_size, [&](const sdk::Group& g) {
      const float* x = w + r * stride + g.begin;
      const GroupParams p = mse ? fit_mse(x, g.size, 1, f.bits, f.sym, f.range, *mse) : fit(x, g.size, 1, f.bits, f.sym, f.range);
      if (scales) scales[g.at] = p.scale;
      if (zeros) zeros[g.at] = p.zero;
      quantize_group(x, g.size, p, maxq, codes ? codes + g.flat : nullptr, out + r * out_stride + g.begin);
    });
}

}  // namespace qlab::grid
