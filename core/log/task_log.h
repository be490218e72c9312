// Zero-shot task results in the experiment log:
//   <group>/tasks                 attrs harness, bos, max_length, limit, overlong_policy, seconds, packed_rows,
//                                 request_tokens
//   <group>/tasks/<task>          attrs n, truncated, overlong, files, checksums, and per metric <m>, <m>_stderr
//                                 (acc, acc_norm, ppl: as the task defines them);
//                                 columns doc_gold, request_doc, request_ll, request_greedy
//   <group>/tasks/mmlu/<subject>  attrs n and metrics of one MMLU subject
// <group> is "float" (its own model), "runs/<id>", or "runs/<id>/exports/<format>" (the export read back).
#pragma once
#include <string>
#include <vector>

#include "log/experiment_log.h"
#include "zeroshot/zeroshot_eval.h"

namespace qlab {

void write_task_results(ExperimentLog& log, const std::string& group_path, const ZeroShotResult& result);
bool has_task_results(const ExperimentLog& log, const std::string& group_path, const std::string& task);

// The logged results: one per task ("piqa", "mmlu") and MMLU subject ("mmlu/anatomy").
struct LoggedTasks {
  std::string harness;
  bool bos = false;
  int64_t max_length = 0, limit = 0;
  std::vector<TaskResult> tasks;
};
LoggedTasks read_task_results(hid_t file, const std::string& group_path);  // empty when none

}  // namespace qlab
