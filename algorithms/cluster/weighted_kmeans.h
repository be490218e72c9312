// Weighted 1-D k-means (SqueezeLLM's per-row clustering): k-means++ seeding from a seed,
// then Lloyd iterations until no assignment changes or a cap. In one dimension the
// clusters are contiguous runs of the sorted values, so each Lloyd step is k binary
// searches over prefix sums instead of an n·k assignment pass.
#pragma once
#include <cstdint>
#include <vector>

namespace qlab::cluster {

struct KMeansResult {
  std::vector<float> centroids;  // k, ascending
  std::vector<uint8_t> labels;   // n: index into centroids of each value's nearest centroid
  int32_t iterations = 0;
  bool converged = false;
  int32_t relocated = 0;         // empty clusters moved to the worst-fitted value
};

// x: n values; w: n non-negative weights (all zero: uniform). k <= 256.
KMeansResult weighted_kmeans_1d(const float* x, const float* w, int64_t n, int32_t k, uint64_t seed, int32_t max_iter);

// Lloyd iterations from given initial centroids (exposed so tests can compare against a
// naive implementation from the same start).
KMeansResult lloyd_1d(const float* x, const float* w, int64_t n, std::vector<float> centroids, int32_t max_iter);

// Weighted k-means++ seeding: the first centre drawn with probability ∝ w, each next one
// ∝ w · D² (distance to the nearest centre so far).
std::vector<float> kmeans_plus_plus(const float* x, const float* w, int64_t n, int32_t k, uint64_t seed);

}  // namespace qlab::cluster
