// NF4/FP4 codebooks and double quantization against their published definitions
// (QLoRA Appendix E, bitsandbytes functional.py) and hand-computed round trips.
#include <catch2/catch.hpp>
#include <cmath>

#include "nf4/codebooks.h"
#include "plugin_host/params.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_loader.h"
#include "walk/linear_hooks.h"

using namespace qlab;

namespace {
double normal_ppf(double p) {  // Φ⁻¹ by bisection on Φ(x) = erfc(−x/√2)/2
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

QuantizedLinear run_nf4(const Matrix& w, int32_t block, const std::map<std::string, ParamValue>& given) {
  static PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& p = reg.get("nf4");
  PluginInstance inst(p, resolve_params(*p.descriptor, given, "test"));
  Linear l{"0.mlp.up_proj", w, {}};
  return quantize_linear(l, 0, {4, block, 1, QLAB_RANGE_MINMAX}, inst, qlab_stats{});
}
}  // namespace

TEST_CASE("the NF4 table is bitsandbytes' normal-quantile construction", "[nf4]") {
  // create_normal_map(offset = 0.9677083): Φ⁻¹ of linspace(offset, 0.5, 9)[:-1] (positive)
  // and −Φ⁻¹ of linspace(offset, 0.5, 8)[:-1] (negative), plus 0, divided by the maximum.
  const double offset = 0.9677083;
  std::vector<double> v{0.0};
  for (int i = 0; i < 8; ++i) v.push_back(normal_ppf(offset + (0.5 - offset) * i / 8));
  for (int i = 0; i < 7; ++i) v.push_back(-normal_ppf(offset + (0.5 - offset) * i / 7));
  std::sort(v.begin(), v.end());
  const double top = v.back();
  for (int i = 0; i < 16; ++i) CHECK(qlab::nf4::kNf4[i] == Approx(v[i] / top).margin(2e-6));
}

TEST_CASE("the FP4 levels and the 8-bit dynamic map have bitsandbytes' structure", "[nf4]") {
  const auto fp4 = qlab::nf4::fp4_levels();
  CHECK(fp4[15] == 1.0f);
  CHECK(fp4[8] == 0.0f);
  CHECK(fp4[9] == Approx(0.0625 / 12));
  CHECK(fp4[10] == Approx(2.0 / 12));
  CHECK(fp4[14] == Approx(8.0 / 12));
  CHECK(fp4[0] == -1.0f);
  const std::vector<float> map = qlab::nf4::dynamic_map_signed_8bit();
  REQUIRE(map.size() == 256);
  CHECK(std::is_sorted(map.begin(), map.end()));
  CHECK(map.back() == 1.0f);
  CHECK(map.front() == Approx(-0.9929).margin(1e-4));  // the largest 2^6-way midpoint: (0.98594 + 1) / 2
  CHECK(std::count(map.begin(), map.end(), 0.0f) == 1);
  CHECK(*std::min_element(map.begin(), map.end(), [](float a, float b) { return std::abs(a) < std::abs(b); }) == 0.0f);
  // the smallest non-zero magnitude: 10^-6 · (0.1 + 1) / 2
  float smallest = 1;
  for (float m : map)
    if (m != 0.0f) smallest = std::min(smallest, std::abs(m));
  CHECK(smallest == Approx(0.55e-6));
}

TEST_CASE("NF4 round trip of a hand-computed block", "[nf4]") {
  Matrix w(1, 4);
  w << 2.0f, -1.0f, 0.5f, 0.2f;  // absmax 2: normalised 1, -0.5, 0.25, 0.1
  QuantizedLinear q = run_nf4(w, 4, {});
  CHECK(q.dequant(0, 0) == 2.0f);
  CHECK(q.dequant(0, 1) == Approx(2 * -0.5250730514526367));  // nearer than -0.3949
  CHECK(q.dequant(0, 2) == Approx(2 * 0.24611230194568634));
  CHECK(q.dequant(0, 3) == Approx(2 * 0.07958029955625534));
  CHECK(q.codes[0] == 15);
  CHECK(q.codes[1] == 2);
  CHECK(q.dequantize() == q.dequant);
  CHECK(q.bits_per_weight == Approx(4 + 32.0 / 4));
  // The worst case: half the widest gap between levels (-1 … -0.6962), times the absmax.
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix big(16, 256);
  for (int64_t i = 0; i < big.size(); ++i) big.data()[i] = normal(rng);
  QuantizedLinear b = run_nf4(big, 64, {});
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t g = 0; g < 4; ++g) {
      const float absmax = big.row(r).segment(g * 64, 64).cwiseAbs().maxCoeff();
      CHECK((big.row(r).segment(g * 64, 64) - b.dequant.row(r).segment(g * 64, 64)).cwiseAbs().maxCoeff() <=
            absmax * (1.0f - 0.6961928f) / 2 + 1e-6f);
    }
  CHECK(b.bits_per_weight == Approx(4.5));
}

TEST_CASE("NF4 double quantization: 8-bit absmax in blocks of 256, 4.127 bits per weight", "[nf4]") {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix w(64, 1024);  // 1024 blocks of 64: four double-quantization blocks of 256
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = normal(rng) * (1.0f + static_cast<float>(i % 7));
  QuantizedLinear plain = run_nf4(w, 64, {});
  QuantizedLinear dq = run_nf4(w, 64, {{"double_quant", {true, "test"}}});
  // 4 + (1024 · 8 + 4 · 32 + 32) / 65536 = 4.127…
  CHECK(dq.bits_per_weight == Approx(4.0 + (1024 * 8.0 + 4 * 32.0 + 32.0) / 65536));
  double rel = 0;
  for (const auto& [k, v] : dq.metrics)
    if (k == "nf4.absmax_max_rel_error") rel = v;
  CHECK(rel > 0);
  CHECK(rel < 0.02);  // the dynamic map's step near 1 is 1/64 of the block's centred range
  CHECK(dq.codes == plain.codes);  // codes are chosen against the exact absmax, as bitsandbytes does
  const double e_plain = (w - plain.dequant).squaredNorm(), e_dq = (w - dq.dequant).squaredNorm();
  CHECK(e_dq < 1.02 * e_plain);
  CHECK(dq.dequantize() == dq.dequant);
}

TEST_CASE("nf4 declares 4 bits only and the host refuses another width before calling it", "[nf4]") {
  static PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& p = reg.get("nf4");
  CHECK(p.descriptor->support.bits == 1u << 4);
  PluginInstance inst(p, resolve_params(*p.descriptor, {}, "test"));
  Linear l{"0.mlp.up_proj", Matrix::Ones(2, 8), {}};
  CHECK_THROWS_WITH(quantize_linear(l, 0, {3, 0, 1, QLAB_RANGE_MINMAX}, inst, qlab_stats{}),
                    "plugin 'nf4' cannot quantize 0.mlp.up_proj: bits = 3, but it supports bits 4");
}
