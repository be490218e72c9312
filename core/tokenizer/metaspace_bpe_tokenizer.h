// SentencePiece-style BPE from a tokenizer.json (LLaMA's converted tokenizers): spaces
// become ▁ and a ▁ is prepended (a Prepend+Replace normalizer, or a Metaspace
// pre-tokenizer), characters missing from the vocabulary fall back to <0xXX> byte tokens,
// then merges by rank. Special tokens (added_tokens) split the text first; a
// TemplateProcessing post-processor that starts with <s> adds BOS.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <unordered_map>

#include "tokenizer/tokenizer.h"

namespace qlab {

class MetaspaceBpeTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<MetaspaceBpeTokenizer> from_tokenizer_json(const nlohmann::json& j, const std::string& path);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t token) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  const std::string& source() const override { return source_; }

 private:
  enum class Prepend { always, first, never };
  void encode_chunk(std::string_view text, bool first, std::vector<int32_t>& out) const;

  std::string source_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> pieces_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::vector<SpecialToken> specials_;
  Prepend prepend_ = Prepend::always;
  bool byte_fallback_ = false;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1;
};

}  // namespace qlab
