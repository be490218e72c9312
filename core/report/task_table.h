// Zero-shot results as a table, one row per task and metric, as lm-evaluation-harness prints
// them: task, metric, value, ± stderr, documents. MMLU's subjects only when asked.
#pragma once
#include <vector>

#include "util/table.h"
#include "zeroshot/task.h"

namespace qlab {

cli::Table task_table(const std::vector<TaskResult>& results, bool subjects);

}  // namespace qlab
