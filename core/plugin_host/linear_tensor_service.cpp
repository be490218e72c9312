#include "plugin_host/linear_tensor_service.h"

#include <cstdio>
#include <exception>

#include "format/safetensors.h"
#include "util/error.h"

namespace qlab {

LinearTensorService::LinearTensorService(std::string linear_id, int64_t rows, int64_t cols)
    : id_(std::move(linear_id)), rows_(rows), cols_(cols) {}

std::vector<std::string> LinearTensorService::candidate_names(const std::string& id) {
  return {id, "model.layers." + id + ".weight", "model.decoder.layers." + id + ".weight"};
}

const Matrix& LinearTensorService::load(const std::string& path) {
  const std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
  const std::vector<std::string> names = candidate_names(id_);
  for (const std::string& name : names) {
    if (!file->has(name)) continue;
    const TensorInfo& t = file->info(name);
    if (t.shape != std::vector<int64_t>{rows_, cols_})
      fail("{}: tensor '{}' has shape [{}], the linear is [{}, {}]", path, name, fmt::join(t.shape, ", "), rows_, cols_);
    Matrix m = file->to_matrix(name);  // refuses dtypes other than F32, F16, BF16, naming both
    if (long long bad = first_non_finite(m.data(), m.size()); bad >= 0)
      fail("{}: tensor '{}' holds a non-finite value at flat index {}", path, name, bad);
    held_.push_back(std::move(m));  // a deque: earlier tensors stay where the plugin sees them
    return held_.back();
  }
  fail("{}: no tensor for linear {} (looked for '{}')", path, id_, fmt::join(names, "', '"));
}

// Called from plugin code through a C pointer: nothing may throw across it.
int32_t LinearTensorService::read(void* host, const char* path, qlab_cview* out, qlab_error* err) {
  try {
    if (!path || !out) fail("read_linear_tensor needs a path and an output view");
    const Matrix& m = static_cast<LinearTensorService*>(host)->load(path);
    *out = {m.data(), m.rows(), m.cols(), m.cols()};
    return 0;
  } catch (const std::exception& e) {
    if (err) std::snprintf(err->message, sizeof err->message, "%s", e.what());
  }
  return 1;
}

}  // namespace qlab
