#include "tokenizer/bpe_merge.h"

#include <queue>
#include <unordered_map>

namespace qlab {

void bpe_merge(std::vector<int32_t>& symbols, const PairRule& rule) {
  const int64_t n = static_cast<int64_t>(symbols.size());
  if (n < 2) return;
  std::vector<int64_t> prev(n), next(n);
  for (int64_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    double priority;
    int64_t left;
    int32_t left_id, right_id, merged;
    bool operator<(const Candidate& o) const {  // the heap's top: lowest priority, then leftmost
      if (priority != o.priority) return priority > o.priority;
      return left > o.left;
    }
  };
  std::priority_queue<Candidate> heap;
  std::unordered_map<uint64_t, std::optional<MergeRule>> cache;
  auto consider = [&](int64_t left) {
    if (left < 0 || next[left] < 0) return;
    const int32_t a = symbols[left], b = symbols[next[left]];
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, rule(a, b)).first;
    if (it->second) heap.push({it->second->priority, left, a, b, it->second->merged});
  };
  for (int64_t i = 0; i + 1 < n; ++i) consider(i);
  constexpr int32_t kGone = INT32_MIN;
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int64_t right = next[c.left];
    // Stale entries: the left symbol was merged away or changed, or its neighbour changed.
    if (symbols[c.left] != c.left_id || right < 0 || symbols[right] != c.right_id) continue;
    symbols[c.left] = c.merged;
    symbols[right] = kGone;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i >= 0; i = next[i]) out.push_back(symbols[i]);
  symbols = std::move(out);
}

}  // namespace qlab
