// Text ↔ token ids. One interface for every tokenizer family the loaders know.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlab {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`, with the family's BOS prepended when add_bos. Safe to call from
  // several threads at once.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Text of `token` following `prev` (some families drop a leading space after BOS).
  virtual std::string decode_piece(int32_t prev, int32_t token) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual const std::string& source() const = 0;  // file it was read from

  std::string decode(std::span<const int32_t> tokens) const;
};

// A piece of text between special tokens, or a special token itself (special_id >= 0).
struct TextChunk {
  std::string_view text;
  int32_t special_id = -1;
};
struct SpecialToken {
  std::string text;
  int32_t id;
};
// Splits text on literal occurrences of special tokens (longest match first), as the slow
// Hugging Face tokenizers do before encoding the pieces between them. No whitespace is
// stripped around them. Empty chunks are dropped.
// The byte of a byte-fallback piece "<0xAB>" (0..255), or −1 for any other piece.
int byte_piece_value(std::string_view piece);

std::vector<TextChunk> split_on_specials(std::string_view text, const std::vector<SpecialToken>& specials);

}  // namespace qlab
