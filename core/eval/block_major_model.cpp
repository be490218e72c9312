#include "eval/block_major_model.h"

#include "forward/forward.h"

namespace qlab {

BlockMajorModel::BlockMajorModel(const WeightSource& source)
    : source_(&source),
      source_outer_(source.load_outer()),
      outer_(&source_outer_),
      rows_([&source](VocabTable t, std::span<const int32_t> ids) { return source.vocab_rows(t, ids); }),
      n_blocks_(source.n_blocks()),
      block_bytes_(largest_block_bytes(source.linears())),
      name_(source.path()) {}

namespace {
double largest_block_bytes_of(const Model& model) {
  std::vector<LinearShape> linears;
  for (const Linear* l : const_cast<Model&>(model).linears())
    linears.push_back({l->name, l->out_features(), l->in_features(), l->bias.size() > 0});
  return largest_block_bytes(linears);
}
}  // namespace

BlockMajorModel::BlockMajorModel(const Model& model)
    : outer_(&model),
      rows_(vocab_rows_of(model)),
      n_blocks_(static_cast<int64_t>(model.blocks.size())),
      block_bytes_(largest_block_bytes_of(model)),
      name_(model.source) {}

const Block& BlockMajorModel::block(int64_t i, Block& holder) const {
  if (source_) return holder = source_->load_block(i);
  return outer_->blocks[static_cast<size_t>(i)];
}

}  // namespace qlab
