// A deterministic slice of a sweep's grid for one job of many (a Slurm array task or a
// hand-started process): shard i of n takes the grid points whose index ≡ i (mod n), so
// shards stay balanced when neighbouring points cost alike. Run ids keep their place in
// the whole grid, which is what lets `qlab merge` join the shard logs.
#pragma once
#include <optional>
#include <string>

#include "config/experiment.h"

namespace qlab {

struct Shard {
  int index = 0, count = 1;  // 0 <= index < count
  std::string source;        // "--shard" or "Slurm array"
};

// "i/n" (0-based i) from --shard; without it, Slurm's SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN
// and SLURM_ARRAY_TASK_COUNT when set; otherwise nullopt (the whole grid).
std::optional<Shard> resolve_shard(const std::string& option);
Shard parse_shard(const std::string& text);

// Keeps the runs of shard s (ex.grid_points is unchanged).
void select_shard(Experiment& ex, const Shard& s);

}  // namespace qlab
