// The options every model-reading command shares: --model, --tokenizer, --threads.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qlab::cli {

struct ModelArgs {
  std::string model_path, tokenizer_path;
  int threads = 0;

  void add_to(CLI::App& cmd);
  // Applies --threads, loads the model and its tokenizer (checked against each other).
  std::pair<Model, std::unique_ptr<Tokenizer>> load() const;
};

}  // namespace qlab::cli
