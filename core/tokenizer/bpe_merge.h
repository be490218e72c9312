// The BPE merge loop every tokenizer family shares: repeatedly merge the adjacent pair with
// the best (lowest) priority, leftmost on ties, until no pair merges. A heap with lazy
// invalidation over a linked list of symbols: O(n log n), the same merges in the same order
// as the reference rescans (llama2.c run.c, Hugging Face's word.merge_all, GPT-2's bpe()).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace qlab {

struct MergeRule {
  double priority;  // lower merges first (a merge rank, or −score)
  int32_t merged;   // id of the merged symbol
};
using PairRule = std::function<std::optional<MergeRule>(int32_t left, int32_t right)>;

// Merges `symbols` in place. `rule` is asked once per distinct (left, right) pair.
void bpe_merge(std::vector<int32_t>& symbols, const PairRule& rule);

}  // namespace qlab
