// The options every model-reading command shares: --model, --tokenizer, --threads.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/weight_source.h"
#include "tokenizer/tokenizer.h"

namespace qlab::cli {

struct ModelArgs {
  std::string model_path, tokenizer_path;
  int threads = 0;

  void add_to(CLI::App& cmd);
  // Applies --threads, loads the model and its tokenizer (checked against each other).
  std::pair<Model, std::unique_ptr<Tokenizer>> load() const;
  // The same without loading a weight: the model as a source, read one block at a time.
  std::pair<std::unique_ptr<WeightSource>, std::unique_ptr<Tokenizer>> open() const;
};

}  // namespace qlab::cli
