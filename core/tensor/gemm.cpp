#include "tensor/gemm.h"

#include <cblas.h>

namespace qlab {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm(false, true, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void syrk_upper_tn(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float* c, int64_t ldc) {
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, alpha, a, lda, 1.0f, c, ldc);
}

void linear_forward(const Matrix& x, const Matrix& weight, const Vector& bias, Matrix& y) {
  const int64_t tokens = x.rows(), in = x.cols(), out = weight.rows();
  y.resize(tokens, out);
  if (bias.size() == out) {
    y.rowwise() = bias.transpose();
    gemm_nt(tokens, out, in, 1.0f, x.data(), in, weight.data(), in, 1.0f, y.data(), out);
  } else {
    gemm_nt(tokens, out, in, 1.0f, x.data(), in, weight.data(), in, 0.0f, y.data(), out);
  }
}

}  // namespace qlab
