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
  // Token ids of `text`, with the family's BOS prepended when add_bos.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Text of `token` following `prev` (some families drop a leading space after BOS).
  virtual std::string decode_piece(int32_t prev, int32_t token) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual const std::string& source() const = 0;  // file it was read from

  std::string decode(std::span<const int32_t> tokens) const;
};

}  // namespace qlab
