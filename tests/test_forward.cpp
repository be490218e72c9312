// The runtime forward pass against the naive llama2.c reference (support/llama2c_file.h),
// on seeded random models written to disk and read back through the real loader.
#include <catch2/catch.hpp>

#include "forward/forward.h"
#include "format/llama2c_loader.h"
#include "support/compare.h"
#include "support/llama2c_file.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("forward pass equals the naive llama2.c reference", "[forward]") {
  TempDir dir;
  auto [h, label] = GENERATE(table<Llama2cHeader, std::string>({
      {{32, 72, 2, 4, 4, 37, 64}, "multi-head, shared classifier"},
      {{48, 100, 3, 6, 2, -41, 64}, "grouped-query (6 q heads, 2 kv heads), unshared classifier"},
      {{16, 40, 1, 2, 1, 19, 300}, "multi-query, 200 positions (several attention tiles)"},
  }));
  SECTION(label) {
    Llama2cFile file = random_llama2c(h, 1234);
    file.write(dir / "m.bin");
    Model model = load_llama2c(dir / "m.bin");
    const int n = h.seq_len >= 300 ? 200 : 23;
    std::vector<int32_t> tokens;
    for (int i = 0; i < n; ++i) tokens.push_back((i * 7 + 3) % int(file.vocab()));
    Matrix logits = forward_logits(model, tokens);
    auto want = naive_llama2c_logits(file, tokens);
    REQUIRE(logits.rows() == n);
    REQUIRE(logits.cols() == file.vocab());
    CHECK(max_rel(logits, want) < 1e-5);
  }
}

TEST_CASE("incremental decoding with a KV cache equals the whole-segment forward", "[forward]") {
  TempDir dir;
  Llama2cFile file = random_llama2c({32, 72, 2, 4, 2, 37, 64}, 99);
  file.write(dir / "m.bin");
  Model model = load_llama2c(dir / "m.bin");
  std::vector<int32_t> tokens = {1, 5, 9, 30, 2, 2, 17, 8, 36, 0, 11};
  Matrix whole = forward_logits(model, tokens);
  KvCache cache = make_kv_cache(model, 32);
  Matrix first = forward_logits(model, std::span<const int32_t>(tokens.data(), 4), cache);
  CHECK((first - whole.topRows(4)).cwiseAbs().maxCoeff() < 1e-5f);
  for (size_t t = 4; t < tokens.size(); ++t) {
    Matrix step = forward_logits(model, std::span<const int32_t>(&tokens[t], 1), cache);
    CHECK((step.row(0) - whole.row(int64_t(t))).cwiseAbs().maxCoeff() < 1e-5f);
  }
}
