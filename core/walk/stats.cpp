#include "walk/stats.h"

#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

StatsCollector::StatsCollector(uint32_t mask, int64_t in, int64_t total_tokens, int64_t rows_wanted)
    : mask_(mask), stride_(std::max<int64_t>(1, total_tokens / rows_wanted)) {
  in_ = in;
  if (mask_ & QLAB_STAT_HESSIAN) h_ = Matrix::Zero(in, in);  // the largest statistic: only when asked
  if (mask_ & (QLAB_STAT_ABS_MEAN | QLAB_STAT_ABS_MAX)) {
    abs_sum_ = Vector::Zero(in);
    abs_max_ = Vector::Zero(in);
  }
  if (mask_ & QLAB_STAT_ROWS) rows_ = Matrix::Zero((total_tokens + stride_ - 1) / stride_, in);
}

void StatsCollector::add_sequence(const Matrix& x) {
  const int64_t t = x.rows(), in = x.cols();
  if (in != in_) fail("statistics: input has {} features, expected {}", in, in_);
  if (!device_h_.empty()) {  // sequences went to a device before: continue from their sum
    h_ = device_h_.download();
    device_h_ = DeviceBuffer();
  }
  if (h_.size() > 0) syrk_upper_tn(in, t, 1.0f, x.data(), in, h_.data(), in);
  add_host_statistics(x);
}

void StatsCollector::add_sequence(const DeviceBuffer& x) {
  if (x.cols() != in_) fail("statistics: input has {} features, expected {}", x.cols(), in_);
  Backend& be = *x.backend();
  if (mask_ & QLAB_STAT_HESSIAN) {
    if (device_h_.empty()) device_h_ = be.upload(h_);  // h_ is zero until the first sequence
    be.syrk_accumulate(x, 1.0f, device_h_);
  }
  if (mask_ & (QLAB_STAT_ABS_MEAN | QLAB_STAT_ABS_MAX | QLAB_STAT_ROWS)) {
    add_host_statistics(x.download());
  } else {
    n_tokens_ += x.rows();
    n_sequences_ += 1;
  }
}

void StatsCollector::add_host_statistics(const Matrix& x) {
  const int64_t t = x.rows();
  symmetric_ = false;
  if (abs_sum_.size() > 0) {
    abs_sum_ += x.cwiseAbs().colwise().sum().transpose();
    abs_max_ = abs_max_.cwiseMax(x.cwiseAbs().colwise().maxCoeff().transpose());
  }
  if (rows_.size() > 0)
    for (int64_t r = 0; r < t; ++r)
      if ((n_tokens_ + r) % stride_ == 0 && n_rows_ < rows_.rows()) rows_.row(n_rows_++) = x.row(r);
  n_tokens_ += t;
  n_sequences_ += 1;
}

const Matrix& StatsCollector::hessian_sum() const {
  if (!device_h_.empty()) {
    h_ = device_h_.download();
    device_h_ = DeviceBuffer();
    symmetric_ = false;
  }
  if (!symmetric_) {
    h_.triangularView<Eigen::StrictlyLower>() = h_.transpose();
    symmetric_ = true;
  }
  return h_;
}

Matrix StatsCollector::hessian() const {
  return hessian_sum() * (2.0f / static_cast<float>(std::max<int64_t>(1, n_sequences_)));
}

Matrix StatsCollector::take_hessian() {
  hessian_sum();
  h_ *= 2.0f / static_cast<float>(std::max<int64_t>(1, n_sequences_));
  return std::move(h_);
}

qlab_stats StatsCollector::view(const Matrix& hessian) const {
  qlab_stats s{};
  s.n_tokens = n_tokens_;
  if (mask_ & QLAB_STAT_HESSIAN) s.hessian = {hessian.data(), hessian.rows(), hessian.cols(), hessian.cols()};
  if (abs_sum_.size() > 0) {
    abs_mean_ = abs_sum_ / static_cast<float>(std::max<int64_t>(1, n_tokens_));
    if (mask_ & QLAB_STAT_ABS_MEAN) s.abs_mean = abs_mean_.data();
    if (mask_ & QLAB_STAT_ABS_MAX) s.abs_max = abs_max_.data();
  }
  if (mask_ & QLAB_STAT_ROWS) s.rows = {rows_.data(), n_rows_, rows_.cols(), rows_.cols()};
  return s;
}

}  // namespace qlab
