#include "walk/activation_range.h"

#include <cmath>
#include <limits>
#include <numeric>

#include "util/error.h"

namespace qlab {

RangeCalibrator parse_range_calibrator(const std::string& name) {
  return kRangeCalibrators.parse(name, "activation range calibrator");
}

const char* range_calibrator_name(RangeCalibrator c) { return kRangeCalibrators.name(c); }

AbsHistogram::AbsHistogram(int64_t bins) : counts_(static_cast<size_t>(bins), 0.0) {}

double AbsHistogram::total() const { return std::accumulate(counts_.begin(), counts_.end(), 0.0); }

bool AbsHistogram::add(const float* x, int64_t n) {
  float batch_max = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
    batch_max = std::max(batch_max, std::fabs(x[i]));
  }
  const auto bins = static_cast<int64_t>(counts_.size());
  if (width_ == 0.0 && batch_max > 0.0f) width_ = static_cast<double>(batch_max) / static_cast<double>(bins);
  // Double the range until the batch fits: bins 2k and 2k+1 become bin k.
  while (width_ > 0.0 && batch_max > width_ * static_cast<double>(bins)) {
    for (int64_t k = 0; k < bins / 2; ++k) counts_[k] = counts_[2 * k] + counts_[2 * k + 1];
    std::fill(counts_.begin() + bins / 2, counts_.end(), 0.0);
    width_ *= 2.0;
  }
  max_ = std::max(max_, static_cast<double>(batch_max));
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::fabs(x[i]);
    const int64_t b = width_ > 0.0 ? std::min<int64_t>(static_cast<int64_t>(v / width_), bins - 1) : 0;
    counts_[static_cast<size_t>(b)] += 1.0;
  }
  return true;
}

namespace {

// Moves a little mass onto the empty bins of the counts `d` (MXNet's and ONNX Runtime's
// smoothing), then normalises. Without it one empty bin where the other distribution has
// mass makes the divergence infinite, and a histogram with a gap (a Gaussian plus far
// outliers) never gets a finite candidate below its full range. Smoothing the counts,
// not the probabilities, keeps every bin positive (non-empty counts are >= 1/16).
bool smooth_and_normalize(std::vector<double>& d) {
  constexpr double eps = 1e-4;
  double zeros = 0.0;
  for (double v : d) zeros += v == 0.0;
  const double taken = eps * zeros / (static_cast<double>(d.size()) - zeros);
  if (zeros == static_cast<double>(d.size()) || taken >= 1.0 / 16) return false;
  double total = 0.0;
  for (double& v : d) total += (v = v == 0.0 ? eps : v - taken);
  for (double& v : d) v /= total;
  return true;
}

}  // namespace

double entropy_threshold(const std::vector<double>& counts_in, double width, int32_t bits) {
  const auto n = static_cast<int64_t>(counts_in.size());
  const int64_t levels = int64_t{1} << (bits - 1);
  if (n <= levels) return static_cast<double>(n) * width;
  std::vector<double> counts = counts_in;
  counts[0] = counts[1];  // as TensorRT: the spike of exact zeros would dominate the divergence
  double tail = std::accumulate(counts.begin(), counts.end(), 0.0);  // Σ counts[i..n), kept as i grows
  for (int64_t k = 0; k < levels; ++k) tail -= counts[k];
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  std::vector<double> level_mass(levels), level_nonzero(levels), p, q;
  for (int64_t i = levels; i <= n; ++i, tail -= i <= n ? counts[i - 1] : 0.0) {
    // P: the first i bins with everything beyond folded into the last. Q: the first i bins
    // merged into `levels` levels, each level's mass spread over its non-empty bins.
    std::fill(level_mass.begin(), level_mass.end(), 0.0);
    std::fill(level_nonzero.begin(), level_nonzero.end(), 0.0);
    for (int64_t k = 0; k < i; ++k) {
      if (counts[k] == 0.0) continue;
      level_mass[k * levels / i] += counts[k];
      level_nonzero[k * levels / i] += 1.0;
    }
    p.assign(counts.begin(), counts.begin() + i);
    p[i - 1] += tail;
    q.assign(static_cast<size_t>(i), 0.0);
    for (int64_t k = 0; k < i; ++k)
      if (counts[k] != 0.0) q[k] = level_mass[k * levels / i] / level_nonzero[k * levels / i];
    if (!smooth_and_normalize(p) || !smooth_and_normalize(q)) continue;
    double kl = 0.0;
    for (int64_t k = 0; k < i; ++k) kl += p[k] * std::log(p[k] / q[k]);
    if (kl <= best) {  // ties go to the larger threshold, as the reference's last argmin
      best = kl;
      best_i = i;
    }
  }
  return static_cast<double>(best_i) * width;
}

double calibrate_range(const AbsHistogram& h, const RangeCalibration& c, int32_t bits) {
  if (h.max() <= 0.0) return 0.0;
  switch (c.method) {
    case RangeCalibrator::minmax: return h.max();
    case RangeCalibrator::percentile: {
      const double target = h.total() * c.percentile / 100.0;
      double seen = 0.0;
      const auto& counts = h.counts();
      for (size_t b = 0; b < counts.size(); ++b) {
        seen += counts[b];
        if (seen >= target) return std::min(h.max(), static_cast<double>(b + 1) * h.width());  // the bin's upper edge
      }
      return h.max();
    }
    case RangeCalibrator::entropy: return std::min(h.max(), entropy_threshold(h.counts(), h.width(), bits));
  }
  return h.max();
}

}  // namespace qlab
