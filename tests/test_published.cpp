// Published tables: reading the CSVs (every file in results/published parses, perplexity and
// zero-shot forms), matching a log's runs by model, method, bits, group and dataset, and the
// errors for a broken table. Task-metric matching is in test_task_report.cpp.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/experiment.h"
#include "config/method_name.h"
#include "report/published_table.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("every published table parses, with a citation and the papers' values", "[published]") {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() / "results/published")) {
    if (e.path().extension() != ".csv") continue;
    ++files;
    PublishedTable t = read_published(e.path().string());
    INFO(e.path());
    CHECK(t.citation.size() >= 3);
    CHECK(t.rows.size() >= 9);
  }
  CHECK(files == 12);
  PublishedTable g = read_published((source_dir() / "results/published/gptq_table3_opt_wikitext2.csv").string());
  auto find = [&](const std::string& model, const std::string& method, int64_t bits) {
    for (const PublishedRow& r : g.rows)
      if (r.model == model && r.method == method && r.w_bits == bits) return r.value;
    return -1.0;
  };
  CHECK(find("facebook/opt-125m", "gptq", 4) == 31.12);
  CHECK(find("facebook/opt-66b", "rtn", 4) == 110);
  CHECK(find("facebook/opt-175b", "rtn", 3) == 7300);  // printed as 7.3e3
  // The zero-shot tables: percentages stored as fractions, each task with the metric its source reports.
  PublishedTable q = read_published((source_dir() / "results/published/quarot_table2_llama2_zeroshot.csv").string());
  CHECK(q.form == PublishedForm::task);
  auto value = [&](const std::string& model, const std::string& method, const std::string& task) {
    for (const PublishedRow& r : q.rows)
      if (r.model == model && r.method == method && r.task == task) return std::pair(r.metric, r.value);
    return std::pair(std::string(), -1.0);
  };
  CHECK(value("meta-llama/Llama-2-7b-hf", "quarot+gptq", "arc_challenge") == std::pair(std::string("acc_norm"), 0.4087));
  CHECK(value("meta-llama/Llama-2-70b-hf", "fp16", "winogrande") == std::pair(std::string("acc"), 0.7798));
  PublishedTable h = read_published((source_dir() / "results/published/harness_opt125m_zeroshot.csv").string());
  CHECK(h.rows.front().task == "lambada_openai");
  CHECK(h.rows.front().value == 0.3790025228022511);
}

TEST_CASE("models match by directory name, methods by pipeline", "[published]") {
  CHECK(same_model("/data/hf/opt-125m", "facebook/opt-125m"));
  CHECK(same_model("/data/hf/OPT-125M/", "facebook/opt-125m"));
  CHECK(same_model("/m/Llama-2-7b-hf", "meta-llama/Llama-2-7b"));
  CHECK(same_model("datasets/stories260K/stories260K.bin", "karpathy/stories260K"));
  CHECK_FALSE(same_model("/data/hf/opt-1.3b", "facebook/opt-13b"));
  const PluginRegistry reg = PluginRegistry::discover({});
  RunConfig r;
  r.pipeline = {{"gptq", {{"act_order", {true, "t"}}}, "t"}};
  CHECK(method_name(r, reg) == "gptq-r");
  r.pipeline = {{"awq", {}, "t"}, {"clip", {}, "t"}, {"rtn", {}, "t"}};
  CHECK(method_name(r, reg) == "awq");
  r.pipeline = {{"awq", {}, "t"}, {"gptq", {}, "t"}};
  CHECK(method_name(r, reg) == "awq+gptq");
  r.pipeline = {{"cluster", {{"sparse_fraction", {0.0045, "t"}}}, "t"}};
  CHECK(method_name(r, reg) == "squeezellm-sparse");
  // The rest of the published names, all declared by the plugins (naming, method_name).
  r.pipeline = {{"rtn", {}, "t"}};
  CHECK(method_name(r, reg) == "rtn");
  r.pipeline = {{"gptq", {}, "t"}};
  CHECK(method_name(r, reg) == "gptq");
  r.pipeline = {{"smoothquant", {}, "t"}, {"rtn", {}, "t"}};
  CHECK(method_name(r, reg) == "smoothquant");
  r.pipeline = {{"cluster", {}, "t"}};
  CHECK(method_name(r, reg) == "squeezellm");
  r.pipeline = {{"nf4", {}, "t"}};
  CHECK(method_name(r, reg) == "nf4");
  r.pipeline = {{"clip", {}, "t"}, {"gptq", {{"act_order", {true, "t"}}}, "t"}};
  CHECK(method_name(r, reg) == "gptq-r");
  r.pipeline = {{"rotate", {}, "t"}, {"gptq", {}, "t"}};
  CHECK(method_name(r, reg) == "quarot+gptq");
  r.pipeline = {{"rotate", {}, "t"}, {"rtn", {}, "t"}};
  CHECK(method_name(r, reg) == "quarot");  // RTN is the baseline a transform implies, as awq → rtn is "awq"
  CHECK(dataset_protocol("wikitext2_wiki.test.raw") == "wikitext2");
  CHECK(dataset_protocol("ptb-old_ptb.valid.txt") == "ptb-old");
}

TEST_CASE("a log's runs are matched to published rows, unmatched ones say so", "[published]") {
  ExperimentSummary s;
  s.float_model = "/m/opt-125m";
  s.float_ppl = {{"wikitext2_wiki.test.raw", 27.66}};
  RunSummary a;
  a.run_id = "r0000";
  a.identity = {{"model", "/m/opt-125m"}, {"method", "gptq"}, {"w_bits", "4"}, {"a_bits", "16"}, {"group_size", "0"}};
  a.ppl = {{"wikitext2_wiki.test.raw", 31.50}};
  RunSummary b = a;
  b.run_id = "r0001";
  b.identity["group_size"] = "128";  // the paper has no g128 row for OPT-125M
  s.runs = {a, b};
  std::vector<Comparison> c = compare_with_published(s, read_published((source_dir() / "results/published/gptq_table3_opt_wikitext2.csv").string()));
  REQUIRE(c.size() == 3);
  CHECK(c[0].run == "float");
  CHECK(*c[0].published == 27.65);
  CHECK(*c[1].published == 31.12);
  CHECK(c[1].ours == 31.50);
  CHECK(!c[2].published);
}

TEST_CASE("a broken published table is an error naming the file and line", "[published]") {
  TempDir dir;
  std::ofstream(dir / "a.csv") << "# x\nmodel,method,w_bits,a_bits,group_size,dataset,ppl\nm,rtn,4,16,0,wikitext2,abc\n";
  CHECK_THROWS_WITH(read_published((dir / "a.csv").string()), Catch::Contains("a.csv:3: ppl 'abc' is not a number"));
  std::ofstream(dir / "b.csv") << "model,method,bits\n";
  CHECK_THROWS_WITH(read_published((dir / "b.csv").string()), Catch::Contains("b.csv:1: expected the header"));
  std::ofstream(dir / "c.csv") << "model,method,w_bits,a_bits,group_size,dataset,ppl\nm,rtn,4,16,0\n";
  CHECK_THROWS_WITH(read_published((dir / "c.csv").string()), Catch::Contains("c.csv:2: expected 7 columns, got 5"));
  CHECK_THROWS_WITH(read_published((dir / "none.csv").string()), Catch::Contains("none.csv: cannot open"));
}
