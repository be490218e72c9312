#include "zeroshot/zeroshot_eval.h"

#include <chrono>

#include "util/error.h"
#include "zeroshot/request_tokens.h"

namespace qlab {

std::string default_task_data_dir() { return QLAB_TASK_DATA_DIR; }

namespace {
// --limit N: the first N documents of each task, and each of MMLU's subjects is a task of its
// own in the harness (v0.3's hendrycksTest-*, v0.4's group members). A group's documents are
// contiguous.
void keep_first_of_each_group(TaskData& t, int64_t limit) {
  std::vector<TaskDoc> kept;
  int64_t in_group = 0;
  for (size_t d = 0; d < t.docs.size(); ++d) {
    in_group = d > 0 && t.docs[d].group == t.docs[d - 1].group ? in_group + 1 : 0;
    if (in_group < limit) kept.push_back(std::move(t.docs[d]));
  }
  t.docs = std::move(kept);
}

// Whether encode(…, true) prepends a token: the tokenizer's default BOS (v0.4.10+).
bool tokenizer_adds_bos(const Tokenizer& tok) { return tok.encode("a", true).size() > tok.encode("a", false).size(); }
}  // namespace

ZeroShotResult evaluate_tasks(const BlockMajorModel& model, const Tokenizer& tok, const ZeroShotOptions& o,
                              const ActivationPlan* act) {
  const auto start = std::chrono::steady_clock::now();
  if (o.tasks.empty()) fail("no tasks to evaluate (known: {})", fmt::join(known_tasks(), ", "));
  ZeroShotResult out;
  out.harness = harness_version_name(o.version);
  out.bos = o.version == HarnessVersion::v0_4_10 && tokenizer_adds_bos(tok);
  out.max_length = o.max_length > 0 ? o.max_length : model.config().max_seq_len;
  out.limit = o.limit;
  out.overlong_policy = kOverlongPolicies.name(o.overlong);
  if (out.max_length > model.config().max_seq_len)
    fail("--max-length {} is above the context of {} ({} positions)", out.max_length, model.name(), model.config().max_seq_len);
  const std::string dir = o.data_dir.empty() ? default_task_data_dir() : o.data_dir;

  // Every task's documents, read and tokenized first: a bad file fails before any scoring.
  std::vector<TaskData> tasks;
  std::vector<std::vector<RequestInput>> inputs;
  for (const std::string& name : o.tasks) {
    TaskData t = load_task(name, dir, o.version);
    if (o.limit > 0) keep_first_of_each_group(t, o.limit);
    TaskEvaluation e{t.name, t.files, t.checksum_notes, {}, {}, {}, 0, 0};
    // Documents are tokenized in parallel; the first failure in document order is reported.
    std::vector<std::vector<RequestInput>> task_inputs(t.docs.size());
    std::vector<std::string> errors(t.docs.size());
    std::vector<char> truncated(t.docs.size(), 0), overlong(t.docs.size(), 0);
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t d = 0; d < t.docs.size(); ++d) {
      try {
        for (const LoglikelihoodRequest& r : t.docs[d].requests) {
          const RequestTokens tokens = encode_request(tok, r, o.version);
          RequestInput in = request_input(tokens, out.max_length, o.overlong, fmt::format("{}: {}", name, t.docs[d].where));
          truncated[d] |= in.input.size() < tokens.context.size() + tokens.continuation.size() - 1;
          overlong[d] |= in.continuation.size() < tokens.continuation.size();
          task_inputs[d].push_back(std::move(in));
        }
      } catch (const std::exception& err) {
        errors[d] = err.what();
      }
    }
    for (const std::string& err : errors)
      if (!err.empty()) fail("{}", err);
    for (size_t d = 0; d < t.docs.size(); ++d) {
      e.truncated += truncated[d];
      e.overlong += overlong[d];
      e.gold.push_back(t.docs[d].gold);
      inputs.push_back(std::move(task_inputs[d]));
    }
    out.tasks.push_back(std::move(e));
    tasks.push_back(std::move(t));
  }

  const ScoringOptions so{.capacity = 0, .max_memory = o.max_memory, .progress = o.progress, .label = "tasks",
                          .device = o.device, .max_device_memory = o.max_device_memory};
  std::vector<DocScore> scores = score_requests(model, inputs, so, act, &out.scoring);
  size_t next = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    TaskEvaluation& e = out.tasks[i];
    e.scores.assign(scores.begin() + static_cast<std::ptrdiff_t>(next),
                    scores.begin() + static_cast<std::ptrdiff_t>(next + tasks[i].docs.size()));
    next += tasks[i].docs.size();
    e.results = task_metrics(tasks[i], e.scores);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace qlab
