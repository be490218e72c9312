#include "forward/packed_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/gemm.h"

namespace qlab {

int32_t PackedLayout::max_pos() const {
  int32_t m = 0;
  for (int32_t p : pos) m = std::max(m, p);
  return m;
}

void packed_attention(const Matrix& q, const Matrix& k, const Matrix& v, int64_t n_heads, int64_t n_kv_heads,
                      int64_t head_dim, const PackedLayout& layout, Matrix& out) {
  const int64_t n_q = q.rows();
  const int64_t q_stride = q.cols(), kv_stride = k.cols();
  const int64_t group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  constexpr int64_t tile = 128;
  const int64_t n_tiles = (n_q + tile - 1) / tile;
  out.resize(n_q, n_heads * head_dim);
#pragma omp parallel
  {
    Matrix scores;
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t t = 0; t < n_tiles; ++t) {
        const int64_t r0 = t * tile, r1 = std::min(n_q, r0 + tile), rows = r1 - r0;
        // Keys before the tile's first tree are seen by none of its rows.
        const int64_t k0 = layout.tree_start[static_cast<size_t>(r0)], n_keys = r1 - k0;
        const int64_t kvh = h / group;
        const int64_t ld = (n_keys + 15) / 16 * 16;
        if (scores.rows() < rows || scores.cols() < ld) scores.resize(tile, std::max<int64_t>(ld, scores.cols()));
        const int64_t lds = scores.cols();
        gemm_nt(rows, n_keys, head_dim, scale, q.data() + r0 * q_stride + h * head_dim, q_stride,
                k.data() + k0 * kv_stride + kvh * head_dim, kv_stride, 0.0f, scores.data(), lds);
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t row = r0 + i;
          float* s = scores.data() + i * lds;
          const int64_t first = layout.tree_start[static_cast<size_t>(row)] - k0, n_seen = row - k0 + 1 - first;
          // Keys of the row's tree off its path (their subtree ended before the row) get −inf,
          // branch-free so it vectorises; exp then zeroes them.
          const int32_t* end = layout.subtree_end.data() + k0 + first;
          float* seen = s + first;
          for (int64_t j = 0; j < n_seen; ++j) seen[j] = row < end[j] ? seen[j] : -std::numeric_limits<float>::infinity();
          Eigen::Map<Eigen::ArrayXf> visible(seen, n_seen);
          visible = (visible - visible.maxCoeff()).exp();
          visible *= 1.0f / visible.sum();
          std::fill(s, seen, 0.0f);
          std::fill(seen + n_seen, s + n_keys, 0.0f);
        }
        gemm_nn(rows, head_dim, n_keys, 1.0f, scores.data(), lds, v.data() + k0 * kv_stride + kvh * head_dim,
                kv_stride, 0.0f, out.data() + r0 * out.cols() + h * head_dim, out.cols());
      }
    }
  }
}

}  // namespace qlab
