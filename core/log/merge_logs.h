// `qlab merge`: the logs of a sharded sweep joined into one, as if the grid had run in one
// process. Logs must come from the same experiment text; a grid point found in two logs is
// an error, points found in none are reported.
#pragma once
#include <string>
#include <vector>

namespace qlab {

struct MergeResult {
  std::vector<std::string> merged_runs, missing_runs;  // run ids
  int64_t grid_points = 0;
};

// An existing `out_path` is refused unless `overwrite` and it is a qlab log.
MergeResult merge_logs(const std::string& out_path, const std::vector<std::string>& shard_paths, bool overwrite = false);

}  // namespace qlab
