// The host service behind qlab_linear_in.read_linear_tensor: a plugin names a safetensors
// file (a parameter of its own, e.g. cluster's sensitivity_file) and receives this linear's
// tensor from it as float. The host owns the name lookup (the linear's id, then its Hugging
// Face weight names), the shape check against the linear and the finiteness check, and
// keeps the tensor until the hook returns. Errors name the file, the tensor and the problem.
#pragma once
#include <cstdint>
#include <string>
#include <deque>
#include <vector>

#include "qlab/plugin.h"
#include "tensor/tensor.h"

namespace qlab {

class LinearTensorService {
 public:
  LinearTensorService(std::string linear_id, int64_t rows, int64_t cols);
  // Installs the service into a hook's input (read_linear_tensor and host).
  void attach(qlab_linear_in& in) { in.read_linear_tensor = &read; in.host = this; }

  // The names looked up, in order: "3.mlp.down_proj", "model.layers.3.mlp.down_proj.weight",
  // "model.decoder.layers.3.mlp.down_proj.weight".
  static std::vector<std::string> candidate_names(const std::string& linear_id);
  // The tensor for this linear in `path`; throws qlab::Error naming the file and tensor.
  const Matrix& load(const std::string& path);

 private:
  static int32_t read(void* host, const char* path, qlab_cview* out, qlab_error* err);
  std::string id_;
  int64_t rows_, cols_;
  std::deque<Matrix> held_;  // alive until the hook returns: the plugin holds views of them
};

}  // namespace qlab
