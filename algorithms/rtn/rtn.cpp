// rtn: round-to-nearest onto a uniform grid per output row or per group along the input
// dimension; the baseline of every paper. Optionally GPTQ's MSE shrink search per group.
#include <qlab/grid.hpp>
#include <qlab/plugin.hpp>

namespace {

class Rtn {
 public:
  static constexpr const char* name = "rtn";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "round-to-nearest uniform quantization (per channel or per group)";
  static constexpr qlab_param_decl params[] = {
      {"search", QLAB_PARAM_STRING, "\"none\"", "range per group: none (the convention's min/max) or mse (GPTQ's shrink search)", 0, 0, 0, "none|mse"},
      {"mse_grid", QLAB_PARAM_INT, "100", "shrink steps of the mse search", 1, 1, 10000, nullptr},
      {"mse_max_shrink", QLAB_PARAM_FLOAT, "0.8", "largest shrink tried by the mse search", 1, 0.0, 1.0, nullptr},
      {"mse_norm", QLAB_PARAM_FLOAT, "2.4", "exponent of the mse search's error", 1, 0.1, 10.0, nullptr},
  };

  explicit Rtn(const qlab::sdk::Params& p)
      : mse_(p.get_string("search") == "mse"),
        search_{static_cast<int32_t>(p.get_int("mse_grid")), static_cast<float>(p.get_float("mse_max_shrink")),
                static_cast<float>(p.get_float("mse_norm"))} {}

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const int32_t gs = in.format.group_size > 0 ? in.format.group_size : static_cast<int32_t>(cols);
    const int64_t groups = qlab::grid::n_groups(cols, in.format.group_size);
    const int32_t maxq = qlab::grid::max_code(in.format.bits);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* w = in.weight.data + r * in.weight.row_stride;
      float* dq = out.dequant.data + r * out.dequant.row_stride;
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * gs, n = std::min<int64_t>(gs, cols - c0);
        qlab::grid::GroupParams p =
            mse_ ? qlab::grid::fit_mse(w + c0, n, 1, in.format.bits, in.format.sym, in.format.range, search_)
                 : qlab::grid::fit(w + c0, n, 1, in.format.bits, in.format.sym, in.format.range);
        out.scales[r * groups + g] = p.scale;
        out.zeros[r * groups + g] = p.zero;
        for (int64_t c = c0; c < c0 + n; ++c) {
          float code = qlab::grid::code_of(w[c], p, maxq);
          out.codes[r * cols + c] = static_cast<uint8_t>(code);
          dq[c] = qlab::grid::dequant(code, p);
        }
      }
    }
    for (int64_t c = 0; c < cols; ++c) out.g_idx[c] = static_cast<int32_t>(c / gs);
  }

 private:
  bool mse_;
  qlab::grid::MseSearch search_;
};

}  // namespace

QLAB_PLUGIN(Rtn)
