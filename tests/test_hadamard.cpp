// Hadamard transforms (tensor/hadamard.h) against explicit matrices built independently in
// double: Sylvester by its recursion, the Kronecker product written out, the Paley bases
// checked for the Hadamard property itself (entries ±1, H·Hᵀ = m·I, exact in double).
// Tolerance: a row of the fast transform sums n terms of size 1/√n·|x| in float, so 1e-5
// relative to the row's scale covers n ≤ 2^14.
#include <catch2/catch.hpp>
#include <random>

#include "backend/backend_select.h"
#include "support/skip.h"
#include "tensor/hadamard.h"
#include "util/error.h"

using namespace qlab;

namespace {
Eigen::MatrixXd sylvester(int64_t n) {
  Eigen::MatrixXd h = Eigen::MatrixXd::Ones(1, 1);
  while (h.rows() < n) {
    const int64_t m = h.rows();
    Eigen::MatrixXd g(2 * m, 2 * m);
    g << h, h, h, -h;
    h = g;
  }
  return h;
}

// H_base ⊗ H_pow2, normalised: entry ((b, j), (b', j')) = base(b, b') · sylvester(j, j') / √pow2.
Eigen::MatrixXd explicit_matrix(const HadamardPlan& p) {
  const Eigen::MatrixXd s = sylvester(p.pow2) / std::sqrt(double(p.pow2));
  Eigen::MatrixXd h(p.n, p.n);
  for (int64_t b = 0; b < p.base; ++b)
    for (int64_t c = 0; c < p.base; ++c) h.block(b * p.pow2, c * p.pow2, p.pow2, p.pow2) = double(p.base_matrix(b, c)) * s;
  return h;
}

// The first `cols` columns of the same matrix, from the Sylvester entry (−1)^popcount(j & j').
Eigen::MatrixXd explicit_columns(const HadamardPlan& p, int64_t cols) {
  Eigen::MatrixXd h(p.n, cols);
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < p.n; ++r) {
      const int64_t b = r / p.pow2, j = r % p.pow2, b2 = c / p.pow2, j2 = c % p.pow2;
      const double s = __builtin_popcountll(static_cast<uint64_t>(j & j2)) % 2 ? -1.0 : 1.0;
      h(r, c) = double(p.base_matrix(b, b2)) * s / std::sqrt(double(p.pow2));
    }
  return h;
}

Matrix random_rows(int64_t rows, int64_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  Matrix x(rows, n);
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  return x;
}
}  // namespace

TEST_CASE("the fast transform equals x times the explicit Kronecker matrix, which is orthogonal", "[hadamard]") {
  for (int64_t n : {1, 2, 64, 256, 12, 20, 28, 36, 52, 96, 344, 172, 43 * 8}) {
    const HadamardPlan p = plan_hadamard(n, 3);
    INFO(p.describe());
    const Eigen::MatrixXd h = explicit_matrix(p);
    CHECK((h.transpose() * h - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-5);
    Matrix x = random_rows(5, n);
    const Eigen::MatrixXd want = x.cast<double>() * h;
    hadamard_rows(p, x);
    CHECK((x.cast<double>() - want).cwiseAbs().maxCoeff() < 1e-5 * want.cwiseAbs().maxCoeff());
    CHECK((hadamard_matrix(p).cast<double>() - h).cwiseAbs().maxCoeff() < 1e-6);
    if (p.kind != HadamardPlan::Kind::random_orthogonal)  // a true Hadamard matrix: every entry ±1/√n
      CHECK((h.cwiseAbs().array() - 1.0 / std::sqrt(double(n))).abs().maxCoeff() < 1e-6);
  }
}

TEST_CASE("Paley bases are Hadamard matrices, including over GF(p^k)", "[hadamard]") {
  for (int64_t n : {12, 20, 28, 36, 44, 52, 60, 76, 108, 244, 344}) {
    const HadamardPlan p = plan_hadamard(n);
    INFO(p.describe());
    REQUIRE(p.base == n);
    const Eigen::MatrixXd h = p.base_matrix.cast<double>() * std::sqrt(double(n));
    CHECK((h.cwiseAbs().array() - 1.0).abs().maxCoeff() < 1e-5);
    CHECK((h * h.transpose() - double(n) * Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-3);
  }
}

TEST_CASE("the widths of LLaMA-family MLPs get QuaRot's bases, others the documented alternative or an error", "[hadamard]") {
  CHECK(plan_hadamard(11008).describe() == "11008 = 344 × 32: Paley I 344 ⊗ Sylvester 32");
  CHECK(plan_hadamard(14336).describe() == "14336 = 28 × 512: Paley I 28 ⊗ Sylvester 512");
  CHECK(plan_hadamard(4096).describe() == "4096: Sylvester");
  CHECK(plan_hadamard(172).describe() == "172 = 43 × 4: random orthogonal 43 ⊗ Sylvester 4");
  CHECK_THROWS_WITH(plan_hadamard(2062), Catch::Contains("width 2062 = 1031 × 2 cannot be built: supported are 2^k"));
  CHECK_THROWS_WITH(plan_hadamard(0), Catch::Contains("width 0 cannot be built"));
  // One seed, one matrix; another seed, another.
  CHECK(plan_hadamard(172, 1).base_matrix == plan_hadamard(172, 1).base_matrix);
  CHECK(plan_hadamard(172, 1).base_matrix != plan_hadamard(172, 2).base_matrix);
}

TEST_CASE("the backend's Hadamard op equals x times the explicit matrix", "[hadamard][backend]") {
  auto be = make_backend("cpu");
  for (int64_t n : {64, 172, 11008}) {
    const HadamardPlan p = plan_hadamard(n, 5);
    const Matrix x = random_rows(3, n);
    DeviceBuffer xd = be->upload(x);
    be->hadamard(xd, p);
    // Against x·H with H's entries written out (11008² doubles would be 0.9 GiB: 300 columns).
    const Eigen::MatrixXd h = explicit_columns(p, std::min<int64_t>(n, 300));
    const Eigen::MatrixXd want = x.cast<double>() * h;
    CHECK((xd.download().cast<double>().leftCols(h.cols()) - want).cwiseAbs().maxCoeff() < 1e-5 * want.cwiseAbs().maxCoeff());
  }
  DeviceBuffer wrong = be->alloc(2, 63);
  CHECK_THROWS_WITH(be->hadamard(wrong, plan_hadamard(64)), "hadamard: rows of width 63, the transform is 64 wide");
}

TEST_CASE("cuda parity: the Hadamard op (shared-memory butterflies, batched base GEMM)", "[hadamard][cuda]") {
  QLAB_NEED_CUDA();
  for (int64_t n : {64, 4096, 172, 11008, 14336}) {
    const HadamardPlan p = plan_hadamard(n, 5);
    const Matrix x = random_rows(7, n);
    DeviceBuffer c = cpu->upload(x), g = gpu->upload(x);
    cpu->hadamard(c, p);
    gpu->hadamard(g, p);
    const Matrix want = c.download();
    CHECK((g.download() - want).cwiseAbs().maxCoeff() < 1e-5 * want.cwiseAbs().maxCoeff());
  }
}
