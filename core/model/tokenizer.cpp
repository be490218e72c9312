#include "model/tokenizer.h"

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
