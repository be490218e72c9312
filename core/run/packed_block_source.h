// The quantized model as a WeightSource: each block dequantized from its packed checkpoint
// file (run/block_checkpoint.h) when asked for, the outer parts (embeddings, final norm,
// lm_head), names and shapes from the float source, so the quantized model is never held
// in float32 beyond the block being worked on.
#pragma once
#include "model/weight_source.h"
#include "run/block_checkpoint.h"

namespace qlab {

class PackedBlockSource : public WeightSource {
 public:
  // Both must outlive the source.
  PackedBlockSource(const WeightSource& float_source, const BlockCheckpoint& checkpoint)
      : float_(float_source), checkpoint_(checkpoint) {}
  const ModelConfig& config() const override { return float_.config(); }
  const std::string& path() const override { return float_.path(); }
  std::vector<LinearShape> linears() const override { return float_.linears(); }
  // Throws naming the file when block i was not finished or its file is corrupt.
  Block load_block(int64_t i) const override;
  Model load_outer() const override { return float_.load_outer(); }
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override { return float_.vocab_rows(table, ids); }

 private:
  const WeightSource& float_;
  const BlockCheckpoint& checkpoint_;
};

}  // namespace qlab
