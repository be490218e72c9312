// The GPTQ perplexity protocol on a tiny hand-made case.
#include <catch2/catch.hpp>
#include <cmath>

#include <filesystem>
#include <random>

#include "eval/perplexity.h"
#include "tensor/activation_store.h"
#include "format/model_loader.h"
#include "forward/forward.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/llama_family_ref.h"
#include "support/quiet_options.h"
#include "util/error.h"

using namespace qlab;

namespace {
// Vocabulary of 4. At every position the "model" puts logit ln 3 on (token + 1) mod 4 and 0
// elsewhere: p(next = token + 1) = 1/2, any other next token 1/6.
Matrix successor_logits(std::span<const int32_t> seg) {
  Matrix logits = Matrix::Zero(int64_t(seg.size()), 4);
  for (size_t t = 0; t < seg.size(); ++t) logits(int64_t(t), (seg[t] + 1) % 4) = std::log(3.0f);
  return logits;
}
}  // namespace

TEST_CASE("segments, dropped tail and unscored first tokens", "[perplexity]") {
  // Two segments of 4: [0 1 2 0] and [1 2 3 3]; the tail [2 2] is dropped. Scored
  // transitions: 0→1 (1/2), 1→2 (1/2), 2→0 (1/6) | 1→2, 2→3 (1/2), 3→3 (1/6). The 0→1
  // across the segment boundary is not scored: a segment's first token is never a target.
  std::vector<int32_t> tokens = {0, 1, 2, 0, 1, 2, 3, 3, 2, 2};
  std::vector<std::vector<int32_t>> seen;
  auto logits_of = [&](std::span<const int32_t> seg) {
    seen.emplace_back(seg.begin(), seg.end());
    return successor_logits(seg);
  };
  PerplexityResult r = perplexity(logits_of, tokens, test::quiet_options(4));
  CHECK(r.n_tokens == 10);
  CHECK(r.n_segments == 2);
  CHECK(r.n_scored == 6);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<int32_t>{0, 1, 2, 0});
  CHECK(seen[1] == std::vector<int32_t>{1, 2, 3, 3});
  const double seg_nll = (2 * std::log(2.0) + std::log(6.0)) / 3;
  REQUIRE(r.segment_nll.size() == 2);
  CHECK(r.segment_nll[0] == Approx(seg_nll).epsilon(1e-6));
  CHECK(r.segment_nll[1] == Approx(seg_nll).epsilon(1e-6));
  CHECK(r.ppl == Approx(std::pow(576.0, 1.0 / 6.0)).epsilon(1e-6));  // (2^4 · 6^2)^(1/6)
}

TEST_CASE("max_segments keeps the first K segments", "[perplexity]") {
  std::vector<int32_t> tokens = {0, 1, 2, 0, 1, 2, 3, 3, 2, 2};
  PerplexityResult r = perplexity(successor_logits, tokens, test::quiet_options(4, 1));
  CHECK(r.n_segments == 1);
  CHECK(r.n_scored == 3);
  CHECK(r.ppl == Approx(std::exp((2 * std::log(2.0) + std::log(6.0)) / 3)).epsilon(1e-6));
}

TEST_CASE("too little text for one segment is an error", "[perplexity]") {
  std::vector<int32_t> tokens = {0, 1, 2};
  REQUIRE_THROWS_WITH(perplexity(successor_logits, tokens, test::quiet_options(4)),
                      Catch::Contains("3 tokens, fewer than one segment of 4"));
  REQUIRE_THROWS_WITH(perplexity(successor_logits, tokens, test::quiet_options(1)), Catch::Contains("too short"));
}

namespace {
std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& t : ids) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return ids;
}

// Segment by segment through the whole model (forward_logits): the reference the
// block-major path must reproduce digit for digit with float32 activations.
PerplexityResult segment_major(const Model& m, std::span<const int32_t> ids, const PerplexityOptions& o) {
  return perplexity([&](std::span<const int32_t> seg) { return forward_logits(m, seg); }, ids, o);
}

PerplexityOptions options(int64_t seq_len, StoragePrecision p = StoragePrecision::f32, uint64_t max_memory = 0,
                          std::string spill_dir = "") {
  return {.seq_len = seq_len, .max_segments = 0, .progress = false, .activations = p, .max_memory = max_memory, .spill_dir = spill_dir};
}

void check_equal_to_segment_major(const std::filesystem::path& path, int64_t seq_len, int64_t n_tokens) {
  const std::unique_ptr<WeightSource> source = open_weight_source(path);
  const Model model = source->load_model();
  const std::vector<int32_t> ids = random_ids(n_tokens, model.lm_head.out_features(), 5);
  const PerplexityResult ref = segment_major(model, ids, options(seq_len));
  const PerplexityResult streamed = perplexity(*source, ids, options(seq_len));
  const PerplexityResult in_memory = perplexity(model, ids, options(seq_len));
  INFO(path.string());
  REQUIRE(ref.n_segments >= 2);
  // The same float operations in the same order: the same bits.
  CHECK(streamed.ppl == ref.ppl);
  CHECK(streamed.segment_nll == ref.segment_nll);
  CHECK(in_memory.ppl == ref.ppl);
  // fp16 keeps 11 significant bits (relative rounding ≤ 2^-11 per value), bf16 8 (≤ 2^-8):
  // the hidden states move by about that much, and the perplexity by a few times less.
  const double f16 = perplexity(*source, ids, options(seq_len, StoragePrecision::f16)).ppl;
  const double bf16 = perplexity(*source, ids, options(seq_len, StoragePrecision::bf16)).ppl;
  CHECK(std::abs(f16 / ref.ppl - 1) < std::ldexp(1.0, -11) * 4);
  CHECK(std::abs(bf16 / ref.ppl - 1) < std::ldexp(1.0, -8) * 4);
  CHECK(f16 != ref.ppl);  // the precision option reaches the store
}
}  // namespace

TEST_CASE("block-major perplexity equals segment by segment: bundled model, OPT, LLaMA with GQA", "[perplexity][blockmajor]") {
  check_equal_to_segment_major(test::source_dir() / "datasets/stories260K/stories260K.bin", 128, 128 * 4 + 17);
  test::TempDir dir;
  test::OptShape opt{16, 32, 2, 2, 60, 64, 8, true};  // project_in/out: hidden 16, embeddings 8
  test::write_hf_dir(dir / "opt", test::opt_config(opt), test::random_opt(opt, 3));
  check_equal_to_segment_major(dir / "opt", 32, 32 * 3);
  test::LlamaShape llama;  // 2 blocks, 4 heads over 2 kv heads
  test::write_hf_dir(dir / "llama", test::llama_config(llama), test::random_llama(llama, 4));
  check_equal_to_segment_major(dir / "llama", 64, 64 * 3 + 5);
}

TEST_CASE("activations beyond --max-memory spill to a fresh file that is removed, also on error", "[perplexity][blockmajor]") {
  const std::filesystem::path bundled = test::source_dir() / "datasets/stories260K/stories260K.bin";
  const std::unique_ptr<WeightSource> source = open_weight_source(bundled);
  std::vector<int32_t> ids = random_ids(256 * 8, 512, 9);
  const PerplexityResult in_memory = perplexity(*source, ids, options(256));
  // One stories260K block is 0.19 MiB of linears; a segment of 256×64 is 64 KiB in float32.
  // 0.45 MiB leaves room for one block, one working segment and about 3 stored segments: of 8.
  const uint64_t budget = 450 * 1024;
  test::TempDir spill;
  {
    ActivationStore probe(StoragePrecision::f32, 8, 256, 64, budget - 200 * 1024 - 64 * 1024, spill.path().string());
    REQUIRE(probe.spilled());
    CHECK(std::filesystem::path(probe.spill_path()).parent_path().parent_path() == spill.path());
    Matrix x = Matrix::Random(256, 64);
    probe.set(7, x);
    probe.set(0, 2 * x);
    CHECK(probe.get(7) == x);
    CHECK(probe.get(0) == 2 * x);
  }
  CHECK(std::filesystem::is_empty(spill.path()));
  const PerplexityResult spilled = perplexity(*source, ids, options(256, StoragePrecision::f32, budget, spill.path().string()));
  CHECK(spilled.ppl == in_memory.ppl);
  CHECK(spilled.segment_nll == in_memory.segment_nll);
  CHECK(std::filesystem::is_empty(spill.path()));
  ids[256 * 5 + 3] = 600;  // outside the vocabulary of 512: embedding segment 5 fails after the store exists
  REQUIRE_THROWS_WITH(perplexity(*source, ids, options(256, StoragePrecision::f32, budget, spill.path().string())),
                      Catch::Contains("outside the model's vocabulary"));
  CHECK(std::filesystem::is_empty(spill.path()));
}

TEST_CASE("a --max-memory below one block plus one segment is refused, naming the minimum", "[perplexity][blockmajor]") {
  const std::unique_ptr<WeightSource> source = open_weight_source(test::source_dir() / "datasets/stories260K/stories260K.bin");
  const std::vector<int32_t> ids = random_ids(512, 512, 1);
  REQUIRE_THROWS_WITH(perplexity(*source, ids, options(256, StoragePrecision::f32, 100 * 1024)),
                      Catch::Contains("--max-memory 0.1 MiB is too small to evaluate") && Catch::Contains("at least 0.3 MiB is needed"));
}
