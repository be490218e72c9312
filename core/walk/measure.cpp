#include "walk/measure.h"

#include <cmath>
#include <limits>

#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// tr(A H Aᵀ) = Σ (A H) ∘ A, with A H as one GEMM (H symmetric).
double quadratic_form(const Matrix& a, const Matrix& h) {
  Matrix ah(a.rows(), a.cols());
  gemm_nt(a.rows(), h.rows(), a.cols(), 1.0f, a.data(), a.cols(), h.data(), h.cols(), 0.0f, ah.data(), ah.cols());
  return (ah.cast<double>().array() * a.cast<double>().array()).sum();
}
}  // namespace

// A non-finite input gives NaN, never 0: a 0 would read as a perfect quantization. A zero
// denominator (zero weights or inputs) leaves nothing to get wrong: 0.
double relative_output_error(const Matrix& w, const Matrix& w_hat, const Matrix& hessian) {
  if (first_non_finite(hessian.data(), hessian.size()) >= 0) return kNaN;
  const double denom = quadratic_form(w, hessian);
  if (!std::isfinite(denom)) return kNaN;
  const Matrix delta = w - w_hat;
  return denom > 0 ? quadratic_form(delta, hessian) / denom : 0.0;
}

double weight_mse(const Matrix& w, const Matrix& w_hat) { return (w - w_hat).cast<double>().squaredNorm() / static_cast<double>(w.size()); }

double relative_error(const Matrix& a, const Matrix& b) {
  const double denom = b.cast<double>().squaredNorm();
  if (!std::isfinite(denom)) return kNaN;
  return denom > 0 ? (a - b).cast<double>().squaredNorm() / denom : 0.0;
}

}  // namespace qlab
