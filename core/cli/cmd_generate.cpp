// `qlab generate`: greedy continuation of a prompt, printed as it is produced.
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "cli/option_checks.h"
#include "eval/generate.h"

namespace qlab::cli {

namespace {
struct GenerateArgs {
  ModelArgs model;
  std::string prompt;
  int64_t max_tokens = 128;
};
}  // namespace

Command add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "greedy (temperature 0) continuation of a prompt");
  args->model.add_to(*cmd);
  cmd->add_option("--prompt", args->prompt, "text to continue (empty: start from BOS)");
  cmd->add_option("--max-tokens", args->max_tokens, "tokens to generate")->check(whole_number_at_least(1));
  return [args]() {
    auto [model, tok] = args->model.load();
    GenerateResult r = generate_greedy(model, *tok, args->prompt, args->max_tokens, [](const std::string& piece) {
      fmt::print("{}", piece);
      std::fflush(stdout);
    });
    fmt::print("\n");
    std::fflush(stdout);
    fmt::print(stderr, "{} tokens in {:.2f} s\n", r.tokens.size() - r.n_prompt, r.seconds);
    return 0;
  };
}

}  // namespace qlab::cli
