#include "cli/eval_memory_args.h"

namespace qlab::cli {

void EvalMemoryArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--max-memory", max_memory,
                 "memory for evaluation: one block plus the hidden states of all segments, which spill to a temporary "
                 "file beyond it (e.g. 8GiB, 512MiB; default: 3/4 of the available memory)")
      ->transform(CLI::AsSizeValue(false));
  cmd.add_option("--eval-activations", activations,
                 "precision of the hidden states held between blocks during evaluation: f32 (exact), f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
}

}  // namespace qlab::cli
