// Host metrics of one quantized linear on the calibration inputs, from H = Σ x xᵀ or any
// positive multiple of it (the ratio does not depend on the scale):
//   rel_output_error = ‖(W − Ŵ)X‖² / ‖WX‖² = tr(Δ H Δᵀ) / tr(W H Wᵀ)
//   weight_mse = mean (W − Ŵ)²
// The relative errors are NaN when an input is not finite (never a misleading 0).
#pragma once
#include "tensor/tensor.h"

namespace qlab {

double relative_output_error(const Matrix& w, const Matrix& w_hat, const Matrix& hessian);
double weight_mse(const Matrix& w, const Matrix& w_hat);
// ‖a − b‖² / ‖b‖² over whole matrices (block outputs).
double relative_error(const Matrix& a, const Matrix& b);

}  // namespace qlab
