// Weighted 1-D k-means (the cluster plugin's core): known clusters, the effect of weights,
// determinism, empty clusters, and agreement with a naive n·k Lloyd implementation.
#include <catch2/catch.hpp>
#include <random>

#include "cluster/weighted_kmeans.h"

using namespace qlab::cluster;

namespace {

// Textbook Lloyd: assign every point to its nearest centre, move each centre to its
// cluster's weighted mean; stop when no label changes.
std::vector<float> naive_lloyd(const std::vector<float>& x, const std::vector<float>& w, std::vector<float> c, int max_iter) {
  std::vector<int> label(x.size(), -1);
  for (int it = 0; it < max_iter; ++it) {
    bool changed = false;
    for (size_t i = 0; i < x.size(); ++i) {
      int best = 0;
      for (size_t j = 1; j < c.size(); ++j)
        if (std::abs(x[i] - c[j]) < std::abs(x[i] - c[best])) best = static_cast<int>(j);
      changed = changed || best != label[i];
      label[i] = best;
    }
    if (!changed) break;
    for (size_t j = 0; j < c.size(); ++j) {
      double m = 0, s = 0;
      for (size_t i = 0; i < x.size(); ++i)
        if (label[i] == static_cast<int>(j)) m += w[i], s += w[i] * x[i];
      if (m > 0) c[j] = static_cast<float>(s / m);
    }
  }
  std::sort(c.begin(), c.end());
  return c;
}

}  // namespace

TEST_CASE("weighted k-means finds three well-separated 1-D clusters", "[kmeans]") {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x, w;
  for (float centre : {-2.0f, 0.5f, 3.0f})
    for (int i = 0; i < 200; ++i) x.push_back(centre + noise(rng)), w.push_back(1.0f);
  KMeansResult r = weighted_kmeans_1d(x.data(), w.data(), static_cast<int64_t>(x.size()), 3, 7, 100);
  REQUIRE(r.converged);
  CHECK(r.centroids[0] == Approx(-2.0).margin(0.02));
  CHECK(r.centroids[1] == Approx(0.5).margin(0.02));
  CHECK(r.centroids[2] == Approx(3.0).margin(0.02));
  for (size_t i = 0; i < x.size(); ++i) CHECK(r.labels[i] == i / 200);
}

TEST_CASE("weights pull a centroid to the weighted mean", "[kmeans]") {
  const std::vector<float> x = {0.0f, 1.0f, 10.0f, 11.0f};
  SECTION("equal weights: the plain means") {
    const std::vector<float> w = {1, 1, 1, 1};
    KMeansResult r = lloyd_1d(x.data(), w.data(), 4, {0.0f, 10.0f}, 50);
    CHECK(r.centroids[0] == Approx(0.5));
    CHECK(r.centroids[1] == Approx(10.5));
  }
  SECTION("weight 3 on x = 1 and 9 on x = 10: the centroids move to 0.75 and 10.1") {
    const std::vector<float> w = {1, 3, 9, 1};
    KMeansResult r = lloyd_1d(x.data(), w.data(), 4, {0.0f, 10.0f}, 50);
    CHECK(r.centroids[0] == Approx(0.75));
    CHECK(r.centroids[1] == Approx(10.1));
  }
  SECTION("all weights zero: uniform, as SqueezeLLM falls back") {
    const std::vector<float> w = {0, 0, 0, 0};
    KMeansResult r = lloyd_1d(x.data(), w.data(), 4, {0.0f, 10.0f}, 50);
    CHECK(r.centroids[0] == Approx(0.5));
  }
}

TEST_CASE("k-means is deterministic for a seed and matches naive Lloyd from the same seeding", "[kmeans]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> sens(0.0f, 2.0f);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> x(512), w(512);
    for (size_t i = 0; i < x.size(); ++i) x[i] = normal(rng), w[i] = sens(rng);
    const int k = trial % 2 ? 8 : 16;
    KMeansResult a = weighted_kmeans_1d(x.data(), w.data(), 512, k, 42, 300);
    KMeansResult b = weighted_kmeans_1d(x.data(), w.data(), 512, k, 42, 300);
    CHECK(a.centroids == b.centroids);
    CHECK(a.labels == b.labels);
    const std::vector<float> init = kmeans_plus_plus(x.data(), w.data(), 512, k, 42);
    const std::vector<float> naive = naive_lloyd(x, w, init, 300);
    if (a.relocated == 0) {
      REQUIRE(naive.size() == a.centroids.size());
      for (int j = 0; j < k; ++j) CHECK(a.centroids[j] == Approx(naive[j]).margin(1e-5));
    }
    for (size_t i = 0; i < x.size(); ++i) {  // every label is the nearest centroid
      const float own = std::abs(x[i] - a.centroids[a.labels[i]]);
      for (float c : a.centroids) CHECK(own <= std::abs(x[i] - c) + 1e-6f);
    }
  }
  std::vector<float> x(64), w(64, 1.0f);
  for (float& v : x) v = normal(rng);
  CHECK(weighted_kmeans_1d(x.data(), w.data(), 64, 8, 1, 100).centroids != weighted_kmeans_1d(x.data(), w.data(), 64, 8, 2, 100).centroids);
}

TEST_CASE("empty clusters: fewer distinct values than centroids, and an empty start relocates", "[kmeans]") {
  SECTION("two distinct values, eight centroids: no NaN, every value reproduced exactly") {
    const std::vector<float> x = {1.0f, 1.0f, -3.0f, 1.0f, -3.0f};
    const std::vector<float> w(5, 1.0f);
    KMeansResult r = weighted_kmeans_1d(x.data(), w.data(), 5, 8, 0, 50);
    for (float c : r.centroids) CHECK(std::isfinite(c));
    for (size_t i = 0; i < x.size(); ++i) CHECK(r.centroids[r.labels[i]] == x[i]);
  }
  SECTION("a centroid far from every value is moved onto the worst-fitted one") {
    const std::vector<float> x = {0.0f, 0.1f, 5.0f, 5.1f, 9.0f};
    const std::vector<float> w(5, 1.0f);
    KMeansResult r = lloyd_1d(x.data(), w.data(), 5, {0.05f, 5.0f, 100.0f}, 50);
    CHECK(r.relocated >= 1);
    CHECK(r.centroids[2] == Approx(9.0));
    CHECK(r.centroids[1] == Approx(5.05));
  }
}
