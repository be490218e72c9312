#include "walk/measure_module.h"

#include <cstdio>
#include <exception>

#include "forward/block_forward.h"
#include "qlab/plugin.hpp"
#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

MeasureHost::MeasureHost(const Block& block, const ModelConfig& config, const ScalableGroup& group, const std::vector<Matrix>& inputs)
    : scratch_(block), config_(config), inspect_(group.inspect), inputs_(inputs) {
  for (const Linear* c : group.consumers)
    for (Linear* l : scratch_.linears())
      if (l->name == c->name) consumers_.push_back(l);
  for (const Matrix& in : inputs_) reference_.push_back(run(in));
}

Matrix MeasureHost::run(const Matrix& h) const {
  if (inspect_ == Inspect::attention) return attention_output(scratch_, config_, h);
  if (inspect_ == Inspect::mlp) return mlp_output(scratch_, config_, h);
  Matrix y;
  linear_forward(h, consumers_[0]->weight, consumers_[0]->bias, y);
  return y;
}

int32_t MeasureHost::measure(void* host, const qlab_cview* candidates, const float* s, double* mse, qlab_error* err) {
  auto* m = static_cast<MeasureHost*>(host);
  try {
    // A plugin's views are checked before they are read: a wrong shape would read out of bounds.
    for (size_t i = 0; i < m->consumers_.size(); ++i) {
      const Linear& l = *m->consumers_[i];
      const qlab_cview& c = candidates[i];
      if (!c.data || c.n_rows != l.out_features() || c.n_cols != l.in_features() || c.row_stride < c.n_cols)
        fail("candidate weights {} for {} are {}×{} (row stride {}{}), the linear is {}×{}", i, l.name, c.n_rows, c.n_cols, c.row_stride,
             c.data ? "" : ", no data", l.out_features(), l.in_features());
    }
    if (!s) fail("no scale given for group {}", m->consumers_[0]->name);
    for (size_t i = 0; i < m->consumers_.size(); ++i) m->consumers_[i]->weight = sdk::map(candidates[i]);
    double sum = 0, count = 0;
    const Eigen::Map<const Eigen::RowVectorXf> scale(s, m->consumers_[0]->in_features());
    for (size_t seg = 0; seg < m->inputs_.size(); ++seg) {
      Matrix h = m->inputs_[seg];
      h.array().rowwise() /= scale.array();
      const Matrix y = m->run(h);
      sum += (y - m->reference_[seg]).cast<double>().squaredNorm();
      count += static_cast<double>(y.size());
    }
    *mse = count > 0 ? sum / count : 0.0;
    return 0;
  } catch (const std::exception& e) {
    if (m->error_.empty()) m->error_ = e.what();
    if (err) std::snprintf(err->message, sizeof err->message, "%s", e.what());
    return 1;
  }
}

}  // namespace qlab
