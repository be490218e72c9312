#include "run/packed_block_source.h"

namespace qlab {

Block PackedBlockSource::load_block(int64_t i) const {
  // The float block gives the layout; every tensor it holds is then overwritten from the file.
  Block block = float_.load_block(i);
  ActivationPlan ranges;  // the static ranges are the walk's; the caller's ActivationPlan holds them
  checkpoint_.restore(i, block, ranges);
  return block;
}

}  // namespace qlab
