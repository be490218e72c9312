// Tensor types: float32, row-major (a token's activations, a weight's output row are
// contiguous), so a linear is one GEMM Y = X·Wᵀ with both operands in natural layout.
#pragma once
#include <Eigen/Core>

namespace qlab {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;

}  // namespace qlab
