// Non-finite values are reported, never averaged into a perfect-looking 0: the error
// measures return NaN for NaN inputs, and `qlab layer` refuses NaN inputs and a Hessian that
// cannot be Σ x xᵀ, naming the file and the tensor.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "format/safetensors.h"
#include "support/llama2c_file.h"
#include "util/file_io.h"
#include "walk/measure.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();

Matrix ramp(int64_t rows, int64_t cols) {
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  return m;
}
}  // namespace

TEST_CASE("relative errors are NaN, not 0, when an input is not finite", "[measure][nan]") {
  const Matrix w = ramp(4, 8);
  const Matrix w_hat = w * 0.9f;
  const Matrix identity = Matrix::Identity(8, 8);
  CHECK(relative_output_error(w, w_hat, identity) == Approx(0.01).epsilon(1e-5));  // ‖0.1 W‖² / ‖W‖²
  CHECK(relative_output_error(Matrix::Zero(4, 8), Matrix::Zero(4, 8), identity) == 0.0);
  Matrix nan_hessian = identity;
  nan_hessian(2, 3) = kNaN;
  CHECK(std::isnan(relative_output_error(w, w_hat, nan_hessian)));
  Matrix inf_hessian = identity;
  inf_hessian(0, 0) = std::numeric_limits<float>::infinity();
  CHECK(std::isnan(relative_output_error(w, w_hat, inf_hessian)));
  Matrix nan_w = w;
  nan_w(1, 1) = kNaN;
  CHECK(std::isnan(relative_output_error(nan_w, w_hat, identity)));
  CHECK(relative_error(w_hat, w) == Approx(0.01).epsilon(1e-5));
  CHECK(std::isnan(relative_error(w, nan_w)));
}

TEST_CASE("qlab layer refuses NaN inputs and a non-symmetric or negative-diagonal Hessian", "[layer][nan]") {
  TempDir dir;
  const Matrix w = ramp(6, 8);
  auto run_layer = [&](const std::string& file, const std::vector<TensorToWrite>& tensors) {
    write_safetensors(dir / file, tensors);
    const std::string cmd = std::string(QLAB_BINARY) + " layer --weights " + (dir / file).string() + " --pipeline rtn --out " +
                            (dir / "out.safetensors").string() + " 2> " + (dir / "err.txt").string();
    const int status = std::system(cmd.c_str());
    CHECK(WEXITSTATUS(status) == 1);
    return read_text_file(dir / "err.txt");
  };
  Matrix x = ramp(10, 8);
  x(0, 5) = kNaN;
  CHECK_THAT(run_layer("nan_inputs.safetensors", {f32_tensor("weight", {6, 8}, w.data()), f32_tensor("inputs", {10, 8}, x.data())}),
             Catch::Contains("nan_inputs.safetensors: 'inputs' has a non-finite value at flat index 5"));
  Matrix h = Matrix::Identity(8, 8);
  h(0, 1) = 0.5f;
  h(1, 0) = -0.5f;
  CHECK_THAT(run_layer("asym.safetensors", {f32_tensor("weight", {6, 8}, w.data()), f32_tensor("hessian", {8, 8}, h.data())}),
             Catch::Contains("asym.safetensors: 'hessian' is not symmetric: [0, 1] = 0.5, [1, 0] = -0.5"));
  Matrix negative = Matrix::Identity(8, 8);
  negative(3, 3) = -2.0f;
  CHECK_THAT(run_layer("neg.safetensors", {f32_tensor("weight", {6, 8}, w.data()), f32_tensor("hessian", {8, 8}, negative.data())}),
             Catch::Contains("neg.safetensors: 'hessian' has a negative diagonal entry [3, 3] = -2; it is not Σ x xᵀ"));
  Matrix nan_h = Matrix::Identity(8, 8);
  nan_h(7, 7) = kNaN;
  CHECK_THAT(run_layer("nan_h.safetensors", {f32_tensor("weight", {6, 8}, w.data()), f32_tensor("hessian", {8, 8}, nan_h.data())}),
             Catch::Contains("nan_h.safetensors: 'hessian' has a non-finite value at flat index 63"));
}
