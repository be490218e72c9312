
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

// LAPACK from OpenBLAS (multi-threaded). A row-major matrix read as column-major is its
// transpose: a row-major lower factor is LAPACK's column-major upper one, and vice versa.
extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info);
}

int32_t cpu_potrf(void*, qlab_view a, int32_t upper) {
  if (a.n_rows != a.n_cols) return -1;
  const int n = static_cast<int>(a.n_rows), lda = static_cast<int>(a.row_stride);
  int info = 0;
  spotrf_(upper ? "L" : "U", &n, a.data, &lda, &info);
  if (info != 0) return info > 0 ? info : -1;  // info > 0: the leading minor of that order is not positive definite
  auto m = map(a);
  if (upper) m.template triangularView<Eigen::StrictlyLower>().setZero();
  else m.template triangularView<Eigen::StrictlyUpper>().setZero();
  return 0;
}

int32_t cpu_potri(void*, qlab_view a, int32_t upper) {
  if (a.n_rows != a.n_cols) return -1;
  const int n = static_cast<int>(a.n_rows), lda = static_cast<int>(a.row_stride);
  int info = 0;
  spotri_(upper ? "L" : "U", &n, a.data, &lda, &info);
  if (info != 0) return info > 0 ? info : -1;
  auto m = map(a);  // LAPACK fills one triangle; make the result fully symmetric
  if (upper) m.template triangularView<Eigen::StrictlyLower>() = m.transpose();
  else m.template triangularView<Eigen::StrictlyUpper>() = m.transpose();
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

// No gptq_solve: on the host, the plugin's own loop is the solve.
const qlab_linalg kCpu = {nullptr, cpu_gemm_nt, cpu_potrf, cpu_potri, cpu_trsm, nullptr};
}  // namespace

const qlab_linalg* cpu_linalg() { return &kCpu; }

}  // namespace qlab
