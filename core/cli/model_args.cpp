#include "cli/model_args.h"

#include "cli/option_checks.h"
#include "format/model_loader.h"
#include "tokenizer/tokenizer_loader.h"
#include "util/parallel.h"

namespace qlab::cli {


void ModelArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--model", model_path, "Hugging Face model directory or llama2.c checkpoint (.bin)")->required();
  cmd.add_option("--tokenizer", tokenizer_path, "tokenizer file (default: the one beside the model)");
  cmd.add_option("--threads", threads, "threads for GEMM and parallel loops (default: all cores)")->check(whole_number_in(0, kMaxThreads));
}

std::pair<Model, std::unique_ptr<Tokenizer>> ModelArgs::load() const {
  set_threads(threads);
  Model model = load_model(model_path);
  std::unique_ptr<Tokenizer> tok = load_tokenizer_for(model, tokenizer_path);
  return {std::move(model), std::move(tok)};
}

std::pair<std::unique_ptr<WeightSource>, std::unique_ptr<Tokenizer>> ModelArgs::open() const {
  set_threads(threads);
  std::unique_ptr<WeightSource> source = open_weight_source(model_path);
  Model names;  // what the tokenizer is matched against: no weight
  names.config = source->config();
  names.source = source->path();
  std::unique_ptr<Tokenizer> tok = load_tokenizer_for(names, tokenizer_path);
  return {std::move(source), std::move(tok)};
}

}  // namespace qlab::cli
