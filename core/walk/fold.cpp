#include "walk/fold.h"

#include <cmath>

#include "util/error.h"

namespace qlab {

void fold_scale(ScalableGroup& g, const Vector& s) {
  const int64_t n = g.consumers.front()->in_features();
  if (s.size() != n) fail("{}: scale has {} channels, the group has {}", g.name, s.size(), n);
  for (int64_t j = 0; j < n; ++j)
    if (!std::isfinite(s[j]) || !(s[j] > 0)) fail("{}: scale of channel {} is {}, not finite and positive", g.name, j, s[j]);
  if (g.norm) {
    g.norm->weight.array() /= s.array();
    if (g.norm->bias.size() > 0) g.norm->bias.array() /= s.array();
  } else {
    g.producer->weight.array().colwise() /= s.array();
    if (g.producer->bias.size() > 0) g.producer->bias.array() /= s.array();
  }
  for (Linear* c : g.consumers) c->weight.array().rowwise() *= s.transpose().array();
}

}  // namespace qlab
