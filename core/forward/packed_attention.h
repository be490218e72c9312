// Attention over several sequences packed into one segment as prefix trees (zero-shot
// scoring: a question's context once, each choice branching off it).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace qlab {

// Several sequences packed into one segment as prefix trees, in depth-first order (zero-shot
// scoring: a question's context once, each choice branching off it). Row i sits at position
// pos[i] and attends to row j exactly when j lies on its path from the root:
// tree_start[i] <= j <= i and i < subtree_end[j].
struct PackedLayout {
  std::vector<int32_t> pos, tree_start, subtree_end;
  int64_t rows() const { return static_cast<int64_t>(pos.size()); }
  int32_t max_pos() const;  // the deepest position, for the RoPE frequencies
};

// As causal_attention without a cache, each row's keys restricted as `layout` says. q:
// T×(n_heads·hd), k and v: T×(n_kv_heads·hd), out: T×(n_heads·hd).
void packed_attention(const Matrix& q, const Matrix& k, const Matrix& v, int64_t n_heads, int64_t n_kv_heads,
                      int64_t head_dim, const PackedLayout& layout, Matrix& out);

}  // namespace qlab
