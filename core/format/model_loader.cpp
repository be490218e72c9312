#include "format/model_loader.h"

#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

Model load_model(const std::filesystem::path& path) {
  const PathKind kind = path_kind(path);
  if (kind == PathKind::missing) fail("{}: no such model file or directory", path.string());
  if (kind == PathKind::directory) return load_hf_model(path);
  return load_llama2c(path);
}

// For now the file is read whole and served from memory; file-backed sources replace this.
std::unique_ptr<WeightSource> open_weight_source(const std::filesystem::path& path) {
  return std::make_unique<InMemorySource>(load_model(path));
}

}  // namespace qlab
