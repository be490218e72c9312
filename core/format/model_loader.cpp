#include "format/model_loader.h"

#include "format/gguf_source.h"
#include "format/hf_source.h"
#include "format/llama2c_loader.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

std::unique_ptr<WeightSource> open_weight_source(const std::filesystem::path& path) {
  const PathKind kind = path_kind(path);
  if (kind == PathKind::missing) fail("{}: no such model file or directory", path.string());
  if (kind == PathKind::directory) return std::make_unique<HfSource>(path);
  if (is_gguf_file(path)) return std::make_unique<GgufSource>(path);
  return open_llama2c(path);
}

Model load_model(const std::filesystem::path& path) { return open_weight_source(path)->load_model(); }

}  // namespace qlab
