#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/byte_level_bpe_tokenizer.h"

#include <pcre2.h>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/bpe_merge.h"
#include "tokenizer/tokenizer_json_fields.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {
std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

const std::array<std::string, 256>& byte_table() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    uint32_t extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = utf8(printable ? static_cast<uint32_t>(b) : 256 + extra++);
    }
    return t;
  }();
  return table;
}

const std::unordered_map<std::string, uint8_t>& unicode_to_byte() {
  static const std::unordered_map<std::string, uint8_t> inverse = [] {
    std::unordered_map<std::string, uint8_t> m;
    for (int b = 0; b < 256; ++b) m[byte_table()[b]] = static_cast<uint8_t>(b);
    return m;
  }();
  return inverse;
}

constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return byte_table()[b]; }

struct ByteLevelBpeTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer() : regex_(std::make_unique<Regex>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                               &err, &offset, nullptr);
  if (!regex_->code) fail("internal: the GPT-2 pre-tokenizer pattern does not compile (pcre2 error {})", err);
  pcre2_jit_compile(regex_->code, PCRE2_JIT_COMPLETE);  // a speed-up only; interpretation is the fallback
}
ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;

void ByteLevelBpeTokenizer::add_merge(const std::string& left, const std::string& right, int32_t rank,
                                      const std::string& where) {
  auto l = ids_.find(left), r = ids_.find(right), m = ids_.find(left + right);
  if (l == ids_.end() || r == ids_.end() || m == ids_.end())
    fail("{}: merge '{} {}' (rank {}) names a token missing from the vocabulary", where, left, right, rank);
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) | static_cast<uint32_t>(r->second);
  merges_.emplace(key, std::make_pair(rank, m->second));  // the first (best) rank wins
}

void ByteLevelBpeTokenizer::finish(const std::string& bos, const std::string& eos, bool add_bos,
                                   const std::vector<std::string>& specials) {
  pieces_.assign(ids_.size(), "");
  for (const auto& [piece, id] : ids_) {
    if (id < 0 || id >= static_cast<int32_t>(ids_.size())) fail("{}: token ids must be 0..{}, found {}", source_, ids_.size() - 1, id);
    pieces_[static_cast<size_t>(id)] = piece;
  }
  auto id_of = [&](const std::string& s) { auto it = ids_.find(s); return it == ids_.end() ? -1 : it->second; };
  bos_id_ = id_of(bos);
  eos_id_ = id_of(eos);
  add_bos_ = add_bos;
  if (add_bos && bos_id_ < 0) fail("{}: add_bos_token is set but the BOS token '{}' is not in the vocabulary", source_, bos);
  for (const std::string& s : specials)
    if (int32_t id = id_of(s); id >= 0) specials_.push_back({s, id});
}

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::from_vocab_merges(const std::filesystem::path& vocab_json,
                                                                               const std::filesystem::path& merges_txt) {
  std::unique_ptr<ByteLevelBpeTokenizer> t(new ByteLevelBpeTokenizer());
  t->source_ = vocab_json.string();
  nlohmann::json vocab = nlohmann::json::parse(read_text_file(vocab_json), nullptr, false);
  if (vocab.is_discarded() || !vocab.is_object()) fail("{}: not a JSON object of token → id", vocab_json.string());
  for (auto& [piece, id] : vocab.items()) {
    t->ids_[piece] = token_id(id, vocab_json.string(), piece);
  }
  std::istringstream lines(read_text_file(merges_txt));
  std::string line;
  int32_t rank = 0;
  int64_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.rfind("#version", 0) == 0 || line.empty()) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size())
      fail("{}:{}: a merge must be two tokens separated by one space", merges_txt.string(), line_no);
    t->add_merge(line.substr(0, space), line.substr(space + 1), rank++, fmt::format("{}:{}", merges_txt.string(), line_no));
  }
  // BOS and specials from tokenizer_config.json beside the vocabulary (OPT: bos "</s>", add_bos_token).
  std::string bos = "<|endoftext|>", eos = "<|endoftext|>";
  bool add_bos = false;
  std::vector<std::string> specials = {"<|endoftext|>"};
  const auto config_path = vocab_json.parent_path() / "tokenizer_config.json";
  if (path_kind(config_path) != PathKind::missing) {
    nlohmann::json c = nlohmann::json::parse(read_text_file(config_path), nullptr, false);
    if (c.is_discarded() || !c.is_object()) fail("{}: not a JSON object", config_path.string());
    auto token_text = [&](const char* key, const std::string& fallback) {
      if (!c.contains(key) || c[key].is_null()) return fallback;
      if (c[key].is_string()) return c[key].get<std::string>();
      if (c[key].is_object() && c[key].contains("content")) return c[key]["content"].get<std::string>();
      fail("{}: '{}' is neither a string nor an AddedToken", config_path.string(), key);
    };
    bos = token_text("bos_token", bos);
    eos = token_text("eos_token", eos);
    specials = {bos, eos, token_text("unk_token", eos), token_text("pad_token", eos)};
    add_bos = c.value("add_bos_token", false);
  }
  t->finish(bos, eos, add_bos, specials);
  return t;
}

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::from_tokenizer_json(const nlohmann::json& j,
                                                                                  const std::string& path) {
  std::unique_ptr<ByteLevelBpeTokenizer> t(new ByteLevelBpeTokenizer());
  t->source_ = path;
  const auto& model = j.at("model");
  std::vector<std::string> specials;  // every added token splits the text, as the slow tokenizer's trie does
  for (const AddedToken& a : read_vocabulary(j, path, t->ids_)) specials.push_back(a.content);
  int32_t rank = 0;
  for (const auto& m : model.at("merges")) {
    const auto [left, right] = merge_pair(m, path, rank);
    t->add_merge(left, right, rank++, path);
  }
  // BOS from a TemplateProcessing post-processor that starts with a special token.
  std::string bos;
  const auto& post = j.contains("post_processor") ? j.at("post_processor") : nlohmann::json();
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && !post.at("single").empty() &&
      post.at("single").at(0).contains("SpecialToken"))
    bos = post.at("single").at(0).at("SpecialToken").at("id").get<std::string>();
  t->finish(bos.empty() ? "<|endoftext|>" : bos, "<|endoftext|>", !bos.empty(), specials);
  return t;
}

void ByteLevelBpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  std::string key(word);
  {
    const std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto hit = cache_.find(key); hit != cache_.end()) {
      out.insert(out.end(), hit->second.begin(), hit->second.end());
      return;
    }
  }
  std::vector<int32_t> symbols;
  for (unsigned char b : word) {
    auto it = ids_.find(byte_table()[b]);
    if (it == ids_.end()) fail("{}: the vocabulary lacks the byte token for 0x{:02x}", source_, b);
    symbols.push_back(it->second);
  }
  bpe_merge(symbols, [this](int32_t a, int32_t b) -> std::optional<MergeRule> {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
    if (it == merges_.end()) return std::nullopt;
    return MergeRule{static_cast<double>(it->second.first), it->second.second};
  });
  out.insert(out.end(), symbols.begin(), symbols.end());
  const std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.emplace(std::move(key), std::move(symbols));
}

std::vector<int32_t> ByteLevelBpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && add_bos_) out.push_back(bos_id_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(regex_->code, nullptr), &pcre2_match_data_free);
  pcre2_match_data* md = match.get();
  for (const TextChunk& chunk : split_on_specials(text, specials_)) {
    if (chunk.special_id >= 0) {
      out.push_back(chunk.special_id);
      continue;
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(chunk.text.data());
    PCRE2_SIZE pos = 0;
    while (pos < chunk.text.size()) {
      // UTF-8 validity is checked on the first match only: rechecking the whole subject at
      // every match would make encoding quadratic.
      int rc = pcre2_match(regex_->code, subject, chunk.text.size(), pos, pos == 0 ? 0 : PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        // After a UTF check error pcre2_get_startchar gives the offset of the bad code unit.
        const size_t bad = static_cast<size_t>(chunk.text.data() - text.data()) + pcre2_get_startchar(md);
        fail("the text is not valid UTF-8 at byte {} (the byte-level BPE tokenizer {} reads UTF-8 only; pcre2 error {})", bad,
             source_, rc);
      }
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      encode_word(chunk.text.substr(ov[0], ov[1] - ov[0]), out);
      pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
  }
  return out;
}

std::string ByteLevelBpeTokenizer::decode_piece(int32_t, int32_t token) const {
  if (token < 0 || token >= vocab_size()) fail("{}: token id {} outside the vocabulary of {}", source_, token, vocab_size());
  for (const SpecialToken& s : specials_)
    if (s.id == token) return "";
  const std::string& piece = pieces_[static_cast<size_t>(token)];
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    size_t n = 1;
    while (i + n < piece.size() && (static_cast<unsigned char>(piece[i + n]) & 0xC0) == 0x80) ++n;
    auto it = unicode_to_byte().find(piece.substr(i, n));
    out += it != unicode_to_byte().end() ? std::string(1, static_cast<char>(it->second)) : piece.substr(i, n);
    i += n;
  }
  return out;
}

}  // namespace qlab
