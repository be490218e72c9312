// A GGUF file of the LLaMA architecture as a WeightSource: the config from llama.* metadata,
// one block dequantized to float32 per load_block (F32/F16/BF16/Q4_0/Q4_1/Q8_0), q/k rows
// moved from llama.cpp's interleaved RoPE order to the rotate-half order qlab computes in,
// embedding and output rows read as asked. Every tensor the metadata implies is checked
// (present, typed, shaped) at open.
#pragma once
#include <filesystem>
#include <memory>

#include "format/gguf_file.h"
#include "model/weight_source.h"

namespace qlab {

// llama.cpp's name of a block tensor: "3.mlp.up_proj" → "blk.3.ffn_up.weight",
// "3.input_layernorm" → "blk.3.attn_norm.weight"; throws for a tensor llama.cpp has no slot for.
std::string gguf_tensor_name(const std::string& qlab_name);

class GgufSource : public WeightSource {
 public:
  explicit GgufSource(const std::filesystem::path& path);
  const ModelConfig& config() const override { return config_; }
  const std::string& path() const override { return file_->path(); }
  std::vector<LinearShape> linears() const override;
  Block load_block(int64_t i) const override;
  Model load_outer() const override;
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override;

 private:
  Matrix tensor(const std::string& name, int64_t rows, int64_t cols) const;
  std::unique_ptr<GgufFile> file_;
  ModelConfig config_;
  bool tied_ = true;
};

}  // namespace qlab
