// The plugin ABI: the descriptor layout is pinned (a silent change fails here until
// QLAB_PLUGIN_ABI_VERSION is bumped and these numbers updated), and the loader refuses
// wrong versions, non-plugins, corrupt descriptors and duplicate names, naming the files;
// broken libraries on the search path are skipped unless an experiment names their plugin.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <fstream>

#include "plugin_host/plugin_loader.h"
#include "qlab/plugin.h"
#include "support/llama2c_file.h"
#include "util/file_io.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::string kFixtures = QLAB_FIXTURE_DIR;
}

TEST_CASE("plugin ABI layout is pinned (x86-64 Linux)", "[plugin][abi]") {
  CHECK(QLAB_PLUGIN_ABI_VERSION == 3);
  CHECK(QLAB_MAX_METRICS == 16);
  CHECK(sizeof(qlab_view) == 32);
  CHECK(sizeof(qlab_cview) == 32);
  CHECK(sizeof(qlab_error) == 512);
  CHECK(sizeof(qlab_metric) == 16);
  CHECK(sizeof(qlab_param_decl) == 80);
  CHECK(sizeof(qlab_param) == 40);
  CHECK(sizeof(qlab_linalg) == 48);
  CHECK(sizeof(qlab_gptq_options) == 32);
  CHECK(sizeof(qlab_gptq_result) == 40);
  CHECK(sizeof(qlab_stats) == 88);
  CHECK(sizeof(qlab_format) == 16);
  CHECK(sizeof(qlab_support) == 12);
  CHECK(sizeof(qlab_linear_in) == 184);
  CHECK(sizeof(qlab_quantize_out) == 352);
  CHECK(sizeof(qlab_group_in) == 168);
  CHECK(sizeof(qlab_transform_out) == 296);
  CHECK(sizeof(qlab_plugin) == 120);
  CHECK(offsetof(qlab_plugin, transform_model) == 112);  // appended: the v2 members keep their offsets
  CHECK(sizeof(qlab_model_in) == 120);
  CHECK(offsetof(qlab_model_in, la) == 96);
  CHECK(offsetof(qlab_model_in, hadamard) == 104);
  CHECK(sizeof(qlab_model_out) == 312);
  CHECK(offsetof(qlab_model_out, online_seed) == 40);
  CHECK(offsetof(qlab_model_out, n_metrics) == 304);
  // The online transforms are a bit mask a compiled plugin returns: the values are ABI.
  CHECK(QLAB_ONLINE_DOWN_HADAMARD == 1);
  CHECK(QLAB_ONLINE_VALUE_OUTPUT_HADAMARD == 2);
  CHECK(QLAB_ONLINE_QUERY_KEY_HADAMARD == 4);
  CHECK(offsetof(qlab_view, row_stride) == 24);
  CHECK(offsetof(qlab_param_decl, help) == 16);
  CHECK(offsetof(qlab_param_decl, default_int) == 24);
  CHECK(offsetof(qlab_param_decl, default_float) == 32);
  CHECK(offsetof(qlab_param_decl, default_string) == 40);
  CHECK(offsetof(qlab_param_decl, has_range) == 48);
  CHECK(offsetof(qlab_param_decl, choices) == 72);
  CHECK(offsetof(qlab_param, f) == 24);
  CHECK(offsetof(qlab_param, s) == 32);
  CHECK(offsetof(qlab_linalg, trsm) == 32);
  CHECK(offsetof(qlab_linalg, gptq_solve) == 40);  // appended: the members before it keep their offsets
  CHECK(offsetof(qlab_gptq_options, block_size) == 8);
  CHECK(offsetof(qlab_gptq_options, max_damp_retries) == 28);
  CHECK(offsetof(qlab_gptq_result, damp_retries) == 16);
  CHECK(offsetof(qlab_gptq_result, time_solve_s) == 32);
  CHECK(offsetof(qlab_stats, rows) == 48);
  CHECK(offsetof(qlab_stats, n_tokens) == 80);
  CHECK(offsetof(qlab_support, group_size_multiple) == 8);
  CHECK(offsetof(qlab_linear_in, stats) == 48);
  CHECK(offsetof(qlab_linear_in, format) == 136);
  CHECK(offsetof(qlab_linear_in, la) == 152);
  CHECK(offsetof(qlab_linear_in, n_threads) == 160);
  CHECK(offsetof(qlab_linear_in, read_linear_tensor) == 168);
  CHECK(offsetof(qlab_linear_in, host) == 176);
  CHECK(offsetof(qlab_quantize_out, codes) == 32);
  CHECK(offsetof(qlab_quantize_out, codebook) == 64);
  CHECK(offsetof(qlab_quantize_out, n_groups) == 72);
  CHECK(offsetof(qlab_quantize_out, bits_per_weight) == 80);
  CHECK(offsetof(qlab_quantize_out, metrics) == 88);
  CHECK(offsetof(qlab_quantize_out, n_metrics) == 344);
  CHECK(offsetof(qlab_group_in, producer_kind) == 12);
  CHECK(offsetof(qlab_group_in, n_linears) == 16);
  CHECK(offsetof(qlab_group_in, weights) == 32);
  CHECK(offsetof(qlab_group_in, stats) == 40);
  CHECK(offsetof(qlab_group_in, format) == 128);
  CHECK(offsetof(qlab_group_in, measure) == 152);
  CHECK(offsetof(qlab_group_in, host) == 160);
  CHECK(offsetof(qlab_transform_out, wrote_scale) == 16);
  CHECK(offsetof(qlab_transform_out, declined) == 24);
  CHECK(offsetof(qlab_transform_out, metrics) == 32);
  CHECK(offsetof(qlab_transform_out, n_metrics) == 288);
  CHECK(offsetof(qlab_plugin, abi_version) == 0);
  CHECK(offsetof(qlab_plugin, name) == 8);
  CHECK(offsetof(qlab_plugin, params) == 32);
  CHECK(offsetof(qlab_plugin, n_params) == 40);
  CHECK(offsetof(qlab_plugin, stats) == 44);
  CHECK(offsetof(qlab_plugin, scope) == 48);
  CHECK(offsetof(qlab_plugin, uses_codebook) == 52);
  CHECK(offsetof(qlab_plugin, support) == 56);
  CHECK(offsetof(qlab_plugin, naming) == 68);
  CHECK(offsetof(qlab_plugin, method_name) == 72);
  CHECK(offsetof(qlab_plugin, create) == 80);
  CHECK(offsetof(qlab_plugin, destroy) == 88);
  CHECK(offsetof(qlab_plugin, transform) == 96);
  CHECK(offsetof(qlab_plugin, quantize) == 104);
}

TEST_CASE("the loader refuses a plugin built for another ABI, naming the file and both versions", "[plugin][abi]") {
  const std::string path = kFixtures + "/bad_abi/libqlab_future.so";
  REQUIRE_THROWS_WITH(PluginRegistry::load_library(path),
                      Catch::Contains("libqlab_future.so") && Catch::Contains("plugin ABI 4, this qlab expects 3"));
  // On the search path it is skipped; an experiment naming it gets the same reason.
  PluginRegistry reg = PluginRegistry::discover({kFixtures + "/bad_abi"});
  REQUIRE_THROWS_WITH(reg.get("future"), Catch::Contains("libqlab_future.so") && Catch::Contains("plugin ABI 4, this qlab expects 3"));
}

TEST_CASE("a plugin built against ABI 1 is refused by its version, before its v1 layout is read", "[plugin][abi]") {
  const std::string path = kFixtures + "/v1_abi/libqlab_old.so";
  REQUIRE_THROWS_WITH(PluginRegistry::load_library(path),
                      Catch::EndsWith("libqlab_old.so: plugin ABI 1, this qlab expects 3; rebuild it against plugins/sdk"));
  PluginRegistry reg = PluginRegistry::discover({kFixtures + "/v1_abi"});
  CHECK(reg.find("old") == nullptr);
  REQUIRE_THROWS_WITH(reg.get("old"), Catch::Contains("libqlab_old.so: plugin ABI 1, this qlab expects 3"));
}

TEST_CASE("a wave-1 plugin (ABI 2) is refused with what version 3 changed", "[plugin][abi]") {
  const std::string path = kFixtures + "/v2_abi/libqlab_wave1.so";
  REQUIRE_THROWS_WITH(PluginRegistry::load_library(path),
                      Catch::Contains("libqlab_wave1.so: plugin ABI 2, this qlab expects 3; rebuild it against plugins/sdk (version 3 adds "
                                      "the model-scope hook transform_model"));
}

TEST_CASE("a declared default outside its own choices is refused at load, naming the file and parameter", "[plugin]") {
  CHECK_THROWS_WITH(PluginRegistry::load_library(kFixtures + "/evil_default/libqlab_evil_default.so"),
                    Catch::Contains("libqlab_evil_default.so: plugin 'evil_default' declares a default its own declaration refuses") &&
                        Catch::Contains("parameter 'fault' = \"sometimes\" is not one of none|"));
}

TEST_CASE("the loader refuses a library that is not a plugin", "[plugin]") {
  REQUIRE_THROWS_WITH(PluginRegistry::load_library(kFixtures + "/not_a_plugin/libqlab_not_a_plugin.so"),
                      Catch::Contains("libqlab_not_a_plugin.so") && Catch::Contains("not a qlab plugin"));
  REQUIRE_THROWS_WITH(PluginRegistry::load_library(kFixtures + "/nowhere/libqlab_x.so"),
                      Catch::Contains("libqlab_x.so") && Catch::Contains("cannot load"));
}

TEST_CASE("two plugins with one name are an error listing both paths", "[plugin]") {
  REQUIRE_THROWS_WITH(PluginRegistry::discover({kFixtures + "/duplicate"}),
                      Catch::Contains("two plugins are named 'rtn'") && Catch::Contains("libqlab_rtn_twin.so") &&
                          Catch::Contains("libqlab_rtn.so"));
}

TEST_CASE("built-in plugins are found and declare themselves", "[plugin]") {
  PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& rtn = reg.get("rtn");
  CHECK(rtn.hooks() == "quantize");
  CHECK(rtn.descriptor->stats == 0);
  const LoadedPlugin& clip = reg.get("clip");
  CHECK(clip.hooks() == "transform");
  CHECK(clip.descriptor->stats == QLAB_STAT_ROWS);
  CHECK(clip.descriptor->scope == QLAB_SCOPE_LINEAR);
  CHECK(clip.descriptor->naming == QLAB_NAMING_SILENT);
  CHECK(rtn.descriptor->naming == QLAB_NAMING_BASELINE);
  CHECK(rtn.descriptor->support.bits == 0u);  // every format
  CHECK(reg.get("nf4").descriptor->support.bits == 1u << 4);
  REQUIRE_THROWS_WITH(reg.get("gptqq"), Catch::Contains("unknown plugin 'gptqq'") && Catch::Contains("rtn"));
}

TEST_CASE("a descriptor claiming more parameter declarations than it has is refused", "[plugin]") {
  CHECK_THROWS_WITH(PluginRegistry::load_library(kFixtures + "/evil_params/libqlab_evil_params.so"),
                    Catch::EndsWith("libqlab_evil_params.so: plugin 'evil_params' declares 1000 parameters (expected 0..256)"));
}

TEST_CASE("broken libraries on the plugin path are skipped unless their plugin is named", "[plugin]") {
  TempDir dir;
  std::ofstream(dir / "libqlab_text.so") << std::string(100, '#') << " not a shared library\n";
  std::filesystem::copy_file(kFixtures + "/bad_abi/libqlab_future.so", dir / "libqlab_future.so");
  std::filesystem::copy_file(kFixtures + "/missing_dependency/libqlab_needs_gone.so", dir / "libqlab_needs_gone.so");
  PluginRegistry reg = PluginRegistry::discover({dir.path().string()});
  CHECK(reg.find("rtn") != nullptr);
  REQUIRE(reg.broken().size() == 3);
  CHECK_THAT(reg.broken()[1].reason, Catch::EndsWith("libqlab_needs_gone.so: cannot load plugin library: libqlab_fixture_gone.so: "
                                                     "cannot open shared object file: No such file or directory"));
  CHECK_THAT(reg.broken()[2].reason, Catch::Contains("libqlab_text.so: cannot load plugin library: ") &&
                                         Catch::Contains("invalid ELF header"));
  CHECK_THROWS_WITH(reg.get("needs_gone"), Catch::StartsWith("plugin 'needs_gone' is in a library that cannot be used: ") &&
                                               Catch::Contains("libqlab_fixture_gone.so: cannot open shared object file"));
  CHECK_THROWS_WITH(reg.get("future"), Catch::Contains("libqlab_future.so: plugin ABI 4, this qlab expects 3; rebuild it against plugins/sdk"));
  CHECK_THROWS_WITH(reg.get("nothing"), Catch::Contains("unknown plugin 'nothing'") && Catch::Contains("skipped ") &&
                                            Catch::Contains("libqlab_text.so"));
  SECTION("the CLI: a run using rtn goes on with a warning, `qlab plugins` lists the broken libraries") {
    const std::string qlab = QLAB_BINARY;
    const std::string run = qlab + " run " + source_dir().string() + "/experiments/demo.toml --dry-run --plugin-path " +
                            dir.path().string() + " > " + (dir / "out.txt").string() + " 2> " + (dir / "err.txt").string();
    CHECK(std::system(run.c_str()) == 0);
    const std::string err = read_text_file(dir / "err.txt");
    CHECK_THAT(err, Catch::Contains("qlab: warning: skipping a broken plugin library: ") && Catch::Contains("libqlab_needs_gone.so"));
    const std::string list = qlab + " plugins --plugin-path " + dir.path().string() + " > " + (dir / "list.txt").string() + " 2>&1";
    CHECK(std::system(list.c_str()) == 0);
    CHECK_THAT(read_text_file(dir / "list.txt"), Catch::Contains("broken library " + (dir / "libqlab_future.so").string()) &&
                                                     Catch::Contains("rtn "));
  }
}
