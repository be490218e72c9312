#include "walk/quantize_output_checks.h"

#include <cfloat>
#include <cmath>

#include "util/error.h"

namespace qlab {

namespace {
// scale·(code − zero) is one subtraction and one product in float; honest plugins compute it
// exactly that way (qlab/grid.hpp), so a few ulps of the largest term is ample for rounding.
bool matches_grid(float dequant, float scale, float zero, int32_t code, int32_t bits) {
  const float expected = scale * (static_cast<float>(code) - zero);
  const double tolerance = 4.0 * FLT_EPSILON * std::fabs(static_cast<double>(scale)) * (std::ldexp(1.0, bits) + std::fabs(zero));
  return std::fabs(static_cast<double>(dequant) - expected) <= tolerance;  // false for NaN
}
}  // namespace

void check_quantized_output(const QuantizedLinear& q, const std::string& plugin) {
  if (const std::string problem = q.index_problem(); !problem.empty())
    fail("plugin '{}' returned an invalid index for {}: {}", plugin, q.name, problem);
  if (!q.codebook.empty()) return;  // a codebook's lookups may differ: that is the sparse part
  const int64_t cols = q.dequant.cols();
  for (int64_t r = 0; r < q.dequant.rows(); ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t g = q.g_idx[static_cast<size_t>(c)];
      const int32_t code = q.codes[static_cast<size_t>(r * cols + c)];
      if (!matches_grid(q.dequant(r, c), q.scales(r, g), q.zeros(r, g), code, q.bits))
        fail("plugin '{}' returned a dequantized weight for {} that is not scale·(code − zero) at flat index {}: {} vs {}·({} − {})",
             plugin, q.name, r * cols + c, q.dequant(r, c), q.scales(r, g), code, q.zeros(r, g));
    }
}

double checked_bits_per_weight(double reported, double host_formula, const std::string& plugin, const std::string& linear) {
  if (reported == 0.0) return host_formula;
  if (!(reported > 0.0 && reported <= 32.0))
    fail("plugin '{}' reported bits_per_weight {} for {}: it must lie in (0, 32] (or 0 for the host's count)", plugin, reported,
         linear);
  return reported;
}

std::string sanitized_metric_name(const char* name) {
  std::string out(name);
  for (char& ch : out) {
    if (ch == '/') ch = '_';
    else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

}  // namespace qlab
