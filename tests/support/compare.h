// Test support: comparing qlab's float results with a reference, and a fixed token sequence.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace qlab::test {

// max |a − b| / max |b|: the error relative to the reference's scale.
inline double max_rel(const Matrix& a, const Matrix& b) { return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff(); }

// The same against a reference computed in double (rows × columns).
inline double max_rel(const Matrix& got, const std::vector<std::vector<double>>& want) {
  double max_abs = 0, max_diff = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t j = 0; j < want[t].size(); ++j) {
      max_abs = std::max(max_abs, std::abs(want[t][j]));
      max_diff = std::max(max_diff, std::abs(double(got(int64_t(t), int64_t(j))) - want[t][j]));
    }
  return max_diff / max_abs;
}

// n token ids spread over the vocabulary: (13 i + 5) mod vocab.
inline std::vector<int32_t> some_tokens(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 13 + 5) % vocab);
  return t;
}

}  // namespace qlab::test
