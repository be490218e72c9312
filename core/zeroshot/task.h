// Zero-shot tasks as lm-evaluation-harness builds them: every document becomes one or more
// loglikelihood requests (context, continuation), scored by a model and reduced to the
// harness's metrics. Strings here are exactly the harness's; tokenization is elsewhere
// (zeroshot/request_tokens.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qlab {

// The harness releases whose differences change results (zeroshot-protocol.md §1, §3.7):
// v0.3   separate encoding of context and continuation, no BOS, docs shuffled with seed 42,
//        MMLU as "Question: …\nChoices:…" scoring full answer texts (acc and acc_norm);
// v0.4   whole-then-split encoding, no BOS, dataset order, MMLU with the subject description
//        and " A"–" D";
// v0.4.10 as v0.4 but BOS as the tokenizer's default (PR #3347).
enum class HarnessVersion { v0_3, v0_4, v0_4_10 };
HarnessVersion parse_harness_version(const std::string& text);  // "v0.3", "v0.4", "v0.4.10"; fails listing them
const char* harness_version_name(HarnessVersion v);

struct LoglikelihoodRequest {
  std::string context, continuation;
};

struct TaskDoc {
  // One request per choice; LAMBADA has one (the target word), WinoGrande two contexts
  // sharing one continuation.
  std::vector<LoglikelihoodRequest> requests;
  int gold = 0;
  // acc_norm's length of each choice: Unicode code points of the choice text without the
  // delimiter space. Empty when the task has no acc_norm.
  std::vector<int64_t> choice_chars;
  int group = 0;         // index into TaskData::groups (MMLU's subject); 0 elsewhere
  std::string where;     // "file:line" of the source row, for error messages
};

enum class TaskKind {
  multiple_choice,  // acc (+ acc_norm when choice_chars is set)
  target_word,      // LAMBADA: perplexity = exp(−mean ll) and acc = is_greedy
};

// How acc picks the predicted choice from a document's lls.
enum class ChoiceRule {
  argmax,                     // numpy's argmax: the first index on ties, a NaN wins
  first_if_strictly_greater,  // v0.3 BoolQ: request 0 (" yes") only when ll[0] > ll[1]
};

struct TaskData {
  std::string name;                 // "piqa", "mmlu", …
  TaskKind kind = TaskKind::multiple_choice;
  ChoiceRule choice_rule = ChoiceRule::argmax;
  std::vector<std::string> groups;  // MMLU: the 57 subjects (file stems); else {name}
  std::vector<std::string> files;   // files read
  // One line per file: "verified: <release> sha256 matches" or "differs from <release> (sha256 …)"
  // or "no known checksum".
  std::vector<std::string> checksum_notes;
  std::vector<TaskDoc> docs;        // in the order the harness version feeds the model
};

// Known task names: lambada_openai, piqa, arc_easy, arc_challenge, boolq, winogrande, mmlu, hellaswag.
const std::vector<std::string>& known_tasks();

// Reads `name` from `data_dir` (layout of shared/data/zeroshot: lambada_openai/lambada_test.jsonl,
// piqa/dev.jsonl + dev-labels.lst, arc/ARC-{Easy,Challenge}-Test.jsonl, boolq/val.jsonl,
// winogrande/winogrande_xl_validation.llm-foundry.jsonl (or upstream dev.jsonl + dev-labels.lst),
// mmlu/test/<subject>_test.csv, hellaswag/hellaswag_val.jsonl) and builds its documents for
// `version`. Fails naming the missing file and the expected layout, a malformed row by file
// and line, an unknown task listing the known ones.
TaskData load_task(const std::string& name, const std::string& data_dir, HarnessVersion version);

// What one document's requests scored: ll[i] = sum of continuation log-probs of request i,
// greedy[i] = every continuation token was the argmax.
struct DocScore {
  std::vector<double> ll;
  std::vector<bool> greedy;
};

struct MetricValue {
  std::string name;  // "acc", "acc_norm", "ppl"
  double value = 0, stderr_ = 0;  // stderr_ = sample std / sqrt(n) for acc metrics; NaN for ppl
};
struct TaskResult {
  std::string task;                  // "piqa", or "mmlu" (micro average), or "mmlu/<subject>"
  int64_t n = 0;                     // documents
  std::vector<MetricValue> metrics;
};
// The harness's metrics. For MMLU: one result per subject, then "mmlu" over all documents
// (v0.4's weight_by_size micro average). `scores` is parallel to task.docs.
std::vector<TaskResult> task_metrics(const TaskData& task, const std::vector<DocScore>& scores);

}  // namespace qlab
