// A Hugging Face model directory as a WeightSource: config.json read into a ModelConfig by
// the family's reader, the safetensors files kept open (memory-mapped), and one block
// converted to float32 per load_block call, its tensor names taken from the family's row in
// the architecture table. Opening checks, from the headers alone, every tensor the config
// implies (present, shaped as the config says) and that no layer lies beyond
// num_hidden_layers; values are checked for NaN/Inf as each block is converted. A GPTQ or
// AWQ checkpoint (a quantization_config; format/packed_linear_formats.h) is read the same
// way, each packed linear dequantized to float32 as its block is loaded.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>

#include "format/hf_config.h"
#include "format/packed_linear_formats.h"
#include "format/safetensors.h"
#include "model/arch.h"
#include "model/weight_source.h"

namespace qlab {

struct HfFamily;  // how the family's config.json and outer tensors read (hf_source.cpp)

class HfSource : public WeightSource {
 public:
  explicit HfSource(const std::filesystem::path& dir);
  const ModelConfig& config() const override { return config_; }
  const std::string& path() const override { return set_.dir(); }
  std::vector<LinearShape> linears() const override;
  Block load_block(int64_t i) const override;
  Model load_outer() const override;
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override;

 private:
  void check_outer_shapes() const;
  void check_block_shapes(int64_t i) const;
  bool tied_lm_head() const;
  std::string lm_head_name() const;  // "lm_head.weight" when the files hold one, else ""
  int64_t embed_width() const;       // OPT-350M: word_embed_proj_dim; else hidden_size
  bool has_final_norm() const;
  HfConfig cfg_;
  const Arch* arch_ = nullptr;
  const HfFamily* hf_ = nullptr;
  SafetensorsSet set_;
  ModelConfig config_;
  std::optional<PackedGrid> packed_;  // the checkpoint's quantization, when it is a packed one
  std::string prefix_;  // before "layers.", "embed_tokens.": "model.", "model.decoder." or "decoder."
};

}  // namespace qlab
