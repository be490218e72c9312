#include "walk/stats_cache.h"

#include <string_view>

namespace qlab {

namespace {
uint64_t mix(uint64_t seed, const void* data, size_t bytes) {
  const uint64_t h = std::hash<std::string_view>{}(std::string_view(static_cast<const char*>(data), bytes));
  return seed ^ (h + 0x9E3779B97F4A7C15ull + (seed << 6) + (seed >> 2));
}
template <typename T>
uint64_t mix_value(uint64_t seed, const T& v) { return mix(seed, &v, sizeof v); }
}  // namespace

uint64_t StatsCache::activations_hash(const ActivationStore& x) {
  uint64_t h = mix_value(0, x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const Matrix m = x.get(i);
    h = mix_value(h, m.rows());
    h = mix(h, m.data(), static_cast<size_t>(m.size()) * sizeof(float));
  }
  return h;
}

uint64_t StatsCache::key(const Block& block, uint64_t activations, uint32_t mask, const std::vector<size_t>& stage) {
  uint64_t h = mix_value(activations, mask);
  for (size_t g : stage) h = mix_value(h, g);
  for (const Linear* l : block.linears()) {
    h = mix(h, l->weight.data(), static_cast<size_t>(l->weight.size()) * sizeof(float));
    h = mix(h, l->bias.data(), static_cast<size_t>(l->bias.size()) * sizeof(float));
  }
  for (const Norm* n : {&block.attn_norm, &block.mlp_norm}) {
    h = mix(h, n->weight.data(), static_cast<size_t>(n->weight.size()) * sizeof(float));
    h = mix(h, n->bias.data(), static_cast<size_t>(n->bias.size()) * sizeof(float));
  }
  return h;
}

const CapturedStats* StatsCache::find(uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

void StatsCache::insert(uint64_t key, const CapturedStats& stats) {
  int64_t bytes = 0;
  for (const auto& c : stats.collectors)
    if (c) bytes += c->bytes();
  if (bytes > max_bytes_ || entries_.count(key)) return;
  while (bytes_ + bytes > max_bytes_ && !order_.empty()) {
    entries_.erase(order_.front().first);
    bytes_ -= order_.front().second;
    order_.pop_front();
  }
  entries_.emplace(key, stats);
  order_.emplace_back(key, bytes);
  bytes_ += bytes;
}

}  // namespace qlab
