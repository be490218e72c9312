// Static activation ranges (SmoothQuant O3, TensorRT calibration): a histogram of |x| per
// linear input, filled in one pass over the calibration data, and the calibrators that turn
// it into one clipping threshold.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/name_table.h"

namespace qlab {

enum class RangeCalibrator {
  minmax,      // the largest |x| seen
  percentile,  // the |x| below which `percentile` % of the values lie
  entropy      // TensorRT's: the threshold whose quantized distribution is closest in KL divergence
};
inline constexpr NameTable<RangeCalibrator, 3> kRangeCalibrators{
    {{{RangeCalibrator::minmax, "minmax"}, {RangeCalibrator::percentile, "percentile"}, {RangeCalibrator::entropy, "entropy"}}}};

struct RangeCalibration {
  RangeCalibrator method = RangeCalibrator::minmax;
  double percentile = 99.99;
};

RangeCalibrator parse_range_calibrator(const std::string& name);  // minmax | percentile | entropy
const char* range_calibrator_name(RangeCalibrator c);

// Histogram of |x| over [0, width·bins). When a larger value arrives the range doubles and
// neighbouring bins merge, so no second pass is needed and no count is lost.
class AbsHistogram {
 public:
  explicit AbsHistogram(int64_t bins = 2048);
  // Returns false (adding nothing) when `x` holds a NaN or an infinity.
  bool add(const float* x, int64_t n);

  double max() const { return max_; }
  double width() const { return width_; }
  const std::vector<double>& counts() const { return counts_; }
  double total() const;

 private:
  std::vector<double> counts_;
  double width_ = 0.0, max_ = 0.0;
};

// The clipping threshold for symmetric `bits`-bit quantization. 0 when every value was 0.
double calibrate_range(const AbsHistogram& h, const RangeCalibration& c, int32_t bits);

// TensorRT's entropy calibration on a histogram (exposed for tests): the bin count i ≥
// 2^(bits−1) whose distribution clipped at i bins and merged into 2^(bits−1) levels has the
// least KL divergence from the original; returns i · width.
double entropy_threshold(const std::vector<double>& counts, double width, int32_t bits);

}  // namespace qlab
