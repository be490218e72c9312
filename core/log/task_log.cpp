#include "log/task_log.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace qlab {

namespace {
const char* const kMetricNames[] = {"acc", "acc_norm", "ppl"};

void write_metrics(hid_t g, const TaskResult& r) {
  h5::set_attr(g, "n", r.n);
  for (const MetricValue& m : r.metrics) {
    h5::set_attr(g, m.name, m.value);
    h5::set_attr(g, m.name + "_stderr", m.stderr_);
  }
}

std::vector<MetricValue> read_metrics(hid_t g) {
  std::vector<MetricValue> out;
  for (const char* name : kMetricNames)
    if (h5::has_attr(g, name))
      out.push_back({name, h5::attr_double(g, name),
                     h5::has_attr(g, std::string(name) + "_stderr") ? h5::attr_double(g, std::string(name) + "_stderr")
                                                                    : std::numeric_limits<double>::quiet_NaN()});
  return out;
}
}  // namespace

void write_task_results(ExperimentLog& log, const std::string& group_path, const ZeroShotResult& z) {
  log.update([&](hid_t f) {
    h5::Handle top = h5::group(f, group_path + "/tasks");
    h5::set_attr(top.id(), "harness", z.harness);
    h5::set_attr(top.id(), "bos", int64_t{z.bos ? 1 : 0});
    h5::set_attr(top.id(), "max_length", z.max_length);
    h5::set_attr(top.id(), "limit", z.limit);
    h5::set_attr(top.id(), "overlong_policy", z.overlong_policy);
    h5::set_attr(top.id(), "seconds", z.seconds);
    h5::set_attr(top.id(), "packed_rows", z.scoring.rows);
    h5::set_attr(top.id(), "request_tokens", z.scoring.request_tokens);
    for (const TaskEvaluation& t : z.tasks) {
      h5::Handle g = h5::group(top.id(), t.task);
      h5::set_attr(g.id(), "truncated", t.truncated);
      h5::set_attr(g.id(), "overlong", t.overlong);
      h5::set_attr(g.id(), "files", fmt::format("{}", fmt::join(t.files, "\n")));
      h5::set_attr(g.id(), "checksums", fmt::format("{}", fmt::join(t.checksum_notes, "\n")));
      for (const TaskResult& r : t.results) {
        if (r.task == t.task) {
          write_metrics(g.id(), r);
        } else {
          h5::Handle sub = h5::group(top.id(), r.task);
          write_metrics(sub.id(), r);
        }
      }
      std::vector<int64_t> gold(t.gold.begin(), t.gold.end()), request_doc, greedy;
      std::vector<double> ll;
      for (size_t d = 0; d < t.scores.size(); ++d)
        for (size_t r = 0; r < t.scores[d].ll.size(); ++r) {
          request_doc.push_back(static_cast<int64_t>(d));
          ll.push_back(t.scores[d].ll[r]);
          greedy.push_back(t.scores[d].greedy[r] ? 1 : 0);
        }
      h5::write_vector(g.id(), "doc_gold", gold);
      h5::write_vector(g.id(), "request_doc", request_doc);
      h5::write_vector(g.id(), "request_ll", ll);
      h5::write_vector(g.id(), "request_greedy", greedy);
    }
  });
}

bool has_task_results(const ExperimentLog& log, const std::string& group_path, const std::string& task) {
  return log.exists(group_path + "/tasks/" + task);
}

LoggedTasks read_task_results(hid_t file, const std::string& group_path) {
  LoggedTasks out;
  if (!h5::exists(file, group_path + "/tasks")) return out;
  h5::Handle top = h5::open_group(file, group_path + "/tasks");
  out.harness = h5::attr_string(top.id(), "harness");
  out.bos = h5::attr_int(top.id(), "bos") != 0;
  out.max_length = h5::attr_int(top.id(), "max_length");
  out.limit = h5::attr_int(top.id(), "limit");
  for (const std::string& task : h5::children(top.id())) {
    h5::Handle g = h5::open_group(top.id(), task);
    for (const std::string& child : h5::children(g.id())) {  // MMLU's subjects (the columns are datasets, not groups)
      if (!h5::is_group(g.id(), child)) continue;
      h5::Handle sub = h5::open_group(g.id(), child);
      if (h5::has_attr(sub.id(), "n")) out.tasks.push_back({task + "/" + child, h5::attr_int(sub.id(), "n"), read_metrics(sub.id())});
    }
    out.tasks.push_back({task, h5::attr_int(g.id(), "n"), read_metrics(g.id())});
  }
  return out;
}

}  // namespace qlab
