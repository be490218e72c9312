// The bundled stories260K checkpoint and tok512 tokenizer (datasets/stories260K), and the
// errors for broken llama2.c inputs.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "data/data_spec.h"
#include "eval/generate.h"
#include "eval/perplexity.h"
#include "format/llama2c_loader.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/llama2c_file.h"
#include "support/quiet_options.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/parallel.h"

using namespace qlab;
using namespace qlab::test;

namespace {
std::filesystem::path bundled(const char* name) { return source_dir() / "datasets" / "stories260K" / name; }

// llama2.c's encoder as written in run.c: rescan every adjacent pair after each merge.
std::vector<int32_t> naive_encode(const Llama2cTokenizer& t, const std::string& text) {
  std::vector<int32_t> ids = {t.bos_id()};
  if (!text.empty()) ids.push_back(t.lookup(" "));
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    while (i + n < text.size() && n < 4 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    int32_t id = t.lookup(text.substr(i, n));
    if (id >= 0) ids.push_back(id);
    else
      for (size_t b = 0; b < n; ++b) ids.push_back(static_cast<unsigned char>(text[i + b]) + 3);
    i += n;
  }
  while (true) {
    float best = -1e10f;
    int best_id = -1;
    size_t best_i = 0;
    for (size_t i = 1; i + 1 < ids.size(); ++i) {
      int id = t.lookup(t.piece(ids[i]) + t.piece(ids[i + 1]));
      if (id >= 0 && t.score(id) > best) {
        best = t.score(id);
        best_id = id;
        best_i = i;
      }
    }
    if (best_id < 0) break;
    ids[best_i] = best_id;
    ids.erase(ids.begin() + long(best_i) + 1);
  }
  return ids;
}
}  // namespace

TEST_CASE("bundled stories260K: header and greedy sample", "[llama2c][bundled]") {
  Model model = load_llama2c(bundled("stories260K.bin"));
  CHECK(model.config.dim == 64);
  CHECK(model.config.hidden_dim == 172);
  CHECK(model.config.n_layers == 5);
  CHECK(model.config.n_heads == 8);
  CHECK(model.config.n_kv_heads == 4);
  CHECK(model.config.vocab_size == 512);
  CHECK(model.config.max_seq_len == 512);
  CHECK(model.find_linear("4.mlp.down_proj") != nullptr);
  CHECK(model.find_linear("4.mlp.down_proj")->weight.rows() == 64);
  auto tok = load_tokenizer_for(model, "");
  // Karpathy's doc/stories260K.md: temperature 0 from BOS (256 steps) begins with these sentences.
  GenerateResult r = generate_greedy(model, *tok, "", 60);
  CHECK_THAT(r.text, Catch::StartsWith("Once upon a time, there was a little girl named Lily. She loved to play "
                                       "outside in the park. One day, she saw a big, red ball."));
  GenerateResult p = generate_greedy(model, *tok, "Once upon a time", 20);
  CHECK_THAT(p.text, Catch::StartsWith("Once upon a time, there was a little girl named Lily."));
}

TEST_CASE("tok512: heap BPE equals llama2.c's rescanning encoder", "[llama2c][tokenizer]") {
  Llama2cTokenizer tok = Llama2cTokenizer::load(bundled("tok512.bin"));
  CHECK(tok.vocab_size() == 512);
  std::string text = read_text_file(source_dir() / "datasets/tinystories/tinystories_eval.txt").substr(0, 3000);
  for (const std::string& s : {std::string("Once upon a time"), std::string("Hello, wörld! 日本 \n\n x"), text}) {
    std::vector<int32_t> fast = tok.encode(s, true);
    CHECK(fast == naive_encode(tok, s));
    std::string round;
    for (size_t i = 1; i < fast.size(); ++i) round += tok.decode_piece(fast[i - 1], fast[i]);
    CHECK(round == s);
  }
  CHECK(tok.encode("", true) == std::vector<int32_t>{1});
}

// Another thread count splits OpenBLAS's GEMMs differently (with Haswell kernels), so float32
// rounds differently: 1.6e-7 relative measured. Bound 512·2^-24 ≈ 3.1e-5: worst-case relative
// rounding of a float32 sum of K = 512 terms (the longest: attention over 512 keys).
TEST_CASE("bundled model perplexity agrees for 1 and 2 threads within float32 rounding", "[llama2c][bundled]") {
  Model model = load_llama2c(bundled("stories260K.bin"));
  auto tok = load_tokenizer_for(model, "");
  std::vector<int32_t> ids =
      load_eval_tokens((source_dir() / "datasets/tinystories/tinystories_eval.txt").string(), *tok, 512).tokens;
  int previous = thread_count();
  set_threads(1);
  PerplexityResult one = perplexity(model, ids, test::quiet_options(512, 12));
  set_threads(2);
  PerplexityResult two = perplexity(model, ids, test::quiet_options(512, 12));
  PerplexityResult two_again = perplexity(model, ids, test::quiet_options(512, 12));
  set_threads(previous);
  const double float32_rounding = 512 * std::ldexp(1.0, -24);
  CHECK(two.ppl == Approx(one.ppl).epsilon(float32_rounding));
  REQUIRE(two.segment_nll.size() == one.segment_nll.size());
  for (size_t i = 0; i < one.segment_nll.size(); ++i)
    CHECK(two.segment_nll[i] == Approx(one.segment_nll[i]).epsilon(float32_rounding));
  // The same thread count on the same machine: every sum has a fixed order, so the same digits.
  CHECK(two_again.ppl == two.ppl);
  CHECK(two_again.segment_nll == two.segment_nll);
  CHECK(one.ppl > 2.0);  // a trained model on its own domain: far below the uniform 512
  CHECK(one.ppl < 8.0);
}

TEST_CASE("broken llama2.c checkpoints are refused with the file and the problem", "[llama2c][bad-input]") {
  TempDir dir;
  Llama2cFile good = random_llama2c({16, 40, 2, 2, 1, 300, 32}, 7);
  good.write(dir / "good.bin");
  REQUIRE_NOTHROW(load_llama2c(dir / "good.bin"));

  SECTION("missing file") {
    REQUIRE_THROWS_WITH(load_llama2c(dir / "none.bin"), Catch::Contains("none.bin") && Catch::Contains("no such"));
  }
  SECTION("truncated") {
    Llama2cFile cut = good;
    cut.floats.resize(cut.floats.size() - 10);
    cut.write(dir / "cut.bin");
    REQUIRE_THROWS_WITH(load_llama2c(dir / "cut.bin"), Catch::Contains("cut.bin") && Catch::Contains("truncated"));
    std::ofstream(dir / "tiny.bin") << "abc";
    REQUIRE_THROWS_WITH(load_llama2c(dir / "tiny.bin"), Catch::Contains("tiny.bin") && Catch::Contains("header"));
  }
  SECTION("impossible dimensions") {
    Llama2cFile bad = good;
    bad.h.n_heads = 3;  // does not divide dim 16
    bad.write(dir / "heads.bin");
    REQUIRE_THROWS_WITH(load_llama2c(dir / "heads.bin"), Catch::Contains("heads.bin") && Catch::Contains("impossible"));
    bad = good;
    bad.h.dim = -5;
    bad.write(dir / "dim.bin");
    REQUIRE_THROWS_WITH(load_llama2c(dir / "dim.bin"), Catch::Contains("impossible"));
  }
  SECTION("wrong size for the header") {
    Llama2cFile extra = good;
    extra.floats.resize(extra.floats.size() + 64, 0.0f);
    extra.write(dir / "extra.bin");
    REQUIRE_THROWS_WITH(load_llama2c(dir / "extra.bin"), Catch::Contains("extra.bin") && Catch::Contains("trailing"));
  }
  SECTION("NaN in the weights") {
    Llama2cFile nan = good;
    nan.floats[static_cast<size_t>(nan.off_wv() + 5)] = std::nanf("");
    nan.write(dir / "nan.bin");
    REQUIRE_THROWS_WITH(load_llama2c(dir / "nan.bin"), Catch::Contains("nan.bin") && Catch::Contains("0.self_attn.v_proj") &&
                                                           Catch::Contains("non-finite"));
  }
}

TEST_CASE("broken tokenizer files and mismatched vocabularies are refused", "[llama2c][bad-input]") {
  TempDir dir;
  Model model = load_llama2c(bundled("stories260K.bin"));
  std::vector<uint8_t> bytes = read_binary_file(bundled("tok512.bin"));
  auto write = [&](const std::string& name, const std::vector<uint8_t>& b) {
    std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), long(b.size()));
    return dir / name;
  };
  SECTION("truncated inside a token") {
    std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 3);
    REQUIRE_THROWS_WITH(Llama2cTokenizer::load(write("cut.bin", cut)), Catch::Contains("cut.bin") && Catch::Contains("truncated"));
  }
  SECTION("vocabulary does not fit the model") {
    Llama2cTokenizer full = Llama2cTokenizer::load(bundled("tok512.bin"));
    // Keep the first 300 records: 4-byte header, then (score, length, bytes) per token.
    size_t pos = 4;
    for (int i = 0; i < 300; ++i) pos += 8 + full.piece(i).size();
    std::vector<uint8_t> small(bytes.begin(), bytes.begin() + long(pos));
    REQUIRE_THROWS_WITH(load_tokenizer_for(model, write("small.bin", small)),
                        Catch::Contains("small.bin") && Catch::Contains("300 tokens") && Catch::Contains("512"));
  }
  SECTION("not a tokenizer at all") {
    std::vector<uint8_t> junk = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3};
    REQUIRE_THROWS_WITH(Llama2cTokenizer::load(write("junk.bin", junk)), Catch::Contains("junk.bin"));
  }
}
