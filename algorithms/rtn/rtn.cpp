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
  // The plain quantizer AWQ's and SmoothQuant's methods imply: awq → rtn is "awq".
  static constexpr int32_t naming = QLAB_NAMING_BASELINE;
  static constexpr auto search = qlab::sdk::string_param("search", "none", "range per group: none (the convention's min/max) or mse (GPTQ's shrink search)")
                                     .choices("none|mse");
  static constexpr auto mse_grid = qlab::sdk::int_param("mse_grid", 100, "shrink steps of the mse search").range(1, 10000);
  static constexpr auto mse_max_shrink = qlab::sdk::float_param("mse_max_shrink", 0.8, "largest shrink tried by the mse search").range(0.0, 1.0);
  static constexpr auto mse_norm = qlab::sdk::float_param("mse_norm", 2.4, "exponent of the mse search's error").range(0.1, 10.0);
  static constexpr qlab_param_decl params[] = {search, mse_grid, mse_max_shrink, mse_norm};

  explicit Rtn(const qlab::sdk::Params& p)
      : mse_(p.get(search) == "mse"),
        search_{static_cast<int32_t>(p.get(mse_grid)), static_cast<float>(p.get(mse_max_shrink)), static_cast<float>(p.get(mse_norm))} {}

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    qlab::grid::quantize_rows(in.weight.data, in.weight.n_rows, in.weight.n_cols, in.weight.row_stride, in.format, out.dequant.data,
                              out.dequant.row_stride, out.codes, out.scales, out.zeros, mse_ ? &search_ : nullptr);
  }

 private:
  bool mse_;
  qlab::grid::MseSearch search_;
};

}  // namespace

QLAB_PLUGIN(Rtn)
