// Sweeps: grid and zip order, the errors for unknown axes and ragged zips, --dry-run, and a
// sweep run in two shards and merged giving the same per-run numbers as the whole sweep.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "config/experiment.h"
#include "log/experiment_log.h"
#include "log/h5.h"
#include "log/log_summary.h"
#include "log/merge_logs.h"
#include "run/experiment_runner.h"
#include "run/shard.h"
#include "support/experiment_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
std::string experiment(const std::filesystem::path& dir, const std::string& sweep, const std::string& name = "e.toml") {
  return write_bundled_experiment(dir / name, "[quant]\nbits = 4\ngroup_size = 32\n[[pipeline]]\nplugin = \"rtn\"\n[sweep]\n" + sweep,
                                  {.name = "sweep", .n_segments = 8});
}

std::vector<std::string> settings(const Experiment& ex) {
  std::vector<std::string> out;
  for (const RunConfig& r : ex.runs) {
    std::string s = r.run_id + ":";
    for (const auto& [k, v] : r.sweep_point) s += " " + k + "=" + v;
    out.push_back(s);
  }
  return out;
}
}  // namespace

TEST_CASE("grid sweeps vary the last axis fastest, zip sweeps pair values, both number runs in order", "[sweep]") {
  TempDir dir;
  Experiment grid = load_experiment(experiment(dir.path(), "\"quant.bits\" = [4, 3]\n\"pipeline.rtn.search\" = [\"none\", \"mse\"]\n\"quant.group_size\" = [32, 0]\n"));
  CHECK(grid.grid_points == 8);
  CHECK(settings(grid)[0] == "r0000: quant.bits=4 pipeline.rtn.search='none' quant.group_size=32");
  CHECK(settings(grid)[1] == "r0001: quant.bits=4 pipeline.rtn.search='none' quant.group_size=0");
  CHECK(settings(grid)[2] == "r0002: quant.bits=4 pipeline.rtn.search='mse' quant.group_size=32");
  CHECK(settings(grid)[7] == "r0007: quant.bits=3 pipeline.rtn.search='mse' quant.group_size=0");
  CHECK(grid.runs[5].format.bits == 3);
  CHECK(grid.runs[5].format.group_size == 0);
  Experiment zip = load_experiment(experiment(dir.path(), "mode = \"zip\"\n\"quant.bits\" = [4, 3, 2]\n\"pipeline\" = [[{ plugin = \"rtn\" }], [{ plugin = \"gptq\" }], [{ plugin = \"awq\" }, { plugin = \"rtn\", search = \"mse\" }]]\n"));
  REQUIRE(zip.grid_points == 3);
  CHECK(settings(zip)[2] == "r0002: quant.bits=2 pipeline=awq+rtn(search='mse')");
  CHECK(zip.runs[2].pipeline.size() == 2);
  CHECK(zip.runs[1].pipeline[0].plugin == "gptq");
  SECTION("a whole-pipeline axis comes first, then parameters are set inside it") {
    Experiment ex = load_experiment(experiment(dir.path(), "\"pipeline\" = [[{ plugin = \"awq\" }, { plugin = \"rtn\" }]]\n\"pipeline.awq.n_grid\" = [5, 10]\n"));
    REQUIRE(ex.runs.size() == 2);
    CHECK(std::get<int64_t>(ex.runs[1].pipeline[0].params.at("n_grid").value) == 10);
    CHECK(settings(ex)[1] == "r0001: pipeline=awq+rtn pipeline.awq.n_grid=10");
  }
  SECTION("errors") {
    CHECK_THROWS_WITH(load_experiment(experiment(dir.path(), "\"quant.bitz\" = [3, 4]\n")),
                      Catch::Contains("unknown key 'bitz' in [quant]") && Catch::Contains("at sweep point r0000: quant.bitz=3"));
    CHECK_THROWS_WITH(load_experiment(experiment(dir.path(), "mode = \"zip\"\n\"quant.bits\" = [3, 4]\n\"quant.group_size\" = [0]\n")),
                      Catch::Contains("zip sweep axes differ in length: 'quant.bits' has 2, 'quant.group_size' has 1"));
    CHECK_THROWS_WITH(load_experiment(experiment(dir.path(), "\"pipeline.gptq.damp_frac\" = [0.1]\n")), Catch::Contains("no pipeline entry 'gptq'"));
    CHECK_THROWS_WITH(load_experiment(experiment(dir.path(), "\"pipeline\" = [[1, 2]]\n")), Catch::Contains("must be a non-empty array of { plugin = ... } tables"));
    CHECK_THROWS_WITH(load_experiment(experiment(dir.path(), "mode = \"product\"\n\"quant.bits\" = [3]\n")), Catch::Contains("sweep.mode must be \"grid\" or \"zip\""));
  }
}

TEST_CASE("shards: i/n parsing, Slurm's variables, and a deterministic round-robin slice", "[sweep][shard]") {
  CHECK(parse_shard("1/3").index == 1);
  CHECK_THROWS_WITH(parse_shard("3/3"), Catch::Contains("expected i/n with 0 <= i < n"));
  CHECK_THROWS_WITH(parse_shard("a/b"), Catch::Contains("expected i/n"));
  setenv("SLURM_ARRAY_TASK_ID", "5", 1);
  setenv("SLURM_ARRAY_TASK_MIN", "4", 1);
  setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
  std::optional<Shard> s = resolve_shard("");
  REQUIRE(s);
  CHECK(s->index == 1);
  CHECK(s->count == 3);
  CHECK(s->source == "Slurm array");
  CHECK(resolve_shard("0/2")->count == 2);  // an explicit --shard wins
  setenv("SLURM_ARRAY_TASK_ID", "9", 1);
  CHECK_THROWS_WITH(resolve_shard(""), Catch::Contains("do not name a task of a contiguous array"));
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("SLURM_ARRAY_TASK_MIN");
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  CHECK(!resolve_shard(""));
  TempDir dir;
  Experiment ex = load_experiment(experiment(dir.path(), "\"quant.bits\" = [4, 3, 2]\n\"quant.group_size\" = [32, 0]\n"));
  select_shard(ex, {1, 4, ""});
  REQUIRE(ex.runs.size() == 2);
  CHECK(ex.runs[0].run_id == "r0001");
  CHECK(ex.runs[1].run_id == "r0005");
  CHECK(ex.grid_points == 6);
}

TEST_CASE("a sweep run in two shards and merged equals the whole sweep run at once", "[sweep][shard][merge][slow]") {
  TempDir dir;
  const std::string sweep = "\"pipeline\" = [[{ plugin = \"rtn\" }], [{ plugin = \"gptq\" }]]\n\"quant.bits\" = [4, 3]\n";
  Experiment whole = load_experiment(experiment(dir.path(), sweep));
  run_experiment(whole, {(dir / "whole.h5").string(), false, {}, false});
  for (int i = 0; i < 2; ++i) {
    Experiment part = load_experiment(experiment(dir.path(), sweep));
    select_shard(part, {i, 2, "--shard"});
    run_experiment(part, {(dir / ("s" + std::to_string(i) + ".h5")).string(), false, {}, false});
  }
  MergeResult m = merge_logs((dir / "merged.h5").string(), {(dir / "s1.h5").string(), (dir / "s0.h5").string()});
  CHECK(m.grid_points == 4);
  CHECK(m.missing_runs.empty());
  ExperimentSummary a = read_summary(ExperimentLog::open_read((dir / "whole.h5").string()));
  ExperimentSummary b = read_summary(ExperimentLog::open_read((dir / "merged.h5").string()));
  REQUIRE(a.runs.size() == 4);
  REQUIRE(b.runs.size() == 4);
  CHECK(a.float_ppl == b.float_ppl);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(a.runs[i].run_id == b.runs[i].run_id);
    CHECK(a.runs[i].sweep_point == b.runs[i].sweep_point);
    CHECK(a.runs[i].ppl == b.runs[i].ppl);
    CHECK(a.runs[i].block_error == b.runs[i].block_error);
    CHECK(a.runs[i].bits_per_weight == b.runs[i].bits_per_weight);
  }
  SECTION("missing, duplicate and foreign shards") {
    MergeResult half = merge_logs((dir / "half.h5").string(), {(dir / "s0.h5").string()});
    CHECK(half.missing_runs == std::vector<std::string>{"r0001", "r0003"});
    CHECK_THROWS_WITH(merge_logs((dir / "dup.h5").string(), {(dir / "s0.h5").string(), (dir / "whole.h5").string()}),
                      Catch::Contains("grid point r0000 is in both") && Catch::Contains("s0.h5") && Catch::Contains("whole.h5"));
    Experiment other = load_experiment(experiment(dir.path(), "\"quant.bits\" = [2]\n", "other.toml"));
    run_experiment(other, {(dir / "other.h5").string(), false, {}, false});
    CHECK_THROWS_WITH(merge_logs((dir / "x.h5").string(), {(dir / "s0.h5").string(), (dir / "other.h5").string()}),
                      Catch::Contains("other.h5: its experiment text differs"));
  }
}

TEST_CASE("paths name environment variables, with defaults, and an unset one is an error", "[sweep][config]") {
  TempDir dir;
  auto load = [&](const std::string& path) {
    std::ofstream(dir / "env.toml") << "[model]\npath = \"" << path << "\"\n[[pipeline]]\nplugin = \"rtn\"\n";
    return load_experiment((dir / "env.toml").string());
  };
  setenv("QLAB_TEST_MODELS", "/data/hf", 1);
  CHECK(load("${QLAB_TEST_MODELS}/opt-125m").runs[0].model_path == "/data/hf/opt-125m");
  CHECK(load("${QLAB_TEST_MODELS:-/other}/opt-125m").runs[0].model_path == "/data/hf/opt-125m");
  unsetenv("QLAB_TEST_MODELS");
  CHECK(load("${QLAB_TEST_MODELS:-/other}/opt-125m").runs[0].model_path == "/other/opt-125m");
  CHECK_THROWS_WITH(load("${QLAB_TEST_MODELS}/opt-125m"), Catch::Contains("environment variable QLAB_TEST_MODELS is not set"));
  CHECK_THROWS_WITH(load("${QLAB_TEST_MODELS/opt-125m"), Catch::Contains("unterminated ${...}"));
}
