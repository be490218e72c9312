// Perplexity with the GPTQ protocol (IST-DASLab/gptq opt_eval): the whole text tokenized
// once, cut into n = n_tokens / seq_len non-overlapping segments (the tail is dropped),
// positions 2..seq_len of each segment scored (a segment's first token is never a target),
// ppl = exp(mean NLL over all n·(seq_len−1) scored tokens).
// A model is evaluated block-major, as gptq's opt_eval/llama_eval: every segment is embedded,
// all of them go through block i, then block i+1 (one block's weights at a time), then the
// final norm and head per segment. The hidden states between blocks are held in
// `activations` precision, spilled to a temporary file beyond `max_memory`.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "forward/activation_quant.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "tensor/half.h"

namespace qlab {

struct PerplexityOptions {
  int64_t seq_len = 0;
  int64_t max_segments = 0;  // 0 = all
  bool progress = true;
  // Hidden states between blocks. f32 gives the segment-by-segment digits exactly.
  StoragePrecision activations = StoragePrecision::f32;
  uint64_t max_memory = 0;  // bytes for one block plus the held activations; 0 = default_memory_budget()
  std::string spill_dir;    // where activations beyond max_memory are spilled; empty = $TMPDIR
  // Where the blocks run: null = the host's own kernels; a backend (--device cuda) runs them
  // through the seam with one block's weights and the hidden states that fit
  // max_device_memory (0 = 90% of the free device memory) resident.
  Backend* device = nullptr;
  uint64_t max_device_memory = 0;
};

struct PerplexityResult {
  double ppl = 0;
  int64_t n_tokens = 0;    // tokens in the whole text
  int64_t n_segments = 0;  // segments evaluated
  int64_t seq_len = 0;
  int64_t n_scored = 0;    // n_segments · (seq_len − 1)
  std::vector<double> segment_nll;  // mean NLL of each segment's scored tokens
  double seconds = 0;
  bool spilled = false;  // the hidden states between blocks went to a spill file (--max-memory)
  int64_t device_resident_segments = 0;  // with a device: segments held in its memory
};

// Logits (T×vocab) of one segment.
using LogitsFn = std::function<Matrix(std::span<const int32_t> segment)>;

// Sum over t = 1..T−1 of −log softmax(logits[t−1])[ids[t]], accumulated in double.
double segment_nll_sum(const Matrix& logits, std::span<const int32_t> ids);

PerplexityResult perplexity(const LogitsFn& logits_of, std::span<const int32_t> tokens, const PerplexityOptions& opts);
// Block-major. Fails when the perplexity is NaN or infinite (an overflowing forward pass),
// naming the model, and when max_memory is below one block plus one segment's activations,
// naming that minimum. `act` fake-quantizes linear inputs (a quantized model's ActivationPlan).
PerplexityResult perplexity(const WeightSource& source, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                            const ActivationPlan* act = nullptr);
// The same for a model already in memory (its blocks are read in place, one at a time).
PerplexityResult perplexity(const Model& model, std::span<const int32_t> tokens, const PerplexityOptions& opts,
                            const ActivationPlan* act = nullptr);

}  // namespace qlab
