#include "eval/perplexity.h"

#include <chrono>
#include <cmath>

#include "forward/forward.h"
#include "util/error.h"
#include "util/progress.h"

namespace qlab {

double segment_nll_sum(const Matrix& logits, std::span<const int32_t> ids) {
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<double> nll(static_cast<size_t>(n > 0 ? n : 0), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t t = 1; t < n; ++t) {
    const float* row = logits.row(t - 1).data();
    double mx = row[0];
    for (int64_t j = 1; j < logits.cols(); ++j) mx = std::max(mx, static_cast<double>(row[j]));
    double sum = 0;
    for (int64_t j = 0; j < logits.cols(); ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
    nll[t] = mx + std::log(sum) - static_cast<double>(row[ids[t]]);
  }
  double total = 0;  // fixed order: the same digits for any thread count
  for (double v : nll) total += v;
  return total;
}

PerplexityResult perplexity(const LogitsFn& logits_of, std::span<const int32_t> tokens, const PerplexityOptions& opts) {
  if (opts.seq_len < 2) fail("seq_len {} is too short: at least 2 tokens per segment are needed", opts.seq_len);
  PerplexityResult r;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  r.seq_len = opts.seq_len;
  r.n_segments = r.n_tokens / opts.seq_len;
  if (r.n_segments == 0)
    fail("the text has {} tokens, fewer than one segment of {}", r.n_tokens, opts.seq_len);
  if (opts.max_segments > 0 && opts.max_segments < r.n_segments) r.n_segments = opts.max_segments;

  auto start = std::chrono::steady_clock::now();
  Progress progress("eval", r.n_segments, "segments", opts.progress);
  double total = 0;
  for (int64_t s = 0; s < r.n_segments; ++s) {
    std::span<const int32_t> seg = tokens.subspan(static_cast<size_t>(s * opts.seq_len), static_cast<size_t>(opts.seq_len));
    Matrix logits = logits_of(seg);
    double nll = segment_nll_sum(logits, seg);
    r.segment_nll.push_back(nll / static_cast<double>(opts.seq_len - 1));
    total += nll;
    progress.advance();
  }
  progress.finish();
  r.n_scored = r.n_segments * (opts.seq_len - 1);
  r.ppl = std::exp(total / static_cast<double>(r.n_scored));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

PerplexityResult perplexity(const Model& model, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                            const ActivationPlan* act) {
  if (opts.seq_len > model.config.max_seq_len)
    fail("--seqlen {} is above the context of {} ({} positions)", opts.seq_len, model.source, model.config.max_seq_len);
  PerplexityResult r = perplexity([&](std::span<const int32_t> seg) { return forward_logits(model, seg, act); }, tokens, opts);
  // Finite weights can still overflow float in the forward pass; a NaN perplexity is an
  // error, never a result.
  if (!std::isfinite(r.ppl))
    fail("perplexity of {} is {}: the forward pass overflowed (a weight or activation beyond float range)", model.source,
         std::isnan(r.ppl) ? "nan" : "inf");
  return r;
}

}  // namespace qlab
