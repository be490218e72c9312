// The walker on the bundled model: RTN through the whole pipeline equals RTN applied to each
// weight on its own; a killed run resumes to identical numbers; a failing plugin marks its
// run failed.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "config/experiment.h"
#include "log/log_summary.h"
#include "format/llama2c_loader.h"
#include "qlab/grid.hpp"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "util/error.h"
#include "support/walk_model.h"
#include "tensor/activation_store.h"
#include "plan/layer_plan.h"
#include "walk/layer_walker.h"
#include "walk/measure_module.h"
#include "walk/pipeline.h"
#include "walk/quantized_linear.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("RTN through the walker equals RTN of each weight on its own", "[walker]") {
  TempDir dir;
  Experiment ex = load_experiment(write_bundled_experiment(dir / "exp.toml", "[quant]\nbits = 3\ngroup_size = 16\n[[pipeline]]\nplugin = \"rtn\"\n"));
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
  const std::string exp = write_bundled_experiment(dir / "exp.toml", experiment_body);
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

TEST_CASE("calibration activations beyond --max-memory spill to a removed file and change no number, and too small a budget is refused", "[walker][memory]") {
  TempDir dir;
  Experiment ex = load_experiment(write_bundled_experiment(dir / "exp.toml", "[quant]\nbits = 3\ngroup_size = 16\n[[pipeline]]\nplugin = \"gptq\"\n"));
  const RunConfig& run = ex.runs.at(0);
  PluginRegistry reg = PluginRegistry::discover({});
  const InMemorySource source(load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin"));
  std::vector<std::vector<int32_t>> calib(6, std::vector<int32_t>(64));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t t = 0; t < 64; ++t) calib[s][t] = static_cast<int32_t>((s * 131 + t * 7) % 512);
  auto spilling = [&] {
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      if (entry.path().filename().string().rfind("qlab-activations-", 0) == 0) return true;
    return false;
  };
  int blocks_spilled = 0;
  auto errors_with = [&](const WalkMemory& memory) {
    Pipeline pipeline = build_pipeline(run, reg);
    const LayerPlan plan = resolve_plan(run, source.config(), source.linears(), pipeline.needs());
    ActivationPlan act{run.act, {}};
    std::vector<double> errors;
    CallbackSink sink([&](const BlockResult& r, const Block&, const ActivationPlan&) {
      for (const LinearRow& row : r.linears) errors.push_back(row.rel_output_error);
      errors.push_back(r.row.rel_block_output_error);
      blocks_spilled += spilling();
    });
    walk_layers(source, plan, calib, pipeline, act, sink, false, nullptr, {}, memory);
    return errors;
  };
  // The walker holds 3 float32 blocks (q, o 64×64; k, v 32×64 under GQA; 3 MLP 64×172)
  // before any activation; a calibration segment is 64×64 float32 (16 KiB). Room for 2.5
  // segments of 6 spills.
  const uint64_t held = 3 * 4 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 172), segment = 64 * 64 * 4;
  const std::vector<double> in_memory = errors_with({});
  const std::vector<double> spilled = errors_with({held + segment * 5 / 2, dir.path().string()});
  CHECK(blocks_spilled == 5);  // the spill file existed while each block was walked
  CHECK(!spilling());         // and is gone
  CHECK(spilled == in_memory);
  CHECK(in_memory.size() == 5 * 8);
  REQUIRE_THROWS_WITH(errors_with({held + segment - 1, dir.path().string()}),
                      Catch::Contains("is too small to quantize") &&
                          Catch::Contains("at least 0.5 MiB is needed (3 blocks in float32, 0.5 MiB, plus one calibration segment of 64×64"));
}

TEST_CASE("activations that would not fit the spill file system are refused before anything is written", "[walker][memory][bad-input]") {
  TempDir dir;
  // 10⁶ segments of 4096×4096 float32: 61 TiB, more than any disk here.
  REQUIRE_THROWS_WITH(ActivationStore(StoragePrecision::f32, 1000000, 4096, 4096, 0, dir.path().string()),
                      Catch::Contains("1000000 segments of 4096×4096 activations need 62500.00 GiB") &&
                          Catch::Contains(dir.path().string() + " has only"));
  CHECK(std::filesystem::is_empty(dir.path()));
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
  Experiment ex = load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"failing\"\n[sweep]\n\"quant.bits\" = [4]\n"));
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

TEST_CASE("a module measure the host cannot run fails with its message, kept by the host and passed through the C boundary", "[walker][awq][bad-input]") {
  Model m = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin");
  std::vector<ScalableGroup> groups = m.blocks[1].scalable_groups(m.config);
  const ScalableGroup& up_down = groups.back();
  const std::vector<Matrix> inputs(1, Matrix::Ones(4, 172));
  MeasureHost host(m.blocks[1], m.config, up_down, inputs);
  const Matrix narrow = Matrix::Zero(64, 100);  // down_proj is 64×172
  const qlab_cview view{narrow.data(), narrow.rows(), narrow.cols(), narrow.cols()};
  const std::vector<float> s(172, 1.0f);
  double mse = -1;
  qlab_error err{};
  CHECK(MeasureHost::measure(host.context(), &view, s.data(), &mse, &err) == 1);
  CHECK(mse == -1);
  const std::string expected = "candidate weights 0 for 1.mlp.down_proj are 64×100 (row stride 100), the linear is 64×172";
  CHECK(host.error() == expected);
  CHECK(std::string(err.message) == expected);
  CHECK(MeasureHost::measure(host.context(), &view, nullptr, &mse, nullptr) == 1);  // the first failure is the one kept
  CHECK(host.error() == expected);
}
