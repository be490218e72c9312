#include "walk/quantized_linear.h"

#include <algorithm>

#include "util/error.h"

namespace qlab {

std::string QuantizedLinear::index_problem() const {
  for (size_t c = 0; c < g_idx.size(); ++c)
    if (g_idx[c] < 0 || g_idx[c] >= n_groups)
      return fmt::format("g_idx[{}] = {} is outside 0..{}", c, g_idx[c], n_groups - 1);
  const int64_t max_code = (int64_t(1) << bits) - 1;
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] > max_code) return fmt::format("code {} at flat index {} is above {} ({} bits)", codes[i], i, max_code, bits);
  return "";
}

Matrix QuantizedLinear::dequantize() const {
  // Indices index the scales and the codebook: never read past them.
  if (const std::string problem = index_problem(); !problem.empty()) fail("{}: {}", name, problem);
  const int64_t rows = dequant.rows(), cols = dequant.cols();
  Matrix w(rows, cols);
  const int64_t levels = int64_t(1) << bits;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t g = g_idx[static_cast<size_t>(c)];
      const uint8_t q = codes[static_cast<size_t>(r * cols + c)];
      w(r, c) = codebook.empty() ? scales(r, g) * (static_cast<float>(q) - zeros(r, g))
                                 : codebook[static_cast<size_t>((r * n_groups + g) * levels + q)];
    }
  for (const SparseEntry& e : sparse) w.data()[e.index] = e.value;
  return w;
}

double uniform_bits_per_weight(int32_t bits, int32_t group_size, bool sym, int64_t n_cols) {
  const double per_group = 16.0 + (sym ? 0.0 : bits);
  // A row holds ceil(cols / g) groups, the last one possibly short; a group wider than the
  // row is one group per row, exactly per-channel.
  const int64_t g = group_size > 0 ? std::min<int64_t>(group_size, n_cols) : n_cols;
  const int64_t groups_per_row = (n_cols + g - 1) / g;
  return bits + static_cast<double>(groups_per_row) * per_group / static_cast<double>(n_cols);
}

}  // namespace qlab
