#include "eval/perplexity.h"

#include <chrono>
#include <cmath>
#include <memory>

#include "data/memory_budget.h"
#include "backend/device_activation_store.h"
#include "eval/block_major_model.h"
#include "forward/device_block.h"
#include "forward/forward.h"
#include "tensor/activation_store.h"
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

namespace {

// Segments to score: n_tokens / seq_len, at most max_segments.
PerplexityResult segment_plan(std::span<const int32_t> tokens, const PerplexityOptions& opts) {
  if (opts.seq_len < 2) fail("seq_len {} is too short: at least 2 tokens per segment are needed", opts.seq_len);
  PerplexityResult r;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  r.seq_len = opts.seq_len;
  r.n_segments = r.n_tokens / opts.seq_len;
  if (r.n_segments == 0)
    fail("the text has {} tokens, fewer than one segment of {}", r.n_tokens, opts.seq_len);
  if (opts.max_segments > 0 && opts.max_segments < r.n_segments) r.n_segments = opts.max_segments;
  return r;
}

std::span<const int32_t> segment(std::span<const int32_t> tokens, int64_t s, int64_t seq_len) {
  return tokens.subspan(static_cast<size_t>(s * seq_len), static_cast<size_t>(seq_len));
}

void finish(PerplexityResult& r, double total, std::chrono::steady_clock::time_point start) {
  r.n_scored = r.n_segments * (r.seq_len - 1);
  r.ppl = std::exp(total / static_cast<double>(r.n_scored));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

PerplexityResult block_major(const BlockMajorModel& model, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                             const ActivationPlan* act) {
  const Model& outer = model.outer();
  const VocabRows& rows = model.rows();
  const int64_t n_blocks = model.n_blocks();
  const double block_bytes = model.block_bytes();
  const std::string& name = model.name();
  const ModelConfig& c = outer.config;
  if (opts.seq_len > c.max_seq_len)
    fail("--seqlen {} is above the context of {} ({} positions)", opts.seq_len, name, c.max_seq_len);
  check_positions(c, opts.seq_len);
  PerplexityResult r = segment_plan(tokens, opts);
  const int64_t dim = c.dim;
  // One block in float32 and one segment being worked on in float32 must fit; the stored
  // segments get the rest, and spill to a file beyond it.
  const uint64_t budget = opts.max_memory > 0 ? opts.max_memory : default_memory_budget();
  const double working = static_cast<double>(opts.seq_len) * static_cast<double>(dim) * 4.0;
  const double one_stored = static_cast<double>(ActivationStore::segment_bytes(opts.activations, opts.seq_len, dim));
  const double minimum = block_bytes + working + one_stored;
  if (static_cast<double>(budget) < minimum)
    fail("--max-memory {} is too small to evaluate {}: at least {} is needed (one block in float32, {}, plus one "
         "segment of {}×{} activations)",
         mib(static_cast<double>(budget)), name, mib(minimum), mib(block_bytes), opts.seq_len, dim);
  std::unique_ptr<ActivationStore> hidden;
  DeviceActivationStore* on_device = nullptr;
  const uint64_t host_bytes = budget - static_cast<uint64_t>(block_bytes + working);
  if (opts.device) {
    const double device_block = block_bytes, device_work = device_forward_work_bytes(c, opts.seq_len) + working;
    const uint64_t device_bytes = device_memory_budget(*opts.device, opts.max_device_memory, device_block + device_work,
                                                       fmt::format("evaluating {}", name));
    auto store = std::make_unique<DeviceActivationStore>(*opts.device, device_bytes - static_cast<uint64_t>(device_block + device_work),
                                                         opts.activations, r.n_segments, opts.seq_len, dim, host_bytes, opts.spill_dir);
    on_device = store.get();
    hidden = std::move(store);
  } else {
    hidden = std::make_unique<ActivationStore>(opts.activations, r.n_segments, opts.seq_len, dim, host_bytes, opts.spill_dir);
  }

  const auto start = std::chrono::steady_clock::now();
  Progress progress("eval", n_blocks + 1, "blocks", opts.progress);
  for (int64_t s = 0; s < r.n_segments; ++s) hidden->set(s, embed(outer, rows, segment(tokens, s, opts.seq_len), 0));
  for (int64_t b = 0; b < n_blocks; ++b) {
    Block holder;
    const Block& block = model.block(b, holder);
    if (on_device) {
      const DeviceBlock resident(*opts.device, block);
      for (int64_t s = 0; s < r.n_segments; ++s)
        on_device->on_device(s, [&](DeviceBuffer& x) { device_block_forward(resident, c, x, nullptr, act); }, true);
    } else {
      for (int64_t s = 0; s < r.n_segments; ++s) {
        Matrix x = hidden->get(s);
        block_forward(block, c, x, 0, nullptr, nullptr, act);
        hidden->set(s, x);
      }
    }
    progress.advance();
  }
  double total = 0;
  for (int64_t s = 0; s < r.n_segments; ++s) {
    const double nll = segment_nll_sum(head_logits(outer, rows, hidden->get(s)), segment(tokens, s, opts.seq_len));
    r.segment_nll.push_back(nll / static_cast<double>(opts.seq_len - 1));
    total += nll;
  }
  progress.advance();
  progress.finish();
  finish(r, total, start);
  r.spilled = hidden->spilled();
  if (on_device) r.device_resident_segments = on_device->resident_segments();
  // Finite weights can still overflow float in the forward pass; a NaN perplexity is an
  // error, never a result.
  if (!std::isfinite(r.ppl))
    fail("perplexity of {} is {}: the forward pass overflowed (a weight or activation beyond float range)", name,
         std::isnan(r.ppl) ? "nan" : "inf");
  return r;
}

}  // namespace

PerplexityResult perplexity(const LogitsFn& logits_of, std::span<const int32_t> tokens, const PerplexityOptions& opts) {
  PerplexityResult r = segment_plan(tokens, opts);
  const auto start = std::chrono::steady_clock::now();
  Progress progress("eval", r.n_segments, "segments", opts.progress);
  double total = 0;
  for (int64_t s = 0; s < r.n_segments; ++s) {
    std::span<const int32_t> seg = segment(tokens, s, opts.seq_len);
    double nll = segment_nll_sum(logits_of(seg), seg);
    r.segment_nll.push_back(nll / static_cast<double>(opts.seq_len - 1));
    total += nll;
    progress.advance();
  }
  progress.finish();
  finish(r, total, start);
  return r;
}

PerplexityResult perplexity(const WeightSource& source, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                            const ActivationPlan* act) {
  return block_major(BlockMajorModel(source), tokens, opts, act);
}

PerplexityResult perplexity(const Model& model, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                            const ActivationPlan* act) {
  return block_major(BlockMajorModel(model), tokens, opts, act);
}

}  // namespace qlab
