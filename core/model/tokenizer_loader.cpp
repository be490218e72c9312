#include "model/tokenizer_loader.h"

#include <fmt/format.h>

#include "model/llama2c_tokenizer.h"
#include "util/error.h"

namespace qlab {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  return std::make_unique<Llama2cTokenizer>(Llama2cTokenizer::load(path));
}

std::unique_ptr<Tokenizer> load_tokenizer_for(const Model& model, const std::filesystem::path& explicit_path) {
  std::filesystem::path path = explicit_path;
  if (path.empty()) {
    std::filesystem::path dir = std::filesystem::path(model.source).parent_path();
    for (const std::string& candidate : {fmt::format("tok{}.bin", model.config.vocab_size), std::string("tokenizer.bin")})
      if (std::filesystem::exists(dir / candidate)) {
        path = dir / candidate;
        break;
      }
    if (path.empty())
      fail("{}: no tokenizer given and none beside it (looked for tok{}.bin, tokenizer.bin); pass --tokenizer",
           model.source, model.config.vocab_size);
  }
  std::unique_ptr<Tokenizer> tok = load_tokenizer(path);
  if (tok->vocab_size() != model.config.vocab_size)
    fail("{}: tokenizer has {} tokens but the model {} has a vocabulary of {}", tok->source(), tok->vocab_size(),
         model.source, model.config.vocab_size);
  return tok;
}

}  // namespace qlab
