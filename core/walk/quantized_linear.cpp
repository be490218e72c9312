#include "walk/quantized_linear.h"

namespace qlab {

Matrix QuantizedLinear::dequantize() const {
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
  const double group = group_size > 0 ? static_cast<double>(group_size) : static_cast<double>(n_cols);
  return bits + per_group / group;
}

}  // namespace qlab
