#include "weighted_kmeans.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace qlab::cluster {

namespace {

// Values sorted ascending with prefix sums of w and w·x, so a run's weight and mean are O(1).
struct SortedData {
  std::vector<int64_t> order;
  std::vector<double> x, cw, cwx;  // cw[i] = Σ_{<i} w

  SortedData(const float* xs, const float* ws, int64_t n) : order(static_cast<size_t>(n)), x(n), cw(n + 1, 0.0), cwx(n + 1, 0.0) {
    std::vector<std::pair<float, int64_t>> keyed(static_cast<size_t>(n));  // sorting pairs keeps the keys in cache
    for (int64_t i = 0; i < n; ++i) keyed[i] = {xs[i], i};
    std::sort(keyed.begin(), keyed.end());
    for (int64_t i = 0; i < n; ++i) order[i] = keyed[i].second;
    const bool uniform = std::all_of(ws, ws + n, [](float v) { return v <= 0.0f; });
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = order[i];
      const double wi = uniform ? 1.0 : std::max(0.0f, ws[j]);
      x[i] = xs[j];
      cw[i + 1] = cw[i] + wi;
      cwx[i + 1] = cwx[i] + wi * xs[j];
    }
  }
  int64_t size() const { return static_cast<int64_t>(x.size()); }
  double weight(int64_t i) const { return cw[i + 1] - cw[i]; }
};

// starts[j] = first sorted index of cluster j given ascending centroids (midpoint boundaries).
void assign(const SortedData& d, const std::vector<float>& c, std::vector<int64_t>& starts) {
  const auto k = c.size();
  starts.assign(k + 1, 0);
  starts[k] = d.size();
  for (size_t j = 1; j < k; ++j) {
    const double boundary = 0.5 * (static_cast<double>(c[j - 1]) + c[j]);
    starts[j] = std::lower_bound(d.x.begin(), d.x.end(), boundary) - d.x.begin();
    starts[j] = std::max(starts[j], starts[j - 1]);
  }
}

KMeansResult lloyd(const SortedData& d, std::vector<float> c, int32_t max_iter) {
  KMeansResult r;
  std::sort(c.begin(), c.end());
  const size_t k = c.size();
  std::vector<int64_t> starts, previous;
  for (r.iterations = 0; r.iterations < max_iter; ++r.iterations) {
    assign(d, c, starts);
    if (starts == previous) {
      r.converged = true;
      break;
    }
    previous = starts;
    for (size_t j = 0; j < k; ++j) {
      const double mass = d.cw[starts[j + 1]] - d.cw[starts[j]];
      if (mass > 0) {
        c[j] = static_cast<float>((d.cwx[starts[j + 1]] - d.cwx[starts[j]]) / mass);
        continue;
      }
      // An empty cluster moves to the value its current cluster fits worst (weighted
      // squared error), as scikit-learn relocates empty clusters; with nothing left to
      // fit (fewer distinct values than clusters) it stays and merely duplicates.
      double worst = 0.0;
      int64_t at = -1;
      for (int64_t i = 0; i < d.size(); ++i) {
        const size_t own = static_cast<size_t>(std::upper_bound(starts.begin() + 1, starts.end() - 1, i) - starts.begin() - 1);
        const double e = d.weight(i) * (d.x[i] - c[own]) * (d.x[i] - c[own]);
        if (e > worst) worst = e, at = i;
      }
      if (at >= 0) {
        c[j] = static_cast<float>(d.x[at]);
        ++r.relocated;
        previous.clear();  // the assignment must be recomputed
      }
    }
    std::sort(c.begin(), c.end());
  }
  if (!r.converged) assign(d, c, starts);
  r.centroids = c;
  r.labels.assign(d.order.size(), 0);
  for (size_t j = 0; j < k; ++j)
    for (int64_t i = starts[j]; i < starts[j + 1]; ++i) r.labels[static_cast<size_t>(d.order[i])] = static_cast<uint8_t>(j);
  return r;
}

std::vector<float> seed_centroids(const SortedData& d, int32_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int64_t n = d.size();
  std::vector<float> c;
  std::vector<double> d2(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  auto draw = [&](const std::vector<double>& mass) {
    const double total = std::accumulate(mass.begin(), mass.end(), 0.0);
    if (!(total > 0.0)) return int64_t{-1};
    double t = u(rng) * total;
    for (int64_t i = 0; i < n; ++i)
      if ((t -= mass[i]) < 0.0) return i;
    return n - 1;
  };
  std::vector<double> mass(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mass[i] = d.weight(i);
  for (int32_t j = 0; j < k; ++j) {
    if (j > 0)
      for (int64_t i = 0; i < n; ++i) mass[i] = d.weight(i) * d2[i];
    const int64_t pick = draw(mass);
    if (pick < 0) {  // every value already sits on a centre: duplicate the last one
      c.push_back(c.empty() ? static_cast<float>(d.x[0]) : c.back());
      continue;
    }
    c.push_back(static_cast<float>(d.x[pick]));
    for (int64_t i = 0; i < n; ++i) d2[i] = std::min(d2[i], (d.x[i] - c.back()) * (d.x[i] - c.back()));
  }
  return c;
}

}  // namespace

std::vector<float> kmeans_plus_plus(const float* x, const float* w, int64_t n, int32_t k, uint64_t seed) {
  return seed_centroids(SortedData(x, w, n), k, seed);
}

KMeansResult lloyd_1d(const float* x, const float* w, int64_t n, std::vector<float> centroids, int32_t max_iter) {
  return lloyd(SortedData(x, w, n), std::move(centroids), max_iter);
}

KMeansResult weighted_kmeans_1d(const float* x, const float* w, int64_t n, int32_t k, uint64_t seed, int32_t max_iter) {
  const SortedData d(x, w, n);
  return lloyd(d, seed_centroids(d, k, seed), max_iter);
}

}  // namespace qlab::cluster
