// `qlab tokenize`: token count (and ids) of a data spec, to check protocol fidelity
// without a model.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "data/data_spec.h"
#include "tokenizer/tokenizer_loader.h"

namespace qlab::cli {

namespace {
struct TokenizeArgs {
  std::string tokenizer, data;
  int64_t seq_len = 2048;
  bool count = false, ids = false, json = false;
};
}  // namespace

Command add_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "token count (and ids) of evaluation data, as the reference tokenizes it");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.model, tokenizer.json, vocab.json, llama2.c .bin, or a model directory")->required();
  cmd->add_option("--data", args->data, "data spec, as for qlab eval")->required();
  cmd->add_option("--seqlen,--seq-len", args->seq_len, "segment length (used by the c4 protocols and the segment count)")->check(whole_number_at_least(1));
  auto* count = cmd->add_flag("--count", args->count, "print the token count (default)");
  cmd->add_flag("--ids", args->ids, "also print the ids, space-separated")->excludes(count);
  cmd->add_flag("--json", args->json, "one JSON object: tokens, segments at --seqlen, file, sha256");
  return [args]() {
    auto tok = load_tokenizer(args->tokenizer);
    TokenData d = load_eval_tokens(args->data, *tok, args->seq_len);
    const int64_t n = static_cast<int64_t>(d.tokens.size());
    if (args->json) {
      nlohmann::json j = {{"tokenizer", tok->source()}, {"data", d.provenance.spec}, {"path", d.provenance.path},
                          {"sha256", d.provenance.sha256}, {"bytes", d.provenance.bytes}, {"n_tokens", n},
                          {"seqlen", args->seq_len}, {"n_segments", n / args->seq_len}};
      if (args->ids) j["ids"] = d.tokens;
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("{}\n", n);
    if (args->ids) fmt::print("{}\n", fmt::join(d.tokens, " "));
    return 0;
  };
}

}  // namespace qlab::cli
