// The resume checkpoint, a BlockSink: each finished block as the walk left it (dequantized
// weights, biases and norms, which scaling transforms fold into, and its linears' static
// activation ranges) in LOG.blocks/<run>/block_NNNN.safetensors, so `--resume` restores the
// finished blocks bit for bit and walks on from the next.
#pragma once
#include <cstdint>
#include <string>

#include "walk/block_sink.h"

namespace qlab {

class BlockCheckpoint : public BlockSink {
 public:
  BlockCheckpoint(std::string log_path, std::string run_id) : log_path_(std::move(log_path)), run_id_(std::move(run_id)) {}
  std::string file(int64_t block) const;  // LOG.blocks/<run>/block_NNNN.safetensors
  void put(const BlockResult& result, const Block& block, const ActivationPlan& act) override;
  // Overwrites `block` (a float block of the same layout) with the saved one and adds its
  // ranges to `act`; throws naming the file when it is missing.
  void restore(int64_t index, Block& block, ActivationPlan& act) const;

 private:
  std::string log_path_, run_id_;
};

}  // namespace qlab
