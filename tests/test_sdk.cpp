// The plugin SDK's C++ helpers (qlab/plugin.hpp): parameter declarations built with named
// fields and read back by declaration, the support builder, the metric limit, the splitter.
#include <catch2/catch.hpp>
#include <cstring>

#include "qlab/plugin.hpp"

using namespace qlab;

namespace {
constexpr auto kSteps = sdk::int_param("steps", 20, "how many").range(1, 1000);
constexpr auto kAlpha = sdk::float_param("alpha", 0.5, "strength").range(0.0, 1.0);
constexpr auto kFast = sdk::bool_param("fast", true, "skip checks");
constexpr auto kMode = sdk::string_param("mode", "mse", "how").choices("none|mse");
constexpr qlab_param_decl kParams[] = {kSteps, kAlpha, kFast, kMode};
}  // namespace

TEST_CASE("parameter builders fill the declaration's named fields", "[sdk]") {
  CHECK(std::strcmp(kParams[0].name, "steps") == 0);
  CHECK(kParams[0].type == QLAB_PARAM_INT);
  CHECK(kParams[0].default_int == 20);
  CHECK(kParams[0].has_range == 1);
  CHECK(kParams[0].min_value == 1.0);
  CHECK(kParams[0].max_value == 1000.0);
  CHECK(kParams[0].choices == nullptr);
  CHECK(kParams[1].type == QLAB_PARAM_FLOAT);
  CHECK(kParams[1].default_float == 0.5);
  CHECK(kParams[2].type == QLAB_PARAM_BOOL);
  CHECK(kParams[2].default_int == 1);
  CHECK(kParams[2].has_range == 0);
  CHECK(kParams[3].type == QLAB_PARAM_STRING);
  CHECK(std::strcmp(kParams[3].default_string, "mse") == 0);  // unquoted
  CHECK(std::strcmp(kParams[3].choices, "none|mse") == 0);
  CHECK(std::strcmp(kParams[3].help, "how") == 0);
}

TEST_CASE("Params::get returns each declaration's value in its declared type", "[sdk]") {
  const qlab_param values[] = {{"steps", QLAB_PARAM_INT, 7, 0.0, nullptr},
                               {"alpha", QLAB_PARAM_FLOAT, 0, 0.25, nullptr},
                               {"fast", QLAB_PARAM_BOOL, 0, 0.0, nullptr},
                               {"mode", QLAB_PARAM_STRING, 0, 0.0, "none"}};
  const sdk::Params p(values, 4);
  CHECK(p.get(kSteps) == 7);
  CHECK(p.get(kAlpha) == 0.25);
  CHECK(p.get(kFast) == false);
  CHECK(p.get(kMode) == "none");
  static_assert(std::is_same_v<decltype(p.get(kSteps)), int64_t> && std::is_same_v<decltype(p.get(kMode)), std::string>);
  const sdk::Params missing(values, 1);
  CHECK_THROWS_WITH(missing.get(kMode), "no parameter 'mode' (is it in params[]?)");
}

TEST_CASE("Support declares bit widths and group constraints", "[sdk]") {
  constexpr qlab_support s = sdk::Support().bits({3, 4}).needs_groups().group_size_multiple(32);
  CHECK(s.bits == 0x18u);
  CHECK(s.needs_groups == 1);
  CHECK(s.group_size_multiple == 32);
  constexpr qlab_support any = sdk::Support();
  CHECK(any.bits == 0u);
}

TEST_CASE("add_metric refuses a metric beyond QLAB_MAX_METRICS", "[sdk]") {
  qlab_metric metrics[QLAB_MAX_METRICS];
  int32_t n = 0;
  for (int i = 0; i < QLAB_MAX_METRICS; ++i) sdk::add_metric(metrics, n, "m", i);
  CHECK(n == 16);
  CHECK(metrics[15].value == 15.0);
  CHECK_THROWS_WITH(sdk::add_metric(metrics, n, "extra", 1.0), "more than 16 metrics (at 'extra')");
  CHECK(n == 16);
}

TEST_CASE("split keeps the non-empty pieces between separators", "[sdk]") {
  CHECK(sdk::split("q_|k_||Wqkv|", '|') == std::vector<std::string>{"q_", "k_", "Wqkv"});
  CHECK(sdk::split("", '|').empty());
  CHECK(sdk::split("one", '|') == std::vector<std::string>{"one"});
}
