// Activation fake-quantization schemes and the static range calibrators, against hand
// computation and distributions whose answer is known.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <random>

#include "config/experiment.h"
#include "forward/activation_quant.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "util/error.h"
#include "walk/activation_range.h"

using namespace qlab;

TEST_CASE("Activation fake-quantization: per token, per tensor, static clipping, LLM.int8() columns", "[act]") {
  Matrix x(2, 3);
  x << 1.0f, -0.5f, 0.26f,
       0.1f, 0.2f, -0.4f;
  SECTION("per token: each row on its own absmax grid") {
    Matrix q = x;
    fake_quantize_input({8, ActScheme::per_token, 0.0f}, 0.0f, "l", q);
    CHECK(q(0, 2) == Approx(33.0f / 127.0f));        // 0.26·127 = 33.02 → 33
    CHECK(q(1, 0) == Approx(32.0f * 0.4f / 127.0f));  // 0.1·127/0.4 = 31.75 → 32
    CHECK(q(1, 2) == Approx(-0.4f));
  }
  SECTION("per tensor: one grid, the second row's small values lose resolution at 3 bits") {
    Matrix q = x;
    fake_quantize_input({3, ActScheme::per_tensor, 0.0f}, 0.0f, "l", q);  // step 1/3
    CHECK(q(0, 1) == Approx(-2.0f / 3.0f));  // -1.5 rounds away from zero to -2
    CHECK(q(1, 0) == Approx(0.0f));
    CHECK(q(1, 2) == Approx(-1.0f / 3.0f));
  }
  SECTION("static: the calibrated range is used and larger values are clipped to it") {
    Matrix q = x;
    fake_quantize_input({8, ActScheme::static_range, 0.0f}, 0.5f, "l", q);
    CHECK(q(0, 0) == Approx(0.5f));
    CHECK(q(0, 1) == Approx(-0.5f));
    CHECK(q(1, 1) == Approx(51.0f * 0.5f / 127.0f));  // 0.2·254 = 50.8 → 51
    Matrix r = x;
    CHECK_THROWS_WITH(fake_quantize_input({8, ActScheme::static_range, 0.0f}, 0.0f, "3.mlp.fc1", r),
                      Catch::Contains("3.mlp.fc1") && Catch::Contains("no calibrated input range"));
  }
  SECTION("LLM.int8(): a column with an outlier stays exact, the rest use the absmax without it") {
    Matrix y(2, 3);
    y << 9.0f, 0.5f, 0.26f,
         0.1f, 0.2f, -0.4f;
    fake_quantize_input({8, ActScheme::per_token, 6.0f}, 0.0f, "l", y);
    CHECK(y(0, 0) == 9.0f);
    CHECK(y(1, 0) == 0.1f);  // the whole column stays in float
    CHECK(y(0, 1) == Approx(0.5f));
    CHECK(y(0, 2) == Approx(66.0f * 0.5f / 127.0f));  // 0.26·254 = 66.04 → 66 on row 0's non-outlier grid
  }
}

TEST_CASE("AbsHistogram doubles its range without losing counts", "[act]") {
  AbsHistogram h(8);
  const std::vector<float> a{0.0f, 0.5f, -1.0f, 0.9f};
  REQUIRE(h.add(a.data(), 4));
  CHECK(h.width() == Approx(1.0 / 8));
  const std::vector<float> b{3.5f, -0.1f};
  REQUIRE(h.add(b.data(), 2));
  CHECK(h.width() == Approx(4.0 / 8));  // doubled twice to cover 3.5
  CHECK(h.max() == Approx(3.5));
  CHECK(h.total() == 6.0);
  CHECK(h.counts()[0] == 2.0);  // 0 and 0.1
  CHECK(h.counts()[1] == 3.0);  // 0.5, 0.9 and 1.0 (the first batch's maximum sat in its last bin, [0.875, 1])
  CHECK(h.counts()[7] == 1.0);  // 3.5
  const std::vector<float> nan{1.0f, std::nanf("")};
  CHECK_FALSE(h.add(nan.data(), 2));
  CHECK(h.total() == 6.0);
}

TEST_CASE("Percentile and minmax calibrators on a uniform distribution", "[act]") {
  AbsHistogram h;
  std::vector<float> v;
  for (int i = 1; i <= 10000; ++i) v.push_back(static_cast<float>(i) / 10000.0f);
  h.add(v.data(), static_cast<int64_t>(v.size()));
  CHECK(calibrate_range(h, {RangeCalibrator::minmax, 0}, 8) == Approx(1.0));
  CHECK(calibrate_range(h, {RangeCalibrator::percentile, 99.0}, 8) == Approx(0.99).margin(1.0 / 2048));
  CHECK(calibrate_range(h, {RangeCalibrator::percentile, 50.0}, 8) == Approx(0.5).margin(2.0 / 2048));
  AbsHistogram zeros;
  const std::vector<float> z(10, 0.0f);
  zeros.add(z.data(), 10);
  CHECK(calibrate_range(zeros, {RangeCalibrator::entropy, 0}, 8) == 0.0);
}

TEST_CASE("The entropy calibrator clips far outliers of a Gaussian", "[act]") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(1 << 20);
  for (float& x : v) x = normal(rng);
  for (int i = 0; i < 8; ++i) v[static_cast<size_t>(i) * 1000] = (i % 2 ? -1.0f : 1.0f) * 100.0f;  // 8 outliers at 100σ
  AbsHistogram h;
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const double minmax = calibrate_range(h, {RangeCalibrator::minmax, 0}, 8);
  const double entropy = calibrate_range(h, {RangeCalibrator::entropy, 0}, 8);
  const double p9999 = calibrate_range(h, {RangeCalibrator::percentile, 99.99}, 8);
  INFO("minmax " << minmax << ", entropy " << entropy << ", 99.99th percentile " << p9999);
  CHECK(minmax == Approx(100.0));
  CHECK(entropy < 100.0 / 4);  // the outliers are clipped …
  CHECK(entropy > 2.5);        // … but the Gaussian's bulk (99% within 2.58σ) is not
  CHECK(p9999 == Approx(3.89).margin(0.15));  // Φ⁻¹(0.99995) = 3.89
}

TEST_CASE("Conflicting activation-quantization settings are refused before anything loads", "[act][config]") {
  qlab::test::TempDir dir;
  auto refuse = [&](const std::string& quant, const std::string& message, bool calibration = true) {
    std::ofstream(dir / "e.toml") << "[model]\npath = \"m\"\n" << (calibration ? "[calibration]\ndata = \"text:x\"\n" : "")
                                  << "[quant]\n" << quant << "\n[[pipeline]]\nplugin = \"rtn\"\n";
    CHECK_THROWS_WITH(load_experiment((dir / "e.toml").string()), Catch::Contains(message));
  };
  refuse("act_bits = 8\nact_scheme = \"static\"", "no [calibration] data", false);
  refuse("act_scheme = \"per_tensor\"", "has no effect while quant.act_bits is 0");
  refuse("act_bits = 8\nact_calibrator = \"entropy\"", "act_scheme is dynamic");
  refuse("act_bits = 8\nact_scheme = \"static\"\nact_calibrator = \"kl\"", "'kl' is not one of minmax, percentile, entropy");
  refuse("act_bits = 8\nact_scheme = \"static\"\nact_percentile = 99.9", "used only by act_calibrator = \"percentile\"");
  refuse("act_bits = 8\nact_scheme = \"static\"\nact_calibrator = \"percentile\"\nact_percentile = 120", "outside (0, 100]");
  refuse("act_bits = 8\nact_scheme = \"static\"\nact_outlier_threshold = 6.0", "cannot combine with act_scheme = \"static\"");
  refuse("act_bits = 8\nact_scheme = \"per_row\"", "'per_row' is not one of per_token");
  refuse("act_bits = 1", "outside 2..16");
  refuse("act_bits = 4\nact_clip_ratio = 1.2", "quant.act_clip_ratio = 1.2 is outside (0, 1]");
  refuse("kv_bits = 1", "quant.kv_bits = 1 is outside 2..8");
  refuse("kv_bits = 4\nkv_clip_ratio = 0", "quant.kv_clip_ratio = 0 is outside (0, 1]");
  refuse("kv_clip_ratio = 0.95", "quant.kv_clip_ratio has no effect while quant.kv_bits is 0");
}

TEST_CASE("QuaRot's clipping: 4-bit per-token inputs at 0.9 of the absmax, a KV group's min and max scaled", "[act]") {
  Matrix x(1, 3);
  x << 1.0f, -0.5f, 0.26f;
  ActivationQuant a4;
  a4.bits = 4;
  a4.clip_ratio = 0.9f;
  fake_quantize_input(a4, 0.0f, "l", x);  // step 0.9/7
  CHECK(x(0, 0) == Approx(0.9f));               // 7.78 steps clip to 7
  CHECK(x(0, 1) == Approx(-4.0f * 0.9f / 7.0f));  // -3.89 → -4
  CHECK(x(0, 2) == Approx(2.0f * 0.9f / 7.0f));   // 2.02 → 2
  // KV at 2 bits, one group of 4: [0, 3.1] in 3 steps of 3.1/3; clipped at 0.5, [0, 1.55].
  Matrix kv(1, 4), clipped;
  kv << 0.0f, 1.0f, 2.0f, 3.1f;
  clipped = kv;
  fake_quantize_kv(kv, 4, 2);
  CHECK(kv(0, 1) == Approx(3.1f / 3.0f));        // 0.97 steps → 1
  CHECK(kv(0, 2) == Approx(2.0f * 3.1f / 3.0f));  // 1.94 → 2
  CHECK(kv(0, 3) == Approx(3.1f));
  fake_quantize_kv(clipped, 4, 2, 0.5f);
  CHECK(clipped(0, 0) == 0.0f);
  CHECK(clipped(0, 1) == Approx(2.0f * 1.55f / 3.0f));  // 1.94 → 2
  CHECK(clipped(0, 2) == Approx(1.55f));                 // 3.87 steps clip to 3
  CHECK(clipped(0, 3) == Approx(1.55f));
}
