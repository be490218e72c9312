// A model as block-major evaluation reads it: the outer parts (positions, projections, final
// norm, head bias) in memory, the vocabulary tables a few rows at a time, and the blocks one
// at a time — loaded from a source on demand, or read in place from a model in memory.
#pragma once
#include <cstdint>
#include <string>

#include "model/model.h"
#include "model/weight_source.h"

namespace qlab {

class BlockMajorModel {
 public:
  explicit BlockMajorModel(const WeightSource& source);
  explicit BlockMajorModel(const Model& model);
  BlockMajorModel(const BlockMajorModel&) = delete;
  BlockMajorModel& operator=(const BlockMajorModel&) = delete;

  const Model& outer() const { return *outer_; }
  const ModelConfig& config() const { return outer_->config; }
  const VocabRows& rows() const { return rows_; }
  int64_t n_blocks() const { return n_blocks_; }
  // Block i: a reference into `holder` (loaded from the source) or into the model in memory.
  const Block& block(int64_t i, Block& holder) const;
  double block_bytes() const { return block_bytes_; }  // the largest block in float32
  const std::string& name() const { return name_; }

 private:
  const WeightSource* source_ = nullptr;
  Model source_outer_;
  const Model* outer_;
  VocabRows rows_;
  int64_t n_blocks_;
  double block_bytes_;
  std::string name_;
};

}  // namespace qlab
