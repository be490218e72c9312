#include "model/model_loader.h"

#include "model/hf_loader.h"
#include "model/llama2c_loader.h"
#include "util/error.h"

namespace qlab {

Model load_model(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: no such model file or directory", path.string());
  if (std::filesystem::is_directory(path, ec)) return load_hf_model(path);
  return load_llama2c(path);
}

}  // namespace qlab
