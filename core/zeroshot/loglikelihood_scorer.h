// Scores loglikelihood requests with a model, block-major as perplexity is: documents are
// packed as prefix trees into segments of the model's context, the segments of a chunk that
// fits the memory budget are embedded, then all go through block 0, block 1, … (one block's
// weights at a time), then the head computes logits only at the rows that predict a
// continuation token. ll = sum of log-softmax over the full output vocabulary (in double),
// greedy = every continuation token is its row's argmax.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "eval/block_major_model.h"
#include "forward/activation_quant.h"
#include "zeroshot/prefix_tree_packing.h"
#include "zeroshot/task.h"

namespace qlab {

struct ScoringOptions {
  int64_t capacity = 0;     // rows per packed segment; 0 = the model's context, or 4 Mi floats' worth for a narrow model
  uint64_t max_memory = 0;  // one block plus the chunk's activations; 0 = default_memory_budget()
  bool progress = true;
  std::string label = "tasks";  // progress line prefix
  // Where the blocks run; a chunk's packed segments are resident there, chunks sized to fit
  // max_device_memory (0 = 90% of its free memory) too. Null: the host's kernels.
  Backend* device = nullptr;
  uint64_t max_device_memory = 0;
};

struct ScoringStats {
  int64_t segments = 0, chunks = 0, rows = 0, request_tokens = 0;  // rows packed vs tokens the requests hold unpacked
  double seconds = 0;
};

// docs[d][r] = the input of request r of document d; returns one DocScore per document.
// Under activation quantization whose range spans the tensor (per_tensor, outlier columns),
// each request runs alone, as the harness's batch of one does.
std::vector<DocScore> score_requests(const BlockMajorModel& model, const std::vector<std::vector<RequestInput>>& docs,
                                     const ScoringOptions& opts, const ActivationPlan* act = nullptr,
                                     ScoringStats* stats = nullptr);

}  // namespace qlab
