// nf4: bitsandbytes' 4-bit blockwise quantization. Each block of the format's group size
// (64 in bitsandbytes; 0 = one block per row) is scaled by its absmax onto a fixed
// codebook, NF4 or FP4. Optional double quantization stores the absmax values themselves
// in 8 bits: minus their mean, in blocks of 256 with the signed dynamic map, each block
// with an fp32 absmax (bitsandbytes' compress_statistics).
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
  static constexpr qlab_param_decl params[] = {
      {"codebook", QLAB_PARAM_STRING, "\"nf4\"", "the fixed 4-bit levels: nf4 (normal quantiles) or fp4 (E2M1)", 0, 0, 0, "nf4|fp4"},
      {"double_quant", QLAB_PARAM_BOOL, "false", "quantize the block absmax values to 8 bits (bitsandbytes compress_statistics)", 0, 0, 0, nullptr},
      {"dq_block", QLAB_PARAM_INT, "256", "absmax values per double-quantization block", 1, 2, 65536, nullptr},
  };

  explicit Nf4(const qlab::sdk::Params& p)
      : levels_(p.get_string("codebook") == "fp4" ? qlab::nf4::fp4_levels() : qlab::nf4::kNf4),
        double_quant_(p.get_bool("double_quant")),
        dq_block_(p.get_int("dq_block")) {}

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    if (in.format.bits != 4)
      throw qlab::sdk::Failure("nf4 has 16 fixed levels: it needs quant.bits = 4, got " + std::to_string(in.format.bits));
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const int64_t bs = in.format.group_size > 0 ? in.format.group_size : cols;
    // Block absmax, row-major over (row, block): bitsandbytes' flattened order when cols % bs == 0.
    std::vector<float> absmax(static_cast<size_t>(rows * out.n_groups));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < out.n_groups; ++g) {
        const float* w = in.weight.data + r * in.weight.row_stride + g * bs;
        float m = 0.0f;
        for (int64_t j = 0; j < std::min(bs, cols - g * bs); ++j) m = std::max(m, std::fabs(w[j]));
        absmax[static_cast<size_t>(r * out.n_groups + g)] = m;
      }
    // As bitsandbytes: the codes are chosen against the exact absmax; double quantization
    // then compresses the stored absmax, which is what dequantization multiplies by.
    std::vector<float> stored = absmax;
    double dq_error = 0.0;
    if (double_quant_) dq_error = quantize_absmax(stored);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < out.n_groups; ++g) {
        const float scale = absmax[static_cast<size_t>(r * out.n_groups + g)];
        float* book = out.codebook + (r * out.n_groups + g) * 16;
        for (int i = 0; i < 16; ++i) book[i] = levels_[i] * stored[static_cast<size_t>(r * out.n_groups + g)];
        const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
        for (int64_t c = g * bs; c < std::min(cols, (g + 1) * bs); ++c) {
          const float x = in.weight.data[r * in.weight.row_stride + c];
          const int code = qlab::nf4::nearest_level(levels_.data(), 16, x * inv);
          out.codes[r * cols + c] = static_cast<uint8_t>(code);
          out.dequant.data[r * out.dequant.row_stride + c] = book[code];
        }
      }
    for (int64_t c = 0; c < cols; ++c) out.g_idx[c] = static_cast<int32_t>(c / bs);
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
