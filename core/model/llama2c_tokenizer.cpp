#include "model/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>
#include <queue>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

std::string Tokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t t : tokens) {
    out += decode_piece(prev, t);
    prev = t;
  }
  return out;
}

Llama2cTokenizer Llama2cTokenizer::load(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_binary_file(path);
  Llama2cTokenizer t;
  t.source_ = path.string();
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

  // Merge: doubly linked list over symbols, heap of candidate pairs.
  const int64_t n = static_cast<int64_t>(symbols.size());
  std::vector<int64_t> prev(n), next(n);
  for (int64_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    float score;
    int64_t left;
    int32_t left_id, right_id, merged;
    bool operator<(const Candidate& o) const {  // max score first, then leftmost
      if (score != o.score) return score < o.score;
      return left > o.left;
    }
  };
  std::priority_queue<Candidate> heap;
  std::unordered_map<uint64_t, int32_t> pair_cache;
  auto try_pair = [&](int64_t left) {
    if (left < 0 || next[left] < 0) return;
    int32_t a = symbols[left], b = symbols[next[left]];
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    auto it = pair_cache.find(key);
    int32_t merged = it != pair_cache.end() ? it->second : (pair_cache[key] = lookup(pieces_[a] + pieces_[b]));
    if (merged >= 0) heap.push({scores_[merged], left, a, b, merged});
  };
  for (int64_t i = 0; i + 1 < n; ++i) try_pair(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    int64_t right = next[c.left];
    if (symbols[c.left] < 0 || right < 0 || symbols[c.left] != c.left_id || symbols[right] != c.right_id) continue;  // stale
    symbols[c.left] = c.merged;
    symbols[right] = -1;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    try_pair(prev[c.left]);
    try_pair(c.left);
  }

  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n) + 1);
  if (add_bos) out.push_back(bos_id());
  for (int64_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(symbols[i]);
  return out;
}

std::string Llama2cTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size()) fail("{}: token id {} outside the vocabulary of {}", source_, token, vocab_size());
  std::string_view piece = pieces_[static_cast<size_t>(token)];
  if (prev == bos_id() && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  unsigned int byte = 0;
  if (piece.size() == 6 && piece.substr(0, 3) == "<0x" && piece[5] == '>' &&
      std::sscanf(std::string(piece).c_str(), "<0x%02X>", &byte) == 1)
    return std::string(1, static_cast<char>(byte));
  return std::string(piece);
}

}  // namespace qlab
