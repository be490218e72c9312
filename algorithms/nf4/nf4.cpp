// nf4: bitsandbytes' 4-bit blockwise quantization. Each block of the format's group size
// (64 in bitsandbytes; 0 = one block per row) is scaled by its absmax onto a fixed
// codebook, NF4 or FP4. Optional double quantization stores the absmax values themselves
// in 8 bits: minus their mean, in blocks of 256 with the signed dynamic map, each block
// with an fp32 absmax (bitsandbytes' compress_statistics).
#include <qlab/groups.hpp>
#include <qlab/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "codebooks.h"

namespace {

class Nf4 {
 public:
  static constexpr const char* name = "nf4";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "4-bit blockwise absmax onto the NF4 or FP4 codebook, optional double quantization (bitsandbytes)";
  static constexpr int32_t uses_codebook = 1;
  static constexpr qlab_support support = qlab::sdk::Support().bits({4});  // 16 fixed levels
  static constexpr auto codebook =
      qlab::sdk::string_param("codebook", "nf4", "the fixed 4-bit levels: nf4 (normal quantiles) or fp4 (E2M1)").choices("nf4|fp4");
  static constexpr auto double_quant =
      qlab::sdk::bool_param("double_quant", false, "quantize the block absmax values to 8 bits (bitsandbytes compress_statistics)");
  static constexpr auto dq_block = qlab::sdk::int_param("dq_block", 256, "absmax values per double-quantization block").range(2, 65536);
  static constexpr qlab_param_decl params[] = {codebook, double_quant, dq_block};

  explicit Nf4(const qlab::sdk::Params& p)
      : levels_(p.get(codebook) == "fp4" ? qlab::nf4::fp4_levels() : qlab::nf4::kNf4),
        double_quant_(p.get(double_quant)),
        dq_block_(p.get(dq_block)) {}

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const qlab::sdk::ConstMap w = qlab::sdk::map(in.weight);
    qlab::sdk::MutableMap dequant = qlab::sdk::map(out.dequant);
    // Block absmax, row-major over (row, block): bitsandbytes' flattened order when cols % bs == 0.
    std::vector<float> absmax(static_cast<size_t>(rows * out.n_groups));
    qlab::sdk::for_each_group(in, [&](const qlab::sdk::Group& g) {
      absmax[static_cast<size_t>(g.at)] = w.row(g.row).segment(g.begin, g.size).cwiseAbs().maxCoeff();
    });
    // As bitsandbytes: the codes are chosen against the exact absmax; double quantization
    // then compresses the stored absmax, which is what dequantization multiplies by.
    std::vector<float> stored = absmax;
    double dq_error = 0.0;
    if (double_quant_) dq_error = quantize_absmax(stored);
    qlab::sdk::for_each_group(in, [&](const qlab::sdk::Group& g) {
      const float scale = absmax[static_cast<size_t>(g.at)];
      float* book = out.codebook + g.at * 16;
      for (int i = 0; i < 16; ++i) book[i] = levels_[i] * stored[static_cast<size_t>(g.at)];
      const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
      for (int64_t j = 0; j < g.size; ++j) {
        const int code = qlab::nf4::nearest_level(levels_.data(), 16, w(g.row, g.begin + j) * inv);
        out.codes[g.flat + j] = static_cast<uint8_t>(code);
        dequant(g.row, g.begin + j) = book[code];
      }
    });
    // 4-bit codes + per block an fp32 absmax, or with double quantization an 8-bit absmax
    // plus per dq block an fp32 absmax (and one fp32 mean per tensor).
    const double numel = static_cast<double>(rows * cols), blocks = static_cast<double>(rows * out.n_groups);
    out.bits_per_weight = double_quant_ ? 4.0 + (blocks * 8.0 + std::ceil(blocks / static_cast<double>(dq_block_)) * 32.0 + 32.0) / numel
                                        : 4.0 + blocks * 32.0 / numel;
    if (double_quant_) qlab::sdk::add_metric(out.metrics, out.n_metrics, "absmax_max_rel_error", dq_error);
  }

 private:
  // Double quantization in place: absmax ← dequant(quant8(absmax − mean)) + mean. Returns the
  // largest relative error it introduced.
  double quantize_absmax(std::vector<float>& absmax) const {
    static const std::vector<float> map = qlab::nf4::dynamic_map_signed_8bit();
    const double mean = std::accumulate(absmax.begin(), absmax.end(), 0.0) / static_cast<double>(absmax.size());
    double worst = 0.0;
    for (size_t b0 = 0; b0 < absmax.size(); b0 += static_cast<size_t>(dq_block_)) {
      const size_t b1 = std::min(absmax.size(), b0 + static_cast<size_t>(dq_block_));
      float m = 0.0f;
      for (size_t i = b0; i < b1; ++i) m = std::max(m, std::fabs(absmax[i] - static_cast<float>(mean)));
      for (size_t i = b0; i < b1; ++i) {
        const float centred = absmax[i] - static_cast<float>(mean);
        const float q = m > 0.0f ? map[static_cast<size_t>(qlab::nf4::nearest_level(map.data(), 256, centred / m))] * m : 0.0f;
        const float restored = q + static_cast<float>(mean);
        if (absmax[i] > 0.0f) worst = std::max(worst, static_cast<double>(std::fabs(restored - absmax[i]) / absmax[i]));
        absmax[i] = std::max(restored, 0.0f);
      }
    }
    return worst;
  }

  std::array<float, 16> levels_;
  bool double_quant_;
  int64_t dq_block_;
};

}  // namespace

QLAB_PLUGIN(Nf4)
