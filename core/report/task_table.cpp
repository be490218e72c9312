#include "report/task_table.h"

#include <fmt/format.h>

#include <cmath>

namespace qlab {

cli::Table task_table(const std::vector<TaskResult>& results, bool subjects) {
  cli::Table t({"task", "metric", "value", "stderr", "docs"});
  for (const TaskResult& r : results) {
    if (!subjects && r.task.find('/') != std::string::npos) continue;
    for (const MetricValue& m : r.metrics)
      t.add_row({r.task, m.name, fmt::format("{:.4f}", m.value),
                 std::isfinite(m.stderr_) ? fmt::format("± {:.4f}", m.stderr_) : "", std::to_string(r.n)});
  }
  return t;
}

}  // namespace qlab
