// What a quantizer made of one linear: codes plus scales/zeros (or a codebook per row and
// group), the group index of each input column, and the dequantized weight evaluation uses.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace qlab {

struct QuantizedLinear {
  std::string name;
  int32_t bits = 0, group_size = 0;
  bool sym = false;
  int64_t n_groups = 1;             // per row
  Matrix dequant;                   // out × in
  std::vector<uint8_t> codes;       // out × in
  Matrix scales, zeros;             // out × n_groups
  std::vector<int32_t> g_idx;       // in
  std::vector<float> codebook;      // out × n_groups × 2^bits, or empty
  struct SparseEntry {
    int64_t index;  // row · in + column
    float value;
  };
  std::vector<SparseEntry> sparse;  // weights kept exact beside the codes (dense-and-sparse)
  double bits_per_weight = 0;
  std::vector<std::pair<std::string, double>> metrics;  // "<plugin>.<metric>"

  // The first g_idx outside 0..n_groups−1 or code above 2^bits − 1, described ("g_idx[3] =
  // 100000000 is outside 0..1"), or "" when every index is in range.
  std::string index_problem() const;

  // Rebuilds the weight from codes and scales/zeros (or the codebook) through g_idx, then
  // the sparse entries. Throws naming the linear when an index is out of range.
  Matrix dequantize() const;
};

// Storage per weight of a uniform grid: the codes, plus per group an fp16 scale and, for an
// asymmetric grid, a zero stored at the code width (as packed GPTQ checkpoints keep them).
double uniform_bits_per_weight(int32_t bits, int32_t group_size, bool sym, int64_t n_cols);

}  // namespace qlab
