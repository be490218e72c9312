// The `qlab` commands run as a user runs them: `qlab layer` quantizes one linear from a
// safetensors file to the grid helper's exact numbers, and refuses bad input naming it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "format/safetensors.h"
#include "qlab/grid.hpp"
#include "support/llama2c_file.h"
#include "tensor/tensor.h"
#include "util/file_io.h"

using namespace qlab;
using namespace qlab::test;

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

TEST_CASE("qlab layer checks the format keys with the experiment's rules", "[layer][bad-input]") {
  TempDir dir;
  Matrix w = Matrix::Ones(4, 8), x = Matrix::Ones(3, 8);
  write_safetensors(dir / "in.safetensors", {f32_tensor("weight", {4, 8}, w.data()), f32_tensor("inputs", {3, 8}, x.data())});
  auto layer = [&](const std::string& sets) {
    const std::string cmd = std::string(QLAB_BINARY) + " layer --weights " + (dir / "in.safetensors").string() + " --pipeline rtn " + sets +
                            " --out " + (dir / "o.safetensors").string() + " > /dev/null 2> " + (dir / "err.txt").string();
    const int rc = WEXITSTATUS(std::system(cmd.c_str()));
    return std::pair(rc, read_text_file(dir / "err.txt"));
  };
  CHECK(layer("--set bits=9") == std::pair(1, std::string("qlab: error: --set bits=9: bits = 9 is outside 2..8\n")));
  CHECK(layer("--set group_size=-8") ==
        std::pair(1, std::string("qlab: error: --set group_size=-8: group_size must be >= 0 (0 = per output channel)\n")));
  CHECK(layer("--set range=mse") == std::pair(1, std::string("qlab: error: --set range=mse: range 'mse' is not one of gptq, minmax\n")));
  CHECK(layer("--set range=minmax --set bits=2").first == 0);
}
