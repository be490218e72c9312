// Experiment files (core/config/): sweeps expand in order, --set applies before validation,
// errors name file and line; the format rules and the enum names are checked in one place;
// settings that used to be accepted and silently misread (negative eval.max_segments,
// quantization settings on lm_head, calibration beyond the model's context or beyond memory,
// pipeline indices beyond size_t, negative seeds) are refused.
#include <catch2/catch.hpp>
#include <fstream>

#include "config/calibration_fit.h"
#include "config/experiment.h"
#include "config/format_rules.h"
#include "data/calibration.h"
#include "data/python_random.h"
#include "plugin_host/plugin_loader.h"
#include "run/experiment_runner.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/experiment_file.h"
#include "util/error.h"
#include "walk/pipeline.h"

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

TEST_CASE("experiment files: sweeps expand in order, errors name file and line", "[config]") {
  TempDir dir;
  SECTION("grid and zip order") {
    Experiment g = load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\n\"quant.bits\" = [4, 3]\n\"quant.group_size\" = [32, 64, 128]\n"));
    REQUIRE(g.runs.size() == 6);
    CHECK(g.runs[1].run_id == "r0001");
    CHECK(g.runs[1].format.bits == 4);
    CHECK(g.runs[1].format.group_size == 64);
    CHECK(g.runs[3].format.bits == 3);
    CHECK(g.runs[3].format.group_size == 32);
    Experiment z = load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\nmode = \"zip\"\n\"quant.bits\" = [4, 3]\n\"pipeline.rtn.search\" = [\"none\", \"mse\"]\n"));
    REQUIRE(z.runs.size() == 2);
    CHECK(z.runs[1].format.bits == 3);
    CHECK(std::get<std::string>(z.runs[1].pipeline[0].params.at("search").value) == "mse");
    REQUIRE_THROWS_WITH(load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"rtn\"\n[sweep]\nmode = \"zip\"\n\"quant.bits\" = [4, 3]\n\"quant.group_size\" = [32]\n")),
                        Catch::Contains("zip sweep axes differ in length"));
  }
  SECTION("--set overrides before validation") {
    Experiment e = load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"rtn\"\n"), {"quant.bits=2", "pipeline.rtn.search=\"mse\""});
    CHECK(e.runs[0].format.bits == 2);
    CHECK(std::get<std::string>(e.runs[0].pipeline[0].params.at("search").value) == "mse");
  }
  SECTION("unknown keys") {
    const std::string path = write_bundled_experiment(dir / "exp.toml", "[quant]\nbits = 4\ngroupsize = 128\n[[pipeline]]\nplugin = \"rtn\"\n");
    REQUIRE_THROWS_WITH(load_experiment(path), Catch::Contains("exp.toml:14") && Catch::Contains("unknown key 'groupsize' in [quant]") &&
                                                   Catch::Contains("group_size"));
  }
  SECTION("unknown plugin parameter, wrong type, out of range, wrong order") {
    PluginRegistry reg = PluginRegistry::discover({});
    auto check = [&](const std::string& body, const std::string& message) {
      Experiment e = load_experiment(write_bundled_experiment(dir / "exp.toml", body));
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
    Experiment e = load_experiment(write_bundled_experiment(dir / "exp.toml", "[quant]\nbits = 4\n[[pipeline]]\nplugin = \"rtn\"\n[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 8\n[[override]]\nmatch = \"0.*\"\nskip = true\n"));
    CHECK(format_for(e.runs[0], "3.mlp.down_proj")->bits == 8);
    CHECK(format_for(e.runs[0], "3.mlp.up_proj")->bits == 4);
    CHECK(!format_for(e.runs[0], "0.mlp.up_proj"));
    CHECK(!format_for(e.runs[0], "lm_head"));
    Experiment bad = load_experiment(write_bundled_experiment(dir / "exp.toml", "[[pipeline]]\nplugin = \"rtn\"\n[[override]]\nmatch = \"*.mlp.fc9\"\nbits = 8\n"));
    RunOptions opt{(dir / "x.h5").string(), false, {}, false};
    REQUIRE_THROWS_WITH(run_experiment(bad, opt), Catch::Contains("override match '*.mlp.fc9' matches no linear"));
  }
}

TEST_CASE("the format rules are one check for quant, override rules and qlab layer --set", "[config][bad-input]") {
  TempDir dir;
  auto refuse = [&](const std::string& body, const std::string& message) {
    CHECK_THROWS_WITH(load_experiment(experiment(dir, body)), Catch::EndsWith(message));
  };
  refuse("[quant]\nbits = 9\n", "e.toml:8: quant.bits = 9 is outside 2..8");
  refuse("[quant]\ngroup_size = -1\n", "e.toml:8: quant.group_size must be >= 0 (0 = per output channel)");
  refuse("[quant]\nrange = \"mse\"\n", "e.toml:8: quant.range 'mse' is not one of gptq, minmax");
  refuse("[[override]]\nmatch = \"*.mlp.*\"\nbits = 1\n", "e.toml:8: override bits = 1 is outside 2..8");
  refuse("[[override]]\nmatch = \"*.mlp.*\"\ngroup_size = -32\n", "e.toml:8: override group_size must be >= 0 (0 = per output channel)");
  CHECK(load_experiment(experiment(dir, "[quant]\nrange = \"minmax\"\n")).runs[0].format.range == QLAB_RANGE_MINMAX);
  refuse("[quant]\nscale_dtype = \"bf16\"\n", "e.toml:8: quant.scale_dtype = \"bf16\" is not one of f32, f16");
  CHECK(load_experiment(experiment(dir, "[quant]\nscale_dtype = \"f16\"\n")).runs[0].fp16_scales);
  CHECK_FALSE(load_experiment(experiment(dir, "[quant]\nbits = 4\n")).runs[0].fp16_scales);
  refuse("[export]\nformats = [\"onnx\"]\n", "export.formats = \"onnx\" is not one of awq, gguf, gptq");
  CHECK(load_experiment(experiment(dir, "[export]\nformats = [\"gguf\"]\nruns = [\"r0000\"]\n")).runs[0].exports.formats ==
        std::vector<std::string>{"gguf"});

  qlab_format f{4, 0, 0, QLAB_RANGE_GPTQ};
  CHECK(set_format_key(f, "bits", parse_set_value("3", "--set bits=3"), "--set bits=3"));
  CHECK(set_format_key(f, "range", parse_set_value("minmax", "--set range=minmax"), "--set range=minmax"));
  CHECK(set_format_key(f, "sym", parse_set_value("true", "--set sym=true"), "--set sym=true"));
  CHECK((f.bits == 3 && f.range == QLAB_RANGE_MINMAX && f.sym == 1 && f.group_size == 0));
  CHECK_FALSE(set_format_key(f, "gptq.act_order", parse_set_value("true", "w"), "w"));
  CHECK_THROWS_WITH(set_format_key(f, "bits", parse_set_value("9", "--set bits=9"), "--set bits=9"), "--set bits=9: bits = 9 is outside 2..8");
  CHECK_THROWS_WITH(set_format_key(f, "group_size", parse_set_value("-1", "--set group_size=-1"), "--set group_size=-1"),
                    "--set group_size=-1: group_size must be >= 0 (0 = per output channel)");
  CHECK_THROWS_WITH(set_format_key(f, "range", parse_set_value("mse", "--set range=mse"), "--set range=mse"),
                    "--set range=mse: range 'mse' is not one of gptq, minmax");
}

TEST_CASE("named settings parse through their enum's table and list the names when unknown", "[config][bad-input]") {
  TempDir dir;
  const RunConfig r = load_experiment(experiment(dir, "[walker]\npropagate = \"float\"\nactivations = \"bf16\"\n"),
                                      {"calibration.sampler=awq"}).runs[0];
  CHECK(r.propagate == Propagation::float_reference);
  CHECK(r.activations == StoragePrecision::bf16);
  CHECK(r.calibration.sampler == Sampler::awq);
  const RunConfig d = load_experiment(experiment(dir, "")).runs[0];
  CHECK((d.propagate == Propagation::quantized && d.activations == StoragePrecision::f32 && d.calibration.sampler == Sampler::gptq));
  CHECK_THROWS_WITH(load_experiment(experiment(dir, "[walker]\npropagate = \"floaty\"\n")),
                    Catch::EndsWith("e.toml:8: walker.propagate 'floaty' is not one of quantized, float"));
  CHECK_THROWS_WITH(load_experiment(experiment(dir, "[walker]\nactivations = \"fp8\"\n")),
                    Catch::EndsWith("e.toml:8: walker.activations 'fp8' is not one of f32, f16, bf16"));
  CHECK_THROWS_WITH(load_experiment(experiment(dir, ""), {"calibration.sampler=bogus"}),
                    Catch::EndsWith("e.toml:3: calibration.sampler 'bogus' is not one of gptq, awq"));
  CHECK(load_experiment(experiment(dir, "[sweep]\nmode = \"zip\"\n\"quant.bits\" = [4, 3]\n")).sweep_mode == SweepMode::zip);
  CHECK(load_experiment(experiment(dir, "[sweep]\n\"quant.bits\" = [4, 3]\n")).sweep_mode == SweepMode::grid);
  CHECK(load_experiment(experiment(dir, "")).sweep_mode == SweepMode::none);
}

TEST_CASE("a format a plugin does not support is refused at validation, before any weight loads", "[config][bad-input]") {
  TempDir dir;
  PluginRegistry reg = PluginRegistry::discover({std::string(QLAB_FIXTURE_DIR) + "/constrained"});
  auto refused = [&](const std::string& body) {
    Experiment e = load_experiment(write_bundled_experiment(dir / "exp.toml", body));
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
    Experiment e = load_experiment(write_bundled_experiment(dir / "exp.toml", "[quant]\nbits = 4\n[[pipeline]]\nplugin = \"nf4\"\n[sweep]\n\"quant.bits\" = [4, 3]\n"));
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
