#include "forward/activation_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/error.h"

namespace qlab {

float ActivationPlan::absmax_of(const std::string& linear) const {
  auto it = input_absmax.find(linear);
  return it == input_absmax.end() ? 0.0f : it->second;
}

ActScheme parse_act_scheme(const std::string& name) {
  return kActSchemes.parse(name, "activation scheme");
}

const char* act_scheme_name(ActScheme s) { return kActSchemes.name(s); }

namespace {

// Rounds the entries of one row whose column is not kept in float, on a grid of step `scale`
// clipped to ±qmax steps.
void round_row(float* row, int64_t n, float scale, float qmax, const std::vector<char>& keep) {
  const float inv = 1.0f / scale;
  for (int64_t j = 0; j < n; ++j) {
    if (!keep.empty() && keep[static_cast<size_t>(j)]) continue;
    row[j] = std::clamp(std::nearbyint(row[j] * inv), -qmax, qmax) * scale;
  }
}

float absmax(const float* row, int64_t n, const std::vector<char>& keep) {
  float m = 0.0f;
  for (int64_t j = 0; j < n; ++j)
    if (keep.empty() || !keep[static_cast<size_t>(j)]) m = std::max(m, std::fabs(row[j]));
  return m;
}

}  // namespace

void fake_quantize_input(const ActivationQuant& q, float static_absmax, const std::string& linear, Matrix& x) {
  if (!q.enabled()) return;
  const float qmax = static_cast<float>((1 << (q.bits - 1)) - 1);
  const int64_t rows = x.rows(), cols = x.cols();
  // LLM.int8()'s decomposition: a column with an outlier anywhere in this input stays in float.
  std::vector<char> keep;
  if (q.outlier_threshold > 0) {
    keep.assign(static_cast<size_t>(cols), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j)
        if (std::fabs(x(r, j)) > q.outlier_threshold) keep[static_cast<size_t>(j)] = 1;
  }
  constexpr float tiny = 1e-5f;  // the reference's clamp: an all-zero input keeps a finite scale
  switch (q.scheme) {
    case ActScheme::per_token:
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        float* row = x.data() + r * cols;
        round_row(row, cols, std::max(absmax(row, cols, keep) * q.clip_ratio, tiny) / qmax, qmax, keep);
      }
      return;
    case ActScheme::per_tensor:
    case ActScheme::static_range: {
      float range = static_absmax;
      if (q.scheme == ActScheme::per_tensor) {
        range = 0.0f;
        for (int64_t r = 0; r < rows; ++r) range = std::max(range, absmax(x.data() + r * cols, cols, keep));
        range *= q.clip_ratio;
      } else if (!(range > 0.0f) || !std::isfinite(range)) {
        fail("{}: static activation quantization has no calibrated input range (got {}); the range is set by "
             "calibration in `qlab run`", linear, range);
      }
      const float scale = std::max(range, tiny) / qmax;
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; ++r) round_row(x.data() + r * cols, cols, scale, qmax, keep);
      return;
    }
  }
}

void fake_quantize_kv(Matrix& x, int64_t head_dim, int32_t bits, float clip_ratio) {
  const float maxq = static_cast<float>((1 << bits) - 1);
  const int64_t groups = x.cols() / head_dim;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t g = 0; g < groups; ++g) {
      float* v = x.data() + r * x.cols() + g * head_dim;
      float lo = v[0], hi = v[0];
      for (int64_t j = 1; j < head_dim; ++j) lo = std::min(lo, v[j]), hi = std::max(hi, v[j]);
      lo *= clip_ratio;
      hi *= clip_ratio;
      const float scale = std::max(hi - lo, 1e-5f) / maxq, zero = std::nearbyint(-lo / scale);
      for (int64_t j = 0; j < head_dim; ++j) v[j] = (std::clamp(std::nearbyint(v[j] / scale) + zero, 0.0f, maxq) - zero) * scale;
    }
}

}  // namespace qlab
