// The host's linear-algebra table (what plugins receive) against Eigen computed directly.
#include <catch2/catch.hpp>
#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <random>

#include "backend/linalg.h"
#include "tensor/tensor.h"

using namespace qlab;

namespace {
Matrix spd(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Matrix x(2 * n, n);
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  return x.transpose() * x / float(n);
}
qlab_view view(Matrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }
qlab_cview cview(const Matrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }
}  // namespace

TEST_CASE("host linalg: Cholesky, inverse from the factor, triangular solve, GEMM", "[linalg]") {
  const qlab_linalg& la = *cpu_linalg();
  const Matrix a = spd(40, 1);
  const Eigen::MatrixXd ad = a.cast<double>();
  Matrix lower = a;
  REQUIRE(la.potrf(la.ctx, view(lower), 0) == 0);
  CHECK((lower * lower.transpose() - a).cwiseAbs().maxCoeff() < 1e-4f);
  CHECK(lower.triangularView<Eigen::StrictlyUpper>().toDenseMatrix().cwiseAbs().maxCoeff() == 0.0f);
  Matrix upper = a;
  REQUIRE(la.potrf(la.ctx, view(upper), 1) == 0);
  CHECK((upper.transpose() * upper - a).cwiseAbs().maxCoeff() < 1e-4f);
  Matrix inv = lower;
  REQUIRE(la.potri(la.ctx, view(inv), 0) == 0);
  const Eigen::MatrixXd want = ad.inverse();
  CHECK((inv.cast<double>() - want).cwiseAbs().maxCoeff() < 1e-3 * want.cwiseAbs().maxCoeff());
  Matrix b = spd(40, 2).leftCols(7);
  Matrix x = b;
  REQUIRE(la.trsm(la.ctx, cview(lower), view(x), 0, 1) == 0);  // L x = b
  CHECK((lower * x - b).cwiseAbs().maxCoeff() < 1e-3f);
  Matrix c = Matrix::Ones(40, 7), ab = a.leftCols(7).transpose();
  REQUIRE(la.gemm_nt(la.ctx, cview(a), cview(ab), 2.0f, 1.0f, view(c)) == 0);  // c = 2·A·(A[:, :7]) + 1
  CHECK((c - (2.0f * a * a.leftCols(7) + Matrix::Ones(40, 7))).cwiseAbs().maxCoeff() < 1e-3f);
  Matrix not_pd = a;
  not_pd(5, 5) = -1.0f;
  CHECK(la.potrf(la.ctx, view(not_pd), 0) > 0);  // not positive definite: the failing order is reported
}
