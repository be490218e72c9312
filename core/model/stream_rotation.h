// The residual stream's rotation Q (dim × dim, orthogonal), applied to weights. A plugin hands
// the host a dense Q; when Q is QuaRot's randomized Hadamard diag(±1)·H for a width's plan
// (tensor/hadamard.h), it is applied as the signs and the fast transform, O(n log n) per row
// instead of O(n²): for a 70B block about 11 GFLOP instead of 14 TFLOP at every load.
#pragma once
#include <cstdint>
#include <optional>

#include "tensor/hadamard.h"
#include "tensor/tensor.h"

namespace qlab {

class StreamRotation {
 public:
  // Any orthogonal q (not checked here); factored when q = diag(±1)·H for plan_hadamard(n, seed)
  // to within 1e-6. Implicit: every dense rotation is one.
  StreamRotation(Matrix q, uint64_t seed = 0);  // NOLINT(google-explicit-constructor)

  int64_t dim() const { return dim_; }
  bool factored() const { return plan_.has_value(); }
  void right(Matrix& x) const;            // x ← x·Q
  void left_transposed(Matrix& w) const;  // w ← Qᵀ·w
  void left_transposed(Vector& b) const;  // b ← Qᵀ·b

 private:
  int64_t dim_ = 0;
  Matrix dense_;                      // empty when factored
  std::optional<HadamardPlan> plan_;  // Q = diag(signs_)·H
  Vector signs_;
};

}  // namespace qlab
