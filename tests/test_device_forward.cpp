// The forward pass written in the seam's ops (forward/device_block.h) and block-major
// evaluation with residency (backend/device_activation_store.h), run on the CPU backend
// against the host's own block_forward and perplexity: the same code then runs on a GPU, where
// the [cuda] cases hold it to the CPU within the tolerances.
//
// Tolerances: the seam's CPU backend calls the very kernels block_forward calls; only a
// linear's bias is added after the GEMM instead of before it (one fp32 rounding apart), so a
// block's output agrees to a few fp32 ulps relative to its scale: 1e-5 bounds that with room
// for the norms' amplification. Perplexity of the same logits agrees to 1e-6 relative.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "backend/backend_select.h"
#include "backend/device_activation_store.h"
#include "eval/perplexity.h"
#include "format/hf_loader.h"
#include "format/model_loader.h"
#include "forward/device_block.h"
#include "forward/forward.h"
#include "model/residual_rotation.h"
#include "support/compare.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/llama_family_ref.h"
#include "support/skip.h"
#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"
#include "zeroshot/zeroshot_eval.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kStories = source_dir() / "datasets/stories260K/stories260K.bin";

// The largest relative difference over the model's blocks, each fed the host's input.
double seam_vs_host(Backend& be, const Model& m, int n_tokens, const ActivationPlan* act = nullptr) {
  Matrix x = embed(m, some_tokens(n_tokens, static_cast<int>(m.config.vocab_size)));
  double worst = 0;
  for (const Block& block : m.blocks) {
    const DeviceBlock resident(be, block);
    DeviceBuffer xd = be.upload(x);
    device_block_forward(resident, m.config, xd, nullptr, act);
    block_forward(block, m.config, x, 0, nullptr, nullptr, act);
    worst = std::max(worst, max_rel(xd.download(), x));
  }
  return worst;
}

std::vector<int32_t> corpus_ids(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 7919 + i / 3) % vocab));
  return ids;
}
}  // namespace

TEST_CASE("seam block forward equals block_forward: LLaMA, OPT pre- and post-norm, Qwen3", "[device]") {
  auto be = make_backend("cpu");
  TempDir dir;
  SECTION("stories260K (LLaMA, grouped-query attention)") {
    CHECK(seam_vs_host(*be, load_model(kStories), 70) < 1e-5);
  }
  SECTION("stories260K rotated, with QuaRot's online Hadamards (down_proj, value/output, query/key), under W4A4 and KV4") {
    Model m = load_model(kStories);
    rotate_model(m, randomized_hadamard(64, 2));
    for (Block& b : m.blocks) add_online_hadamards(b, m.config, {.down = true, .value_output = true, .query_key = true});
    ActivationPlan act;
    act.scheme.bits = 4;
    act.scheme.clip_ratio = 0.9f;
    act.scheme.kv_bits = 4;
    CHECK(seam_vs_host(*be, m, 60) < 1e-5);
    // 4-bit rounding turns GEMM-order ulps into a code step now and then: a looser bound.
    CHECK(seam_vs_host(*be, m, 60, &act) < 1e-3);
  }
  SECTION("OPT-125M style: biases, learned positions, ReLU") {
    write_hf_dir(dir / "opt", opt_config({32, 64, 2, 4, 50, 64, 32, true}), random_opt({32, 64, 2, 4, 50, 64, 32, true}, 5));
    CHECK(seam_vs_host(*be, load_hf_model(dir / "opt"), 40) < 1e-5);
  }
  SECTION("OPT-350M style: post-LayerNorm") {
    const OptShape s{32, 48, 2, 2, 40, 64, 16, false};
    write_hf_dir(dir / "opt350", opt_config(s), random_opt(s, 3));
    CHECK(seam_vs_host(*be, load_hf_model(dir / "opt350"), 40) < 1e-5);
  }
  SECTION("Qwen3: per-head q/k norms") {
    LlamaShape s;
    s.arch = "Qwen3ForCausalLM";
    s.qk_norm = true;
    s.head_dim = 16;
    write_hf_dir(dir / "qwen3", llama_config(s), random_llama(s, 11));
    CHECK(seam_vs_host(*be, load_hf_model(dir / "qwen3"), 30) < 1e-5);
  }
}

TEST_CASE("seam block forward under per-token W8A8 equals block_forward's", "[device]") {
  auto be = make_backend("cpu");
  ActivationPlan act;
  act.scheme.bits = 8;
  const Model m = load_model(kStories);
  CHECK(seam_vs_host(*be, m, 50, &act) < 1e-5);
  // The quantizer is really applied: 8-bit inputs move the output well beyond that tolerance.
  Matrix x = embed(m, some_tokens(50, 512)), xq = x;
  block_forward(m.blocks[0], m.config, x);
  block_forward(m.blocks[0], m.config, xq, 0, nullptr, nullptr, &act);
  CHECK(max_rel(xq, x) > 1e-4);
}

TEST_CASE("perplexity through the seam equals the host's, with activations split between device and host", "[device]") {
  const std::unique_ptr<WeightSource> source = open_weight_source(kStories);
  const std::vector<int32_t> ids = corpus_ids(64 * 6, 512);
  auto be = make_backend("cpu");
  for (const StoragePrecision p : {StoragePrecision::f32, StoragePrecision::f16}) {
    PerplexityOptions host{.seq_len = 64, .progress = false, .activations = p};
    const PerplexityResult want = perplexity(*source, ids, host);
    PerplexityOptions dev = host;
    dev.device = be.get();
    // One block (0.19 MiB of linears + norms) and a 64-token segment's work space, plus two
    // 64×64 float segments: 2 of the 6 segments stay resident, 4 go through the host store.
    const ModelConfig& c = source->config();
    const double need = DeviceBlock::bytes(source->load_block(0)) + device_forward_work_bytes(c, 64) + 64.0 * c.dim * 4;
    dev.max_device_memory = static_cast<uint64_t>(need + 2 * 64 * c.dim * 4 + 100);
    const PerplexityResult got = perplexity(*source, ids, dev);
    INFO("activations " << (p == StoragePrecision::f32 ? "f32" : "f16"));
    CHECK(got.device_resident_segments == 2);
    CHECK(std::abs(got.ppl / want.ppl - 1) < 1e-6);
    REQUIRE(got.segment_nll.size() == want.segment_nll.size());
    for (size_t s = 0; s < got.segment_nll.size(); ++s) CHECK(got.segment_nll[s] == Approx(want.segment_nll[s]).epsilon(1e-6));
    // All resident when the device has room.
    dev.max_device_memory = 0;
    CHECK(perplexity(*source, ids, dev).device_resident_segments == 6);
  }
}

TEST_CASE("a device budget below one block and one segment is refused naming the need and the flag", "[device]") {
  const std::unique_ptr<WeightSource> source = open_weight_source(kStories);
  auto be = make_backend("cpu");
  PerplexityOptions opts{.seq_len = 64, .progress = false};
  opts.device = be.get();
  opts.max_device_memory = 4096;
  CHECK_THROWS_WITH(perplexity(*source, corpus_ids(256, 512), opts),
                    Catch::Contains("evaluating") && Catch::Contains("of device memory is needed") &&
                        Catch::Contains("--max-device-memory gives 0.0 MiB"));
}

TEST_CASE("zero-shot scoring through the seam (RoPE at packed positions, prefix-tree attention) equals the host's", "[device][zeroshot]") {
  const Model m = load_model(kStories);
  const auto tok = load_tokenizer(source_dir() / "datasets/stories260K/tok512.bin");
  auto be = make_backend("cpu");
  ZeroShotOptions o{.tasks = {"arc_easy", "winogrande", "lambada_openai"}, .limit = 8, .progress = false};
  const ZeroShotResult want = evaluate_tasks(BlockMajorModel(m), *tok, o);
  o.device = be.get();
  const ZeroShotResult got = evaluate_tasks(BlockMajorModel(m), *tok, o);
  REQUIRE(got.tasks.size() == 3);
  for (size_t t = 0; t < got.tasks.size(); ++t)
    for (size_t d = 0; d < got.tasks[t].scores.size(); ++d) {
      const DocScore& a = got.tasks[t].scores[d];
      const DocScore& b = want.tasks[t].scores[d];
      INFO(got.tasks[t].task << " document " << d);
      REQUIRE(a.ll.size() == b.ll.size());
      for (size_t r = 0; r < a.ll.size(); ++r) CHECK(a.ll[r] == Approx(b.ll[r]).epsilon(1e-5));
      CHECK(a.greedy == b.greedy);
    }
}

TEST_CASE("cuda parity: whole-model perplexity of the bundled model within 1e-4", "[device][cuda]") {
  QLAB_NEED_CUDA();
  const std::unique_ptr<WeightSource> source = open_weight_source(kStories);
  const std::vector<int32_t> ids = corpus_ids(256 * 8, 512);
  PerplexityOptions opts{.seq_len = 256, .progress = false};
  const PerplexityResult want = perplexity(*source, ids, opts);
  opts.device = gpu.get();
  const PerplexityResult got = perplexity(*source, ids, opts);
  CHECK(std::abs(got.ppl / want.ppl - 1) < 1e-4);
  CHECK(seam_vs_host(*gpu, load_model(kStories), 256) < 1e-4);
}
