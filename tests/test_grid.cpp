// The shared grid helper on hand-computed cases: both range conventions, sym/asym, groups,
// all-zero rows, half-to-even rounding, and the MSE shrink search against a brute force.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "qlab/grid.hpp"
#include "qlab/groups.hpp"

using namespace qlab::grid;

TEST_CASE("GPTQ range, asymmetric 4-bit", "[grid]") {
  std::vector<float> x = {-1.0f, 0.0f, 0.5f, 2.0f};
  GroupParams p = fit(x.data(), 4, 1, 4, false, QLAB_RANGE_GPTQ);
  CHECK(p.scale == Approx(0.2f));  // (2 − (−1)) / 15
  CHECK(p.zero == 5.0f);           // round(1 / 0.2)
  CHECK(code_of(-1.0f, p, 15) == 0.0f);
  CHECK(code_of(0.0f, p, 15) == 5.0f);
  CHECK(code_of(0.5f, p, 15) == 7.0f);  // 2.5 rounds half to even → 2, + 5
  CHECK(code_of(2.0f, p, 15) == 15.0f);
  CHECK(quant_dequant(0.5f, p, 15) == Approx(0.4f));
  // The range always holds 0: an all-positive row still starts at 0.
  std::vector<float> pos = {1.0f, 3.0f};
  GroupParams q = fit(pos.data(), 2, 1, 4, false, QLAB_RANGE_GPTQ);
  CHECK(q.scale == Approx(0.2f));
  CHECK(q.zero == 0.0f);
}

TEST_CASE("GPTQ range, symmetric, and its all-positive quirk", "[grid]") {
  std::vector<float> x = {-1.0f, 0.5f, 2.0f};
  GroupParams p = fit(x.data(), 3, 1, 4, true, QLAB_RANGE_GPTQ);
  CHECK(p.scale == Approx(4.0f / 15.0f));  // [−2, 2]
  CHECK(p.zero == 8.0f);                   // (maxq + 1) / 2
  // No negative value: the lower bound stays 0, so the grid is −8/15·max … 7/15·max and
  // the largest value is clipped (papers-and-peers §7.5).
  std::vector<float> pos = {0.5f, 1.5f};
  GroupParams q = fit(pos.data(), 2, 1, 4, true, QLAB_RANGE_GPTQ);
  CHECK(q.scale == Approx(0.1f));
  CHECK(quant_dequant(1.5f, q, 15) == Approx(0.7f));
  CHECK(quant_dequant(0.5f, q, 15) == Approx(0.5f));
}

TEST_CASE("all-zero rows get the range −1..1 and reconstruct exactly", "[grid]") {
  std::vector<float> z(8, 0.0f);
  for (bool sym : {false, true}) {
    GroupParams p = fit(z.data(), 8, 1, 3, sym, QLAB_RANGE_GPTQ);
    CHECK(p.scale == Approx(2.0f / 7.0f));
    CHECK(quant_dequant(0.0f, p, 7) == 0.0f);
  }
  GroupParams m = fit(z.data(), 8, 1, 3, false, QLAB_RANGE_MINMAX);
  CHECK(m.scale == Approx(1e-5f / 7.0f));  // AWQ clamps max − min at 1e-5
  CHECK(quant_dequant(0.0f, m, 7) == 0.0f);
}

TEST_CASE("AWQ min/max range: no forced zero, zero-point clamped to the codes", "[grid]") {
  std::vector<float> x = {-0.5f, 1.0f};
  GroupParams p = fit(x.data(), 2, 1, 4, false, QLAB_RANGE_MINMAX);
  CHECK(p.scale == Approx(0.1f));  // (1 − (−0.5)) / 15
  CHECK(p.zero == 5.0f);
  // All positive: −round(0.5 / (1/15)) = −8 clamps to 0, so 1.5 is clipped to 15/15.
  std::vector<float> pos = {0.5f, 1.5f};
  GroupParams q = fit(pos.data(), 2, 1, 4, false, QLAB_RANGE_MINMAX);
  CHECK(q.zero == 0.0f);
  CHECK(quant_dequant(1.5f, q, 15) == Approx(1.0f));
  // Symmetric (zero_point=False): absmax / 7 at 4 bits, codes centred on 8.
  GroupParams s = fit(x.data(), 2, 1, 4, true, QLAB_RANGE_MINMAX);
  CHECK(s.scale == Approx(1.0f / 7.0f));
  CHECK(s.zero == 8.0f);
  CHECK(quant_dequant(-0.3f, s, 15) == Approx(-2.0f / 7.0f));
  CHECK(std::nearbyint(-2.5f) == -2.0f);  // rounding is half to even, as torch.round
}

TEST_CASE("groups along the input dimension, with a short last group", "[grid]") {
  CHECK(qlab::sdk::n_groups(5, 2) == 3);
  CHECK(qlab::sdk::n_groups(5, 0) == 1);
  std::vector<float> row = {0.0f, 1.0f, 0.0f, 3.0f, -2.0f};  // groups [0,1] [0,3] [-2]
  GroupParams g0 = fit(row.data(), 2, 1, 2, false, QLAB_RANGE_GPTQ);
  GroupParams g1 = fit(row.data() + 2, 2, 1, 2, false, QLAB_RANGE_GPTQ);
  GroupParams g2 = fit(row.data() + 4, 1, 1, 2, false, QLAB_RANGE_GPTQ);
  CHECK(g0.scale == Approx(1.0f / 3.0f));
  CHECK(g1.scale == Approx(1.0f));
  CHECK(g2.scale == Approx(2.0f / 3.0f));
  CHECK(quant_dequant(-2.0f, g2, 3) == Approx(-2.0f));
  // Strided access: a column of a row-major matrix.
  std::vector<float> m = {1.0f, 9.0f, -1.0f, 9.0f};
  GroupParams c = fit(m.data(), 2, 2, 4, false, QLAB_RANGE_GPTQ);
  CHECK(c.scale == Approx(2.0f / 15.0f));
}

TEST_CASE("MSE shrink search equals a brute force over the same candidates", "[grid]") {
  std::vector<float> x;
  for (int i = 0; i < 64; ++i) x.push_back(std::sin(0.37f * i) * std::sin(1.3f * i) * 2.0f + 0.01f * i);
  for (bool sym : {false, true}) {
    GroupParams best = fit_mse(x.data(), 64, 1, 2, sym, QLAB_RANGE_GPTQ, {});
    float lo = 0, hi = 0;
    range_of(x.data(), 64, 1, sym, QLAB_RANGE_GPTQ, lo, hi);
    double best_err = 1e300;
    GroupParams want;
    for (int i = 0; i < 80; ++i) {
      float p = static_cast<float>(1.0 - i / 100.0);
      GroupParams c = params_for_range(p * lo, p * hi, 2, sym, QLAB_RANGE_GPTQ);
      double err = 0;
      for (float v : x) err += std::pow(std::fabs(quant_dequant(v, c, 3) - v), 2.4);
      if (err < best_err) best_err = err, want = c;
    }
    CHECK(best.scale == want.scale);
    CHECK(best.zero == want.zero);
    GroupParams plain = fit(x.data(), 64, 1, 2, sym, QLAB_RANGE_GPTQ);
    CHECK(best.scale < plain.scale);  // at 2 bits a bell-shaped group is better clipped
  }
}

TEST_CASE("for_each_group visits every row's contiguous groups, the short last one included", "[grid]") {
  using qlab::sdk::Group;
  std::vector<Group> seen;
  qlab::sdk::for_each_group(2, 5, 2, [&](const Group& g) { seen.push_back(g); });
  // rows × groups, with hand-computed columns and flat offsets: [0,2) [2,4) [4,5) per row of 5.
  const std::vector<std::vector<int64_t>> expected = {{0, 0, 0, 0, 2, 0}, {0, 1, 1, 2, 2, 2}, {0, 2, 2, 4, 1, 4},
                                                      {1, 0, 3, 0, 2, 5}, {1, 1, 4, 2, 2, 7}, {1, 2, 5, 4, 1, 9}};
  REQUIRE(seen.size() == expected.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    const Group& g = seen[i];
    CHECK(std::vector<int64_t>{g.row, g.index, g.at, g.begin, g.size, g.flat} == expected[i]);
  }
  seen.clear();
  qlab::sdk::for_each_group(3, 7, 0, [&](const Group& g) { seen.push_back(g); });  // ungrouped: one group per row
  REQUIRE(seen.size() == 3);
  CHECK(std::vector<int64_t>{seen[2].row, seen[2].index, seen[2].at, seen[2].begin, seen[2].size, seen[2].flat} ==
        std::vector<int64_t>{2, 0, 2, 0, 7, 14});
}

TEST_CASE("quantize_group writes the codes and reconstruction of one group", "[grid]") {
  const std::vector<float> x = {-1.0f, 0.0f, 0.5f, 2.0f};
  const GroupParams p = fit(x.data(), 4, 1, 4, false, QLAB_RANGE_GPTQ);  // scale 0.2, zero 5 (first case)
  std::vector<uint8_t> codes(4);
  std::vector<float> out(4);
  quantize_group(x.data(), 4, p, 15, codes.data(), out.data());
  CHECK(codes == std::vector<uint8_t>{0, 5, 7, 15});
  CHECK(out[2] == Approx(0.4f));
  CHECK(out[3] == Approx(2.0f));
}
