// One block's calibration activations (one matrix per segment), held in float32 or, to
// halve memory on large models, in fp16 or bf16 (converted back to float32 when read).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/half.h"
#include "tensor/tensor.h"

namespace qlab {

class ActivationStore {
 public:
  using Precision = StoragePrecision;

  ActivationStore(Precision p, size_t n_segments) : precision_(p), f32_(n_segments), half_(n_segments), shape_(n_segments) {}
  size_t size() const { return shape_.size(); }
  void set(size_t i, const Matrix& x);
  Matrix get(size_t i) const;

 private:
  Precision precision_;
  std::vector<Matrix> f32_;
  std::vector<std::vector<uint16_t>> half_;
  std::vector<std::pair<int64_t, int64_t>> shape_;
};

}  // namespace qlab
