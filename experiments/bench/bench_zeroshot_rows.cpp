// How many rows a zero-shot run puts through the model, for any tokenizer and context:
// every task's requests tokenized as the harness version does and packed as prefix trees,
// without a model. With a model's measured tokens/s this prices a run (README, Zero-shot).
//   qlab_bench_zeroshot_rows TOKENIZER MAX_LENGTH [HARNESS] [TASK_DATA]
#include <fmt/format.h>

#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"
#include "util/table.h"
#include "zeroshot/prefix_tree_packing.h"
#include "zeroshot/request_tokens.h"
#include "zeroshot/zeroshot_eval.h"

using namespace qlab;

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: {} TOKENIZER MAX_LENGTH [HARNESS=v0.4] [TASK_DATA]\n", argv[0]);
    return 1;
  }
  try {
    const auto tok = load_tokenizer(argv[1]);
    const int64_t max_length = std::stoll(argv[2]);
    const HarnessVersion version = parse_harness_version(argc > 3 ? argv[3] : "v0.4");
    const std::string dir = argc > 4 ? argv[4] : default_task_data_dir();
    cli::Table t({"task", "docs", "requests", "request tokens", "packed rows", "truncated docs", "overlong docs"});
    int64_t all_docs = 0, all_tokens = 0, all_rows = 0;
    for (const std::string& name : known_tasks()) {
      if (name == "hellaswag") continue;  // not bundled
      const TaskData task = load_task(name, dir, version);
      std::vector<std::vector<RequestInput>> docs;
      int64_t requests = 0, tokens = 0, truncated = 0, overlong = 0;
      for (const TaskDoc& d : task.docs) {
        std::vector<RequestInput> inputs;
        bool cut = false, long_cont = false;
        for (const LoglikelihoodRequest& r : d.requests) {
          const RequestTokens rt = encode_request(*tok, r, version);
          inputs.push_back(request_input(rt, max_length, OverlongContinuation::keep_tail, d.where));
          cut = cut || inputs.back().input.size() + 1 < rt.context.size() + rt.continuation.size();
          long_cont = long_cont || inputs.back().continuation.size() < rt.continuation.size();
          tokens += static_cast<int64_t>(inputs.back().input.size());
          ++requests;
        }
        truncated += cut, overlong += long_cont;
        docs.push_back(std::move(inputs));
      }
      int64_t rows = 0;
      for (const PackedSegment& s : pack_prefix_trees(docs, max_length)) rows += static_cast<int64_t>(s.tokens.size());
      t.add_row({name, std::to_string(docs.size()), std::to_string(requests), std::to_string(tokens), std::to_string(rows),
                 std::to_string(truncated), std::to_string(overlong)});
      all_docs += static_cast<int64_t>(docs.size()), all_tokens += tokens, all_rows += rows;
    }
    t.add_row({"all", std::to_string(all_docs), "", std::to_string(all_tokens), std::to_string(all_rows), "", ""});
    fmt::print("{} at max_length {}, harness {}\n{}", tok->source(), max_length, harness_version_name(version), t.render());
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
