#include "forward/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "util/error.h"

namespace qlab {

namespace {
std::vector<double> base_inv_freq(double theta, int64_t head_dim) {
  std::vector<double> f(static_cast<size_t>(head_dim / 2));
  for (int64_t j = 0; j < head_dim / 2; ++j) f[static_cast<size_t>(j)] = 1.0 / std::pow(theta, 2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
  return f;
}

// Llama 3: wavelengths longer than original/low_freq_factor are slowed by `factor`, those
// shorter than original/high_freq_factor kept, and the band between interpolated smoothly.
void llama3_rescale(const RopeScaling& s, std::vector<double>& inv_freq) {
  const double original = static_cast<double>(s.original_max_position);
  const double low_wavelen = original / s.low_freq_factor, high_wavelen = original / s.high_freq_factor;
  for (double& f : inv_freq) {
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen > low_wavelen) {
      f /= s.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (original / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = (1.0 - smooth) * f / s.factor + smooth * f;
    }
  }
}
}  // namespace

std::vector<float> rope_inv_freq(const ModelConfig& c, int64_t seq_len) {
  const RopeScaling& s = c.rope_scaling;
  double theta = c.rope_theta;
  if (s.kind == RopeScalingKind::dynamic && seq_len > s.original_max_position) {
    // NTK-aware: a larger base stretches the low frequencies over the longer sequence.
    const double d = static_cast<double>(c.head_dim);
    theta *= std::pow(s.factor * static_cast<double>(seq_len) / static_cast<double>(s.original_max_position) - (s.factor - 1.0), d / (d - 2.0));
  }
  std::vector<double> f = base_inv_freq(theta, c.head_dim);
  if (s.kind == RopeScalingKind::linear)
    for (double& x : f) x /= s.factor;
  if (s.kind == RopeScalingKind::llama3) llama3_rescale(s, f);
  // Rounded to float as the reference computes them; angles in float.
  return std::vector<float>(f.begin(), f.end());
}

namespace {
// cos and sin of pos · inv_freq[j] as the reference rounds them: the angle in float, cos and
// sin in double.
void angles_at(float pos, const std::vector<float>& inv_freq, float* cos_t, float* sin_t) {
  for (size_t j = 0; j < inv_freq.size(); ++j) {
    const float angle = pos * inv_freq[j];
    cos_t[j] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin_t[j] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void rotate_row(float* row, int64_t n_heads, int64_t head_dim, const float* cos_t, const float* sin_t) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* head = row + h * head_dim;
    for (int64_t j = 0; j < half; ++j) {
      float a = head[j], b = head[j + half];
      head[j] = a * cos_t[j] - b * sin_t[j];
      head[j + half] = b * cos_t[j] + a * sin_t[j];
    }
  }
}

void check_frequencies(const std::vector<float>& inv_freq, int64_t head_dim) {
  if (static_cast<int64_t>(inv_freq.size()) != head_dim / 2) fail("apply_rope: {} frequencies for head_dim {}", inv_freq.size(), head_dim);
}
}  // namespace

void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq) {
  check_frequencies(inv_freq, head_dim);
  const size_t half = inv_freq.size();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r) {
    std::vector<float> cos_t(half), sin_t(half);
    angles_at(static_cast<float>(pos0 + r), inv_freq, cos_t.data(), sin_t.data());
    rotate_row(x.row(r).data(), n_heads, head_dim, cos_t.data(), sin_t.data());
  }
}

void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos, const std::vector<float>& inv_freq) {
  check_frequencies(inv_freq, head_dim);
  if (static_cast<int64_t>(pos.size()) != x.rows()) fail("apply_rope: {} positions for {} rows", pos.size(), x.rows());
  // Packed rows repeat the same few hundred positions: their angles once, in a table.
  const size_t half = inv_freq.size();
  const int32_t max_pos = pos.empty() ? 0 : *std::max_element(pos.begin(), pos.end());
  std::vector<float> cos_t(static_cast<size_t>(max_pos + 1) * half), sin_t(cos_t.size());
  for (int32_t p = 0; p <= max_pos; ++p) angles_at(static_cast<float>(p), inv_freq, &cos_t[static_cast<size_t>(p) * half], &sin_t[static_cast<size_t>(p) * half]);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r) {
    const size_t at = static_cast<size_t>(pos[static_cast<size_t>(r)]) * half;
    rotate_row(x.row(r).data(), n_heads, head_dim, &cos_t[at], &sin_t[at]);
  }
}

void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, int64_t pos0, float theta) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_theta = theta;
  apply_rope(x, n_heads, head_dim, pos0, rope_inv_freq(c, pos0 + x.rows()));
}

}  // namespace qlab
