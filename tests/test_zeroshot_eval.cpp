// Zero-shot evaluation end to end on the bundled model: every task read, tokenized, scored
// and reduced; the log's /tasks groups; [eval] tasks in an experiment.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "config/experiment.h"
#include "eval/block_major_model.h"
#include "format/llama2c_loader.h"
#include "log/experiment_log.h"
#include "log/task_log.h"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "support/llama2c_file.h"
#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"
#include "zeroshot/zeroshot_eval.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kStories = source_dir() / "datasets/stories260K";
const std::vector<std::string> kAllTasks = {"lambada_openai", "piqa", "arc_easy", "arc_challenge", "boolq", "winogrande", "mmlu"};

const TaskResult& result_of(const ZeroShotResult& z, const std::string& task) {
  for (const TaskEvaluation& t : z.tasks)
    for (const TaskResult& r : t.results)
      if (r.task == task) return r;
  FAIL("no result for " << task);
  throw;
}

double metric(const TaskResult& r, const std::string& name) {
  for (const MetricValue& m : r.metrics)
    if (m.name == name) return m.value;
  FAIL(r.task << " has no " << name);
  return 0;
}
}  // namespace

TEST_CASE("every task on the bundled model: finite metrics, the harness's protocol recorded, the log round trip", "[zeroshot]") {
  const Model m = load_llama2c(kStories / "stories260K.bin");
  const auto tok = load_tokenizer(kStories / "tok512.bin");
  ZeroShotOptions o{.tasks = kAllTasks, .data_dir = "", .version = HarnessVersion::v0_4, .limit = 6, .max_length = 0,
                    .overlong = OverlongContinuation::fail, .max_memory = 0, .progress = false};
  const ZeroShotResult z = evaluate_tasks(BlockMajorModel(m), *tok, o);
  CHECK(z.harness == "v0.4");
  CHECK_FALSE(z.bos);
  CHECK(z.max_length == 512);
  REQUIRE(z.tasks.size() == kAllTasks.size());
  for (const TaskEvaluation& t : z.tasks) {
    INFO(t.task);
    CHECK(t.scores.size() == (t.task == "mmlu" ? 6u * 57 : 6u));  // --limit counts per MMLU subject, as the harness
    for (const DocScore& d : t.scores)
      for (double ll : d.ll) CHECK((std::isfinite(ll) && ll < 0));
    const TaskResult& r = result_of(z, t.task);
    CHECK(r.n == (t.task == "mmlu" ? 6 * 57 : 6));
    for (const MetricValue& v : r.metrics) {
      INFO(v.name);
      CHECK(std::isfinite(v.value));
      if (v.name != "ppl") CHECK((v.value >= 0 && v.value <= 1));
    }
  }
  CHECK(metric(result_of(z, "lambada_openai"), "ppl") > 1);
  // LAMBADA's perplexity is exp(−mean per-document ll) over the logged log-likelihoods.
  double sum = 0;
  for (const DocScore& d : z.tasks[0].scores) sum += d.ll[0];
  CHECK(metric(result_of(z, "lambada_openai"), "ppl") == Approx(std::exp(-sum / 6)).epsilon(1e-12));

  TempDir dir;
  ExperimentLog log = ExperimentLog::create((dir / "t.h5").string(), "t", "");
  write_task_results(log, "float", z);
  const LoggedTasks back = read_task_results(ExperimentLog::open_read((dir / "t.h5").string()).file(), "float");
  CHECK(back.harness == "v0.4");
  CHECK(back.max_length == 512);
  CHECK(back.limit == 6);
  for (const std::string& task : kAllTasks) {
    const auto it = std::find_if(back.tasks.begin(), back.tasks.end(), [&](const TaskResult& r) { return r.task == task; });
    REQUIRE(it != back.tasks.end());
    CHECK(it->n == (task == "mmlu" ? 6 * 57 : 6));
    for (const MetricValue& v : result_of(z, task).metrics) CHECK(metric(*it, v.name) == v.value);
  }
  // Each MMLU subject is logged with its own 6 documents.
  const auto subject = std::find_if(back.tasks.begin(), back.tasks.end(), [](const TaskResult& r) { return r.task == "mmlu/virology"; });
  REQUIRE(subject != back.tasks.end());
  CHECK(subject->n == 6);
}

TEST_CASE("harness v0.4.10 prepends the tokenizer's BOS and says so", "[zeroshot]") {
  const Model m = load_llama2c(kStories / "stories260K.bin");
  const auto tok = load_tokenizer(kStories / "tok512.bin");
  ZeroShotOptions o{.tasks = {"arc_easy"}, .data_dir = "", .version = HarnessVersion::v0_4_10, .limit = 4, .max_length = 0,
                    .overlong = OverlongContinuation::fail, .max_memory = 0, .progress = false};
  const ZeroShotResult with_bos = evaluate_tasks(BlockMajorModel(m), *tok, o);
  CHECK(with_bos.bos);
  o.version = HarnessVersion::v0_4;
  const ZeroShotResult plain = evaluate_tasks(BlockMajorModel(m), *tok, o);
  CHECK_FALSE(plain.bos);
  CHECK(with_bos.tasks[0].scores[0].ll[0] != plain.tasks[0].scores[0].ll[0]);  // the BOS changes every log-likelihood
}

TEST_CASE("a continuation longer than the context fails naming the document, keep-tail scores it", "[zeroshot]") {
  const Model m = load_llama2c(kStories / "stories260K.bin");
  const auto tok = load_tokenizer(kStories / "tok512.bin");
  ZeroShotOptions o{.tasks = {"piqa"}, .data_dir = "", .version = HarnessVersion::v0_4, .limit = 0, .max_length = 64,
                    .overlong = OverlongContinuation::fail, .max_memory = 0, .progress = false};
  CHECK_THROWS_WITH(evaluate_tasks(BlockMajorModel(m), *tok, o),
                    Catch::Contains("piqa/dev.jsonl:") && Catch::Contains("longer than the model's context of 64"));
  o.limit = 40;
  o.overlong = OverlongContinuation::keep_tail;
  const ZeroShotResult z = evaluate_tasks(BlockMajorModel(m), *tok, o);
  CHECK(z.tasks[0].overlong > 0);
  CHECK(z.tasks[0].truncated >= z.tasks[0].overlong);
  CHECK(z.overlong_policy == "keep-tail");
}

TEST_CASE("eval.tasks: the float model, every run and its export read back get their accuracies logged", "[zeroshot]") {
  TempDir dir;
  const std::string body =
      "tasks = [\"arc_easy\", \"winogrande\"]\ntask_limit = 5\n[quant]\nbits = 4\ngroup_size = 32\nscale_dtype = \"f16\"\n"
      "[[pipeline]]\nplugin = \"rtn\"\n[[override]]\nmatch = \"*.mlp.*\"\nskip = true\n[export]\nformats = [\"gguf\"]\n";
  // [eval] is the header's last table: the keys above land in it.
  std::ofstream(dir / "e.toml") << bundled_header({.name = "zs", .n_segments = 4, .calibration_seq_len = 64, .eval_seq_len = 128, .eval_max_segments = 2})
                                << body;
  const Experiment ex = load_experiment((dir / "e.toml").string());
  REQUIRE(ex.runs.at(0).tasks.names == std::vector<std::string>{"arc_easy", "winogrande"});
  RunOptions opt{(dir / "e.h5").string(), false, {}, false};
  const ExperimentSummary s = run_experiment(ex, opt);
  REQUIRE(s.runs.at(0).status == "done");
  ExperimentLog log = ExperimentLog::open_read(opt.log_path);
  for (const std::string group : {"float", "runs/r0000", "runs/r0000/exports/gguf"}) {
    const LoggedTasks t = read_task_results(log.file(), group);
    INFO(group);
    REQUIRE(t.tasks.size() == 2);
    CHECK(t.tasks[0].n == 5);
    CHECK(t.harness == "v0.4");
  }
}

TEST_CASE("eval.tasks: an unknown task or harness version is refused naming the file", "[zeroshot]") {
  TempDir dir;
  std::ofstream(dir / "a.toml") << bundled_header() << "tasks = [\"piqa\", \"hellaswagg\"]\n[[pipeline]]\nplugin = \"rtn\"\n";
  CHECK_THROWS_WITH(load_experiment((dir / "a.toml").string()),
                    Catch::Contains("a.toml") && Catch::Contains("unknown task 'hellaswagg'") && Catch::Contains("lambada_openai, piqa"));
  std::ofstream(dir / "b.toml") << bundled_header() << "tasks = [\"piqa\"]\nharness = \"0.4\"\n[[pipeline]]\nplugin = \"rtn\"\n";
  CHECK_THROWS_WITH(load_experiment((dir / "b.toml").string()), Catch::Contains("b.toml") && Catch::Contains("v0.3, v0.4, v0.4.10"));
  std::ofstream(dir / "c.toml") << bundled_header() << "tasks = [\"piqa\"]\noverlong = \"cut\"\n[[pipeline]]\nplugin = \"rtn\"\n";
  CHECK_THROWS_WITH(load_experiment((dir / "c.toml").string()), Catch::Contains("c.toml") && Catch::Contains("fail, keep-tail"));
}
