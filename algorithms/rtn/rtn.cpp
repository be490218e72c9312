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
    qlab::grid::quantize_rows(in.weight.data, rows, cols, in.weight.row_stride, in.format, out.dequant.data,
                              out.dequant.row_stride, out.codes,
                              out.scales, out.zeros, mse_ ? &search_ : nullptr);
    const int64_t gs = in.format.group_size > 0 ? in.format.group_size : cols;
    for (int64_t c = 0; c < cols; ++c) out.g_idx[c] = static_cast<int32_t>(c / gs);
  }

 private:
  bool mse_;
  qlab::grid::MseSearch search_;
};

}  // namespace

QLAB_PLUGIN(Rtn)
