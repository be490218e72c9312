#include "walk/activation_store.h"

#include "tensor/half.h"

namespace qlab {

void ActivationStore::set(size_t i, const Matrix& x) {
  shape_[i] = {x.rows(), x.cols()};
  if (precision_ == Precision::f32) {
    f32_[i] = x;
    return;
  }
  std::vector<uint16_t>& h = half_[i];
  h.resize(static_cast<size_t>(x.size()));
  for (int64_t k = 0; k < x.size(); ++k)
    h[static_cast<size_t>(k)] = precision_ == Precision::f16 ? f32_to_f16(x.data()[k]) : f32_to_bf16(x.data()[k]);
}

Matrix ActivationStore::get(size_t i) const {
  if (precision_ == Precision::f32) return f32_[i];
  Matrix x(shape_[i].first, shape_[i].second);
  const std::vector<uint16_t>& h = half_[i];
  for (int64_t k = 0; k < x.size(); ++k)
    x.data()[k] = precision_ == Precision::f16 ? f16_to_f32(h[static_cast<size_t>(k)]) : bf16_to_f32(h[static_cast<size_t>(k)]);
  return x;
}

}  // namespace qlab
