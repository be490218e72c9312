#include "zeroshot/task.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

#include "data/python_random.h"
#include "util/error.h"
#include "util/name_table.h"
#include "zeroshot/task_readers.h"

namespace qlab {

namespace {
constexpr NameTable<HarnessVersion, 3> harness_versions{{{
    {HarnessVersion::v0_3, "v0.3"},
    {HarnessVersion::v0_4, "v0.4"},
    {HarnessVersion::v0_4_10, "v0.4.10"},
}}};

const std::vector<std::pair<std::string, TaskReader>>& task_readers() {
  static const std::vector<std::pair<std::string, TaskReader>> readers = {
      {"lambada_openai", read_lambada_openai}, {"piqa", read_piqa},       {"arc_easy", read_arc_easy},
      {"arc_challenge", read_arc_challenge},   {"boolq", read_boolq},     {"winogrande", read_winogrande},
      {"mmlu", read_mmlu},                     {"hellaswag", read_hellaswag},
  };
  return readers;
}

// v0.3's evaluator: random.Random(); seed(42); shuffle(docs) per task, CPython's shuffle
// (for i in reversed(range(1, n)): j = _randbelow(i + 1); swap). Each MMLU subject was a
// task of its own, so each group is shuffled alone and stays contiguous.
void shuffle_as_v0_3(std::vector<TaskDoc>& docs) {
  for (size_t begin = 0; begin < docs.size();) {
    size_t end = begin;
    while (end < docs.size() && docs[end].group == docs[begin].group) ++end;
    PythonRandom rng(42);
    for (int64_t i = static_cast<int64_t>(end - begin) - 1; i > 0; --i)
      std::swap(docs[begin + static_cast<size_t>(i)], docs[begin + static_cast<size_t>(rng.randbelow(i + 1))]);
    begin = end;
  }
}

// numpy.argmax: the first maximum; a NaN counts as the maximum.
size_t numpy_argmax(const std::vector<double>& values) {
  size_t best = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) return i;
    if (values[i] > values[best]) best = i;
  }
  return best;
}

size_t predicted_choice(ChoiceRule rule, const std::vector<double>& ll) {
  if (rule == ChoiceRule::first_if_strictly_greater) return ll[0] > ll[1] ? 0 : 1;
  return numpy_argmax(ll);
}

// The harness's mean (sum in order, then divide) and mean_stderr (sample std / sqrt(n)).
double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double mean_stderr(const std::vector<double>& values) {
  const double mu = mean(values);
  double squares = 0;
  for (double v : values) squares += (v - mu) * (v - mu);
  const double n = static_cast<double>(values.size());
  return std::sqrt(squares / (n - 1)) / std::sqrt(n);
}

// Per-document metric values, named in the harness's order.
struct DocMetrics {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;  // [metric][doc]
};

TaskResult summarize(const std::string& name, const DocMetrics& metrics) {
  TaskResult result{name, static_cast<int64_t>(metrics.values.at(0).size()), {}};
  for (size_t m = 0; m < metrics.names.size(); ++m) {
    const std::vector<double>& v = metrics.values[m];
    if (metrics.names[m] == "ppl") result.metrics.push_back({"ppl", std::exp(-mean(v)), std::nan("")});
    else result.metrics.push_back({metrics.names[m], mean(v), mean_stderr(v)});
  }
  return result;
}
}  // namespace

HarnessVersion parse_harness_version(const std::string& text) { return harness_versions.parse(text, "harness version"); }

const char* harness_version_name(HarnessVersion v) { return harness_versions.name(v); }

const std::vector<std::string>& known_tasks() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, reader] : task_readers()) out.push_back(name);
    return out;
  }();
  return names;
}

TaskData load_task(const std::string& name, const std::string& data_dir, HarnessVersion version) {
  for (const auto& [known, reader] : task_readers()) {
    if (known != name) continue;
    TaskData task = reader(std::filesystem::path(data_dir), version);
    if (version == HarnessVersion::v0_3) shuffle_as_v0_3(task.docs);
    return task;
  }
  fail("unknown zero-shot task '{}'; known: {}", name, fmt::join(known_tasks(), ", "));
}

std::vector<TaskResult> task_metrics(const TaskData& task, const std::vector<DocScore>& scores) {
  if (scores.size() != task.docs.size())
    fail("{}: {} scored documents for {} documents", task.name, scores.size(), task.docs.size());
  const bool acc_norm = !task.docs.empty() && std::all_of(task.docs.begin(), task.docs.end(), [](const TaskDoc& d) {
    return !d.choice_chars.empty();
  });
  const bool grouped = task.groups.size() > 1;
  DocMetrics all;
  all.names = task.kind == TaskKind::target_word ? std::vector<std::string>{"ppl", "acc"}
              : acc_norm                         ? std::vector<std::string>{"acc", "acc_norm"}
                                                 : std::vector<std::string>{"acc"};
  all.values.resize(all.names.size());
  std::vector<DocMetrics> per_group(grouped ? task.groups.size() : 0, DocMetrics{all.names, all.values});
  for (size_t d = 0; d < task.docs.size(); ++d) {
    const TaskDoc& doc = task.docs[d];
    const DocScore& score = scores[d];
    const size_t n = doc.requests.size();
    if (n == 0 || score.ll.size() != n || score.greedy.size() != n || (acc_norm && doc.choice_chars.size() != n) ||
        (task.choice_rule == ChoiceRule::first_if_strictly_greater && n != 2))
      fail("{} {}: {} log-likelihoods, {} greedy flags and {} choice lengths for {} requests", task.name, doc.where,
           score.ll.size(), score.greedy.size(), doc.choice_chars.size(), n);
    if (grouped && (doc.group < 0 || static_cast<size_t>(doc.group) >= task.groups.size()))
      fail("{} {}: group {} is not one of the task's {} groups", task.name, doc.where, doc.group, task.groups.size());
    std::vector<double> values;
    if (task.kind == TaskKind::target_word) {
      values = {score.ll[0], score.greedy[0] ? 1.0 : 0.0};
    } else {
      values.push_back(predicted_choice(task.choice_rule, score.ll) == static_cast<size_t>(doc.gold) ? 1.0 : 0.0);
      if (acc_norm) {
        // acc_norm divides by the choice's length in code points (v0.3 and v0.4 alike).
        std::vector<double> normalized(score.ll.size());
        for (size_t i = 0; i < normalized.size(); ++i)
          normalized[i] = score.ll[i] / static_cast<double>(doc.choice_chars[i]);
        values.push_back(numpy_argmax(normalized) == static_cast<size_t>(doc.gold) ? 1.0 : 0.0);
      }
    }
    for (size_t m = 0; m < values.size(); ++m) {
      all.values[m].push_back(values[m]);
      if (grouped) per_group[static_cast<size_t>(doc.group)].values[m].push_back(values[m]);
    }
  }
  if (!grouped) return {summarize(task.name, all)};
  // MMLU: each subject with documents (--limit may leave some without), then the micro
  // average over every document (v0.4's weight_by_size). Its stderr is the plain one over all
  // documents; the harness pools the subjects' variances along its group tree instead.
  std::vector<TaskResult> results;
  for (size_t g = 0; g < task.groups.size(); ++g)
    if (!per_group[g].values[0].empty()) results.push_back(summarize(task.name + "/" + task.groups[g], per_group[g]));
  results.push_back(summarize(task.name, all));
  return results;
}

}  // namespace qlab
