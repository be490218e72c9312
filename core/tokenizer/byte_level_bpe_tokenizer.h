// Byte-level BPE (GPT-2, OPT): the GPT-2 regex pre-tokenizer (libpcre2, Unicode classes),
// each word's bytes mapped to printable characters by GPT-2's bytes_to_unicode table, then
// merges by rank. Read from vocab.json + merges.txt (+ tokenizer_config.json for BOS and
// special tokens) or from a tokenizer.json whose model is BPE with a ByteLevel pre-tokenizer.
// OPT's slow tokenizer prepends its BOS "</s>" (add_bos_token); GPT-2's adds none.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <unordered_map>

#include "tokenizer/tokenizer.h"

namespace qlab {

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  // vocab.json and merges.txt in `dir` (plus tokenizer_config.json when present).
  static std::unique_ptr<ByteLevelBpeTokenizer> from_vocab_merges(const std::filesystem::path& vocab_json,
                                                                  const std::filesystem::path& merges_txt);
  static std::unique_ptr<ByteLevelBpeTokenizer> from_tokenizer_json(const nlohmann::json& j, const std::string& path);
  ~ByteLevelBpeTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t token) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  const std::string& source() const override { return source_; }

 private:
  ByteLevelBpeTokenizer();
  void add_merge(const std::string& left, const std::string& right, int32_t rank, const std::string& where);
  void finish(const std::string& bos, const std::string& eos, bool add_bos, const std::vector<std::string>& specials);
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  std::string source_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> pieces_;                     // by id, in the byte-mapped alphabet
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) → (rank, merged)
  std::vector<SpecialToken> specials_;
  int32_t bos_id_ = -1, eos_id_ = -1;
  bool add_bos_ = false;
  struct Regex;
  std::unique_ptr<Regex> regex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // word → ids
  mutable std::mutex cache_mutex_;                                       // encode runs on several threads
};

// GPT-2's bytes_to_unicode: byte b → the UTF-8 text of the printable character standing for it.
const std::string& byte_to_unicode(uint8_t b);

}  // namespace qlab
