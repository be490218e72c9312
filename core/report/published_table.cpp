#include "report/published_table.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"
#include "zeroshot/task.h"

namespace qlab {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
std::string strip_hf(std::string s) {
  if (s.size() > 3 && s.compare(s.size() - 3, 3, "-hf") == 0) s.resize(s.size() - 3);
  return s;
}
const char* const kPerplexityHeader = "model,method,w_bits,a_bits,group_size,dataset,ppl";
const char* const kTaskHeader = "model,method,w_bits,a_bits,group_size,task,metric,value";
const char* const kTaskMetrics[] = {"acc", "acc_norm", "ppl"};  // what the log records per task (log/task_log.h)

// What a run is, as published tables name it; nullopt for a log written before runs recorded it.
std::optional<Comparison> run_identity(const RunSummary& r) {
  if (r.identity.empty()) return std::nullopt;
  Comparison c;
  c.run = r.run_id;
  c.model = r.identity.at("model");
  c.method = r.identity.at("method");
  c.w_bits = std::stoll(r.identity.at("w_bits"));
  c.a_bits = std::stoll(r.identity.at("a_bits"));
  c.group_size = std::stoll(r.identity.at("group_size"));
  return c;
}

Comparison float_identity(const std::string& group, const std::string& model) {
  Comparison c;
  c.run = group;
  c.model = model;
  c.method = "fp16";
  return c;
}
}  // namespace

PublishedTable read_published(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the published table", path);
  PublishedTable t;
  t.path = path;
  std::string line;
  int n = 0;
  bool header_seen = false;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      t.citation.push_back(line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1));
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (!header_seen) {
      if (line == kPerplexityHeader) t.form = PublishedForm::perplexity;
      else if (line == kTaskHeader) t.form = PublishedForm::task;
      else fail("{}:{}: expected the header {} (perplexities) or {} (zero-shot task metrics)", path, n, kPerplexityHeader, kTaskHeader);
      header_seen = true;
      continue;
    }
    const bool task_row = t.form == PublishedForm::task;
    const size_t columns = task_row ? 8 : 7;
    if (cells.size() != columns) fail("{}:{}: expected {} columns, got {}", path, n, columns, cells.size());
    PublishedRow r;
    r.model = cells[0];
    r.method = cells[1];
    auto integer = [&](const std::string& c, const char* what) {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), v);
      if (ec != std::errc() || end != c.data() + c.size()) fail("{}:{}: {} '{}' is not an integer", path, n, what, c);
      return v;
    };
    r.w_bits = integer(cells[2], "w_bits");
    r.a_bits = integer(cells[3], "a_bits");
    r.group_size = integer(cells[4], "group_size");
    const char* value_column = task_row ? "value" : "ppl";
    try {
      size_t used = 0;
      r.value = std::stod(cells.back(), &used);
      if (used != cells.back().size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      fail("{}:{}: {} '{}' is not a number", path, n, value_column, cells.back());
    }
    if (task_row) {
      r.task = cells[5];
      r.metric = cells[6];
      const std::vector<std::string>& tasks = known_tasks();
      if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end())
        fail("{}:{}: unknown task '{}'; known: {}", path, n, r.task, fmt::join(tasks, ", "));
      if (std::find(std::begin(kTaskMetrics), std::end(kTaskMetrics), r.metric) == std::end(kTaskMetrics))
        fail("{}:{}: unknown metric '{}'; known: {}", path, n, r.metric, fmt::join(kTaskMetrics, ", "));
      // Papers print accuracies in percent; the log holds fractions, so a percentage here would never compare.
      if (r.metric != "ppl" && !(r.value >= 0 && r.value <= 1))
        fail("{}:{}: {} {} is not a fraction in [0, 1] (write a percentage divided by 100)", path, n, r.metric, cells.back());
    } else {
      r.dataset = cells[5];
    }
    t.rows.push_back(r);
  }
  if (!header_seen) fail("{}: no header row; expected {} or {}", path, kPerplexityHeader, kTaskHeader);
  return t;
}

bool same_model(const std::string& local_path, const std::string& published_id) {
  std::filesystem::path p(local_path);
  if (p.filename().empty()) p = p.parent_path();
  if (p.extension() == ".bin" || p.extension() == ".safetensors") p = p.stem();  // a llama2.c checkpoint file
  else p = p.filename();
  const std::string local = strip_hf(lower(p.string()));
  const size_t slash = published_id.rfind('/');
  const std::string name = strip_hf(lower(slash == std::string::npos ? published_id : published_id.substr(slash + 1)));
  return !local.empty() && local == name;
}

std::string dataset_protocol(const std::string& eval_group) { return eval_group.substr(0, eval_group.find('_')); }

std::vector<Comparison> compare_with_published(const ExperimentSummary& s, const PublishedTable& t) {
  std::vector<Comparison> out;
  auto add = [&](Comparison c) {
    for (const PublishedRow& r : t.rows)
      if (same_model(c.model, r.model) && r.method == c.method && r.w_bits == c.w_bits && r.a_bits == c.a_bits &&
          r.group_size == c.group_size && r.dataset == c.dataset && r.task == c.task && r.metric == c.metric)
        c.published = r.value;
    out.push_back(c);
  };
  if (t.form == PublishedForm::perplexity) {
    for (const auto& [ds, ppl] : s.float_ppl) {
      Comparison c = float_identity("float", s.float_model);
      c.dataset = dataset_protocol(ds);
      c.ours = ppl;
      add(c);
    }
    for (const RunSummary& r : s.runs) {
      const std::optional<Comparison> id = run_identity(r);
      if (!id) continue;
      for (const auto& [ds, ppl] : r.ppl) {
        Comparison c = *id;
        c.dataset = dataset_protocol(ds);
        c.ours = ppl;
        add(c);
      }
    }
    return out;
  }
  // Only the metrics the table publishes: a paper citing acc_norm leaves the log's acc unpaired.
  std::vector<std::pair<std::string, std::string>> published;
  for (const PublishedRow& r : t.rows)
    if (std::find(published.begin(), published.end(), std::pair(r.task, r.metric)) == published.end()) published.emplace_back(r.task, r.metric);
  auto add_tasks = [&](const Comparison& id, const LoggedTasks& logged) {
    for (const auto& [task, metric] : published)
      if (const std::optional<double> v = task_metric(logged, task, metric)) {
        Comparison c = id;
        c.task = task;
        c.metric = metric;
        c.ours = *v;
        add(c);
      }
  };
  for (const FloatTasks& f : s.float_tasks) add_tasks(float_identity(f.group, f.model), f.tasks);
  for (const RunSummary& r : s.runs)
    if (const std::optional<Comparison> id = run_identity(r)) add_tasks(*id, r.tasks);
  return out;
}

}  // namespace qlab
