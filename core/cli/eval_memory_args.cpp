#include "cli/eval_memory_args.h"

namespace qlab::cli {

void EvalMemoryArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--max-memory", max_memory,
                 "memory for the blocks being worked on plus the activations held between blocks (evaluation hidden "
                 "states; calibration inputs while quantizing), which spill to a file beyond it (e.g. 8GiB, 512MiB; "
                 "default: 3/4 of the available memory)")
      ->transform(CLI::AsSizeValue(false));
  cmd.add_option("--eval-activations", activations,
                 "precision of the hidden states held between blocks during evaluation: f32 (exact), f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
}

}  // namespace qlab::cli
