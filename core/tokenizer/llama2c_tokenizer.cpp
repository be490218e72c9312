#include "tokenizer/llama2c_tokenizer.h"

#include "tokenizer/bpe_merge.h"

#include <cmath>
#include <cstring>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

Llama2cTokenizer Llama2cTokenizer::load(const std::filesystem::path& path) {
  return parse(read_binary_file(path), path.string());
}

Llama2cTokenizer Llama2cTokenizer::parse(const std::vector<uint8_t>& bytes, const std::string& source) {
  Llama2cTokenizer t;
  t.source_ = source;
  const std::string& name = t.source_;
  size_t pos = 0;
  auto take = [&](void* dst, size_t n, const char* what) {
    if (bytes.size() - pos < n)
      fail("{}: truncated at byte {} while reading {} of token {}", name, pos, what, t.pieces_.size());
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
  };
  int32_t max_len = 0;
  if (bytes.size() < 4) fail("{}: not a llama2.c tokenizer file ({} bytes)", name, bytes.size());
  take(&max_len, 4, "max_token_length");
  if (max_len <= 0 || max_len > 4096) fail("{}: not a llama2.c tokenizer file (max_token_length {})", name, max_len);
  while (pos < bytes.size()) {
    float score = 0;
    int32_t len = 0;
    take(&score, 4, "score");
    take(&len, 4, "length");
    if (len < 0 || len > max_len)
      fail("{}: token {} has length {}, outside 0..max_token_length={}", name, t.pieces_.size(), len, max_len);
    if (!std::isfinite(score)) fail("{}: token {} has a non-finite score", name, t.pieces_.size());
    std::string piece(static_cast<size_t>(len), '\0');
    take(piece.data(), static_cast<size_t>(len), "bytes");
    t.ids_.emplace(piece, static_cast<int32_t>(t.pieces_.size()));  // first wins, as a sorted lookup would
    t.pieces_.push_back(std::move(piece));
    t.scores_.push_back(score);
  }
  if (t.pieces_.size() < 259) fail("{}: {} tokens; a llama2.c vocabulary has at least 3 specials + 256 bytes", name, t.pieces_.size());
  return t;
}

int32_t Llama2cTokenizer::lookup(std::string_view piece) const {
  auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> symbols;
  symbols.reserve(text.size() + 2);
  auto push_bytes = [&](std::string_view s) {
    for (unsigned char ch : s) symbols.push_back(static_cast<int32_t>(ch) + 3);
  };
  if (!text.empty()) {
    int32_t space = lookup(" ");
    if (space >= 0) symbols.push_back(space); else push_bytes(" ");
  }
  // Group each byte with up to 3 following continuation bytes, as llama2.c does.
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    while (i + n < text.size() && n < 4 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    std::string_view cp = text.substr(i, n);
    int32_t id = lookup(cp);
    if (id >= 0) symbols.push_back(id); else push_bytes(cp);
    i += n;
  }

  bpe_merge(symbols, [this](int32_t a, int32_t b) -> std::optional<MergeRule> {
    int32_t merged = lookup(pieces_[a] + pieces_[b]);
    if (merged < 0) return std::nullopt;
    return MergeRule{-static_cast<double>(scores_[merged]), merged};  // highest score first
  });
  if (add_bos) symbols.insert(symbols.begin(), bos_id());
  return symbols;
}

std::string Llama2cTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size()) fail("{}: token id {} outside the vocabulary of {}", source_, token, vocab_size());
  std::string_view piece = pieces_[static_cast<size_t>(token)];
  if (prev == bos_id() && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  if (int byte = byte_piece_value(piece); byte >= 0) return std::string(1, static_cast<char>(byte));
  return std::string(piece);
}

}  // namespace qlab
