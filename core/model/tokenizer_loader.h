// Picks and loads the tokenizer for a model: an explicit path, or the file that sits
// beside the checkpoint (llama2.c: tok<vocab>.bin, then tokenizer.bin). Refuses a
// tokenizer whose vocabulary does not fit the model's embedding.
#pragma once
#include <filesystem>
#include <memory>

#include "model/model.h"
#include "model/tokenizer.h"

namespace qlab {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
std::unique_ptr<Tokenizer> load_tokenizer_for(const Model& model, const std::filesystem::path& explicit_path);

}  // namespace qlab
