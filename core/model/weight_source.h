// Where a model's float weights come from. The walker and the runner ask a source for one
// block at a time in float32 (`load_block`), and for what lies outside the blocks
// (embeddings, positions, projections, final norm, lm_head) only when they need it, so
// nothing has to hold every weight in float32 at once. Names and shapes are known without
// loading a weight: `qlab run --dry-run` prints the plan from them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace qlab {

struct LinearShape {
  std::string name;  // "3.self_attn.q_proj", "lm_head"
  int64_t out_features = 0, in_features = 0;
  bool has_bias = false;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const std::string& path() const = 0;  // the file or directory read
  int64_t n_blocks() const { return config().n_layers; }
  // Every linear of the model, blocks first in forward order, lm_head last (Model::linears()'s order).
  virtual std::vector<LinearShape> linears() const = 0;
  // Block i in float32, its tensors named as in Model.
  virtual Block load_block(int64_t i) const = 0;
  // The model without its blocks (blocks empty): embeddings, positions, projections,
  // final norm, lm_head.
  virtual Model load_outer() const = 0;
  // Everything, in float32: load_outer() with every block.
  Model load_model() const;
};

// A model already in memory, served as a source (tests; models built in code).
class InMemorySource : public WeightSource {
 public:
  explicit InMemorySource(Model model) : model_(std::move(model)) {}
  const ModelConfig& config() const override { return model_.config; }
  const std::string& path() const override { return model_.source; }
  std::vector<LinearShape> linears() const override;
  Block load_block(int64_t i) const override { return model_.blocks.at(static_cast<size_t>(i)); }
  Model load_outer() const override;

 private:
  Model model_;
};

}  // namespace qlab
