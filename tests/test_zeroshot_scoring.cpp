// Zero-shot scoring: requests tokenized as the harness does, packed as prefix trees, and
// scored block-major — against a naive per-request forward pass and hand cases.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include "eval/block_major_model.h"
#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "forward/forward.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"
#include "zeroshot/loglikelihood_scorer.h"
#include "zeroshot/request_tokens.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kStories = source_dir() / "datasets/stories260K";

// ll and is_greedy of one request by the plain forward pass: the harness's own arithmetic.
std::pair<double, bool> naive_score(const Model& m, const RequestInput& r, const ActivationPlan* act = nullptr) {
  const Matrix logits = forward_logits(m, r.input, act);
  const int64_t first = static_cast<int64_t>(r.input.size() - r.continuation.size());
  double ll = 0;
  bool greedy = true;
  for (size_t k = 0; k < r.continuation.size(); ++k) {
    const auto row = logits.row(first + static_cast<int64_t>(k));
    double mx = row.maxCoeff(), sum = 0;
    for (int64_t j = 0; j < row.size(); ++j) sum += std::exp(double(row(j)) - mx);
    ll += double(row(r.continuation[k])) - mx - std::log(sum);
    Eigen::Index arg;
    row.maxCoeff(&arg);
    greedy = greedy && arg == r.continuation[k];
  }
  return {ll, greedy};
}

std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> d(3, vocab - 1);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = d(rng);
  return t;
}

// Documents shaped like the tasks': a shared context with 2–5 choices, and WinoGrande-like
// pairs whose contexts share only a prefix.
std::vector<std::vector<RequestInput>> random_docs(std::mt19937& rng, int32_t vocab, int n_docs, size_t max_context) {
  std::vector<std::vector<RequestInput>> docs;
  for (int d = 0; d < n_docs; ++d) {
    std::vector<int32_t> context = random_tokens(rng, 1 + rng() % max_context, vocab);
    std::vector<RequestInput> doc;
    const int n_choices = 2 + static_cast<int>(rng() % 4);
    for (int c = 0; c < n_choices; ++c) {
      std::vector<int32_t> ctx = context;
      if (d % 3 == 2) ctx.push_back(3 + c);  // contexts that differ in their last token
      const std::vector<int32_t> cont = random_tokens(rng, 1 + rng() % 6, vocab);
      std::vector<int32_t> all = ctx;
      all.insert(all.end(), cont.begin(), cont.end());
      doc.push_back({std::vector<int32_t>(all.begin(), all.end() - 1), cont});
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

// Under activation quantization a rounding step (0.8% of a row's range at 8 bits) flips
// where packing changes a GEMM's float rounding by an ulp, so packed and plain runs then agree
// to a fraction of a percent, not to float rounding: `act_rel` is that tolerance.
ScoringStats check_against_naive(const Model& m, const std::vector<std::vector<RequestInput>>& docs, int64_t capacity,
                                 const ActivationPlan* act = nullptr, double act_rel = 0.0) {
  ScoringStats stats;
  const std::vector<DocScore> scores =
      score_requests(BlockMajorModel(m), docs, {.capacity = capacity, .max_memory = 0, .progress = false, .label = "t"}, act, &stats);
  REQUIRE(scores.size() == docs.size());
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r) {
      const auto [ll, greedy] = naive_score(m, docs[d][r], act);
      if (act) {
        CHECK(scores[d].ll[r] == Approx(ll).epsilon(act_rel));
        continue;
      }
      // The same arithmetic in other GEMM shapes: float rounding of logits of size ~10 over a
      // few tokens.
      CHECK(scores[d].ll[r] == Approx(ll).margin(2e-4));
      if (std::abs(scores[d].ll[r] - ll) < 1e-5) CHECK(scores[d].greedy[r] == greedy);
    }
  return stats;
}
}  // namespace

TEST_CASE("packed prefix trees score every request as its own forward pass does: stories260K", "[zeroshot]") {
  const Model m = load_llama2c(kStories / "stories260K.bin");
  std::mt19937 rng(7);
  const ScoringStats stats = check_against_naive(m, random_docs(rng, static_cast<int32_t>(m.config.vocab_size), 40, 60), 256);
  CHECK(stats.rows < stats.request_tokens);  // shared prefixes run once
  CHECK(stats.segments > 1);
}

TEST_CASE("packed prefix trees score every request as its own forward pass does: OPT, learned positions", "[zeroshot]") {
  const auto dir = std::filesystem::temp_directory_path() / "qlab_zeroshot_opt";
  std::filesystem::remove_all(dir);
  OptShape shape{32, 64, 2, 4, 50, 64, 32, true};
  write_hf_dir(dir, opt_config(shape), random_opt(shape, 5));
  const Model m = load_hf_model(dir);
  std::mt19937 rng(3);
  const ScoringStats stats = check_against_naive(m, random_docs(rng, 50, 12, 40), 64);
  CHECK(stats.rows < stats.request_tokens);
  CHECK(stats.segments > 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("activation quantization: per-token packs, a per-tensor range runs each request alone", "[zeroshot]") {
  const Model m = load_llama2c(kStories / "stories260K.bin");
  for (const ActScheme scheme : {ActScheme::per_token, ActScheme::per_tensor}) {
    INFO(kActSchemes.name(scheme));
    std::mt19937 rng(11);
    const ActivationPlan act{{8, scheme, 0.0f}, {}};
    const auto docs = random_docs(rng, static_cast<int32_t>(m.config.vocab_size), 8, 40);
    size_t requests = 0;
    for (const auto& d : docs) requests += d.size();
    const ScoringStats stats = check_against_naive(m, docs, 256, &act, 0.01);
    if (scheme == ActScheme::per_token) CHECK(stats.segments < static_cast<int64_t>(requests));   // packed
    else CHECK(stats.segments == static_cast<int64_t>(requests));                                 // one request each
  }
}

TEST_CASE("prefix trees: two requests sharing a context, hand layout", "[zeroshot]") {
  // Inputs [5 6 7 8] and [5 6 9]: rows 5 6 7 8 9, 9 branching off 6.
  const std::vector<std::vector<RequestInput>> docs = {{{{5, 6, 7, 8}, {8, 4}}, {{5, 6, 9}, {9, 2}}}, {{{1, 2}, {3}}}};
  const std::vector<PackedSegment> segs = pack_prefix_trees(docs, 16);
  REQUIRE(segs.size() == 1);
  const PackedSegment& s = segs[0];
  CHECK(s.tokens == std::vector<int32_t>{5, 6, 7, 8, 9, 1, 2});
  CHECK(s.layout.pos == std::vector<int32_t>{0, 1, 2, 3, 2, 0, 1});
  CHECK(s.layout.tree_start == std::vector<int32_t>{0, 0, 0, 0, 0, 5, 5});
  CHECK(s.layout.subtree_end == std::vector<int32_t>{5, 5, 4, 4, 5, 7, 7});
  REQUIRE(s.targets.size() == 3);
  CHECK(s.targets[0].rows == std::vector<int32_t>{2, 3});  // 7 predicts 8, 8 predicts 4
  CHECK(s.targets[1].rows == std::vector<int32_t>{1, 4});
  CHECK(s.targets[2].rows == std::vector<int32_t>{6});
  // A capacity of 5 rows puts the second document in a segment of its own.
  CHECK(pack_prefix_trees(docs, 5).size() == 2);
}

TEST_CASE("packed attention over one chain is causal attention, narrow heads and wide", "[zeroshot]") {
  for (const int64_t hd : {int64_t{8}, int64_t{64}}) {
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0, 1);
    const int64_t T = 300, heads = 4, kv_heads = 2;
    Matrix q(T, heads * hd), k(T, kv_heads * hd), v(T, kv_heads * hd);
    for (Matrix* m : {&q, &k, &v})
      for (int64_t i = 0; i < m->size(); ++i) m->data()[i] = n(rng);
    PackedLayout one;
    for (int64_t i = 0; i < T; ++i) {
      one.pos.push_back(static_cast<int32_t>(i));
      one.tree_start.push_back(0);
      one.subtree_end.push_back(static_cast<int32_t>(T));
    }
    Matrix causal, packed;
    causal_attention(q, k, v, heads, kv_heads, hd, 0, causal);
    packed_attention(q, k, v, heads, kv_heads, hd, one, packed);
    INFO("head width " << hd);
    CHECK((causal - packed).cwiseAbs().maxCoeff() < 1e-5f);
  }
}

TEST_CASE("packed attention: a branch sees its root's path, not its sibling", "[zeroshot]") {
  // Rows 0 1 | 2 (child of 1) | 3 (child of 1): row 3 must equal causal attention over rows 0 1 3.
  for (const int64_t hd : {int64_t{8}, int64_t{64}}) {
    std::mt19937 rng(2);
    std::normal_distribution<float> n(0, 1);
    Matrix q(4, hd), k(4, hd), v(4, hd);
    for (Matrix* m : {&q, &k, &v})
      for (int64_t i = 0; i < m->size(); ++i) m->data()[i] = n(rng);
    const PackedLayout tree{{0, 1, 2, 2}, {0, 0, 0, 0}, {4, 4, 3, 4}};
    Matrix packed, chain;
    packed_attention(q, k, v, 1, 1, hd, tree, packed);
    const std::vector<int> path = {0, 1, 3};
    Matrix q3(3, hd), k3(3, hd), v3(3, hd);
    for (int i = 0; i < 3; ++i) q3.row(i) = q.row(path[i]), k3.row(i) = k.row(path[i]), v3.row(i) = v.row(path[i]);
    causal_attention(q3, k3, v3, 1, 1, hd, 0, chain);
    INFO("head width " << hd);
    CHECK((packed.row(3) - chain.row(2)).cwiseAbs().maxCoeff() < 1e-5f);
    CHECK((packed.row(1) - chain.row(1)).cwiseAbs().maxCoeff() < 1e-5f);
  }
}

TEST_CASE("harness tokenization on the bundled SentencePiece-style tokenizer", "[zeroshot]") {
  const auto tok = load_tokenizer(kStories / "tok512.bin");
  const LoglikelihoodRequest r{"Lily saw a big", " dog"};
  // v0.4: whole-then-split: context + continuation is exactly the encoding of the whole text.
  const RequestTokens v4 = encode_request(*tok, r, HarnessVersion::v0_4);
  std::vector<int32_t> joined = v4.context;
  joined.insert(joined.end(), v4.continuation.begin(), v4.continuation.end());
  CHECK(joined == tok->encode("Lily saw a big dog", false));
  CHECK(tok->decode(v4.continuation) == " dog");
  // v0.3: separate encoding: the continuation gains the dummy-prefix "▁" (harness PR #531).
  const RequestTokens v3 = encode_request(*tok, r, HarnessVersion::v0_3);
  CHECK(v3.context == v4.context);
  CHECK(v3.continuation == tok->encode(" dog", false));
  CHECK(v3.continuation.size() > v4.continuation.size());
  // v0.4.10: the tokenizer's default BOS, in front of the context only.
  const RequestTokens v410 = encode_request(*tok, r, HarnessVersion::v0_4_10);
  REQUIRE(v410.context.size() == v4.context.size() + 1);
  CHECK(v410.context[0] == tok->bos_id());
  CHECK(v410.continuation == v4.continuation);
}

TEST_CASE("harness tokenization: trailing context whitespace moves to the continuation", "[zeroshot]") {
  const auto tok = load_tokenizer(kStories / "tok512.bin");
  const RequestTokens moved = encode_request(*tok, {"Answer: \n", "yes"}, HarnessVersion::v0_4);
  CHECK(moved.context == tok->encode("Answer:", false));
  std::vector<int32_t> joined = moved.context;
  joined.insert(joined.end(), moved.continuation.begin(), moved.continuation.end());
  CHECK(joined == tok->encode("Answer: \nyes", false));
  CHECK(trailing_whitespace_bytes("a \t\n") == 3);
  CHECK(trailing_whitespace_bytes("a\xc2\xa0") == 2);      // U+00A0 is whitespace to Python
  CHECK(trailing_whitespace_bytes("a\xe3\x80\x80") == 3);  // U+3000 too
  CHECK(trailing_whitespace_bytes("\xc3\xa9") == 0);       // é is not
}

TEST_CASE("request input: left truncation keeps the last max_length + 1 tokens, BOS lost", "[zeroshot]") {
  const RequestTokens r{{1, 10, 11, 12, 13}, {20, 21}};
  const auto input = [&](int64_t max_length) { return request_input(r, max_length, OverlongContinuation::fail, "d").input; };
  CHECK(input(16) == std::vector<int32_t>{1, 10, 11, 12, 13, 20});
  // 7 tokens, max_length 4: the last 5 kept, the last dropped; the BOS is gone.
  CHECK(input(4) == std::vector<int32_t>{11, 12, 13, 20});
  CHECK(input(2) == std::vector<int32_t>{13, 20});
  CHECK(request_input(r, 2, OverlongContinuation::fail, "d").continuation == std::vector<int32_t>{20, 21});
  CHECK_THROWS_WITH(request_input(r, 1, OverlongContinuation::fail, "piqa: dev.jsonl:7"),
                    Catch::Contains("piqa: dev.jsonl:7") && Catch::Contains("2 tokens, longer than the model's context of 1"));
  // keep-tail: the continuation's last max_length tokens, predicted by the ones before them.
  const RequestInput tail = request_input(r, 1, OverlongContinuation::keep_tail, "d");
  CHECK(tail.input == std::vector<int32_t>{20});
  CHECK(tail.continuation == std::vector<int32_t>{21});
  CHECK_THROWS_WITH(request_input({{1}, {}}, 8, OverlongContinuation::fail, "x:1"),
                    Catch::Contains("x:1: the continuation encodes to no tokens"));
}
