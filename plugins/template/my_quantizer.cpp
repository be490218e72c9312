// my_quantizer: a template to copy. Round-to-nearest after clipping each weight group to a
// percentile of its magnitudes (a cheap, data-free alternative to a clip search).
// Rename the class and `name`, declare your parameters, fill `quantize`.
#include <qlab/grid.hpp>
#include <qlab/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

class MyQuantizer {
 public:
  static constexpr const char* name = "my_quantizer";  // unique: libqlab_my_quantizer.so
  static constexpr const char* version = "0.1.0";
  static constexpr const char* summary = "RTN after clipping each group at a percentile of |w| (template plugin)";
  static constexpr qlab_param_decl params[] = {
      {"percentile", QLAB_PARAM_FLOAT, "0.99", "fraction of |w| kept unclipped in each group", 1, 0.5, 1.0, nullptr},
  };
  // static constexpr uint32_t stats = QLAB_STAT_HESSIAN;  // declare the statistics you need

  explicit MyQuantizer(const qlab::sdk::Params& p) : percentile_(p.get_float("percentile")) {}

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const int64_t gs = in.format.group_size > 0 ? in.format.group_size : cols;
    const int64_t groups = qlab::grid::n_groups(cols, in.format.group_size);
    const int32_t maxq = qlab::grid::max_code(in.format.bits);
    std::vector<float> group(static_cast<size_t>(gs)), magnitudes(static_cast<size_t>(gs));
    for (int64_t r = 0; r < rows; ++r) {
      const float* w = in.weight.data + r * in.weight.row_stride;
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * gs, n = std::min(gs, cols - c0);
        for (int64_t c = 0; c < n; ++c) magnitudes[c] = std::fabs(w[c0 + c]);
        const int64_t k = std::min<int64_t>(n - 1, static_cast<int64_t>(percentile_ * static_cast<double>(n - 1)));
        std::nth_element(magnitudes.begin(), magnitudes.begin() + k, magnitudes.begin() + n);
        const float limit = magnitudes[k];
        for (int64_t c = 0; c < n; ++c) group[c] = std::clamp(w[c0 + c], -limit, limit);
        qlab::grid::GroupParams p = qlab::grid::fit(group.data(), n, 1, in.format.bits, in.format.sym, in.format.range);
        out.scales[r * groups + g] = p.scale;
        out.zeros[r * groups + g] = p.zero;
        for (int64_t c = 0; c < n; ++c) {
          const float code = qlab::grid::code_of(w[c0 + c], p, maxq);
          out.codes[r * cols + c0 + c] = static_cast<uint8_t>(code);
          out.dequant.data[r * out.dequant.row_stride + c0 + c] = qlab::grid::dequant(code, p);
        }
      }
    }
    for (int64_t c = 0; c < cols; ++c) out.g_idx[c] = static_cast<int32_t>(c / gs);
  }

 private:
  double percentile_;
};

}  // namespace

QLAB_PLUGIN(MyQuantizer)
