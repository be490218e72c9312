#include "tokenizer/tokenizer.h"

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

int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::vector<TextChunk> split_on_specials(std::string_view text, const std::vector<SpecialToken>& specials) {
  std::vector<TextChunk> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const SpecialToken* hit = nullptr;
    for (const SpecialToken& s : specials)
      if (!s.text.empty() && text.compare(i, s.text.size(), s.text) == 0 && (!hit || s.text.size() > hit->text.size()))
        hit = &s;
    if (!hit) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({text.substr(start, i - start), -1});
    out.push_back({text.substr(i, hit->text.size()), hit->id});
    i += hit->text.size();
    start = i;
  }
  if (start < text.size()) out.push_back({text.substr(start), -1});
  return out;
}

}  // namespace qlab
