// The fixed 4-bit codebooks of bitsandbytes and the 8-bit map its double quantization uses.
//  - NF4 (Dettmers et al., QLoRA, arXiv 2305.14314, Appendix E; bitsandbytes
//    functional.create_normal_map(offset = 0.9677083, use_extra_value = True)): the normal
//    quantiles Φ⁻¹ of 8 (positive side) and 7 (negative side) equally spaced probabilities
//    from 0.9677083 towards 0.5, plus an exact 0, normalised to [-1, 1].
//  - FP4 (bitsandbytes' fp4: sign, 2 exponent bits with bias 3, 1 mantissa bit, the
//    all-zero-exponent code with mantissa 1 = 0.0625): magnitudes {0, 0.0625, 2, 3, 4, 6, 8, 12} / 12.
//  - the signed 8-bit dynamic map of functional.create_dynamic_map(signed = True,
//    max_exponent_bits = 7, total_bits = 8): for i = 0..6, 2^i midpoints of linspace(0.1, 1,
//    2^i + 1) scaled by 10^(i−6), both signs, plus 0 and 1; 256 values, ascending.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace qlab::nf4 {

inline constexpr std::array<float, 16> kNf4 = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};

inline std::array<float, 16> fp4_levels() {  // ascending
  const float mags[8] = {0.0f, 0.0625f, 2.0f, 3.0f, 4.0f, 6.0f, 8.0f, 12.0f};
  std::array<float, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[7 - i] = -mags[i] / 12.0f;
    out[8 + i] = mags[i] / 12.0f;
  }
  out[7] = -0.0f;  // the two zeros of sign-magnitude coding; ascending order holds
  return out;
}

inline std::vector<float> dynamic_map_signed_8bit() {
  std::vector<float> v;
  for (int i = 0; i < 7; ++i) {
    const int items = (1 << i) + 1;
    const double scale = std::pow(10.0, i - 6);
    for (int j = 0; j + 1 < items; ++j) {
      const double a = 0.1 + 0.9 * j / (items - 1), b = 0.1 + 0.9 * (j + 1) / (items - 1);
      v.push_back(static_cast<float>(scale * (a + b) / 2));
      v.push_back(static_cast<float>(-scale * (a + b) / 2));
    }
  }
  v.push_back(0.0f);
  v.push_back(1.0f);
  std::sort(v.begin(), v.end());
  return v;
}

// Index of the level nearest to x in an ascending table (ties to the lower level).
inline int nearest_level(const float* levels, int n, float x) {
  int lo = 0;
  for (int i = 1; i < n; ++i)
    if (x > 0.5f * (levels[i - 1] + levels[i])) lo = i;
  return lo;
}

}  // namespace qlab::nf4
