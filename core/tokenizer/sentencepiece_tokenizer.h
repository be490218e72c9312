// SentencePiece tokenizer.model files through libsentencepiece (LLaMA 1/2), encoding as
// the slow Hugging Face LlamaTokenizer of the GPTQ/AWQ era (legacy mode): BOS first, the text
// split on the special strings <s>, </s>, <unk> (which map to their ids), and every other
// chunk encoded by SentencePiece on its own (so each gets the dummy-prefix ▁).
#pragma once
#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace qlab {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<SentencePieceTokenizer> load(const std::filesystem::path& path);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t token) const override;
  int64_t vocab_size() const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;
  const std::string& source() const override { return source_; }

 private:
  SentencePieceTokenizer() = default;
  std::string source_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<SpecialToken> specials_;
};

}  // namespace qlab
