// Where a model's float weights come from. The walker and the runner ask a source for one
// block at a time in float32 (`load_block`), for the small parts outside the blocks
// (positions, projections, final norm) only when they need them, and for the rows of the
// embedding table and of lm_head they use (`vocab_rows`), so nothing has to hold every
// weight, or even one vocabulary table, in float32 at once. Names and shapes are known without
// loading a weight: `qlab run --dry-run` prints the plan from them.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
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
  // The model without its blocks and without the vocabulary tables (blocks, embed_tokens
  // and lm_head.weight empty): positions, projections, final norm, lm_head's bias.
  virtual Model load_outer() const = 0;
  // Rows `ids` of the embedding table or of lm_head's weight, in float32 (ids × width),
  // checked finite; throws naming the source on an id outside the vocabulary.
  virtual Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const = 0;
  // Everything, in float32: load_outer() with both tables and every block.
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
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override;

 private:
  Model model_;
};

// Rows `ids` of an in-memory table (a model's embed_tokens or lm_head.weight); throws naming
// `source` on an id outside it.
Matrix gather_rows(const Matrix& table, std::span<const int32_t> ids, const std::string& source);

// Bytes of the largest block's linears in float32 (norms are negligible beside them): what
// one materialized block costs.
double largest_block_bytes(const std::vector<LinearShape>& linears);

// 0, 1, …, n−1: the ids of a whole table or, offset, of one chunk of it.
std::vector<int32_t> id_range(int64_t begin, int64_t end);

}  // namespace qlab
