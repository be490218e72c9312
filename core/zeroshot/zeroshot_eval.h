// Zero-shot evaluation of a model on harness tasks: each task's documents are read and turned
// into requests (zeroshot/task.h), tokenized as the chosen harness version does
// (request_tokens.h), all tasks' documents scored together in one block-major pass
// (loglikelihood_scorer.h), then reduced to the harness's metrics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "eval/block_major_model.h"
#include "forward/activation_quant.h"
#include "tokenizer/tokenizer.h"
#include "zeroshot/loglikelihood_scorer.h"
#include "zeroshot/request_tokens.h"
#include "zeroshot/task.h"

namespace qlab {

struct ZeroShotOptions {
  std::vector<std::string> tasks;
  std::string data_dir;  // the layout of datasets/zeroshot; "" = default_task_data_dir()
  HarnessVersion version = HarnessVersion::v0_4;
  int64_t limit = 0;       // the first N documents of each task (each MMLU subject) in harness order (v0.3: after its shuffle); 0 = all
  int64_t max_length = 0;  // the harness's max_length: context tokens kept; 0 = the model's context
  OverlongContinuation overlong = OverlongContinuation::fail;
  uint64_t max_memory = 0;
  bool progress = true;
  Backend* device = nullptr;  // where the blocks run (loglikelihood_scorer.h); null = the host's kernels
  uint64_t max_device_memory = 0;
};

struct TaskEvaluation {
  std::string task;
  std::vector<std::string> files, checksum_notes;
  std::vector<TaskResult> results;  // one, or MMLU's subjects then "mmlu"
  std::vector<DocScore> scores;     // per document, in harness order
  std::vector<int32_t> gold;        // per document
  int64_t truncated = 0;            // documents with a request cut from the left to max_length
  int64_t overlong = 0;             // documents with a continuation longer than max_length (keep-tail)
};

struct ZeroShotResult {
  std::string harness;   // "v0.4"
  bool bos = false;      // a BOS token was prepended
  int64_t max_length = 0, limit = 0;
  std::string overlong_policy;  // "fail", "keep-tail"
  std::vector<TaskEvaluation> tasks;
  ScoringStats scoring;
  double seconds = 0;    // reading, tokenizing and scoring
};

// The bundled task data: datasets/zeroshot in the source tree qlab was built from.
std::string default_task_data_dir();

ZeroShotResult evaluate_tasks(const BlockMajorModel& model, const Tokenizer& tok, const ZeroShotOptions& options,
                              const ActivationPlan* act = nullptr);

}  // namespace qlab
