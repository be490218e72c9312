// `qlab eval`: perplexity of a model on a text with the GPTQ protocol, and zero-shot task
// accuracy as lm-evaluation-harness measures it (--tasks).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/device_args.h"
#include "cli/eval_memory_args.h"
#include "cli/model_args.h"
#include "cli/option_checks.h"
#include "data/data_spec.h"
#include "eval/block_major_model.h"
#include "eval/perplexity.h"
#include "log/experiment_log.h"
#include "log/task_log.h"
#include "report/task_table.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/split.h"
#include "util/table.h"
#include "zeroshot/zeroshot_eval.h"

namespace qlab::cli {

namespace {
struct EvalArgs {
  ModelArgs model;
  EvalMemoryArgs memory;
  DeviceArgs device;
  std::string data;
  int64_t seq_len = 0, max_segments = 0;
  std::string tasks, task_data, harness = "v0.4", overlong = "fail", log;
  int64_t limit = 0, max_length = 0;
  bool subjects = false, json = false;
};

void print_perplexity(const EvalArgs& a, const WeightSource& model, const DataProvenance& src, const PerplexityResult& r) {
  if (a.json) {
    nlohmann::json j = {{"model", model.path()}, {"data", src.spec}, {"data_sha256", src.sha256}, {"ppl", r.ppl}, {"n_segments", r.n_segments},
                        {"n_tokens", r.n_tokens}, {"n_scored", r.n_scored}, {"seqlen", r.seq_len},
                        {"seconds", r.seconds}, {"threads", thread_count()}, {"activations_spilled", r.spilled}, {"segment_nll", r.segment_nll}};
    fmt::print("{}\n", j.dump());
    return;
  }
  Table t({"model", "data", "seqlen", "segments", "tokens", "ppl", "time"});
  t.add_row({model.path(), src.spec, std::to_string(r.seq_len), std::to_string(r.n_segments),
             std::to_string(r.n_tokens), fmt::format("{:.6f}", r.ppl), fmt::format("{:.2f} s", r.seconds)});
  fmt::print("{}", t.render());
}

void print_tasks(const EvalArgs& a, const WeightSource& model, const ZeroShotResult& z) {
  std::vector<TaskResult> results;
  for (const TaskEvaluation& t : z.tasks) results.insert(results.end(), t.results.begin(), t.results.end());
  if (a.json) {
    nlohmann::json tasks = nlohmann::json::object();
    for (const TaskResult& r : results) {
      nlohmann::json m = {{"n", r.n}};
      for (const MetricValue& v : r.metrics) {
        m[v.name] = v.value;
        if (std::isfinite(v.stderr_)) m[v.name + "_stderr"] = v.stderr_;
      }
      tasks[r.task] = m;
    }
    nlohmann::json j = {{"model", model.path()}, {"harness", z.harness}, {"bos", z.bos}, {"max_length", z.max_length},
                        {"limit", z.limit}, {"seconds", z.seconds}, {"threads", thread_count()}, {"tasks", tasks}};
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("{}: harness {} protocol, {} BOS, max_length {}{}\n", model.path(), z.harness, z.bos ? "with" : "no",
             z.max_length, z.limit > 0 ? fmt::format(", first {} documents per task", z.limit) : "");
  for (const TaskEvaluation& t : z.tasks) {
    if (t.truncated > 0) fmt::print("{}: {} documents cut from the left to {} tokens\n", t.task, t.truncated, z.max_length);
    if (t.overlong > 0) fmt::print("{}: {} documents with a continuation over {} tokens, scored on its last {} (not harness-identical)\n",
                                   t.task, t.overlong, z.max_length, z.max_length);
  }
  fmt::print("{}", task_table(results, a.subjects).render());
  const double rows = static_cast<double>(z.scoring.rows);
  fmt::print("{} packed rows for {} request tokens ({:.1f}×), {:.1f} s, {:.0f} rows/s\n", z.scoring.rows, z.scoring.request_tokens,
             static_cast<double>(z.scoring.request_tokens) / std::max(rows, 1.0), z.seconds, rows / std::max(z.scoring.seconds, 1e-9));
  for (const TaskEvaluation& t : z.tasks)
    for (const std::string& note : t.checksum_notes)
      if (note.rfind("verified", 0) != 0) fmt::print(stderr, "{}: {}\n", t.task, note);
}
}  // namespace

Command add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "perplexity of a model on a text (GPTQ protocol) and zero-shot tasks (lm-evaluation-harness protocol)");
  args->model.add_to(*cmd);
  args->memory.add_to(*cmd);
  args->device.add_to(*cmd);
  cmd->add_option("--data", args->data, "evaluation data: KIND:PATH with KIND one of text, wikitext2, ptb, ptb-old, c4, c4-old (a bare path is text)");
  cmd->add_option("--seqlen,--seq-len", args->seq_len, "segment length in tokens (with --data)")->check(whole_number_at_least(2));
  cmd->add_option("--max-segments", args->max_segments, "evaluate at most K segments (0 = all)")->check(whole_number_at_least(0));
  cmd->add_option("--tasks", args->tasks, fmt::format("zero-shot tasks, comma-separated: {}", fmt::join(known_tasks(), ", ")));
  cmd->add_option("--task-data", args->task_data, "directory of the task files (default: the bundled datasets/zeroshot)");
  cmd->add_option("--harness", args->harness, "lm-evaluation-harness version whose protocol to follow: v0.3, v0.4, v0.4.10")->capture_default_str();
  cmd->add_option("--limit", args->limit, "the first N documents of each task and MMLU subject (v0.3: after its seed-42 shuffle)")->check(whole_number_at_least(0));
  cmd->add_option("--max-length", args->max_length, "context tokens kept per request (default: the model's context)")->check(whole_number_at_least(1));
  cmd->add_option("--overlong", args->overlong, "a continuation longer than the context: fail (as the harness) or keep-tail (score its last max-length tokens)")->capture_default_str();
  cmd->add_flag("--subjects", args->subjects, "print MMLU's 57 subjects too");
  cmd->add_option("--log", args->log, "write the results to this new HDF5 log (never an existing file)");
  cmd->add_flag("--json", args->json, "print one JSON object per evaluation instead of a table");
  return [args]() {
    if (args->data.empty() && args->tasks.empty()) fail("qlab eval needs --data (perplexity), --tasks (zero-shot), or both");
    if (!args->data.empty() && args->seq_len == 0) fail("--data needs --seqlen");
    const HarnessVersion harness = parse_harness_version(args->harness);
    const std::unique_ptr<Backend> device = args->device.open();
    auto [model, tok] = args->model.open();  // weights read one block at a time, as evaluated
    std::optional<ExperimentLog> log;
    if (!args->log.empty()) log.emplace(ExperimentLog::create(args->log, "eval", ""));
    if (log && device) log->write_backend(device->name(), device->description(), args->device.gemm_precision);
    if (!args->data.empty()) {
      if (args->seq_len > model->config().max_seq_len)
        fail("--seqlen {} is above the context of {} ({} positions)", args->seq_len, model->path(), model->config().max_seq_len);
      TokenData data = load_eval_tokens(args->data, *tok, args->seq_len);
      PerplexityOptions opts{.seq_len = args->seq_len, .max_segments = args->max_segments, .progress = true,
                             .activations = args->memory.precision(), .max_memory = args->memory.max_memory, .spill_dir = "",
                             .device = device.get(), .max_device_memory = args->device.max_device_memory};
      PerplexityResult r;
      try {
        r = perplexity(*model, data.tokens, opts);
      } catch (const Error& e) {  // name the text: "file: the text has 300 tokens, fewer than ..."
        fail("{}: {}", data.provenance.path, e.what());
      }
      print_perplexity(*args, *model, data.provenance, r);
      if (log) log->write_eval("float", {args->data, r, data.provenance});
    }
    if (!args->tasks.empty()) {
      ZeroShotOptions zo{.tasks = split(args->tasks, ',', EmptyParts::skip), .data_dir = args->task_data, .version = harness, .limit = args->limit,
                         .max_length = args->max_length,
                         .overlong = kOverlongPolicies.parse(args->overlong, "--overlong"), .max_memory = args->memory.max_memory, .progress = true,
                         .device = device.get(), .max_device_memory = args->device.max_device_memory};
      const ZeroShotResult z = evaluate_tasks(BlockMajorModel(*model), *tok, zo);
      print_tasks(*args, *model, z);
      if (log) write_task_results(*log, "float", z);
    }
    if (log) log->write_float_identity("float", model->path());
    return 0;
  };
}

}  // namespace qlab::cli
