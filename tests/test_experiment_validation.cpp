// Experiment settings that used to be accepted and silently misread: negative
// eval.max_segments, quantization settings on lm_head, calibration beyond the model's
// context or beyond memory, pipeline indices beyond size_t, negative seeds.
#include <catch2/catch.hpp>
#include <fstream>

#include "config/calibration_fit.h"
#include "config/experiment.h"
#include "data/calibration.h"
#include "data/python_random.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
std::string experiment(const TempDir& dir, const std::string& body) {
  std::ofstream(dir / "e.toml") << "[model]\npath = \"m.bin\"\n[calibration]\ndata = \"text:c.txt\"\nseq_len = 128\n"
                                << "[[pipeline]]\nplugin = \"rtn\"\n" << body;
  return (dir / "e.toml").string();
}
}  // namespace

TEST_CASE("eval.max_segments below 0 is refused in experiment files as on the CLI", "[config][bad-input]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, "[eval]\nmax_segments = -1\n")),
                      Catch::EndsWith("e.toml:8: eval.max_segments = -1 must be >= 0 (0 = all segments)"));
  CHECK(load_experiment(experiment(dir, "[eval]\nmax_segments = 0\n")).runs[0].eval_max_segments == 0);
}

TEST_CASE("overrides may not quantize lm_head", "[config][bad-input]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, "[[override]]\nmatch = \"lm_head\"\nbits = 8\n")),
                      Catch::EndsWith("e.toml:8: override match 'lm_head': lm_head is never quantized (the references keep it in "
                                      "float); only skip = true may name it"));
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, "[[override]]\nmatch = \"lm_*\"\nsym = true\n")),
                      Catch::Contains("override match 'lm_*': lm_head is never quantized"));
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, "[[override]]\nmatch = \"*\"\nskip = false\n")),
                      Catch::EndsWith("e.toml:8: quantizing lm_head is not supported; the references keep it in float"));
  CHECK(load_experiment(experiment(dir, "[[override]]\nmatch = \"lm_head\"\nskip = true\n")).runs.size() == 1);
  // A pattern that starts with a wildcard also names the decoder's linears: lm_head stays in float.
  Experiment all = load_experiment(experiment(dir, "[[override]]\nmatch = \"*\"\nbits = 8\n"));
  CHECK(format_for(all.runs[0], "0.mlp.up_proj")->bits == 8);
  CHECK_FALSE(format_for(all.runs[0], "lm_head").has_value());
}

TEST_CASE("a pipeline index beyond size_t names no entry", "[config][bad-input]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, ""), {"pipeline.99999999999999999999.search=mse"}),
                      "--set pipeline.99999999999999999999.search=mse: 'pipeline.99999999999999999999.search': no pipeline "
                      "entry '99999999999999999999'");
  REQUIRE_THROWS_WITH(load_experiment(experiment(dir, ""), {"pipeline.1.search=mse"}), Catch::EndsWith("no pipeline entry '1'"));
  CHECK(load_experiment(experiment(dir, ""), {"pipeline.0.search=\"mse\""}).runs[0].pipeline[0].params.count("search") == 1);
}

TEST_CASE("calibration token counts beyond available memory are refused at load", "[config][memory][bad-input]") {
  TempDir dir;
  CHECK(load_experiment(experiment(dir, "")).runs[0].calibration.n_segments == 128);
  std::ofstream(dir / "big.toml") << "[model]\npath = \"m.bin\"\n[calibration]\ndata = \"text:c.txt\"\nseq_len = 2048\n"
                                  << "n_segments = 100000000000\n[[pipeline]]\nplugin = \"rtn\"\n";
  REQUIRE_THROWS_WITH(load_experiment((dir / "big.toml").string()),
                      Catch::Matches(".*big\\.toml:3: calibration needs about 7\\.63e\\+05 GiB \\(100000000000 segments × 2048 "
                                     "tokens × 4 bytes\\), but only [0-9.e+]+ GiB of memory is available"));
}

TEST_CASE("calibration must fit the model's context and the machine's memory", "[config][memory][bad-input]") {
  RunConfig run;
  run.model_path = "m.bin";
  run.calibration.n_segments = 8;
  run.calibration.seq_len = 128;
  ModelConfig model;
  model.dim = 64;
  model.max_seq_len = 512;
  CHECK(calibration_activation_bytes(run, model) == 8.0 * 128 * (64 * 4 + 4));
  run.activations = StoragePrecision::bf16;
  CHECK(calibration_activation_bytes(run, model) == 8.0 * 128 * (64 * 2 + 4));
  CHECK_NOTHROW(check_calibration_fits(run, model));

  run.calibration.seq_len = 1024;
  REQUIRE_THROWS_WITH(check_calibration_fits(run, model), "calibration.seq_len 1024 is above the context of m.bin (512 positions)");

  run.calibration.seq_len = 512;
  run.calibration.n_segments = 100000000;
  model.dim = 8192;
  REQUIRE_THROWS_WITH(check_calibration_fits(run, model),
                      Catch::Matches("calibration needs about 7\\.81e\\+05 GiB \\(100000000 segments × 512 tokens × hidden 8192 at "
                                     "walker\\.activations = bf16\\), but only [0-9.e+]+ GiB of memory is available"));
}

TEST_CASE("negative seeds draw as Python's random.seed does: seed(-1) is seed(1)", "[data][random]") {
  CHECK(PythonRandom(1).random() == 0.13436424411240122);   // random.seed(1); random.random()
  CHECK(PythonRandom(-1).random() == 0.13436424411240122);  // random.seed(-1); random.random()
  CHECK(PythonRandom(4294967296).random() == 0.11299430095636409);  // random.seed(2**32): two 32-bit words
  CHECK(PythonRandom(-4294967301).random() == 0.15727238718789782);  // random.seed(-(2**32 + 5))
  CHECK(PythonRandom(INT64_MIN).random() == 0.5534639983914199);     // random.seed(-2**63): |n| = 2**63

  auto tok = load_tokenizer(source_dir() / "datasets/stories260K/tok512.bin");
  CalibrationSpec spec{"text:" + (source_dir() / "datasets/tinystories/tinystories_calib.txt").string(), Sampler::gptq, 4, 32, -1};
  const CalibrationSet minus_one = sample_calibration(spec, *tok);
  spec.seed = 1;
  CHECK(sample_calibration(spec, *tok).start == minus_one.start);
  TempDir dir;
  CHECK(load_experiment(experiment(dir, ""), {"calibration.seed=-1"}).runs[0].calibration.seed == -1);
}
