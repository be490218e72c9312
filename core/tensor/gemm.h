// The runtime's GEMM (OpenBLAS sgemm, row-major). Every linear layer and every attention
// product goes through these two calls, so the benchmark's peak is the GEMM we really use.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace qlab {

// C[m×n] = alpha·op(A)·op(B) + beta·C, raw row-major with leading dimensions; op(A) is m×k,
// op(B) k×n, op = transpose when trans_* is set.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// C[m×n] = alpha·A[m×k]·B[n×k]ᵀ + beta·C.
void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// C[m×n] = alpha·A[m×k]·B[k×n] + beta·C.
void gemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The upper triangle (j ≥ i) of C[n×n] += alpha·A[k×n]ᵀ·A: a Hessian sum, half a GEMM.
void syrk_upper_tn(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float* c, int64_t ldc);

// y = x·Wᵀ (+ bias): x is tokens×in, W is out×in; y is resized to tokens×out.
void linear_forward(const Matrix& x, const Matrix& weight, const Vector& bias, Matrix& y);

}  // namespace qlab
