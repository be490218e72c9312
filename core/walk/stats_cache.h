// Statistics of a block's calibration inputs, reused across the grid points of a sweep when
// they would come out the same. The key is a hash of everything a capture depends on: the
// block's parameters as they stand, the calibration activations entering it, the stage
// (which input groups) and the statistics asked for. So block 0's first stage is shared by
// every run of a model, and with float propagation every block's first stage is; a swept
// setting that changes any of these inputs simply misses. Oldest entries go first once the
// byte budget is reached.
#pragma once
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tensor/activation_store.h"
#include "walk/stats.h"

namespace qlab {

struct CapturedStats {
  std::vector<std::shared_ptr<StatsCollector>> collectors;  // per input group; null = not captured
  std::map<std::string, size_t> group_of;                   // linear id → input group
};

class StatsCache {
 public:
  explicit StatsCache(int64_t max_bytes) : max_bytes_(max_bytes) {}
  // The activations entering a block are hashed once per block (every stage shares them);
  // key() then adds what changes between stages.
  static uint64_t activations_hash(const ActivationStore& x);
  static uint64_t key(const Block& block, uint64_t activations, uint32_t mask, const std::vector<size_t>& stage);
  const CapturedStats* find(uint64_t key);
  void insert(uint64_t key, const CapturedStats& stats);
  int64_t hits() const { return hits_; }

 private:
  int64_t max_bytes_, bytes_ = 0, hits_ = 0;
  std::list<std::pair<uint64_t, int64_t>> order_;  // key, bytes; oldest first
  std::map<uint64_t, CapturedStats> entries_;
};

}  // namespace qlab
