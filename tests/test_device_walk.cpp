// The walker on a backend (WalkMemory::device): capture's Hessians accumulated there,
// propagation there with only the error sums coming back, activations resident up to the
// device budget and in the host store beyond it. On the CPU backend every number must be the
// host walk's: the same kernels in the same order, so the per-linear and per-block errors agree
// to 1e-6 relative (the tolerance only admits a reordered fp32 sum, none is expected).
#include <catch2/catch.hpp>
#include <string>

#include "backend/backend_select.h"
#include "config/experiment.h"
#include "format/llama2c_loader.h"
#include "forward/device_block.h"
#include "plan/layer_plan.h"
#include "support/experiment_file.h"
#include "support/llama2c_file.h"
#include "support/skip.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

using namespace qlab;
using namespace qlab::test;

namespace {
struct Walked {
  std::vector<double> errors;  // each linear's relative output error, then the block's
  std::vector<Matrix> weights;
};

Walked walk(const std::string& pipeline_toml, const WalkMemory& memory, const std::filesystem::path& dir) {
  Experiment ex = load_experiment(write_bundled_experiment(dir / "exp.toml", pipeline_toml));
  const RunConfig& run = ex.runs.at(0);
  PluginRegistry reg = PluginRegistry::discover({});
  const InMemorySource source(load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin"));
  std::vector<std::vector<int32_t>> calib(6, std::vector<int32_t>(64));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t t = 0; t < 64; ++t) calib[s][t] = static_cast<int32_t>((s * 131 + t * 7) % 512);
  Pipeline pipeline = build_pipeline(run, reg);
  const LayerPlan plan = resolve_plan(run, source.config(), source.linears(), pipeline.needs());
  ActivationPlan act{run.act, {}};
  Walked w;
  CallbackSink sink([&](const BlockResult& r, const Block& block, const ActivationPlan&) {
    for (const LinearRow& row : r.linears) w.errors.push_back(row.rel_output_error);
    w.errors.push_back(r.row.rel_block_output_error);
    for (const Linear* l : block.linears()) w.weights.push_back(l->weight);
  });
  walk_layers(source, plan, calib, pipeline, act, sink, false, nullptr, {}, memory);
  return w;
}

void check_same(const Walked& got, const Walked& want) {
  REQUIRE(got.errors.size() == want.errors.size());
  for (size_t i = 0; i < got.errors.size(); ++i) CHECK(got.errors[i] == Approx(want.errors[i]).epsilon(1e-6));
  REQUIRE(got.weights.size() == want.weights.size());
  for (size_t i = 0; i < got.weights.size(); ++i) CHECK((got.weights[i] - want.weights[i]).cwiseAbs().maxCoeff() <= 1e-6f);
}

// Two stories260K blocks and one stage's Hessians and work space pinned, plus `segments`
// 64-token segments resident.
uint64_t room_for(int64_t segments) {
  const double d = 64, f = 172, block = 4 * (2 * d * d + 2 * 32 * d + 3 * d * f);
  const ModelConfig c = load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin").config;
  const double pinned = 2 * block + 4 * (2 * d * d + d * d + f * f) + device_forward_work_bytes(c, 64) + 3.0 * 4 * 64 * d;
  return static_cast<uint64_t>(pinned + static_cast<double>(segments) * 64 * d * 4 + 64);
}
}  // namespace

TEST_CASE("GPTQ walked on a backend, 2 of 6 segments resident, gives the host walk's numbers", "[device][walker]") {
  TempDir dir;
  auto be = make_backend("cpu");
  const std::string toml = "[quant]\nbits = 3\ngroup_size = 16\n[[pipeline]]\nplugin = \"gptq\"\n";
  const Walked host = walk(toml, {}, dir.path());
  int64_t resident = -1;
  check_same(walk(toml, {.device = be.get(), .max_device_memory = room_for(2), .device_resident_segments = &resident}, dir.path()), host);
  CHECK(resident == 2);
  check_same(walk(toml, {.device = be.get(), .device_resident_segments = &resident}, dir.path()), host);
  CHECK(resident == 6);
  CHECK(host.errors.size() == 5 * 8);
  CHECK(host.errors[0] > 1e-3);  // 3-bit weights: a real error to agree on
}

TEST_CASE("AWQ's search and per-token W8A8 propagation on a backend take host round trips to the same numbers", "[device][walker][awq]") {
  TempDir dir;
  auto be = make_backend("cpu");
  const std::string toml =
      "[quant]\nbits = 4\ngroup_size = 16\nact_bits = 8\nact_scheme = \"per_token\"\n"
      "[[pipeline]]\nplugin = \"awq\"\n[[pipeline]]\nplugin = \"rtn\"\n";
  int64_t resident = -1;
  check_same(walk(toml, {.device = be.get(), .max_device_memory = room_for(3), .device_resident_segments = &resident}, dir.path()),
             walk(toml, {}, dir.path()));
  CHECK(resident == 3);
}

TEST_CASE("a device too small for two blocks and a stage's Hessians is refused naming the flag", "[device][walker][bad-input]") {
  TempDir dir;
  auto be = make_backend("cpu");
  CHECK_THROWS_WITH(walk("[quant]\nbits = 3\n[[pipeline]]\nplugin = \"rtn\"\n", {.device = be.get(), .max_device_memory = 1 << 16}, dir.path()),
                    Catch::Contains("quantizing") && Catch::Contains("of device memory is needed") && Catch::Contains("raise --max-device-memory"));
}

TEST_CASE("cuda parity: GPTQ walked on the GPU against the host walk", "[device][walker][cuda]") {
  QLAB_NEED_CUDA();
  TempDir dir;
  const std::string toml = "[quant]\nbits = 4\ngroup_size = 16\n[[pipeline]]\nplugin = \"gptq\"\n";
  const Walked host = walk(toml, {}, dir.path());
  const Walked device = walk(toml, {.device = gpu.get()}, dir.path());
  // The bound: codes identical but for ≤ 0.5% (rounding ties after two fp32 summation
  // orders), the error within 1%.
  int64_t differ = 0, total = 0;
  for (size_t i = 0; i < host.weights.size(); ++i) {
    differ += ((device.weights[i] - host.weights[i]).cwiseAbs().array() > 1e-6f).count();
    total += host.weights[i].size();
  }
  CHECK(static_cast<double>(differ) <= 0.005 * static_cast<double>(total));
  for (size_t i = 0; i < host.errors.size(); ++i) CHECK(device.errors[i] == Approx(host.errors[i]).epsilon(0.01));
}
