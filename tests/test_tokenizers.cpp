// Tokenizers against the reference encodings: GPT-2's published ids, WikiText-2 token counts
// of the reference slow tokenizers, and the four BPE implementations agreeing on real text.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "data/data_spec.h"
#include "tokenizer/byte_level_bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/llama2c_file.h"
#include "support/skip.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kShared = source_dir() / "../shared/data";
const std::filesystem::path kGpt2 = kShared / "gpt2-tokenizer/vocab.json";
const std::filesystem::path kLlama = kShared / "llama-tokenizer/tokenizer.model";
const std::filesystem::path kTok512 = source_dir() / "datasets/stories260K/tok512.bin";
const std::filesystem::path kTok512Model = source_dir() / "datasets/stories260K/tok512.model";

// The first n bytes of the bundled text, cut after the last full stop: tok512.model's
// normalizer drops trailing whitespace (remove_extra_whitespaces), llama2.c's encoder keeps it.
std::string tinystories(size_t n) {
  std::string s = read_text_file(source_dir() / "datasets/tinystories/tinystories_eval.txt").substr(0, n);
  return s.substr(0, s.rfind('.') + 1);
}
}  // namespace

TEST_CASE("GPT-2 byte-level BPE: published encodings and WikiText-2 count", "[tokenizer][gpt2]") {
  if (!std::filesystem::exists(kGpt2)) QLAB_SKIP("GPT-2 tokenizer files not found in ../shared/data (not shipped)");
  auto tok = load_tokenizer(kGpt2);
  CHECK(tok->vocab_size() == 50257);
  CHECK(tok->encode("Hello world", true) == std::vector<int32_t>{15496, 995});  // GPT-2 adds no BOS
  CHECK(tok->encode(" Hello world", true) == std::vector<int32_t>{18435, 995});
  CHECK(tok->decode(tok->encode("Hi there!\n\n  café 123", false)) == "Hi there!\n\n  café 123");
  // The Hugging Face perplexity guide tokenizes "\n\n".join(wikitext-2-raw test) with GPT-2 to 287,644 tokens.
  TokenData d = load_eval_tokens("wikitext2:" + (kShared / "wikitext-2-raw/wiki.test.raw").string(), *tok, 2048);
  CHECK(d.tokens.size() == 287644);
  CHECK(d.provenance.sha256 == "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08");
}

TEST_CASE("LLaMA SentencePiece: WikiText-2 count of the slow LlamaTokenizer", "[tokenizer][llama]") {
  if (!std::filesystem::exists(kLlama))
    QLAB_SKIP("LLaMA tokenizer.model is not shipped (Meta's licence) and ../shared/data/llama-tokenizer is absent");
  auto tok = load_tokenizer(kLlama);
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->encode("Hello world", true) == std::vector<int32_t>{1, 15043, 3186});
  // 341,469 tokens: 166 segments of 2048, as the reference papers' LLaMA WikiText-2 runs have.
  TokenData d = load_eval_tokens("wikitext2:" + (kShared / "wikitext-2-raw/wiki.test.raw").string(), *tok, 2048);
  CHECK(d.tokens.size() == 341469);
  CHECK(d.tokens.size() / 2048 == 166);
  // The slow tokenizer maps the literal "<unk>" (PTB has thousands) to id 0, encoding the rest around it.
  std::vector<int32_t> ids = tok->encode("a <unk> b", true);
  CHECK(std::count(ids.begin(), ids.end(), 0) == 1);
}

TEST_CASE("tok512: SentencePiece, llama2.c and tokenizer.json encoders agree", "[tokenizer]") {
  Llama2cTokenizer bin = Llama2cTokenizer::load(kTok512);
  auto sp = SentencePieceTokenizer::load(kTok512Model);
  // A tokenizer.json in the Hugging Face converter's form: pieces with ▁, merges ranked by
  // the merged piece's score (its id), byte fallback, Prepend+Replace normalizer.
  nlohmann::json vocab = nlohmann::json::object(), merges = nlohmann::json::array();
  auto meta = [](std::string s) {
    std::string out;
    for (char c : s) out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
    return out;
  };
  std::vector<std::string> pieces;
  for (int i = 0; i < bin.vocab_size(); ++i) {
    std::string p = i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : meta(bin.piece(i));
    pieces.push_back(p);
    vocab[p] = i;
  }
  std::vector<std::pair<int, std::pair<std::string, std::string>>> ranked;
  for (int i = 259; i < bin.vocab_size(); ++i)
    for (size_t cut = 1; cut < pieces[i].size(); ++cut) {
      std::string a = pieces[i].substr(0, cut), b = pieces[i].substr(cut);
      if (vocab.contains(a) && vocab.contains(b) && vocab[a].get<int>() >= 3 && vocab[b].get<int>() >= 3)
        ranked.push_back({i, {a, b}});
    }
  for (auto& [id, ab] : ranked) merges.push_back(ab.first + " " + ab.second);
  nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", true}, {"unk_token", "<unk>"}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                                             {{"type", "Replace"}}}}}},
      {"post_processor", {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}}}},
      {"added_tokens", {{{"id", 0}, {"content", "<unk>"}, {"special", true}}, {{"id", 1}, {"content", "<s>"}, {"special", true}},
                        {{"id", 2}, {"content", "</s>"}, {"special", true}}}}};
  TempDir dir;
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto json_tok = load_tokenizer(dir / "tokenizer.json");

  for (const std::string& text : {std::string("Once upon a time"), std::string("Hello, wörld! 日本"), tinystories(20000)}) {
    std::vector<int32_t> ref = bin.encode(text, true);
    CHECK(sp->encode(text, true) == ref);
    CHECK(json_tok->encode(text, true) == ref);
    CHECK(json_tok->decode(ref) == text);
    CHECK(sp->decode(ref) == text);
  }
}

TEST_CASE("byte-level tokenizer.json equals vocab.json + merges.txt, OPT-style BOS", "[tokenizer][gpt2]") {
  if (!std::filesystem::exists(kGpt2)) QLAB_SKIP("GPT-2 tokenizer files not found in ../shared/data");
  auto ref = load_tokenizer(kGpt2);
  nlohmann::json vocab = nlohmann::json::parse(read_text_file(kGpt2));
  nlohmann::json merges = nlohmann::json::array();
  std::istringstream lines(read_text_file(kShared / "gpt2-tokenizer/merges.txt"));
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] != '#') merges.push_back(line);
  nlohmann::json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
                      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}}};
  TempDir dir;
  std::ofstream(dir / "tokenizer.json") << j.dump();
  auto json_tok = load_tokenizer(dir / "tokenizer.json");
  std::string text = read_text_file(kShared / "wikitext-2-raw/wiki.test.raw").substr(0, 30000);
  CHECK(json_tok->encode(text, false) == ref->encode(text, false));

  // OPT's slow GPT2Tokenizer: add_bos_token with bos "</s>"; here the GPT-2 vocabulary's
  // <|endoftext|> stands in for OPT's </s> (OPT's own vocab.json is not in ../shared/data).
  std::filesystem::copy_file(kGpt2, dir / "vocab.json");
  std::filesystem::copy_file(kShared / "gpt2-tokenizer/merges.txt", dir / "merges.txt");
  std::ofstream(dir / "tokenizer_config.json") << R"({"add_bos_token": true, "bos_token": "<|endoftext|>"})";
  auto opt_style = load_tokenizer(dir / "vocab.json");
  CHECK(opt_style->encode("Hello world", true) == std::vector<int32_t>{50256, 15496, 995});
}

TEST_CASE("broken tokenizer files are refused naming the file", "[tokenizer][bad-input]") {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  REQUIRE_THROWS_WITH(load_tokenizer(write("tokenizer.json", R"({"model": {"type": "Unigram"}})")),
                      Catch::Contains("tokenizer.json") && Catch::Contains("'Unigram' is not supported"));
  REQUIRE_THROWS_WITH(load_tokenizer(write("t2.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})")),
                      Catch::Contains("t2.json") && Catch::Contains("merge 'a b'"));
  REQUIRE_THROWS_WITH(load_tokenizer(write("t3.json", "[1, 2")), Catch::Contains("t3.json") && Catch::Contains("not a JSON object"));
  REQUIRE_THROWS_WITH(load_tokenizer(write("x.model", "garbage")), Catch::Contains("x.model") && Catch::Contains("not a SentencePiece model"));
  write("merges.txt", "#version: 0.2\nab\n");
  REQUIRE_THROWS_WITH(load_tokenizer(write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})")),
                      Catch::Contains("merges.txt:2") && Catch::Contains("two tokens"));
  REQUIRE_THROWS_WITH(load_tokenizer(dir / "none.model"), Catch::Contains("none.model") && Catch::Contains("no such"));
}

TEST_CASE("invalid UTF-8 under the GPT-2 tokenizer names the data file and the byte", "[tokenizer][gpt2][bad-input]") {
  if (!std::filesystem::exists(kGpt2)) QLAB_SKIP("GPT-2 tokenizer files not found in ../shared/data");
  auto gpt2 = load_tokenizer(kGpt2);
  TempDir dir;
  auto refuse = [&](const std::string& text, size_t bad_byte) {
    std::ofstream(dir / "bad.txt", std::ios::binary) << text;
    REQUIRE_THROWS_WITH(load_eval_tokens("text:" + (dir / "bad.txt").string(), *gpt2, 8),
                        Catch::StartsWith((dir / "bad.txt").string() + ": the text is not valid UTF-8 at byte " +
                                          std::to_string(bad_byte) + " (the byte-level BPE tokenizer " + kGpt2.string() +
                                          " reads UTF-8 only; pcre2 error"));
  };
  refuse("Hello \xff world", 6);
  std::string long_text;
  while (long_text.size() < 100000) long_text += "Once upon a time. ";
  long_text.resize(100000);
  refuse(long_text + "\xc3(", 100000);
}
