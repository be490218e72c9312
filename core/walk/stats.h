// Statistics of one linear input, streamed over calibration segments: only what the
// pipeline declared, plus the Hessian the host's own error measure needs.
//   hessian_sum = Σ x xᵀ over all tokens (SYRK); hessian() = 2/S · that, S = sequences (GPTQ)
//   abs_mean, abs_max per input channel; rows = every k-th token, k = max(1, total / 512)
//   (llm-awq's subsample for its clip search).
#pragma once
#include <cstdint>

#include "backend/backend.h"
#include "qlab/plugin.h"
#include "tensor/tensor.h"

namespace qlab {

class StatsCollector {
 public:
  // mask: qlab_stat bits; total_tokens: all calibration tokens, for the row stride.
  StatsCollector(uint32_t mask, int64_t in_features, int64_t total_tokens, int64_t rows_wanted = 512);
  void add_sequence(const Matrix& x);  // tokens × in, one calibration sequence
  // The same for x in a backend's memory: Σ x xᵀ accumulates there (SYRK on the device, the
  // sum read back once, on first use); only the other statistics, when asked for, copy x back.
  void add_sequence(const DeviceBuffer& x);

  const Matrix& hessian_sum() const;   // symmetric, Σ x xᵀ
  Matrix hessian() const;              // 2/S · Σ x xᵀ
  // hessian(), made from the sum in place and moved out: no second d_in² copy (11008² float
  // is 0.45 GiB for LLaMA-7B's down_proj). The collector holds no sum afterwards.
  Matrix take_hessian();
  qlab_stats view(const Matrix& hessian) const;  // pointers into this object and `hessian`
  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_sequences() const { return n_sequences_; }
  int64_t bytes() const { return (h_.size() + rows_.size() + 3 * abs_sum_.size()) * static_cast<int64_t>(sizeof(float)); }

 private:
  uint32_t mask_;
  int64_t in_ = 0, stride_, n_tokens_ = 0, n_sequences_ = 0;
  void add_host_statistics(const Matrix& x);  // abs_mean/abs_max/rows and the counts

  mutable Matrix h_;         // upper triangle accumulated; symmetrised on first read
  mutable DeviceBuffer device_h_;  // the same sum while it accumulates on a device
  mutable bool symmetric_ = false;
  Vector abs_sum_, abs_max_;
  mutable Vector abs_mean_;
  Matrix rows_;
  int64_t n_rows_ = 0;
};

}  // namespace qlab
