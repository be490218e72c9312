// Zero-shot task results in `qlab report`: a log with tasks (written as `qlab run` with
// [eval] tasks writes it) summarised, rendered as markdown, CSV and JSON, and compared with a
// published zero-shot table; a log without tasks reports as before; a broken zero-shot table
// names its file and line.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "log/log_summary.h"
#include "log/task_log.h"
#include "report/published_table.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {

const double kNoStderr = std::numeric_limits<double>::quiet_NaN();  // ppl has none

TaskEvaluation evaluation(const std::string& task, std::vector<TaskResult> results) {
  TaskEvaluation t;
  t.task = task;
  t.results = std::move(results);
  t.scores = {DocScore{{-1.0, -2.0}, {true, false}}};
  t.gold = {0};
  return t;
}

// piqa (acc, acc_norm), lambada_openai (acc, ppl) and mmlu with one subject, as the harness
// version `harness` scored them.
ZeroShotResult zero_shot(const std::string& harness, double piqa_acc_norm, double lambada_ppl) {
  ZeroShotResult z;
  z.harness = harness;
  z.overlong_policy = "fail";
  z.tasks = {evaluation("piqa", {{"piqa", 1838, {{"acc", 0.63, 0.0113}, {"acc_norm", piqa_acc_norm, 0.0113}}}}),
             evaluation("lambada_openai", {{"lambada_openai", 5153, {{"acc", 0.379, 0.0068}, {"ppl", lambada_ppl, kNoStderr}}}}),
             evaluation("mmlu", {{"mmlu/anatomy", 135, {{"acc", 0.3, 0.04}}}, {"mmlu", 14042, {{"acc", 0.25, 0.0037}}}})};
  return z;
}

// The float model and two runs of it: r0000 evaluated on the tasks, r0001 failed before.
std::string log_with_tasks(const TempDir& dir) {
  const std::string path = (dir / "tasks.h5").string();
  ExperimentLog log = ExperimentLog::create(path, "zeroshot", "text");
  log.write_float_identity("float", "/m/opt-125m");
  write_task_results(log, "float", zero_shot("v0.3", 0.6202, 26.02));
  log.begin_run("r0000", {{"quant.bits", "4"}});
  log.write_run_identity("r0000", {"/m/opt-125m", "rtn", 4, 16, 0});
  write_task_results(log, "runs/r0000", zero_shot("v0.3", 0.61, 30.5));
  log.finish_run("r0000", "done");
  log.begin_run("r0001", {{"quant.bits", "3"}});
  log.write_run_identity("r0001", {"/m/opt-125m", "rtn", 3, 16, 0});
  log.finish_run("r0001", "failed", "out of memory");
  return path;
}

std::string report(const std::string& log, const std::string& options, const TempDir& dir) {
  const std::string out = (dir / "report.out").string();
  const std::string cmd = std::string(QLAB_BINARY) + " report " + log + " " + options + " > " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a log's task results reach the summary and one table row per model", "[report][zeroshot]") {
  TempDir dir;
  ExperimentSummary s = read_summary(ExperimentLog::open_read(log_with_tasks(dir)));
  REQUIRE(s.float_tasks.size() == 1);
  CHECK(s.float_tasks[0].group == "float");
  CHECK(s.float_tasks[0].model == "/m/opt-125m");
  CHECK(s.float_tasks[0].tasks.harness == "v0.3");
  REQUIRE(s.runs.size() == 2);
  CHECK(task_metric(s.runs[0].tasks, "piqa", "acc_norm") == 0.61);
  CHECK(task_metric(s.runs[0].tasks, "mmlu/anatomy", "acc") == 0.3);
  CHECK(!task_metric(s.runs[0].tasks, "piqa", "ppl"));
  CHECK(s.runs[1].tasks.tasks.empty());

  const cli::Table t = task_results_table(s);
  CHECK(t.header() == std::vector<std::string>{"run", "harness", "lambada_openai acc", "lambada_openai ppl", "mmlu acc", "piqa acc",
                                               "piqa acc_norm"});  // no column per MMLU subject
  REQUIRE(t.rows().size() == 3);
  CHECK(t.rows()[0] == std::vector<std::string>{"float", "v0.3", "0.3790", "26.0200", "0.2500", "0.6300", "0.6202"});
  CHECK(t.rows()[1] == std::vector<std::string>{"r0000", "v0.3", "0.3790", "30.5000", "0.2500", "0.6300", "0.6100"});
  CHECK(t.rows()[2] == std::vector<std::string>{"r0001", "-", "-", "-", "-", "-", "-"});
}

TEST_CASE("qlab report shows task results as markdown, CSV columns and JSON objects", "[report][zeroshot]") {
  TempDir dir;
  const std::string log = log_with_tasks(dir);
  const std::string md = report(log, "", dir);
  CHECK_THAT(md, Catch::Contains("## Zero-shot tasks\n\n| run | harness | lambada_openai acc | lambada_openai ppl | mmlu acc | piqa acc | piqa acc_norm |\n"));
  CHECK_THAT(md, Catch::Contains("| r0000 | v0.3 | 0.3790 | 30.5000 | 0.2500 | 0.6300 | 0.6100 |\n"));

  const std::string csv = report(log, "--format csv", dir);
  CHECK_THAT(csv, Catch::StartsWith("run,setting,avg bits,mean rel err,status,harness,lambada_openai acc,"));
  CHECK_THAT(csv, Catch::Contains("\nfloat,-,32,-,done,v0.3,0.3790,26.0200,0.2500,0.6300,0.6202\n"));
  CHECK_THAT(csv, Catch::Contains("\nr0001,quant.bits=3,-,-,failed,-,-,-,-,-,-\n"));

  const nlohmann::json j = nlohmann::json::parse(report(log, "--format json", dir));
  const nlohmann::json& f = j["float_tasks"]["float"];
  CHECK(f["harness"] == "v0.3");
  CHECK(f["bos"] == false);
  CHECK(f["results"]["piqa"]["acc_norm"] == 0.6202);
  CHECK(f["results"]["piqa"]["n"] == 1838);
  CHECK(f["results"]["lambada_openai"]["ppl"] == 26.02);
  CHECK(!f["results"]["lambada_openai"].contains("ppl_stderr"));  // NaN: not a number to print
  CHECK(j["runs"][0]["tasks"]["results"]["mmlu/anatomy"]["acc"] == 0.3);
  CHECK(j["runs"][0]["tasks"]["results"]["piqa"]["acc_stderr"] == 0.0113);
  CHECK(!j["runs"][1].contains("tasks"));
}

TEST_CASE("a log without task results reports exactly as before", "[report][zeroshot]") {
  TempDir dir;
  const std::string path = (dir / "plain.h5").string();
  {
    ExperimentLog log = ExperimentLog::create(path, "plain", "text");
    log.begin_run("r0000", {{"quant.bits", "4"}});
    log.finish_run("r0000", "done");
  }
  ExperimentSummary s = read_summary(ExperimentLog::open_read(path));
  CHECK(s.float_tasks.empty());
  CHECK(task_results_table(s).rows().empty());
  CHECK_THAT(report(path, "", dir), !Catch::Contains("Zero-shot"));
  CHECK(report(path, "--format csv", dir) == "run,setting,avg bits,mean rel err,status\nfloat,-,32,-,done\nr0000,quant.bits=4,-,-,done\n");
  const nlohmann::json j = nlohmann::json::parse(report(path, "--format json", dir));
  CHECK(!j.contains("float_tasks"));
  CHECK(!j["runs"][0].contains("tasks"));
}

TEST_CASE("task metrics are compared with a published zero-shot table, run by run", "[report][zeroshot][published]") {
  TempDir dir;
  const std::string log = log_with_tasks(dir);
  std::ofstream(dir / "paper.csv") << "# A paper, Table 1 (invented values)\n"
                                      "model,method,w_bits,a_bits,group_size,task,metric,value\n"
                                      "facebook/opt-125m,fp16,16,16,0,piqa,acc_norm,0.6250\n"
                                      "facebook/opt-125m,rtn,4,16,0,piqa,acc_norm,0.6000\n"
                                      "facebook/opt-125m,rtn,4,16,0,lambada_openai,ppl,31.5\n"
                                      "facebook/opt-125m,gptq,4,16,0,mmlu,acc,0.2400\n";
  const PublishedTable paper = read_published((dir / "paper.csv").string());
  CHECK(paper.form == PublishedForm::task);
  const std::vector<Comparison> c = compare_with_published(read_summary(ExperimentLog::open_read(log)), paper);
  // Per model the table's metrics the log has: piqa acc (not published) and r0001 (no tasks) stay out.
  REQUIRE(c.size() == 6);
  CHECK((c[0].run == "float" && c[0].method == "fp16" && c[0].task == "piqa" && c[0].metric == "acc_norm"));
  CHECK(c[0].ours == 0.6202);
  CHECK(*c[0].published == 0.6250);
  CHECK((c[1].run == "float" && c[1].task == "lambada_openai" && !c[1].published));
  CHECK((c[2].run == "float" && c[2].task == "mmlu" && !c[2].published));  // the mmlu row is GPTQ's
  CHECK((c[3].run == "r0000" && c[3].task == "piqa" && c[3].ours == 0.61 && *c[3].published == 0.6000));
  CHECK((c[4].run == "r0000" && c[4].task == "lambada_openai" && c[4].ours == 30.5 && *c[4].published == 31.5));
  CHECK((c[5].run == "r0000" && c[5].task == "mmlu" && !c[5].published));

  const std::string md = report(log, "--against " + (dir / "paper.csv").string(), dir);
  CHECK_THAT(md, Catch::Contains("| run | model | method | W bits | A bits | group | task | metric | published | qlab | qlab − published |\n"));
  CHECK_THAT(md, Catch::Contains("| r0000 | opt-125m | rtn | 4 | 16 | - | piqa | acc_norm | 0.6000 | 0.6100 | +0.0100 |\n"));
  CHECK_THAT(md, Catch::Contains("| float | opt-125m | fp16 | 16 | 16 | - | mmlu | acc | no published row | 0.2500 | - |\n"));
  const nlohmann::json j = nlohmann::json::parse(report(log, "--format json --against " + (dir / "paper.csv").string(), dir));
  CHECK(j["against"]["rows"][3]["task"] == "piqa");
  CHECK(j["against"]["rows"][3]["metric"] == "acc_norm");
  CHECK(j["against"]["rows"][3]["published"] == 0.6);
  CHECK(!j["against"]["rows"][3].contains("dataset"));

  // The harness's own opt-125m results match the float model by its directory name.
  const std::vector<Comparison> h = compare_with_published(read_summary(ExperimentLog::open_read(log)),
                                                           read_published((source_dir() / "results/published/harness_opt125m_zeroshot.csv").string()));
  auto published = [&](const std::string& run, const std::string& task, const std::string& metric) {
    for (const Comparison& x : h)
      if (x.run == run && x.task == task && x.metric == metric) return x.published;
    return std::optional<double>();
  };
  CHECK(published("float", "piqa", "acc") == 0.6300326441784548);
  CHECK(published("float", "lambada_openai", "ppl") == 26.02103896885129);
  CHECK(!published("r0000", "piqa", "acc"));  // the harness published no quantized model
}

TEST_CASE("a broken zero-shot table is an error naming the file and line", "[published][zeroshot]") {
  TempDir dir;
  const std::string header = "# x\nmodel,method,w_bits,a_bits,group_size,task,metric,value\n";
  auto error_of = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    try {
      read_published((dir / name).string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("header.csv", "model,method,w_bits,a_bits,group_size,task,value\n"),
             Catch::Contains("header.csv:1: expected the header model,method,w_bits,a_bits,group_size,dataset,ppl (perplexities) or "
                             "model,method,w_bits,a_bits,group_size,task,metric,value (zero-shot task metrics)"));
  CHECK_THAT(error_of("number.csv", header + "m,fp16,16,16,0,piqa,acc,high\n"), Catch::Contains("number.csv:3: value 'high' is not a number"));
  CHECK_THAT(error_of("metric.csv", header + "m,fp16,16,16,0,piqa,accuracy,0.7\n"),
             Catch::Contains("metric.csv:3: unknown metric 'accuracy'; known: acc, acc_norm, ppl"));
  CHECK_THAT(error_of("task.csv", header + "m,fp16,16,16,0,piqa_v2,acc,0.7\n"), Catch::Contains("task.csv:3: unknown task 'piqa_v2'; known: "));
  CHECK_THAT(error_of("percent.csv", header + "m,fp16,16,16,0,piqa,acc_norm,79.11\n"),
             Catch::Contains("percent.csv:3: acc_norm 79.11 is not a fraction in [0, 1] (write a percentage divided by 100)"));
  CHECK_THAT(error_of("columns.csv", header + "m,fp16,16,16,0,wikitext2,5.47\n"), Catch::Contains("columns.csv:3: expected 8 columns, got 7"));
  CHECK(error_of("ppl.csv", header + "m,fp16,16,16,0,lambada_openai,ppl,26.02\n") == "no error");  // a perplexity is not a fraction
}
