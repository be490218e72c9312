#include <Eigen/Cholesky>

#include "backend/linalg.h"
#include "qlab/plugin.hpp"
#include "tensor/gemm.h"

namespace qlab {

namespace {
using sdk::map;

int32_t cpu_gemm_nt(void*, qlab_cview a, qlab_cview b, float alpha, float beta, qlab_view c) {
  if (a.n_cols != b.n_cols || c.n_rows != a.n_rows || c.n_cols != b.n_rows) return 1;
  gemm_nt(a.n_rows, b.n_rows, a.n_cols, alpha, a.data, a.row_stride, b.data, b.row_stride, beta, c.data, c.row_stride);
  return 0;
}

int32_t cpu_potrf(void*, qlab_view a, int32_t upper) {
  if (a.n_rows != a.n_cols) return -1;
  auto m = map(a);
  Eigen::LLT<Eigen::Ref<sdk::RowMatrix>> llt(m);  // in place: the factor overwrites the lower triangle
  if (llt.info() != Eigen::Success) {
    // The first column whose pivot is not positive, for the caller's message.
    for (int64_t i = 0; i < a.n_rows; ++i)
      if (!(m(i, i) > 0)) return static_cast<int32_t>(i + 1);
    return 1;
  }
  if (upper) m.template triangularView<Eigen::StrictlyUpper>() = m.transpose();
  if (upper) m.template triangularView<Eigen::StrictlyLower>().setZero();
  else m.template triangularView<Eigen::StrictlyUpper>().setZero();
  return 0;
}

int32_t cpu_potri(void*, qlab_view a, int32_t upper) {
  if (a.n_rows != a.n_cols) return -1;
  auto m = map(a);
  const int64_t n = a.n_rows;
  sdk::RowMatrix l = upper ? sdk::RowMatrix(m.transpose()) : sdk::RowMatrix(m);
  l.triangularView<Eigen::StrictlyUpper>().setZero();
  // inv(L Lᵀ) = L⁻ᵀ L⁻¹
  sdk::RowMatrix linv = sdk::RowMatrix::Identity(n, n);
  l.triangularView<Eigen::Lower>().solveInPlace(linv);
  const sdk::RowMatrix lt = linv.transpose();
  sdk::RowMatrix inv(n, n);
  gemm_nt(n, n, n, 1.0f, lt.data(), n, lt.data(), n, 0.0f, inv.data(), n);
  m = inv;
  return 0;
}

int32_t cpu_trsm(void*, qlab_cview t, qlab_view b, int32_t upper, int32_t left) {
  auto tm = map(t);
  auto bm = map(b);
  if (left) {
    if (upper) tm.triangularView<Eigen::Upper>().solveInPlace(bm);
    else tm.triangularView<Eigen::Lower>().solveInPlace(bm);
  } else {
    if (upper) tm.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(bm);
    else tm.triangularView<Eigen::Lower>().solveInPlace<Eigen::OnTheRight>(bm);
  }
  return 0;
}

const qlab_linalg kCpu = {nullptr, cpu_gemm_nt, cpu_potrf, cpu_potri, cpu_trsm};
}  // namespace

const qlab_linalg* cpu_linalg() { return &kCpu; }

}  // namespace qlab
