#include "zeroshot/loglikelihood_scorer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "backend/device_activation_store.h"
#include "data/memory_budget.h"
#include "forward/device_block.h"
#include "forward/forward.h"
#include "util/error.h"
#include "util/progress.h"

namespace qlab {

namespace {
std::string mib(double bytes) { return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0)); }

// Segments [begin, end) of one chunk: as many as fit `bytes` of float32 activations, and at
// most `max_rows` rows so progress advances on a model whose activations all fit.
std::vector<std::pair<size_t, size_t>> plan_chunks(const std::vector<PackedSegment>& segments, int64_t dim, double bytes,
                                                   size_t max_rows) {
  std::vector<std::pair<size_t, size_t>> chunks;
  size_t begin = 0;
  while (begin < segments.size()) {
    size_t end = begin, rows = 0;
    double used = 0;
    while (end < segments.size()) {
      const double need = static_cast<double>(segments[end].tokens.size()) * static_cast<double>(dim) * 4.0;
      if (end > begin && (used + need > bytes || rows + segments[end].tokens.size() > max_rows)) break;
      used += need;
      rows += segments[end].tokens.size();
      ++end;
    }
    chunks.push_back({begin, end});
    begin = end;
  }
  return chunks;
}

// log-softmax normaliser and argmax of one row of logits, in double.
struct RowSummary {
  double log_norm = 0;
  int64_t argmax = 0;
};
RowSummary summarize(const float* row, int64_t n) {
  RowSummary s;
  double mx = row[0];
  for (int64_t j = 1; j < n; ++j)
    if (row[j] > mx) {  // strictly greater: the first maximum wins, as torch.argmax and np.argmax
      mx = row[j];
      s.argmax = j;
    }
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
  s.log_norm = mx + std::log(sum);
  return s;
}

// The head on the rows that predict a continuation token; fills the documents' scores.
void score_segment(const BlockMajorModel& model, const PackedSegment& seg, const Matrix& hidden, std::vector<DocScore>& out) {
  std::vector<int32_t> wanted;
  for (const PackedSegment::Target& t : seg.targets) wanted.insert(wanted.end(), t.rows.begin(), t.rows.end());
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  Matrix picked(static_cast<int64_t>(wanted.size()), hidden.cols());
  for (size_t i = 0; i < wanted.size(); ++i) picked.row(static_cast<int64_t>(i)) = hidden.row(wanted[i]);
  const Matrix logits = head_logits(model.outer(), model.rows(), picked);
  std::vector<RowSummary> summary(wanted.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < logits.rows(); ++i) summary[static_cast<size_t>(i)] = summarize(logits.row(i).data(), logits.cols());
  for (const PackedSegment::Target& t : seg.targets) {
    double ll = 0;
    bool greedy = true;
    for (size_t k = 0; k < t.rows.size(); ++k) {
      const size_t i = static_cast<size_t>(std::lower_bound(wanted.begin(), wanted.end(), t.rows[k]) - wanted.begin());
      const int32_t token = t.continuation[k];
      ll += static_cast<double>(logits(static_cast<int64_t>(i), token)) - summary[i].log_norm;
      greedy = greedy && summary[i].argmax == token;
    }
    DocScore& d = out[static_cast<size_t>(t.doc)];
    d.ll[static_cast<size_t>(t.request)] = ll;
    d.greedy[static_cast<size_t>(t.request)] = greedy;
  }
}
}  // namespace

namespace {
std::vector<DocScore> score_packed(const BlockMajorModel& model, const std::vector<std::vector<RequestInput>>& docs,
                                   const ScoringOptions& opts, const ActivationPlan* act, ScoringStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  const ModelConfig& c = model.config();
  // Segments hold many documents (attention keeps each to its own tree): for a narrow model,
  // rows enough for 1 Mi floats: each linear one GEMM worth threading, each activation below
  // glibc's mmap threshold (freed and reused, not faulted in afresh).
  const int64_t capacity = opts.capacity > 0 ? opts.capacity : std::max(c.max_seq_len, (int64_t{1} << 20) / c.dim);
  std::vector<DocScore> out(docs.size());
  int64_t request_tokens = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    out[d].ll.assign(docs[d].size(), 0.0);
    out[d].greedy.assign(docs[d].size(), false);
    for (const RequestInput& r : docs[d]) {
      check_positions(c, static_cast<int64_t>(r.input.size()));
      request_tokens += static_cast<int64_t>(r.input.size());
    }
  }
  const std::vector<PackedSegment> segments = pack_prefix_trees(docs, capacity);

  const uint64_t budget = opts.max_memory > 0 ? opts.max_memory : default_memory_budget();
  size_t largest = 0;
  for (const PackedSegment& s : segments) largest = std::max(largest, s.tokens.size());
  // One block, plus a segment's attention and MLP work space (≈ 8 rows of width dim per token,
  // and the ffn width), must fit beside the held activations.
  const double working = static_cast<double>(largest) * static_cast<double>(8 * c.dim + 3 * c.hidden_dim) * 4.0;
  const double one_segment = static_cast<double>(largest) * static_cast<double>(c.dim) * 4.0;
  if (static_cast<double>(budget) < model.block_bytes() + working + one_segment)
    fail("--max-memory {} is too small to score tasks with {}: at least {} is needed (one block, {}, plus a segment of {} rows)",
         mib(static_cast<double>(budget)), model.name(), mib(model.block_bytes() + working + one_segment),
         mib(model.block_bytes()), largest);
  double chunk_bytes = static_cast<double>(budget) - model.block_bytes() - working;
  if (opts.device) {  // the chunk's activations are resident on the device: its budget bounds them too
    const double pinned = model.block_bytes() + device_forward_work_bytes(c, static_cast<int64_t>(largest)) + working;
    const double device = static_cast<double>(device_memory_budget(*opts.device, opts.max_device_memory, pinned + one_segment,
                                                                   fmt::format("scoring tasks with {}", model.name())));
    chunk_bytes = std::min(chunk_bytes, device - pinned);
  }
  const auto chunks = plan_chunks(segments, c.dim, chunk_bytes, size_t{1} << 20);

  Progress progress(opts.label, static_cast<long long>(docs.size()), "documents", opts.progress);
  for (const auto& [begin, end] : chunks) {
    std::vector<Matrix> hidden;
    for (size_t s = begin; s < end; ++s) hidden.push_back(embed(model.outer(), model.rows(), segments[s].tokens, segments[s].layout.pos));
    if (opts.device) {
      std::vector<DeviceBuffer> resident;
      for (const Matrix& h : hidden) resident.push_back(opts.device->upload(h));
      for (int64_t b = 0; b < model.n_blocks(); ++b) {
        Block holder;
        const DeviceBlock block(*opts.device, model.block(b, holder));
        for (size_t s = begin; s < end; ++s) device_block_forward(block, c, resident[s - begin], nullptr, act, &segments[s].layout);
      }
      for (size_t s = begin; s < end; ++s) hidden[s - begin] = resident[s - begin].download();
    } else {
      for (int64_t b = 0; b < model.n_blocks(); ++b) {
        Block holder;
        const Block& block = model.block(b, holder);
        for (size_t s = begin; s < end; ++s) block_forward(block, c, hidden[s - begin], segments[s].layout, act);
      }
    }
    int64_t docs_done = 0;
    for (size_t s = begin; s < end; ++s) {
      score_segment(model, segments[s], hidden[s - begin], out);
      // A document's requests all sit in one segment, so counting distinct documents is exact.
      int64_t last = -1;
      for (const PackedSegment::Target& t : segments[s].targets)
        if (t.doc != last) ++docs_done, last = t.doc;
    }
    progress.advance(docs_done);
  }
  progress.finish();
  for (const DocScore& d : out)
    for (double ll : d.ll)
      if (!std::isfinite(ll)) fail("a log-likelihood of {} is {}: the forward pass overflowed", model.name(), ll);
  if (stats) {
    stats->segments = static_cast<int64_t>(segments.size());
    stats->chunks = static_cast<int64_t>(chunks.size());
    for (const PackedSegment& s : segments) stats->rows += static_cast<int64_t>(s.tokens.size());
    stats->request_tokens = request_tokens;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return out;
}

}  // namespace

std::vector<DocScore> score_requests(const BlockMajorModel& model, const std::vector<std::vector<RequestInput>>& docs,
                                     const ScoringOptions& opts, const ActivationPlan* act, ScoringStats* stats) {
  // A per-tensor activation range (dynamic per_tensor, LLM.int8()'s outlier columns) depends
  // on which rows share the tensor; the harness's tensor is one request (batch 1), so each
  // request then runs alone, unpacked.
  const bool row_wise = !act || !act->enabled() ||
                        (act->scheme.scheme != ActScheme::per_tensor && act->scheme.outlier_threshold == 0.0f);
  if (row_wise) return score_packed(model, docs, opts, act, stats);
  std::vector<std::vector<RequestInput>> alone;
  for (const std::vector<RequestInput>& doc : docs)
    for (const RequestInput& r : doc) alone.push_back({r});
  ScoringOptions one_per_segment = opts;
  one_per_segment.capacity = 1;  // every request larger than a segment: a segment each
  const std::vector<DocScore> scored = score_packed(model, alone, one_per_segment, act, stats);
  std::vector<DocScore> out(docs.size());
  size_t next = 0;
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r, ++next) {
      out[d].ll.push_back(scored[next].ll[0]);
      out[d].greedy.push_back(scored[next].greedy[0]);
    }
  return out;
}

}  // namespace qlab
