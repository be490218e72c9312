// Data protocols: Python's random module, the dataset-script row semantics, the GPTQ/AWQ
// calibration samplers on hand-checkable cases, and bad corpus files.
#include <zlib.h>

#include <catch2/catch.hpp>

#include "data/calibration.h"
#include "data/corpus_readers.h"
#include "data/data_spec.h"
#include "data/python_random.h"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

namespace {
// Test tokenizer: the text "doc:K:L" encodes to BOS then L tokens K·1000, K·1000+1, …; any
// other text to BOS then one token per byte. Windows are then readable by hand.
class CountingTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos) out.push_back(1);
    int k = 0, len = 0;
    if (std::sscanf(std::string(text).c_str(), "doc:%d:%d", &k, &len) == 2) {
      for (int i = 0; i < len; ++i) out.push_back(k * 1000 + i);
    } else {
      for (unsigned char c : text) out.push_back(c);
    }
    return out;
  }
  std::string decode_piece(int32_t, int32_t) const override { return ""; }
  int64_t vocab_size() const override { return 1 << 20; }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  const std::string& source() const override { return name_; }

 private:
  std::string name_ = "counting";
};

void write_gz(const std::filesystem::path& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}
}  // namespace

TEST_CASE("Python random: known outputs of random.seed and randint", "[data][rng]") {
  PythonRandom r(0);  // random.seed(0); [random.randint(0, 100) for _ in range(5)]
  std::vector<int64_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(r.randint(0, 100));
  CHECK(got == std::vector<int64_t>{49, 97, 53, 5, 33});
  PythonRandom s(42);  // random.seed(42); [random.randint(1, 10) for _ in range(10)]
  got.clear();
  for (int i = 0; i < 10; ++i) got.push_back(s.randint(1, 10));
  CHECK(got == std::vector<int64_t>{2, 1, 5, 4, 4, 3, 2, 9, 2, 10});
  CHECK(PythonRandom(0).random() == 0.8444218515250481);   // random.seed(0); random.random()
  CHECK(PythonRandom(42).random() == 0.6394267984578837);  // random.seed(42); random.random()
  REQUIRE_THROWS_WITH(PythonRandom(0).randint(0, -1), Catch::Contains("empty range"));
}

TEST_CASE("WikiText rows and PTB sentences follow the dataset scripts", "[data]") {
  TempDir dir;
  std::ofstream(dir / "wiki.test.raw") << " \n = Title = \n \n Body text .\n";
  std::vector<std::string> rows = read_wikitext_rows(dir / "wiki.test.raw");
  CHECK(rows == std::vector<std::string>{"", " = Title = \n", "", " Body text .\n"});
  CHECK(join(rows, "\n\n") == "\n\n = Title = \n\n\n\n\n Body text .\n");
  std::ofstream(dir / "ptb.test.txt") << " a b <unk> \n c d \n";
  CHECK(read_ptb_sentences(dir / "ptb.test.txt") == std::vector<std::string>{"a b <unk>", "c d"});
  CountingTokenizer tok;
  TokenData ptb = load_eval_tokens("ptb:" + (dir / "ptb.test.txt").string(), tok, 4);
  CHECK(ptb.tokens.size() == 1 + std::string("a b <unk> c d").size());
  TokenData old = load_eval_tokens("ptb-old:" + (dir / "ptb.test.txt").string(), tok, 4);
  CHECK(old.tokens.size() == 1 + std::string("a b <unk>\n\nc d").size());
}

TEST_CASE("GPTQ C4 calibration draws the reference's documents and windows", "[data][calibration]") {
  TempDir dir;
  // 101 documents of seq_len + 100 tokens each (with BOS: seq_len + 101): every draw is then
  // randint(0, 100), whose sequence for seed 0 is 49, 97, 53, 5, 33, ...
  const int seq_len = 16;
  std::string jsonl;
  for (int k = 0; k < 101; ++k) jsonl += fmt::format(R"({{"text": "doc:{}:{}", "url": "u"}})", k, seq_len + 100) + "\n";
  write_gz(dir / "c4-train.00000-of-01024.json.gz", jsonl);
  CountingTokenizer tok;
  CalibrationSet cal = sample_calibration({"c4:" + (dir / "c4-train.00000-of-01024.json.gz").string(), Sampler::gptq, 2, seq_len, 0}, tok);
  REQUIRE(cal.segments.size() == 2);
  CHECK(cal.document == std::vector<int64_t>{49, 53});
  CHECK(cal.start == std::vector<int64_t>{97, 5});
  CHECK(cal.segments[0].front() == 49 * 1000 + 96);  // ids[97] of doc 49 (ids[0] is BOS)
  CHECK(cal.segments[0].size() == seq_len);
  CHECK(cal.segments[1].front() == 53 * 1000 + 4);
  CHECK(cal.provenance.n_tokens == 2 * seq_len);
  CHECK(cal.provenance.sha256.size() == 64);

  // Short documents are redrawn: make every multiple of 7 (49 among them) too short.
  jsonl.clear();
  for (int k = 0; k < 101; ++k) jsonl += fmt::format(R"({{"text": "doc:{}:{}"}})", k, k % 7 ? seq_len + 100 : 3) + "\n";
  write_gz(dir / "short.json.gz", jsonl);
  CalibrationSet redraw = sample_calibration({"c4:" + (dir / "short.json.gz").string(), Sampler::gptq, 1, seq_len, 0}, tok);
  CHECK(redraw.document == std::vector<int64_t>{97});  // 49 is too short; the next draw is 97
  CHECK(redraw.start == std::vector<int64_t>{53});
}

TEST_CASE("GPTQ stream windows and the AWQ line sampler", "[data][calibration]") {
  TempDir dir;
  CountingTokenizer tok;
  // A text of 116 bytes → 117 tokens with BOS; windows of 16: randint(0, 100) → 49, 97, 53.
  std::ofstream(dir / "t.txt") << std::string(116, 'x');
  CalibrationSet w = sample_calibration({"text:" + (dir / "t.txt").string(), Sampler::gptq, 3, 16, 0}, tok);
  CHECK(w.start == std::vector<int64_t>{49, 97, 53});

  // AWQ: lines of 3, 40 (skipped: > seq_len), 5, 7 tokens + BOS each; 3 lines kept → 4+6+8 = 18
  // tokens → one block of 16, the tail dropped.
  std::ofstream(dir / "pile.jsonl") << R"({"text": "  abc "})" << "\n" << R"({"text": ")" << std::string(40, 'y') << R"("})"
                                    << "\n" << R"({"text": "defgh"})" << "\n" << R"({"text": "ijklmno"})" << "\n"
                                    << R"({"text": "never reached"})" << "\n";
  CalibrationSet a = sample_calibration({"text:" + (dir / "pile.jsonl").string(), Sampler::awq, 3, 16, 42}, tok);
  REQUIRE(a.segments.size() == 1);
  std::vector<int32_t> want = {1, 'a', 'b', 'c', 1, 'd', 'e', 'f', 'g', 'h', 1, 'i', 'j', 'k', 'l', 'm'};
  CHECK(a.segments[0] == want);
}

TEST_CASE("C4 evaluation protocols", "[data]") {
  TempDir dir;
  CountingTokenizer tok;
  std::string jsonl;
  for (int k = 0; k < 1200; ++k) jsonl += fmt::format(R"({{"text": "d{}"}})", k % 10) + "\n";
  write_gz(dir / "val.json.gz", jsonl);
  // c4 (new): the first 1100 documents joined with " ": 1100·2 + 1099 bytes, plus BOS.
  TokenData d = load_eval_tokens("c4:" + (dir / "val.json.gz").string(), tok, 1000);
  CHECK(d.tokens.size() == 1 + 1100 * 2 + 1099);
  TokenData cut = load_eval_tokens("c4:" + (dir / "val.json.gz").string(), tok, 4);  // truncated to 256·seq_len
  CHECK(cut.tokens.size() == 256 * 4);
}

TEST_CASE("bad data specs and corpus files are refused naming the file", "[data][bad-input]") {
  TempDir dir;
  CountingTokenizer tok;
  REQUIRE_THROWS_WITH(parse_data_spec("wiki:x"), Catch::Contains("unknown kind 'wiki'") && Catch::Contains("wikitext2"));
  std::ofstream(dir / "bad.jsonl") << R"({"text": "fine"})" << "\n" << "not json\n";
  REQUIRE_THROWS_WITH(read_json_lines_text(dir / "bad.jsonl"), Catch::Contains("bad.jsonl:2") && Catch::Contains("not a JSON line"));
  std::ofstream(dir / "notext.jsonl") << R"({"body": "x"})" << "\n";
  REQUIRE_THROWS_WITH(read_json_lines_text(dir / "notext.jsonl"), Catch::Contains("notext.jsonl:1") && Catch::Contains("'text'"));
  std::ofstream(dir / "fake.json.gz") << "this is not gzip";
  REQUIRE_THROWS_WITH(read_json_lines_text(dir / "fake.json.gz"), Catch::Contains("fake.json.gz"));
  std::ofstream(dir / "tiny.txt") << "abc";
  REQUIRE_THROWS_WITH(sample_calibration({"text:" + (dir / "tiny.txt").string(), Sampler::gptq, 1, 16, 0}, tok),
                      Catch::Contains("tiny.txt") && Catch::Contains("too few"));
  REQUIRE_THROWS_WITH(load_eval_tokens("wikitext2:" + (dir / "none.raw").string(), tok, 16), Catch::Contains("none.raw"));
}
