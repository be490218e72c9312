// The host side of AWQ's module2inspect, offered to group-scope transforms as
// qlab_group_in::measure: the inspected module's output on x/s with candidate consumer
// weights, against its output on x with the weights the block holds. The candidates run in
// a scratch copy of the block; the walked block is never written.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "qlab/plugin.h"

namespace qlab {

class MeasureHost {
 public:
  // `inputs`: the group's input on every calibration segment; outlives this object.
  MeasureHost(const Block& block, const ModelConfig& config, const ScalableGroup& group, const std::vector<Matrix>& inputs);
  void* context() { return this; }
  // A host failure, kept because nothing may throw across the plugin's C frames; "" if none.
  const std::string& error() const { return error_; }

  // qlab_group_in::measure; `host` is context().
  static int32_t measure(void* host, const qlab_cview* candidates, const float* s, double* mse, qlab_error* err);

 private:
  Matrix run(const Matrix& h) const;

  Block scratch_;
  const ModelConfig& config_;
  Inspect inspect_;
  std::vector<Linear*> consumers_;  // in scratch_
  const std::vector<Matrix>& inputs_;
  std::vector<Matrix> reference_;   // the module's output with the block's weights
  std::string error_;
};

}  // namespace qlab
