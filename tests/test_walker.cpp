// The walker, the experiment files and the log, on the bundled model: RTN through the whole
// pipeline equals RTN applied to each weight on its own; a killed run resumes to identical
// numbers; a failing plugin marks its run failed; configuration errors name file and line.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "config/experiment.h"
#include "log/log_summary.h"
#include "format/llama2c_loader.h"
#include "qlab/grid.hpp"
#include "run/experiment_runner.h"
#include "support/llama2c_file.h"
#include "util/error.h"
#include "support/walk_model.h"
#include "walk/layer_walker.h"
#include "walk/measure_module.h"
#include "walk/pipeline.h"
#include "walk/quantized_linear.h"
#include "format/safetensors.h"
#include "util/file_io.h"
#include <nlohmann/json.hpp>
#include <random>

using namespace qlab;
using namespace qlab::test;

namespace {
std::string write_experiment(const TempDir& dir, const std::string& body, const std::string& name = "exp.toml") {
  const std::string root = source_dir().string();
  std::string text = "name = \"t\"\n[model]\npath = \"" + root + "/datasets/stories260K/stories260K.bin\"\n"
                     "[calibration]\ndata = \"text:" + root + "/datasets/tinystories/tinystories_calib.txt\"\nn_segments = 16\nseq_len = 128\n"
                     "[eval]\ndata = \"text:" + root + "/datasets/tinystories/tinystories_eval.txt\"\nseq_len = 256\nmax_segments = 8\n" + body;
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}
}  // namespace

TEST_CASE("RTN through the walker equals RTN of each weight on its own", "[walker]") {
  TempDir dir;
  Experiment ex = load_experiment(write_experiment(dir, "[quant]\nbits = 3\ngroup_size = 16\n[[pipeline]]\nplugin = \"rtn\"\n"));
  const RunConfig& run = ex.runs.at(0);
  PluginRegistry reg = PluginRegistry::discover({});
  Pipeline pipeline = build_pipeline(run, reg);
  Model float_model = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin");
  std::vector<std::vector<int32_t>> calib(4, std::vector<int32_t>(64));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t t = 0; t < 64; ++t) calib[s][t] = static_cast<int32_t>((s * 131 + t * 7) % 512);
  int blocks_seen = 0;
  ActivationPlan act{run.act, {}};
  const Model model = walk_model(float_model, calib, pipeline, run, act, [&](const BlockResult& r) {
    ++blocks_seen;
    CHECK(r.linears.size() == 7);
    for (const LinearRow& row : r.linears) {
      CHECK(row.rel_output_error > 0);
      CHECK(row.rel_output_error < 0.2);
      // ceil(cols / 16) groups of an fp16 scale and a 3-bit zero: 4 per 64-wide row, 11 per 172-wide
      CHECK(row.bits_per_weight == Approx(3 + (row.n_cols == 172 ? 11 * 19.0 / 172 : 4 * 19.0 / 64)));
    }
  });
  CHECK(blocks_seen == 5);
  for (size_t b = 0; b < model.blocks.size(); ++b) {
    const auto got = model.blocks[b].linears();
    const auto want = float_model.blocks[b].linears();
    for (size_t i = 0; i < got.size(); ++i) {
      const Matrix& w = want[i]->weight;
      Matrix expect(w.rows(), w.cols());
      for (int64_t r = 0; r < w.rows(); ++r)
        for (int64_t g = 0; g * 16 < w.cols(); ++g) {
          const int64_t n = std::min<int64_t>(16, w.cols() - g * 16);
          grid::GroupParams p = grid::fit(w.row(r).data() + g * 16, n, 1, 3, false, QLAB_RANGE_GPTQ);
          for (int64_t c = g * 16; c < g * 16 + n; ++c) expect(r, c) = grid::quant_dequant(w(r, c), p, 7);
        }
      CHECK(got[i]->weight == expect);
    }
  }
  CHECK(model.lm_head.weight == float_model.lm_head.weight);  // lm_head is never quantized by default
}

namespace {
void check_resume_is_identical(const std::string& experiment_body, const std::vector<const char*>& columns) {
  TempDir dir;
  const std::string exp = write_experiment(dir, experiment_body);
  const std::string qlab = QLAB_BINARY;
  const std::string whole = (dir / "whole.h5").string(), killed = (dir / "killed.h5").string();
  REQUIRE(std::system((qlab + " run " + exp + " --out " + whole + " > /dev/null 2>&1").c_str()) == 0);
  int rc = std::system(("QLAB_TEST_ABORT_AFTER_BLOCK=2 " + qlab + " run " + exp + " --out " + killed + " > /dev/null 2>&1").c_str());
  CHECK(WEXITSTATUS(rc) == 86);
  {
    ExperimentSummary half = read_summary(ExperimentLog::open_read(killed));
    REQUIRE(half.runs.size() == 1);
    CHECK(half.runs[0].status == "running");
    CHECK(half.runs[0].block_error.size() == 3);  // blocks 0, 1, 2 were logged before the kill
  }
  REQUIRE(std::system((qlab + " run " + exp + " --out " + killed + " --resume > /dev/null 2>&1").c_str()) == 0);
  ExperimentLog a = ExperimentLog::open_read(whole), b = ExperimentLog::open_read(killed);
  ExperimentSummary sa = read_summary(a), sb = read_summary(b);
  CHECK(sb.runs[0].status == "done");
  CHECK(sa.runs[0].ppl == sb.runs[0].ppl);
  CHECK(sa.runs[0].block_error == sb.runs[0].block_error);
  for (const char* column : columns) {
    h5::Handle la = h5::open_group(a.file(), "runs/r0000/linears"), lb = h5::open_group(b.file(), "runs/r0000/linears");
    std::vector<double> x = h5::read_numbers(la.id(), column), y = h5::read_numbers(lb.id(), column);
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) CHECK((x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i]))));
  }
  CHECK(!std::filesystem::exists(killed + ".blocks"));  // checkpoints are removed once the run is done
  // Resuming with another configuration is refused.
  rc = std::system((qlab + " run " + exp + " --set quant.bits=4 --out " + killed + " --resume > /dev/null 2>&1").c_str());
  CHECK(WEXITSTATUS(rc) == 1);
}
}  // namespace

TEST_CASE("a killed run resumes from its last block to identical numbers", "[walker][resume][slow]") {
  check_resume_is_identical("[quant]\nbits = 3\ngroup_size = 32\n[[pipeline]]\nplugin = \"clip\"\n[[pipeline]]\nplugin = \"rtn\"\n",
                            {"rel_output_error", "weight_mse", "clip.mean_shrink"});
}

TEST_CASE("a killed static-W8A8 run resumes with its calibrated activation ranges", "[walker][resume][w8a8][slow]") {
  check_resume_is_identical("[quant]\nbits = 8\nsym = true\nact_bits = 8\nact_scheme = \"static\"\nact_calibrator = \"entropy\"\n"
                            "[[pipeline]]\nplugin = \"smoothquant\"\n[[pipeline]]\nplugin = \"rtn\"\n",
                            {"rel_output_error", "weight_mse", "act_input_absmax"});
}

TEST_CASE("bits per weight counts ceil(cols / group) groups per row, a group wider than the row as per-channel", "[bits]") {
  CHECK(uniform_bits_per_weight(4, 32, false, 172) == Approx(4.6976744));  // 6 groups: 4 + 6·20/172
  CHECK(uniform_bits_per_weight(4, 32, false, 64) == 4.625);               // 2 groups: 4 + 2·20/64
  CHECK(uniform_bits_per_weight(4, 48, false, 64) == 4.625);               // 48 does not divide 64: still 2 groups
  CHECK(uniform_bits_per_weight(4, 48, false, 172) == Approx(4.4651163));  // 4 groups: 4 + 4·20/172
  CHECK(uniform_bits_per_weight(4, 4096, false, 172) == Approx(4.1162791));  // one group per row: 4 + 20/172
  CHECK(uniform_bits_per_weight(4, 4096, false, 172) == uniform_bits_per_weight(4, 0, false, 172));
  CHECK(uniform_bits_per_weight(3, 0, true, 64) == 3.25);                  // symmetric: the fp16 scale only
}

TEST_CASE("a plugin that fails marks its run failed with the plugin's and the layer's name", "[walker]") {
  TempDir dir;
  Experiment ex = load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"failing\"\n[sweep]\n\"quant.bits\" = [4]\n"));
  RunOptions opt;
  opt.log_path = (dir / "log.h5").string();
  opt.plugin_dirs = {std::string(QLAB_FIXTURE_DIR) + "/failing"};
  opt.progress = false;
  ExperimentSummary s = run_experiment(ex, opt);
  REQUIRE(s.runs.size() == 1);
  CHECK(s.runs[0].status == "failed");
  CHECK_THAT(s.runs[0].error, Catch::Contains("plugin 'failing'") && Catch::Contains("1.self_attn.v_proj") &&
                                   Catch::Contains("refusing this layer on purpose"));
  CHECK(s.runs[0].ppl.empty());  // nothing evaluated for a failed run
}

TEST_CASE("experiment files: sweeps expand in order, errors name file and line", "[config]") {
  TempDir dir;
  SECTION("grid and zip order") {
    Experiment g = load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\n\"quant.bits\" = [4, 3]\n\"quant.group_size\" = [32, 64, 128]\n"));
    REQUIRE(g.runs.size() == 6);
    CHECK(g.runs[1].run_id == "r0001");
    CHECK(g.runs[1].format.bits == 4);
    CHECK(g.runs[1].format.group_size == 64);
    CHECK(g.runs[3].format.bits == 3);
    CHECK(g.runs[3].format.group_size == 32);
    Experiment z = load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\nmode = \"zip\"\n\"quant.bits\" = [4, 3]\n\"pipeline.rtn.search\" = [\"none\", \"mse\"]\n"));
    REQUIRE(z.runs.size() == 2);
    CHECK(z.runs[1].format.bits == 3);
    CHECK(std::get<std::string>(z.runs[1].pipeline[0].params.at("search").value) == "mse");
    REQUIRE_THROWS_WITH(load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\nmode = \"zip\"\n\"quant.bits\" = [4, 3]\n\"quant.group_size\" = [32]\n")),
                        Catch::Contains("zip sweep axes differ in length"));
  }
  SECTION("--set overrides before validation") {
    Experiment e = load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"rtn\"\n"), {"quant.bits=2", "pipeline.rtn.search=\"mse\""});
    CHECK(e.runs[0].format.bits == 2);
    CHECK(std::get<std::string>(e.runs[0].pipeline[0].params.at("search").value) == "mse");
  }
  SECTION("unknown keys") {
    const std::string path = write_experiment(dir, "[quant]\nbits = 4\ngroupsize = 128\n[[pipeline]]\nplugin = \"rtn\"\n");
    REQUIRE_THROWS_WITH(load_experiment(path), Catch::Contains("exp.toml:14") && Catch::Contains("unknown key 'groupsize' in [quant]") &&
                                                   Catch::Contains("group_size"));
  }
  SECTION("unknown plugin parameter, wrong type, out of range, wrong order") {
    PluginRegistry reg = PluginRegistry::discover({});
    auto check = [&](const std::string& body, const std::string& message) {
      Experiment e = load_experiment(write_experiment(dir, body));
      REQUIRE_THROWS_WITH(validate_pipeline(e.runs[0], reg), Catch::Contains(message));
    };
    check("[[pipeline]]\nplugin = \"rtn\"\nserch = \"mse\"\n", "unknown parameter 'serch'; known: search, mse_grid, mse_max_shrink, mse_norm");
    check("[[pipeline]]\nplugin = \"rtn\"\nmse_grid = \"many\"\n", "parameter 'mse_grid' must be an integer");
    check("[[pipeline]]\nplugin = \"rtn\"\nmse_max_shrink = 2.0\n", "outside [0, 1]");
    check("[[pipeline]]\nplugin = \"clip\"\n", "is last but has no quantize hook");
    check("[[pipeline]]\nplugin = \"rtn\"\n[[pipeline]]\nplugin = \"rtn\"\n", "is a quantizer but not last");
    check("[[pipeline]]\nplugin = \"gptqq\"\n", "unknown plugin 'gptqq'");
  }
  SECTION("overrides") {
    Experiment e = load_experiment(write_experiment(dir, "[quant]\nbits = 4\n[[pipeline]]\nplugin = \"rtn\"\n[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 8\n[[override]]\nmatch = \"0.*\"\nskip = true\n"));
    CHECK(format_for(e.runs[0], "3.mlp.down_proj")->bits == 8);
    CHECK(format_for(e.runs[0], "3.mlp.up_proj")->bits == 4);
    CHECK(!format_for(e.runs[0], "0.mlp.up_proj"));
    CHECK(!format_for(e.runs[0], "lm_head"));
    Experiment bad = load_experiment(write_experiment(dir, "[[pipeline]]\nplugin = \"rtn\"\n[[override]]\nmatch = \"*.mlp.fc9\"\nbits = 8\n"));
    RunOptions opt{(dir / "x.h5").string(), false, {}, false};
    REQUIRE_THROWS_WITH(run_experiment(bad, opt), Catch::Contains("override match '*.mlp.fc9' matches no linear"));
  }
}

TEST_CASE("an unwritable log path is a clear error", "[log][bad-input]") {
  REQUIRE_THROWS_WITH(ExperimentLog::create("/proc/qlab/forbidden.h5", "x", "text"), Catch::Contains("/proc/qlab/forbidden.h5"));
  REQUIRE_THROWS_WITH(ExperimentLog::open_read("/nonexistent/log.h5"), Catch::Contains("no such log"));
}

TEST_CASE("qlab layer: RTN of a weight equals the grid helper's result exactly", "[layer]") {
  TempDir dir;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  Matrix w(6, 40), x(30, 40);
  for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = normal(rng);
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
  write_safetensors(dir / "in.safetensors", {f32_tensor("weight", {6, 40}, w.data()), f32_tensor("inputs", {30, 40}, x.data())});
  const std::string cmd = std::string(QLAB_BINARY) + " layer --weights " + (dir / "in.safetensors").string() +
                          " --pipeline rtn --set bits=3 --set group_size=16 --set sym=true --out " + (dir / "out.safetensors").string() +
                          " --json > " + (dir / "metrics.json").string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto out = SafetensorsFile::open(dir / "out.safetensors");
  Matrix dq = out->to_matrix("weight"), scales = out->to_matrix("scales"), zeros = out->to_matrix("zeros");
  std::vector<int32_t> g_idx = out->to_i32("g_idx");
  CHECK(scales.cols() == 3);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t g = 0; g < 3; ++g) {
      const int64_t n = std::min<int64_t>(16, 40 - g * 16);
      grid::GroupParams p = grid::fit(w.row(r).data() + g * 16, n, 1, 3, true, QLAB_RANGE_GPTQ);
      CHECK(scales(r, g) == p.scale);
      CHECK(zeros(r, g) == p.zero);
      for (int64_t c = g * 16; c < g * 16 + n; ++c) {
        CHECK(dq(r, c) == grid::quant_dequant(w(r, c), p, 7));
        CHECK(g_idx[size_t(c)] == g);
      }
    }
  nlohmann::json metrics = nlohmann::json::parse(std::ifstream(dir / "metrics.json"));
  const double rel = (((w - dq) * x.transpose()).squaredNorm()) / ((w * x.transpose()).squaredNorm());
  CHECK(metrics["rel_output_error"].get<double>() == Approx(rel).epsilon(1e-4));
  // GPTQ from a Hessian alone: its loss and the host's error are reported.
  Matrix h = x.transpose() * x * (2.0f / 30.0f);
  write_safetensors(dir / "h.safetensors", {f32_tensor("weight", {6, 40}, w.data()), f32_tensor("hessian", {40, 40}, h.data())});
  const std::string g = std::string(QLAB_BINARY) + " layer --weights " + (dir / "h.safetensors").string() +
                        " --pipeline gptq --set bits=3 --set group_size=16 --set gptq.act_order=true --out " +
                        (dir / "g.safetensors").string() + " --json > " + (dir / "g.json").string();
  REQUIRE(std::system(g.c_str()) == 0);
  nlohmann::json gm = nlohmann::json::parse(std::ifstream(dir / "g.json"));
  CHECK(gm["gptq.loss"].get<double>() > 0);
  CHECK(gm["rel_output_error"].get<double>() < rel);  // GPTQ beats RTN on the same inputs
  CHECK(SafetensorsFile::open(dir / "g.safetensors")->to_i32("g_idx").size() == 40);
  // A file without inputs or a Hessian is refused, naming it.
  write_safetensors(dir / "bare.safetensors", {f32_tensor("weight", {6, 40}, w.data())});
  const std::string bad = std::string(QLAB_BINARY) + " layer --weights " + (dir / "bare.safetensors").string() +
                          " --pipeline rtn --out " + (dir / "o.safetensors").string() + " 2> " + (dir / "err.txt").string();
  CHECK(WEXITSTATUS(std::system(bad.c_str())) == 1);
  CHECK_THAT(read_text_file(dir / "err.txt"), Catch::Contains("bare.safetensors") && Catch::Contains("needs 'inputs'"));
}

TEST_CASE("the module measure host runs candidate weights in a scratch copy and leaves the walked block alone", "[walker][awq]") {
  Model m = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin");
  Block& block = m.blocks[1];
  const Block before = block;
  std::vector<ScalableGroup> groups = block.scalable_groups(m.config);
  const ScalableGroup& up_down = groups.back();  // up → down, inspected through down alone
  REQUIRE(up_down.consumers.size() == 1);
  REQUIRE(up_down.inspect == Inspect::consumers);
  std::mt19937 rng(5);
  std::normal_distribution<float> n01;
  std::vector<Matrix> inputs(2, Matrix(6, 172));
  for (Matrix& x : inputs)
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = n01(rng);
  Matrix candidate = block.down.weight;
  for (int64_t i = 0; i < candidate.size(); ++i) candidate.data()[i] += 0.01f * n01(rng);
  std::vector<float> s(172);
  for (float& v : s) v = 0.5f + std::uniform_real_distribution<float>(0, 1)(rng);

  MeasureHost host(block, m.config, up_down, inputs);
  const qlab_cview view{candidate.data(), candidate.rows(), candidate.cols(), candidate.cols()};
  double mse = -1;
  REQUIRE(MeasureHost::measure(host.context(), &view, s.data(), &mse, nullptr) == 0);
  CHECK(host.error().empty());
  // Naive reference in double: mean over segments and outputs of ((x/s) Cᵀ + b − (x Wᵀ + b))².
  double sum = 0, count = 0;
  for (const Matrix& x : inputs)
    for (int64_t t = 0; t < x.rows(); ++t)
      for (int64_t o = 0; o < candidate.rows(); ++o) {
        double yc = 0, yw = 0;
        for (int64_t j = 0; j < x.cols(); ++j) {
          yc += double(x(t, j)) / s[j] * candidate(o, j);
          yw += double(x(t, j)) * before.down.weight(o, j);
        }
        sum += (yc - yw) * (yc - yw);
        ++count;
      }
  CHECK(mse == Approx(sum / count).epsilon(1e-4));  // float32 products over 172 terms
  CHECK(block.down.weight == before.down.weight);
  CHECK(block.up.weight == before.up.weight);
}

TEST_CASE("a format a plugin does not support is refused at validation, before any weight loads", "[walker][config][bad-input]") {
  TempDir dir;
  PluginRegistry reg = PluginRegistry::discover({std::string(QLAB_FIXTURE_DIR) + "/constrained"});
  auto refused = [&](const std::string& body) {
    Experiment e = load_experiment(write_experiment(dir, body));
    std::string message;
    for (const RunConfig& run : e.runs) {
      try {
        validate_pipeline(run, reg);
      } catch (const Error& err) {
        message = err.what();
        break;
      }
    }
    return message;
  };
  SECTION("nf4 declares 4 bits: [quant] bits = 3, an override to 3 bits, and a sweep point at 3 bits are refused") {
    CHECK(refused("[quant]\nbits = 3\n[[pipeline]]\nplugin = \"nf4\"\n") ==
          (dir / "exp.toml").string() + ":14: pipeline[0] (nf4) cannot run this experiment's [quant] format: bits = 3, but it supports bits 4");
    CHECK(refused("[quant]\nbits = 4\n[[pipeline]]\nplugin = \"nf4\"\n[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 3\n") ==
          (dir / "exp.toml").string() + ":16: [[override]] match '*.mlp.down_proj' asks pipeline[0] (nf4, " + (dir / "exp.toml").string() +
              ":14) for bits = 3, but it supports bits 4");
    CHECK(refused("[quant]\nbits = 4\n[[pipeline]]\nplugin = \"nf4\"\n[[override]]\nmatch = \"*.mlp.down_proj\"\nskip = true\n").empty());
    CHECK_THAT(refused("[quant]\nbits = 4\n[[pipeline]]\nplugin = \"nf4\"\n[sweep]\n\"quant.bits\" = [4, 3]\n"),
               Catch::EndsWith("pipeline[0] (nf4) cannot run this experiment's [quant] format: bits = 3, but it supports bits 4"));
    // run_experiment validates every sweep point before it creates the log or loads a model.
    Experiment e = load_experiment(write_experiment(dir, "[quant]\nbits = 4\n[[pipeline]]\nplugin = \"nf4\"\n[sweep]\n\"quant.bits\" = [4, 3]\n"));
    RunOptions opt{(dir / "nf4.h5").string(), false, {}, false};
    REQUIRE_THROWS_WITH(run_experiment(e, opt), Catch::Contains("bits = 3, but it supports bits 4"));
    CHECK_FALSE(std::filesystem::exists(dir / "nf4.h5"));
  }
  SECTION("group constraints: groups required, in multiples of 32") {
    const std::string plugin = "[[pipeline]]\nplugin = \"constrained\"\n";
    CHECK(refused("[quant]\nbits = 4\ngroup_size = 64\n" + plugin).empty());
    CHECK_THAT(refused("[quant]\nbits = 4\ngroup_size = 0\n" + plugin),
               Catch::EndsWith("pipeline[0] (constrained) cannot run this experiment's [quant] format: group_size = 0 (one group per row), "
                               "but it needs groups (bits 3, 4; group_size a multiple of 32; no per-row groups (group_size > 0))"));
    CHECK_THAT(refused("[quant]\nbits = 4\ngroup_size = 64\n" + plugin + "[[override]]\nmatch = \"0.*\"\ngroup_size = 48\n"),
               Catch::Contains("[[override]] match '0.*' asks pipeline[0] (constrained, ") &&
                   Catch::EndsWith("for group_size = 48, but it supports bits 3, 4; group_size a multiple of 32; no per-row groups (group_size > 0)"));
    CHECK_THAT(refused("[quant]\nbits = 8\ngroup_size = 64\n" + plugin), Catch::EndsWith("bits = 8, but it supports bits 3, 4"));
  }
}
