// Per-weight sensitivities brought from elsewhere (SqueezeLLM's Fisher information, squared
// gradients): one tensor per linear in a safetensors file, F32, F16 or BF16, read when a
// linear asks for it. Plugins see only the SDK, so this is a small reader of its own.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace qlab::cluster {

class SensitivityFile {
 public:
  explicit SensitivityFile(std::string path);  // parses the header; throws sdk::Failure naming the file
  // The rows × cols tensor for linear `id` ("3.mlp.down_proj"), found under the id itself or
  // the Hugging Face weight name ("model.layers.3.mlp.down_proj.weight",
  // "model.decoder.layers.3.fc1.weight"); a missing tensor or a shape mismatch is an error.
  std::vector<float> read(const std::string& id, int64_t rows, int64_t cols) const;

 private:
  struct Entry {
    std::string dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;
  };
  std::string path_;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Entry>> entries_;
};

}  // namespace qlab::cluster
