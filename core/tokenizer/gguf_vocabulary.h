// The tokenizer a GGUF file carries (tokenizer.ggml.*: SentencePiece pieces and scores, model
// "llama"), encoding as llama.cpp's SPM tokenizer does: by score-ordered BPE merges, as the
// llama2.c tokenizer qlab already has.
#pragma once
#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace qlab {

// Throws naming the file when it carries no SentencePiece-style vocabulary.
std::unique_ptr<Tokenizer> gguf_tokenizer(const std::filesystem::path& path);

}  // namespace qlab
