// Contiguous groups along a weight's input dimension: group_size columns each, the last one
// possibly short, or the whole row when group_size is 0. This is the grouping the host
// prefills g_idx with; for_each_group visits it so a plugin writes no index arithmetic.
#pragma once
#include <algorithm>
#include <cstdint>

#include "qlab/plugin.h"

namespace qlab::sdk {

// Groups per row for a group size (0 = one per row).
inline int64_t n_groups(int64_t n_cols, int32_t group_size) {
  return group_size <= 0 ? 1 : (n_cols + group_size - 1) / group_size;
}

struct Group {
  int64_t row;    // output row
  int64_t index;  // group within the row
  int64_t at;     // row · n_groups + index: scales[at], zeros[at], codebook + at · 2^bits
  int64_t begin;  // first input column
  int64_t size;   // columns [begin, begin + size)
  int64_t flat;   // row · n_cols + begin: codes + flat
};

// fn(const Group&) for each group of one row, in column order.
template <class Fn>
void for_each_group_in_row(int64_t row, int64_t n_cols, int32_t group_size, Fn&& fn) {
  const int64_t width = group_size > 0 ? group_size : n_cols, groups = n_groups(n_cols, group_size);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t begin = g * width;
    fn(Group{row, g, row * groups + g, begin, std::min(width, n_cols - begin), row * n_cols + begin});
  }
}

// fn(const Group&) for every group of an n_rows × n_cols weight, row by row.
template <class Fn>
void for_each_group(int64_t n_rows, int64_t n_cols, int32_t group_size, Fn&& fn) {
  for (int64_t r = 0; r < n_rows; ++r) for_each_group_in_row(r, n_cols, group_size, fn);
}

// Every group of the linear a quantize hook is called on, in its format's group size.
template <class Fn>
void for_each_group(const qlab_linear_in& in, Fn&& fn) {
  for_each_group(in.weight.n_rows, in.weight.n_cols, in.format.group_size, fn);
}

}  // namespace qlab::sdk
