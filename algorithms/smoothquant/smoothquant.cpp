// smoothquant: migrate activation outliers into the weights (Xiao et al., smooth.py):
// s_j = clamp(max|X_j|^α / clamp(max_i |W_ij|, 1e-5)^(1−α), 1e-5), the weight maximum taken
// over all consumers' rows; the host folds s into the norm before them. Like the reference,
// only norm → linears groups are smoothed (the host names the producer's kind).
#include <qlab/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

class SmoothQuant {
 public:
  static constexpr const char* name = "smoothquant";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "SmoothQuant scale migration into the preceding norm (transform on scalable groups)";
  static constexpr uint32_t stats = QLAB_STAT_ABS_MAX;
  static constexpr uint32_t scope = QLAB_SCOPE_GROUP;
  static constexpr auto alpha = qlab::sdk::float_param("alpha", 0.5, "migration strength α in [0, 1]").range(0.0, 1.0);
  static constexpr qlab_param_decl params[] = {alpha};

  explicit SmoothQuant(const qlab::sdk::Params& p) : alpha_(p.get(alpha)) {}

  void transform(const qlab_group_in& in, qlab_transform_out& out) {
    if (in.producer_kind != QLAB_PRODUCER_NORM) return;  // linear producers stay as they are
    if (!in.stats.abs_max) throw qlab::sdk::Failure("smoothquant needs the per-channel max |x| (ABS_MAX statistic)");
    const int64_t cols = in.weights[0].n_cols;
    std::vector<float> w_max(static_cast<size_t>(cols), 0.0f);
    for (int32_t l = 0; l < in.n_linears; ++l)
      for (int64_t r = 0; r < in.weights[l].n_rows; ++r) {
        const float* row = in.weights[l].data + r * in.weights[l].row_stride;
        for (int64_t j = 0; j < cols; ++j) w_max[j] = std::max(w_max[j], std::fabs(row[j]));
      }
    if (std::all_of(in.stats.abs_max, in.stats.abs_max + cols, [](float v) { return v == 0.0f; })) {
      // A producer whose output is all zero on the calibration data (a dead norm): every s
      // would be the 1e-5 clamp; keep s = 1 and say so.
      out.declined = 1;
      return;
    }
    for (int64_t j = 0; j < cols; ++j) {
      const double s = std::pow(static_cast<double>(in.stats.abs_max[j]), alpha_) /
                       std::pow(std::max(static_cast<double>(w_max[j]), 1e-5), 1.0 - alpha_);
      out.scale[j] = static_cast<float>(std::max(s, 1e-5));
    }
    out.wrote_scale = 1;
  }

 private:
  double alpha_;
};

}  // namespace

QLAB_PLUGIN(SmoothQuant)
