// Zero-shot task data as lm-evaluation-harness builds it: v0.3.0's request hashes and fake-LM
// metrics reproduced from datasets/zeroshot, v0.4's first requests and document counts, the
// metric edge cases, HellaSwag's preprocessing, Python's JSON escaping, and bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/python_random.h"
#include "support/llama2c_file.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/sha256.h"
#include "zeroshot/harness_request_hash.h"
#include "zeroshot/task.h"
#include "zeroshot/task_readers.h"
#include "zeroshot/tasks/python_str.h"
#include "zeroshot/tasks/task_files.h"

using namespace qlab;
using qlab::test::TempDir;

namespace {
const std::filesystem::path data_dir = std::filesystem::path(QLAB_SOURCE_DIR) / "datasets/zeroshot";

// The tasks with data in datasets/zeroshot; MMLU is checked per subject.
const std::vector<std::string> single_tasks = {"lambada_openai", "piqa", "arc_easy", "arc_challenge", "boolq",
                                               "winogrande"};

// harness-reference's "tasks": v0.3.0's tests/testdata, keyed by v0.3 task name.
const nlohmann::json& reference() {
  static const nlohmann::json tasks =
      nlohmann::json::parse(read_text_file(data_dir / "harness-reference/lm-eval-v0.3.0-testdata.json"))["tasks"];
  return tasks;
}

// Each task is read once per version, however many cases look at it.
const TaskData& loaded(const std::string& name, HarnessVersion version) {
  static std::map<std::pair<std::string, HarnessVersion>, TaskData> cache;
  auto it = cache.find({name, version});
  if (it == cache.end()) it = cache.emplace(std::pair{name, version}, load_task(name, data_dir.string(), version)).first;
  return it->second;
}

// The reference key of a task_metrics result: "mmlu/<subject>" was v0.3's hendrycksTest-<subject>.
std::string reference_key(const std::string& result_name) {
  const std::string prefix = "mmlu/";
  return result_name.rfind(prefix, 0) == 0 ? "hendrycksTest-" + result_name.substr(prefix.size()) : result_name;
}

// test_version_stable.py's fake LM: random.seed(42) per v0.3 task (each MMLU subject was one),
// then (-random.random(), False) per request in request order. LAMBADA's ll and is_greedy were
// two requests: the first draw is the ll, the second only advances the generator.
std::vector<DocScore> fake_lm_scores(const TaskData& task) {
  std::vector<DocScore> scores;
  PythonRandom rng(42);
  for (size_t d = 0; d < task.docs.size(); ++d) {
    if (d > 0 && task.docs[d].group != task.docs[d - 1].group) rng.seed_with(42);
    DocScore s;
    for (size_t r = 0; r < task.docs[d].requests.size(); ++r) {
      s.ll.push_back(-rng.random());
      s.greedy.push_back(false);
      if (task.kind == TaskKind::target_word) rng.random();
    }
    scores.push_back(std::move(s));
  }
  return scores;
}

double relative_difference(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

const TaskDoc& first_doc(const std::string& name) { return loaded(name, HarnessVersion::v0_4).docs.at(0); }

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string load_error(const std::string& name, const TempDir& dir) {
  try {
    load_task(name, dir.path().string(), HarnessVersion::v0_4);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("v0.3.0 request-list sha256 of every task with data", "[zeroshot]") {
  // A few of the reference values, so that a changed reference file cannot pass vacuously.
  CHECK(reference()["piqa"]["loglikelihood_requests_sha256"] ==
        "6048a3a2bb3ad1e6a3d98139618e06b4d7de766edd685bd38837596199c3f69f");
  CHECK(reference()["lambada_openai"]["loglikelihood_requests_sha256"] ==
        "6829e6a8aa5922e6c92dd31403cc060f242dc0ede4a775e085a70da095ab2e20");
  CHECK(reference()["hendrycksTest-abstract_algebra"]["loglikelihood_requests_sha256"] ==
        "e35d1eeb356ac1084d4e9773f028cb3c81ba1c6e5574d598ac4a78aa467cd797");
  for (const std::string& name : single_tasks) {
    INFO(name);
    CHECK(v0_3_request_hash(loaded(name, HarnessVersion::v0_3)) ==
          reference()[name]["loglikelihood_requests_sha256"].get<std::string>());
  }
  const TaskData& mmlu = loaded("mmlu", HarnessVersion::v0_3);
  REQUIRE(mmlu.groups.size() == 57);
  for (size_t g = 0; g < mmlu.groups.size(); ++g) {
    const std::string key = "hendrycksTest-" + mmlu.groups[g];
    INFO(key);
    REQUIRE(reference().contains(key));
    CHECK(v0_3_request_hash_of_group(mmlu, static_cast<int>(g)) ==
          reference()[key]["loglikelihood_requests_sha256"].get<std::string>());
  }
}

TEST_CASE("v0.3.0 fake-LM metrics of every task with data", "[zeroshot]") {
  std::vector<TaskResult> results;
  for (const std::string& name : single_tasks) {
    const TaskData& task = loaded(name, HarnessVersion::v0_3);
    for (TaskResult& r : task_metrics(task, fake_lm_scores(task))) results.push_back(std::move(r));
  }
  const TaskData& mmlu = loaded("mmlu", HarnessVersion::v0_3);
  std::vector<TaskResult> mmlu_results = task_metrics(mmlu, fake_lm_scores(mmlu));
  REQUIRE(mmlu_results.size() == 58);
  CHECK(mmlu_results.back().task == "mmlu");
  CHECK(mmlu_results.back().n == 14042);
  mmlu_results.pop_back();  // v0.3 had no MMLU average
  // --limit 150 leaves abstract_algebra (100) and 50 anatomy documents: subjects without
  // documents are not reported.
  TaskData limited = mmlu;
  limited.docs.resize(150);
  const std::vector<TaskResult> partial = task_metrics(limited, fake_lm_scores(limited));
  REQUIRE(partial.size() == 3);
  CHECK(partial[1].task == "mmlu/anatomy");
  CHECK(partial[1].n == 50);
  CHECK(partial[2].n == 150);
  results.insert(results.end(), mmlu_results.begin(), mmlu_results.end());

  int compared = 0;
  for (const TaskResult& r : results) {
    const nlohmann::json& expected = reference()[reference_key(r.task)]["fake_lm_results"];
    for (const auto& [metric, value] : expected.items()) {
      if (metric.size() > 7 && metric.ends_with("_stderr")) continue;
      INFO(r.task << " " << metric);
      const auto found = std::find_if(r.metrics.begin(), r.metrics.end(), [&](const MetricValue& m) { return m.name == metric; });
      REQUIRE(found != r.metrics.end());
      CHECK(relative_difference(found->value, value.get<double>()) <= 1e-12);
      if (metric != "ppl") CHECK(relative_difference(found->stderr_, expected[metric + "_stderr"].get<double>()) <= 1e-12);
      ++compared;
    }
  }
  CHECK(compared == 6 * 2 - 1 /* boolq: acc */ - 1 /* winogrande: acc */ + 57 * 2);
  // The values quoted in zeroshot-protocol.md §2.
  auto metric = [&](const std::string& task, const std::string& name) {
    for (const TaskResult& r : results)
      for (const MetricValue& m : r.metrics)
        if (r.task == task && m.name == name) return m.value;
    return std::nan("");
  };
  CHECK(relative_difference(metric("piqa", "acc"), 0.514145810663765) <= 1e-12);
  CHECK(relative_difference(metric("piqa", "acc_norm"), 0.5114254624591947) <= 1e-12);
  CHECK(relative_difference(metric("lambada_openai", "ppl"), 1.6479047769869253) <= 1e-12);
  CHECK(metric("lambada_openai", "acc") == 0);
}

TEST_CASE("v0.4 first requests of each task", "[zeroshot]") {
  const TaskDoc& piqa = first_doc("piqa");
  REQUIRE(piqa.requests.size() == 2);
  CHECK(piqa.requests[0].context == "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  CHECK(piqa.requests[0].continuation ==
        " Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will "
        "also need to supply it with a water bottle and a food dish.");
  CHECK(piqa.gold == 0);
  // Whitespace inside the solutions is kept, and counts in acc_norm's length.
  const TaskDoc& dresser = loaded("piqa", HarnessVersion::v0_4).docs.at(1);
  CHECK(dresser.requests[0].continuation == " replace drawer with bobby pin ");
  CHECK(dresser.requests[1].continuation == " finish, woodgrain with  bobby pin ");
  CHECK(dresser.choice_chars == std::vector<int64_t>{30, 34});

  const TaskDoc& lambada = first_doc("lambada_openai");
  REQUIRE(lambada.requests.size() == 1);
  CHECK(lambada.requests[0].continuation == " signs");
  CHECK(lambada.requests[0].context.rfind("In my palm is a clear stone, and inside it is a small ivory statuette.", 0) == 0);
  CHECK(lambada.requests[0].context.ends_with("I don't care about"));

  const TaskDoc& winogrande = first_doc("winogrande");
  REQUIRE(winogrande.requests.size() == 2);
  CHECK(winogrande.requests[0].context == "Sarah was a much better surgeon than Maria so Sarah");
  CHECK(winogrande.requests[1].context == "Sarah was a much better surgeon than Maria so Maria");
  CHECK(winogrande.requests[0].continuation == " always got the easier cases.");
  CHECK(winogrande.requests[1].continuation == " always got the easier cases.");
  CHECK(winogrande.gold == 1);
  CHECK(winogrande.choice_chars.empty());

  const TaskDoc& arc = first_doc("arc_easy");
  CHECK(arc.requests[0].context ==
        "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
  CHECK(arc.requests[0].continuation == " Sunlight is the source of energy for nearly all ecosystems.");
  CHECK(arc.gold == 0);
  CHECK(first_doc("arc_challenge").gold == 2);

  const TaskDoc& boolq = first_doc("boolq");
  CHECK(boolq.requests[0].context.rfind("Ethanol fuel -- All biomass goes through", 0) == 0);
  CHECK(boolq.requests[0].context.ends_with("\nQuestion: does ethanol take more energy make that produces?\nAnswer:"));
  CHECK(boolq.requests[0].continuation == " no");
  CHECK(boolq.requests[1].continuation == " yes");
  CHECK(boolq.gold == 0);
  // v0.3 asked " yes" first.
  const TaskDoc& boolq_v0_3 = loaded("boolq", HarnessVersion::v0_3).docs.at(0);
  CHECK(boolq_v0_3.requests[0].continuation == " yes");
  CHECK(loaded("boolq", HarnessVersion::v0_3).choice_rule == ChoiceRule::first_if_strictly_greater);

  const TaskDoc& mmlu = first_doc("mmlu");
  CHECK(mmlu.requests[0].context ==
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:");
  std::vector<std::string> continuations;
  for (const LoglikelihoodRequest& r : mmlu.requests) continuations.push_back(r.continuation);
  CHECK(continuations == std::vector<std::string>{" A", " B", " C", " D"});
  CHECK(mmlu.gold == 1);
  CHECK(mmlu.group == 0);
  CHECK(mmlu.choice_chars.empty());  // v0.4's MMLU reports acc only
  const TaskData& mmlu_v0_4 = loaded("mmlu", HarnessVersion::v0_4);
  CHECK(mmlu_v0_4.docs.back().group == 56);
  CHECK(mmlu_v0_4.groups.back() == "world_religions");
  CHECK(mmlu_v0_4.docs.back().requests[0].context.rfind(
            "The following are multiple choice questions (with answers) about world religions.\n\n", 0) == 0);
}

TEST_CASE("document counts, files and checksums of the bundled data", "[zeroshot]") {
  const std::vector<std::pair<std::string, size_t>> counts = {
      {"lambada_openai", 5153}, {"piqa", 1838}, {"arc_easy", 2376}, {"arc_challenge", 1172},
      {"boolq", 3270},          {"winogrande", 1267}, {"mmlu", 14042}};
  for (const auto& [name, n] : counts) {
    INFO(name);
    const TaskData& task = loaded(name, HarnessVersion::v0_4);
    CHECK(task.name == name);
    CHECK(task.docs.size() == n);
    CHECK(loaded(name, HarnessVersion::v0_3).docs.size() == n);
    REQUIRE(task.checksum_notes.size() == task.files.size());
    for (const std::string& note : task.checksum_notes) CHECK(note.rfind("verified: ", 0) == 0);
  }
  CHECK(loaded("piqa", HarnessVersion::v0_4).files.size() == 2);
  CHECK(loaded("winogrande", HarnessVersion::v0_4).files.size() == 2);  // llm-foundry's copy + dev-labels.lst
  CHECK(loaded("mmlu", HarnessVersion::v0_4).files.size() == 57);
  CHECK(loaded("piqa", HarnessVersion::v0_4).checksum_notes[0] == "verified: PIQA's dev.jsonl sha256 matches");
  CHECK(loaded("piqa", HarnessVersion::v0_4).docs[0].where == (data_dir / "piqa/dev.jsonl").string() + ":1");
}

TEST_CASE("acc_norm counts code points, ties go to the first choice, LAMBADA targets stay whole", "[zeroshot]") {
  // PIQA row 20: "it’s" makes each solution 2 bytes longer than its length in code points.
  CHECK(loaded("piqa", HarnessVersion::v0_4).docs.at(20).choice_chars == std::vector<int64_t>{123, 122});

  TaskData task;
  task.name = "hand";
  task.groups = {"hand"};
  TaskDoc doc;
  doc.requests = {{"Q:", " naïve"}, {"Q:", " plain"}};
  doc.choice_chars = {code_point_count("naïve"), code_point_count("plain")};
  CHECK(doc.choice_chars == std::vector<int64_t>{5, 5});
  doc.gold = 1;
  task.docs = {doc};
  auto metrics = [&](std::vector<double> ll) {
    std::vector<double> out;
    for (const MetricValue& m : task_metrics(task, {{ll, std::vector<bool>(ll.size(), false)}}).at(0).metrics)
      out.push_back(m.value);
    return out;
  };
  // -5.7/5 < -5.6/5 picks "plain"; bytes (-5.7/6) or the delimiter (-5.7/6, -5.6/6) would pick "naïve".
  CHECK(metrics({-5.7, -5.6}) == std::vector<double>{1, 1});
  CHECK(metrics({-5.5, -5.6}) == std::vector<double>{0, 0});
  // numpy.argmax: the first index wins a tie, and a NaN wins outright.
  CHECK(metrics({-2.0, -2.0}) == std::vector<double>{0, 0});
  CHECK(metrics({-2.0, std::nan("")}) == std::vector<double>{1, 1});
  // v0.3 BoolQ: " yes" (request 0) only when strictly more likely.
  task.choice_rule = ChoiceRule::first_if_strictly_greater;
  task.docs[0].choice_chars.clear();
  CHECK(metrics({-2.0, -2.0}) == std::vector<double>{1});
  CHECK(metrics({-1.0, -2.0}) == std::vector<double>{0});

  const TaskData& lambada = loaded("lambada_openai", HarnessVersion::v0_4);
  std::vector<std::string> with_newline;
  for (const TaskDoc& d : lambada.docs) {
    const LoglikelihoodRequest& r = d.requests.at(0);
    if (r.continuation.find('\n') != std::string::npos) with_newline.push_back(r.continuation);
    REQUIRE(r.continuation[0] == ' ');
    REQUIRE(r.continuation.find(' ', 1) == std::string::npos);
  }
  REQUIRE(with_newline.size() == 7);
  CHECK(with_newline[0] == " of\n\nPower");
  CHECK(with_newline[6] == " \n\nrecorder");
  CHECK(lambada.docs[426].requests[0].continuation == " of\n\nPower");

  // LAMBADA: ppl = exp(-mean ll per document), acc = is_greedy.
  TaskData words;
  words.name = "lambada_openai";
  words.kind = TaskKind::target_word;
  words.groups = {"lambada_openai"};
  words.docs.resize(2, TaskDoc{{{"a", " b"}}, 0, {}, 0, "here"});
  const TaskResult r = task_metrics(words, {{{-1.0}, {true}}, {{-3.0}, {false}}}).at(0);
  CHECK(r.metrics.at(0).name == "ppl");
  CHECK(r.metrics.at(0).value == Approx(std::exp(2.0)).epsilon(1e-15));
  CHECK(std::isnan(r.metrics.at(0).stderr_));
  CHECK(r.metrics.at(1).name == "acc");
  CHECK(r.metrics.at(1).value == 0.5);
  CHECK(r.metrics.at(1).stderr_ == Approx(0.5).epsilon(1e-15));  // sample std 1/sqrt(2), over sqrt(2)
}

TEST_CASE("Python json.dumps of request lists", "[zeroshot]") {
  CHECK(python_json_dumps({}) == "[]");
  CHECK(python_json_dumps({{"a", " b"}, {"c", "d"}}) == R"([["a", " b"], ["c", "d"]])");
  // BMP characters as \uXXXX in lower-case hex; U+1F600 as its surrogate pair.
  CHECK(python_json_dumps({{"é–", "😀"}}) == R"([["\u00e9\u2013", "\ud83d\ude00"]])");
  CHECK(python_json_dumps({{"a\x01\x1f\x7f", "\t\n\r\b\f\"\\/"}}) ==
        R"([["a\u0001\u001f\u007f", "\t\n\r\b\f\"\\/"]])");
  REQUIRE_THROWS_WITH(python_json_dumps({{"\xff", ""}}), Catch::Contains("malformed UTF-8"));
}

TEST_CASE("Python str semantics and the CSV reader", "[zeroshot]") {
  CHECK(python_strip(" \u00a0x y\u3000\n") == "x y");
  CHECK(python_replace("a   b", "  ", " ") == "a  b");
  CHECK(python_capitalize("he IS") == "He is");
  CHECK(python_capitalize("élan VITAL") == "Élan vital");
  CHECK(python_capitalize("ǆemal") == "ǅemal");
  CHECK(python_capitalize("ანა") == "ანა");  // Georgian has no title case
  CHECK(python_capitalize("xİ") == "Xi\u0307");
  CHECK(code_point_count("it’s") == 4);
  const std::vector<CsvRecord> records = parse_csv("t.csv", "a,\"b \"\"q\"\"\nc\",\r\n\nx,y,z");
  REQUIRE(records.size() == 2);
  CHECK(records[0].fields == std::vector<std::string>{"a", "b \"q\"\nc", ""});
  CHECK(records[1].fields == std::vector<std::string>{"x", "y", "z"});
  CHECK(records[1].where == "t.csv:4");
}

TEST_CASE("HellaSwag documents follow the harness preprocessing", "[zeroshot]") {
  CHECK(hellaswag_preprocess("a [x] b [y\n] c") == "a b [y\n] c");  // no match across a newline
  CHECK(hellaswag_preprocess("[a [b] c]") == " c]");                // non-greedy, from the first '['
  TempDir dir;
  write_file(dir / "hellaswag/hellaswag_val.jsonl",
             R"({"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he", )"
             R"("endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", )"
             R"("starts pulling up roofing on a roof."], "label": 3})"
             "\n"
             R"({"activity_label": "Home and Garden", "ctx_a": "[header] How to clean a roof [title] Remove debris.", )"
             R"("ctx_b": "USE A Broom [step] carefully.", "endings": ["[substeps] Sweep  the leaves.", )"
             R"(" [title] Rinse the roof [step] Use a hose. "], "label": "1"})"
             "\n");
  const TaskData task = load_task("hellaswag", dir.path().string(), HarnessVersion::v0_4);
  REQUIRE(task.docs.size() == 2);
  const TaskDoc& roof = task.docs[0];
  CHECK(roof.requests[0].context == "Roof shingle removal: A man is sitting on a roof. He");
  CHECK(roof.requests[3].continuation == " starts pulling up roofing on a roof.");
  CHECK(roof.gold == 3);
  CHECK(roof.choice_chars[1] == 27);
  const TaskDoc& wikihow = task.docs[1];
  CHECK(wikihow.requests[0].context == "Home and Garden: How to clean a roof. Remove debris. Use a broom carefully.");
  CHECK(wikihow.requests[0].continuation == "  Sweep the leaves.");  // the bracket left its space
  CHECK(wikihow.requests[1].continuation == "  Rinse the roof Use a hose.");
  CHECK(wikihow.gold == 1);
  CHECK(task.checksum_notes == std::vector<std::string>{
                                   "differs from HellaSwag's hellaswag_val.jsonl (sha256 " +
                                   sha256_hex(read_text_file(dir / "hellaswag/hellaswag_val.jsonl")) + ")"});
}

TEST_CASE("zero-shot tasks name the file and line of bad input", "[zeroshot]") {
  TempDir dir;
  std::string error = load_error("piqa", dir);
  CHECK_THAT(error, Catch::Contains("piqa/dev.jsonl: no such file") && Catch::Contains("piqa/dev-labels.lst"));
  CHECK_THAT(load_error("mmlu", dir), Catch::Contains("abstract_algebra_test.csv: no such file") &&
                                          Catch::Contains("mmlu/test/<subject>_test.csv"));
  REQUIRE_THROWS_WITH(load_task("lambada", dir.path().string(), HarnessVersion::v0_4),
                      "unknown zero-shot task 'lambada'; known: lambada_openai, piqa, arc_easy, arc_challenge, "
                      "boolq, winogrande, mmlu, hellaswag");
  REQUIRE_THROWS_WITH(parse_harness_version("v0.5"), Catch::Contains("v0.3, v0.4, v0.4.10"));
  CHECK(parse_harness_version("v0.4.10") == HarnessVersion::v0_4_10);
  CHECK(std::string(harness_version_name(HarnessVersion::v0_3)) == "v0.3");

  const std::string piqa_row = R"({"goal": "g", "sol1": "a", "sol2": "b"})";
  write_file(dir / "piqa/dev.jsonl", piqa_row + "\n{\"goal\": \n");
  write_file(dir / "piqa/dev-labels.lst", "0\n1\n");
  CHECK_THAT(load_error("piqa", dir), Catch::Contains("piqa/dev.jsonl:2: bad JSON"));
  write_file(dir / "piqa/dev.jsonl", piqa_row + "\n" + R"({"goal": "g", "sol1": "a"})" + "\n");
  CHECK_THAT(load_error("piqa", dir), Catch::Contains("piqa/dev.jsonl:2: missing field 'sol2'"));
  write_file(dir / "piqa/dev.jsonl", piqa_row + "\n\n" + piqa_row + "\n");
  CHECK_THAT(load_error("piqa", dir), Catch::Contains("piqa/dev.jsonl:2: blank line inside the file"));
  write_file(dir / "piqa/dev.jsonl", piqa_row + "\n" + piqa_row + "\n" + piqa_row + "\n");
  CHECK_THAT(load_error("piqa", dir), Catch::Contains("dev-labels.lst: 2 labels for the 3 rows of"));
  write_file(dir / "piqa/dev-labels.lst", "0\n2\n1\n");
  CHECK_THAT(load_error("piqa", dir), Catch::Contains("dev-labels.lst:2: expected a label 0..1, got '2'"));

  write_file(dir / "winogrande/winogrande_xl_validation.llm-foundry.jsonl",
             R"({"context_options": ["A", "B"], "continuation": "c", "gold": 1})"
             "\n");
  write_file(dir / "winogrande/dev-labels.lst", "1\n");
  CHECK_THAT(load_error("winogrande", dir), Catch::Contains("dev-labels.lst:1: label 1 disagrees with"));
  write_file(dir / "winogrande/dev-labels.lst", "");
  CHECK_THAT(load_error("winogrande", dir), Catch::Contains("dev-labels.lst: 0 labels for the 1 rows of"));
  // The genuine dev.jsonl takes precedence and builds the same strings.
  write_file(dir / "winogrande/dev-labels.lst", "2\n");
  write_file(dir / "winogrande/dev.jsonl",
             R"({"qID": "q", "sentence": "Sarah beat Maria so _ always  won. ", "option1": "Sarah", "option2": "Maria", "answer": "1"})"
             "\n");
  CHECK_THAT(load_error("winogrande", dir), Catch::Contains("dev-labels.lst:1: label 2 disagrees with"));
  write_file(dir / "winogrande/dev-labels.lst", "1\n");
  const TaskData wino = load_task("winogrande", dir.path().string(), HarnessVersion::v0_4);
  CHECK(wino.docs.at(0).requests[1].context == "Sarah beat Maria so Maria");
  CHECK(wino.docs.at(0).requests[1].continuation == " always  won.");
  CHECK(wino.docs.at(0).gold == 0);

  write_file(dir / "arc/ARC-Easy-Test.jsonl",
             R"({"id": "x", "question": {"stem": "s", "choices": [{"text": "t", "label": "A"}]}, "answerKey": "B"})"
             "\n");
  CHECK_THAT(load_error("arc_easy", dir), Catch::Contains("ARC-Easy-Test.jsonl:1: answerKey 'B' is none of the choice labels"));
  write_file(dir / "boolq/val.jsonl", R"({"passage": "p", "question": "q", "label": 1})" "\n");
  CHECK_THAT(load_error("boolq", dir), Catch::Contains("val.jsonl:1: field 'label' is 1, expected true or false"));
  write_file(dir / "lambada_openai/lambada_test.jsonl", R"({"text": "oneword"})" "\n");
  CHECK_THAT(load_error("lambada_openai", dir), Catch::Contains("lambada_test.jsonl:1: 'text' has no space"));

  write_file(dir / "mmlu/test/abstract_algebra_test.csv", "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,1\n\"q2,a,b,c,d,1\n");
  CHECK_THAT(load_error("mmlu", dir), Catch::Contains("abstract_algebra_test.csv:3: quoted field never closed"));
  write_file(dir / "mmlu/test/abstract_algebra_test.csv", "q,a,b,c,d,E\n");
  CHECK_THAT(load_error("mmlu", dir), Catch::Contains("abstract_algebra_test.csv:1: answer 'E' is not 0–3 or A–D"));
  write_file(dir / "mmlu/test/abstract_algebra_test.csv", "q,a,b,c,d,1\nq,a,b,c\n");
  CHECK_THAT(load_error("mmlu", dir), Catch::Contains("abstract_algebra_test.csv:2: 4 fields, expected 6"));
}
