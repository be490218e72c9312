// Picks and loads a tokenizer by what the path holds:
//   tokenizer.model → SentencePiece (LLaMA 1/2)     tokenizer.json → BPE (byte-level or ▁-style)
//   vocab.json (+ merges.txt beside it) → byte-level BPE (GPT-2/OPT)
//   *.bin → llama2.c tokenizer                      a directory → the first of these it holds
// For a model, the default is its own directory (Hugging Face) or the tok<vocab>.bin /
// tokenizer.bin beside a llama2.c checkpoint. A vocabulary larger than the model's
// embedding (or, for llama2.c, different from it) is refused.
#pragma once
#include <filesystem>
#include <memory>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qlab {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
// A tokenizer.json from its text; `name` appears in errors.
std::unique_ptr<Tokenizer> parse_tokenizer_json(const std::string& text, const std::string& name);
std::unique_ptr<Tokenizer> load_tokenizer_for(const Model& model, const std::filesystem::path& explicit_path);

}  // namespace qlab
