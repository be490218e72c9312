// Streamed statistics equal the same quantities computed in one go.
#include <catch2/catch.hpp>
#include <random>

#include "walk/stats.h"

using namespace qlab;

TEST_CASE("streamed Hessian equals XᵀX of all tokens at once, 2/S scaling", "[stats]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int64_t in = 24, seqs = 5, t = 37;
  Matrix all(seqs * t, in);
  for (int64_t i = 0; i < all.size(); ++i) all.data()[i] = n(rng);
  StatsCollector s(QLAB_STAT_HESSIAN | QLAB_STAT_ABS_MEAN | QLAB_STAT_ABS_MAX | QLAB_STAT_ROWS, in, seqs * t, 20);
  for (int64_t k = 0; k < seqs; ++k) s.add_sequence(all.middleRows(k * t, t));
  Eigen::MatrixXd want = all.cast<double>().transpose() * all.cast<double>();
  CHECK((s.hessian_sum().cast<double>() - want).cwiseAbs().maxCoeff() < 1e-4 * want.cwiseAbs().maxCoeff());
  CHECK(s.n_sequences() == seqs);
  CHECK(s.n_tokens() == seqs * t);
  Matrix h = s.hessian();
  CHECK(h(3, 5) == Approx(s.hessian_sum()(3, 5) * 2.0f / seqs));
  qlab_stats v = s.view(h);
  REQUIRE(v.abs_mean != nullptr);
  CHECK(v.abs_mean[7] == Approx(all.col(7).cwiseAbs().mean()).epsilon(1e-5));
  CHECK(v.abs_max[7] == all.col(7).cwiseAbs().maxCoeff());
  // Rows: every (185 / 20 = 9)-th token across sequences.
  REQUIRE(v.rows.n_rows == (seqs * t + 8) / 9);
  CHECK(v.rows.data[2 * in + 4] == all(18, 4));
}
