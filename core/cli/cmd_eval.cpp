// `qlab eval`: perplexity of a model on a text with the GPTQ protocol.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/eval_memory_args.h"
#include "cli/model_args.h"
#include "cli/option_checks.h"
#include "util/table.h"
#include "data/data_spec.h"
#include "eval/perplexity.h"
#include "util/error.h"
#include "util/parallel.h"

namespace qlab::cli {

namespace {
struct EvalArgs {
  ModelArgs model;
  EvalMemoryArgs memory;
  std::string data;
  int64_t seq_len = 0, max_segments = 0;
  bool json = false;
};
}  // namespace

Command add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "perplexity of a model on a text (GPTQ protocol)");
  args->model.add_to(*cmd);
  args->memory.add_to(*cmd);
  cmd->add_option("--data", args->data, "evaluation data: KIND:PATH with KIND one of text, wikitext2, ptb, ptb-old, c4, c4-old (a bare path is text)")->required();
  cmd->add_option("--seqlen,--seq-len", args->seq_len, "segment length in tokens")->required()->check(whole_number_at_least(2));
  cmd->add_option("--max-segments", args->max_segments, "evaluate at most K segments (0 = all)")->check(whole_number_at_least(0));
  cmd->add_flag("--json", args->json, "print one JSON object instead of a table");
  return [args]() {
    auto [model, tok] = args->model.open();  // weights read one block at a time, as evaluated
    if (args->seq_len > model->config().max_seq_len)
      fail("--seqlen {} is above the context of {} ({} positions)", args->seq_len, model->path(), model->config().max_seq_len);
    TokenData data = load_eval_tokens(args->data, *tok, args->seq_len);
    const DataProvenance& src = data.provenance;
    const std::vector<int32_t>& ids = data.tokens;
    PerplexityOptions opts{.seq_len = args->seq_len, .max_segments = args->max_segments, .progress = true,
                           .activations = args->memory.precision(), .max_memory = args->memory.max_memory, .spill_dir = ""};
    PerplexityResult r;
    try {
      r = perplexity(*model, ids, opts);
    } catch (const Error& e) {  // name the text: "file: the text has 300 tokens, fewer than ..."
      fail("{}: {}", src.path, e.what());
    }
    if (args->json) {
      nlohmann::json j = {{"model", model->path()}, {"data", src.spec}, {"data_sha256", src.sha256}, {"ppl", r.ppl}, {"n_segments", r.n_segments},
                          {"n_tokens", r.n_tokens}, {"n_scored", r.n_scored}, {"seqlen", r.seq_len},
                          {"seconds", r.seconds}, {"threads", thread_count()}, {"activations_spilled", r.spilled}, {"segment_nll", r.segment_nll}};
      fmt::print("{}\n", j.dump());
    } else {
      Table t({"model", "data", "seqlen", "segments", "tokens", "ppl", "time"});
      t.add_row({model->path(), src.spec, std::to_string(r.seq_len), std::to_string(r.n_segments),
                 std::to_string(r.n_tokens), fmt::format("{:.6f}", r.ppl), fmt::format("{:.2f} s", r.seconds)});
      fmt::print("{}", t.render());
    }
    return 0;
  };
}

}  // namespace qlab::cli
