// Budgeted mixed precision (plan/bit_allocation.h): a hand case whose optimum is known, random
// instances against brute force over every combination, and the budget errors.
#include <catch2/catch.hpp>
#include <random>

#include <filesystem>

#include "config/experiment.h"
#include "plan/bit_allocation.h"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
LinearChoices menu(const std::string& name, int64_t n, std::vector<double> errors) {
  LinearChoices l{name, n, {}};
  const double bits[] = {2, 3, 4, 8};
  for (size_t i = 0; i < errors.size(); ++i) l.options.push_back({"w" + std::to_string(int(bits[i])), bits[i], errors[i]});
  return l;
}

// The least total error over every combination within the budget.
double brute_force(const std::vector<LinearChoices>& ls, double target) {
  double budget = 0, best = 1e300;
  for (const auto& l : ls) budget += target * double(l.n_weights);
  std::vector<size_t> c(ls.size(), 0);
  for (;;) {
    double bits = 0, err = 0;
    for (size_t l = 0; l < ls.size(); ++l) bits += double(ls[l].n_weights) * ls[l].options[c[l]].bits_per_weight, err += ls[l].options[c[l]].error;
    if (bits <= budget * (1 + 1e-12)) best = std::min(best, err);
    size_t k = 0;
    while (k < c.size() && ++c[k] == ls[k].options.size()) c[k++] = 0;
    if (k == c.size()) return best;
  }
}
}  // namespace

TEST_CASE("the sensitive linear gets the bits: a hand case", "[allocation]") {
  // Equal sizes, 3 bits on average: (4, 2) costs 1 + 2 = 3, (3, 3) 4 + 1 = 5, (2, 4) 8 + 0.5.
  const BitAllocation a = allocate_bits({menu("a", 100, {8, 4, 1}), menu("b", 100, {2, 1, 0.5})}, 3.0);
  CHECK(a.choice == std::vector<size_t>{2, 0});
  CHECK(a.total_error == 3.0);
  CHECK(a.average_bits == 3.0);
}

TEST_CASE("random menus: within budget, never worse than uniform, within 2% of brute force on average", "[allocation]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  double ours = 0, optimum = 0;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<LinearChoices> ls;
    for (int l = 0; l < 5; ++l) {  // errors falling with bits, sizes uneven, as linears are
      const double e2 = u(rng) * 10, e3 = e2 * u(rng) * 0.6, e4 = e3 * u(rng) * 0.6, e8 = e4 * 0.01;
      ls.push_back(menu("l" + std::to_string(l), int64_t(1 + rng() % 4) * 1000, {e2, e3, e4, e8}));
    }
    const double target = 2.2 + 2.0 * u(rng);
    const BitAllocation a = allocate_bits(ls, target);
    CHECK(a.average_bits <= target * (1 + 1e-9));
    const double uniform3 = [&] { double e = 0; for (auto& l : ls) e += l.options[1].error; return e; }();
    if (target >= 3.0) CHECK(a.total_error <= uniform3);
    const double best = brute_force(ls, target);
    CHECK(a.total_error >= best * (1 - 1e-12));
    ours += a.total_error;
    optimum += best;
  }
  CHECK(ours <= 1.02 * optimum);
}

TEST_CASE("a budget outside the menu's range is refused naming the range", "[allocation][bad-input]") {
  const std::vector<LinearChoices> ls = {menu("a", 10, {3, 2, 1, 0.1}), menu("b", 30, {3, 2, 1, 0.1})};
  CHECK_THROWS_WITH(allocate_bits(ls, 1.5), "a budget of 1.5 bits per weight is below the cheapest allocation, 2.0000 (every linear in its smallest format)");
  CHECK_THROWS_WITH(allocate_bits(ls, 9), Catch::Contains("above the most expensive allocation, 8.0000"));
  CHECK_THROWS_WITH(allocate_bits({LinearChoices{"c", 5, {}}}, 3), "bit allocation: c has no format to choose from");
  // In an experiment file, before any weight is read, naming the file.
  TempDir dir;
  const auto budget = [&](const std::string& bits) {
    return write_bundled_experiment(dir / "budget.toml", "[quant]\nbits = 3\n[[pipeline]]\nplugin = \"gptq\"\n[allocate]\ntarget_bits = " + bits +
                                                             "\nformats = [{bits = 2}, {bits = 4}]\n");
  };
  CHECK_THROWS_WITH(load_experiment(budget("1.5")),
                    Catch::Contains("budget.toml") && Catch::Contains("allocate.target_bits = 1.5 is outside what the formats can average, 2 to 4"));
  CHECK_THROWS_WITH(load_experiment(budget("4.5")), Catch::Contains("allocate.target_bits = 4.5 is outside"));
  CHECK(load_experiment(budget("4")).runs.at(0).allocate->target_bits == 4);
  // A format without bits, and a user override that pins what the allocation chooses.
  const std::string alloc = "[quant]\nbits = 3\n[[pipeline]]\nplugin = \"gptq\"\n[allocate]\ntarget_bits = 3\n";
  CHECK_THROWS_WITH(load_experiment(write_bundled_experiment(dir / "f.toml", alloc + "formats = [{group_size = 32}, {bits = 4}]\n")),
                    Catch::Contains("f.toml") && Catch::Contains("an allocate format needs bits"));
  CHECK_THROWS_WITH(
      load_experiment(write_bundled_experiment(
          dir / "o.toml", alloc + "formats = [{bits = 2}, {bits = 4}]\n[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 8\n")),
      Catch::Contains("o.toml") && Catch::Contains("[[override]] match '*.mlp.down_proj' sets them too"));
}

TEST_CASE("qlab run with an allocate table at 3.25 bits: between uniform 3 and 4 bits in size, better than uniform 3 in perplexity", "[allocation][run]") {
  TempDir dir;
  const std::string quant = "[quant]\nbits = 3\ngroup_size = 32\n[[pipeline]]\nplugin = \"gptq\"\n";
  const std::string body = quant +
                           "[allocate]\ntarget_bits = 3.25\nformats = [{bits = 2, group_size = 32}, {bits = 3, group_size = 32}, "
                           "{bits = 4, group_size = 32}]\n"
                           "[sweep]\nmode = \"grid\"\n\"quant.bits\" = [3]\n";
  const auto run = [&](const std::string& name, const std::string& text) {
    Experiment ex = load_experiment(write_bundled_experiment(dir / (name + ".toml"), text));
    const ExperimentSummary s = run_experiment(ex, RunOptions{(dir / (name + ".h5")).string(), false, {}, false});
    REQUIRE(s.runs.at(0).status == "done");
    return s.runs.at(0);
  };
  const RunSummary w3 = run("w3", quant), w4 = run("w4", "[quant]\nbits = 4\ngroup_size = 32\n[[pipeline]]\nplugin = \"gptq\"\n");
  const RunSummary mixed = run("mixed", body);
  WARN("bits/ppl: w3 " << w3.bits_per_weight << "/" << w3.ppl.at(0).second << ", allocated " << mixed.bits_per_weight << "/"
                       << mixed.ppl.at(0).second << ", w4 " << w4.bits_per_weight << "/" << w4.ppl.at(0).second);
  CHECK(mixed.bits_per_weight > w3.bits_per_weight);
  CHECK(mixed.bits_per_weight < w4.bits_per_weight);
  CHECK(mixed.ppl.at(0).second < w3.ppl.at(0).second);
  // The experiment file it wrote walks the same allocation without [allocate].
  const std::string reuse = (dir / "mixed.h5").string() + ".r0000.allocation.toml";
  REQUIRE(std::filesystem::exists(reuse));
  Experiment again = load_experiment(reuse);
  CHECK(!again.runs.at(0).allocate);
  CHECK(again.runs.at(0).overrides.size() >= 5 * 7);
}

TEST_CASE("a budget sweep by the Hessian-trace proxy, with a uniform point beside it (allocate.enabled = false)", "[allocation][run]") {
  TempDir dir;
  const std::string text =
      "[quant]\nbits = 3\ngroup_size = 32\n[[pipeline]]\nplugin = \"gptq\"\n"
      "[allocate]\ntarget_bits = 3\nsensitivity = \"hessian_trace\"\n"
      "formats = [{bits = 2, group_size = 32}, {bits = 3, group_size = 32}, {bits = 4, group_size = 32}]\n"
      "[sweep]\nmode = \"zip\"\n\"allocate.enabled\" = [false, true, true]\n\"allocate.target_bits\" = [3.0, 2.75, 3.5]\n";
  Experiment ex = load_experiment(write_bundled_experiment(dir / "budgets.toml", text), {"walker.true_sequential=true"});
  const ExperimentSummary s = run_experiment(ex, RunOptions{(dir / "budgets.h5").string(), false, {}, false});
  REQUIRE(s.runs.size() == 3);
  for (const RunSummary& r : s.runs) REQUIRE(r.status == "done");
  const RunSummary &uniform = s.runs[0], &low = s.runs[1], &high = s.runs[2];
  WARN("bits/ppl: uniform 3 " << uniform.bits_per_weight << "/" << uniform.ppl.at(0).second << ", 2.75 " << low.bits_per_weight << "/"
                              << low.ppl.at(0).second << ", 3.5 " << high.bits_per_weight << "/" << high.ppl.at(0).second);
  // The plot's series: the uniform run under its method, the budgeted ones apart.
  CHECK(uniform.identity.at("method") == "gptq");
  CHECK(high.identity.at("method") == "gptq+allocate");
  // 2.75 and 3.5 code bits straddle uniform 3 (all three carry the same g32 scales), and more
  // bits buy a lower perplexity. The proxy is a poor judge here: measured 3.35 bits → 14.9,
  // 4.12 → 5.83, uniform 3.61 → 5.61 (the measured output error's 3.86 bits give 5.20): it
  // ranks linears by absolute error, tr(H)/n_in·‖ΔW‖², which the largest inputs dominate.
  CHECK(low.bits_per_weight < uniform.bits_per_weight);
  CHECK(high.bits_per_weight > uniform.bits_per_weight);
  CHECK(high.ppl.at(0).second < low.ppl.at(0).second);
  CHECK_FALSE(std::filesystem::exists((dir / "budgets.h5").string() + ".r0000.allocation.toml"));
  // The written experiment keeps --set values (as settings, not comments).
  const Experiment again = load_experiment((dir / "budgets.h5").string() + ".r0002.allocation.toml");
  CHECK(again.runs.at(0).true_sequential);
}
