// The walker's capture stage: one pass of the calibration activations through a block as it
// stands, with hooks on the linear inputs. Two requests, one mechanism:
//   capture               per input group, the statistics quantization declared (plus Σ x xᵀ
//                         for the host's error measure), shared across a sweep by StatsCache
//   capture_group_inputs  per scalable group, its input on every segment and the statistics
//                         the group-scope transforms declared (what AWQ's search replays)
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tensor/activation_store.h"
#include "walk/stats.h"

namespace qlab {

class StatsCache;

// Per-input-group statistics of one block: captured once, read by every hook.
struct BlockStats {
  std::vector<std::shared_ptr<StatsCollector>> collectors;  // null: a group this stage does not capture
  std::vector<Matrix> hessians;                             // 2/S · Σ x xᵀ, built on first use
  std::map<std::string, size_t> group_of;

  const Matrix& hessian(size_t g);
};

// Statistics (`mask` | hessian) of the input groups listed in `wanted` (all when empty), or
// from `cache` when an earlier grid point captured exactly the same thing.
BlockStats capture(Block& block, const ModelConfig& config, const ActivationStore& x, uint32_t mask, int64_t total_tokens,
                   const std::vector<size_t>& wanted, StatsCache* cache, uint64_t x_hash);

struct GroupInputs {
  std::vector<std::vector<Matrix>> inputs;                // [group][segment]
  std::vector<std::unique_ptr<StatsCollector>> stats;     // [group], `mask` only
};

GroupInputs capture_group_inputs(const Block& block, const ModelConfig& config, const ActivationStore& x,
                                 const std::vector<ScalableGroup>& groups, uint32_t mask, int64_t total_tokens);

}  // namespace qlab
