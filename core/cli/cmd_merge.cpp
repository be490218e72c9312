// `qlab merge OUT.h5 SHARD.h5...`: the shard logs of one sweep joined into one log.
#include <fmt/format.h>

#include "cli/commands.h"
#include "log/merge_logs.h"

namespace qlab::cli {

Command add_merge(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto shards = std::make_shared<std::vector<std::string>>();
  auto overwrite = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("merge", "join the logs of a sharded sweep (same experiment text) into one log");
  cmd->add_option("out", *out, "merged log to write (.h5)")->required();
  cmd->add_option("shards", *shards, "shard logs")->required();
  cmd->add_flag("--overwrite", *overwrite, "replace OUT when it is an existing qlab log");
  return [out, shards, overwrite]() {
    MergeResult r = merge_logs(*out, *shards, *overwrite);
    fmt::print("{}: {} of {} grid points from {} log(s)\n", *out, r.merged_runs.size(), r.grid_points, shards->size());
    if (!r.missing_runs.empty()) {
      std::string list;
      for (const std::string& id : r.missing_runs) list += " " + id;
      fmt::print(stderr, "qlab merge: missing grid points:{} (run their shards, then merge again)\n", list);
      return 1;
    }
    return 0;
  };
}

}  // namespace qlab::cli
