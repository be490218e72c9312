#include "model/stream_rotation.h"

#include <cmath>

#include "util/error.h"

namespace qlab {

StreamRotation::StreamRotation(Matrix q, uint64_t seed) : dim_(q.rows()) {
  if (q.rows() != q.cols()) fail("rotation: a {}×{} matrix is not square", q.rows(), q.cols());
  try {
    HadamardPlan plan = plan_hadamard(dim_, seed);
    const Matrix h = hadamard_matrix(plan);
    Vector signs(dim_);
    bool matches = true;
    for (int64_t i = 0; i < dim_ && matches; ++i) {
      signs(i) = q(i, 0) * h(i, 0) < 0 ? -1.0f : 1.0f;
      matches = (q.row(i) - signs(i) * h.row(i)).cwiseAbs().maxCoeff() < 1e-6f;
    }
    if (matches) {
      plan_ = std::move(plan);
      signs_ = std::move(signs);
      return;
    }
  } catch (const Error&) {
    // A width with no Hadamard plan: the dense product.
  }
  dense_ = std::move(q);
}

void StreamRotation::right(Matrix& x) const {
  if (x.cols() != dim_) fail("rotation: rows of width {} for a residual stream of width {}", x.cols(), dim_);
  if (!plan_) {
    x = (x * dense_).eval();
    return;
  }
  x.array().rowwise() *= signs_.transpose().array();  // x·diag(s), then ·H
  hadamard_rows(*plan_, x);
}

void StreamRotation::left_transposed(Matrix& w) const {
  if (w.rows() != dim_) fail("rotation: {} rows for a residual stream of width {}", w.rows(), dim_);
  if (!plan_) {
    w = (dense_.transpose() * w).eval();
    return;
  }
  Matrix wt = w.transpose();  // Qᵀ·w = (wᵀ·Q)ᵀ
  right(wt);
  w = wt.transpose();
}

void StreamRotation::left_transposed(Vector& b) const {
  Matrix row = b.transpose();
  right(row);
  b = row.transpose();
}

}  // namespace qlab
