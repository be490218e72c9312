// The GPTQ perplexity protocol on a tiny hand-made case.
#include <catch2/catch.hpp>
#include <cmath>

#include "eval/perplexity.h"
#include "util/error.h"

using namespace qlab;

namespace {
// Vocabulary of 4. At every position the "model" puts logit ln 3 on (token + 1) mod 4 and 0
// elsewhere: p(next = token + 1) = 1/2, any other next token 1/6.
Matrix successor_logits(std::span<const int32_t> seg) {
  Matrix logits = Matrix::Zero(int64_t(seg.size()), 4);
  for (size_t t = 0; t < seg.size(); ++t) logits(int64_t(t), (seg[t] + 1) % 4) = std::log(3.0f);
  return logits;
}
}  // namespace

TEST_CASE("segments, dropped tail and unscored first tokens", "[perplexity]") {
  // Two segments of 4: [0 1 2 0] and [1 2 3 3]; the tail [2 2] is dropped. Scored
  // transitions: 0→1 (1/2), 1→2 (1/2), 2→0 (1/6) | 1→2, 2→3 (1/2), 3→3 (1/6). The 0→1
  // across the segment boundary is not scored: a segment's first token is never a target.
  std::vector<int32_t> tokens = {0, 1, 2, 0, 1, 2, 3, 3, 2, 2};
  std::vector<std::vector<int32_t>> seen;
  auto logits_of = [&](std::span<const int32_t> seg) {
    seen.emplace_back(seg.begin(), seg.end());
    return successor_logits(seg);
  };
  PerplexityResult r = perplexity(logits_of, tokens, {4, 0, false});
  CHECK(r.n_tokens == 10);
  CHECK(r.n_segments == 2);
  CHECK(r.n_scored == 6);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<int32_t>{0, 1, 2, 0});
  CHECK(seen[1] == std::vector<int32_t>{1, 2, 3, 3});
  const double seg_nll = (2 * std::log(2.0) + std::log(6.0)) / 3;
  REQUIRE(r.segment_nll.size() == 2);
  CHECK(r.segment_nll[0] == Approx(seg_nll).epsilon(1e-6));
  CHECK(r.segment_nll[1] == Approx(seg_nll).epsilon(1e-6));
  CHECK(r.ppl == Approx(std::pow(576.0, 1.0 / 6.0)).epsilon(1e-6));  // (2^4 · 6^2)^(1/6)
}

TEST_CASE("max_segments keeps the first K segments", "[perplexity]") {
  std::vector<int32_t> tokens = {0, 1, 2, 0, 1, 2, 3, 3, 2, 2};
  PerplexityResult r = perplexity(successor_logits, tokens, {4, 1, false});
  CHECK(r.n_segments == 1);
  CHECK(r.n_scored == 3);
  CHECK(r.ppl == Approx(std::exp((2 * std::log(2.0) + std::log(6.0)) / 3)).epsilon(1e-6));
}

TEST_CASE("too little text for one segment is an error", "[perplexity]") {
  std::vector<int32_t> tokens = {0, 1, 2};
  REQUIRE_THROWS_WITH(perplexity(successor_logits, tokens, {4, 0, false}),
                      Catch::Contains("3 tokens, fewer than one segment of 4"));
  REQUIRE_THROWS_WITH(perplexity(successor_logits, tokens, {1, 0, false}), Catch::Contains("too short"));
}
