// llama2.c tokenizer files (tokenizer.bin, tok512.bin): int32 max_token_length, then per
// token a float score, an int32 length and the bytes. Encoding is llama2.c's BPE: BOS,
// a dummy-prefix space, UTF-8 code points (bytes as <0xXX> fallback, id = byte + 3), then
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token
// (leftmost on ties). A heap makes it O(n log n), with the same merge order as the
// reference's rescan.
#pragma once
#include <filesystem>
#include <unordered_map>

#include "tokenizer/tokenizer.h"

namespace qlab {

class Llama2cTokenizer final : public Tokenizer {
 public:
  static Llama2cTokenizer load(const std::filesystem::path& path);
  // The same from a file image in memory; `name` appears in errors.
  static Llama2cTokenizer parse(const std::vector<uint8_t>& bytes, const std::string& name);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t token) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  const std::string& source() const override { return source_; }

  const std::string& piece(int32_t id) const { return pieces_.at(static_cast<size_t>(id)); }
  float score(int32_t id) const { return scores_.at(static_cast<size_t>(id)); }
  int32_t lookup(std::string_view piece) const;  // -1 when absent

 private:
  std::string source_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace qlab
