#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::filesystem::path& path) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->source_ = path.string();
  require_regular_file(path);
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = t->sp_->Load(t->source_);
  if (!status.ok()) fail("{}: not a SentencePiece model: {}", t->source_, status.ToString());
  for (int id : {t->sp_->unk_id(), t->sp_->bos_id(), t->sp_->eos_id()})
    if (id >= 0) t->specials_.push_back({t->sp_->IdToPiece(id), id});
  return t;
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id() >= 0) out.push_back(bos_id());
  std::vector<int> ids;
  for (const TextChunk& c : split_on_specials(text, specials_)) {
    if (c.special_id >= 0) {
      out.push_back(c.special_id);
      continue;
    }
    auto status = sp_->Encode(std::string(c.text), &ids);
    if (!status.ok()) fail("{}: encoding failed: {}", source_, status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

std::string SentencePieceTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size()) fail("{}: token id {} outside the vocabulary of {}", source_, token, vocab_size());
  if (sp_->IsControl(token)) return "";
  std::string piece = sp_->IdToPiece(token);
  if (int byte = byte_piece_value(piece); sp_->IsByte(token) && byte >= 0) return std::string(1, static_cast<char>(byte));
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {  // ▁ is a space
      out += ' ';
      i += 3;
    } else {
      out += piece[i++];
    }
  }
  if ((prev < 0 || prev == bos_id()) && !out.empty() && out[0] == ' ') out.erase(0, 1);  // the dummy prefix
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t SentencePieceTokenizer::bos_id() const { return sp_->bos_id(); }
int32_t SentencePieceTokenizer::eos_id() const { return sp_->eos_id(); }

}  // namespace qlab
