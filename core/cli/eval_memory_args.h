// The options of commands that evaluate perplexity block-major: --max-memory and
// --eval-activations (eval/perplexity.h).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "tensor/half.h"

namespace qlab::cli {

struct EvalMemoryArgs {
  uint64_t max_memory = 0;  // bytes; 0 = default_memory_budget()
  std::string activations = "f32";

  void add_to(CLI::App& cmd);
  StoragePrecision precision() const { return kStoragePrecisions.parse(activations, "--eval-activations"); }
};

}  // namespace qlab::cli
