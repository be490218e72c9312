#include "log/merge_logs.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "log/experiment_log.h"
#include "log/h5.h"
#include "util/error.h"

namespace qlab {

MergeResult merge_logs(const std::string& out_path, const std::vector<std::string>& shard_paths, bool overwrite) {
  if (shard_paths.empty()) fail("qlab merge: no shard logs given");
  std::vector<ExperimentLog> shards;
  for (const std::string& p : shard_paths) {
    if (std::filesystem::weakly_canonical(p) == std::filesystem::weakly_canonical(out_path))
      fail("{}: the output must not be one of the shard logs", out_path);
    shards.push_back(ExperimentLog::open_read(p));
  }
  const std::string config = h5::attr_string(shards[0].file(), "config_toml");
  for (size_t i = 1; i < shards.size(); ++i)
    if (h5::attr_string(shards[i].file(), "config_toml") != config)
      fail("{}: its experiment text differs from {}'s; only shards of one experiment (same file, same --set) merge",
           shard_paths[i], shard_paths[0]);
  MergeResult result;
  result.grid_points = h5::has_attr(shards[0].file(), "grid_points") ? h5::attr_int(shards[0].file(), "grid_points") : 0;
  std::map<std::string, size_t> run_source;  // run id → index of the shard log it came from
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!h5::exists(shards[i].file(), "runs")) continue;
    h5::Handle runs = h5::open_group(shards[i].file(), "runs");
    for (const std::string& id : h5::children(runs.id())) {
      auto [it, fresh] = run_source.emplace(id, i);
      if (!fresh) fail("grid point {} is in both {} and {}; merge each shard once", id, shard_paths[it->second], shard_paths[i]);
    }
  }
  ExperimentLog out = ExperimentLog::create(out_path, h5::attr_string(shards[0].file(), "experiment"), config, {}, overwrite);
  out.update([&](hid_t o) {
    h5::set_attr(o, "grid_points", result.grid_points);
    h5::set_attr(o, "merged_from", static_cast<int64_t>(shards.size()));
    // Shared parts (identical in every shard of one experiment): the first copy of each wins.
    // Float evaluations live in "float" and, for further models of a model.path sweep, "float_m<i>".
    for (size_t i = 0; i < shards.size(); ++i) {
      if (h5::exists(shards[i].file(), "calibration") && !h5::exists(o, "calibration"))
        h5::copy(shards[i].file(), "calibration", o, "calibration");
      for (const std::string& top : h5::children(shards[i].file())) {
        std::string parent;
        if (top == "plugins") parent = "plugins";
        else if (top.rfind("float", 0) == 0 && h5::exists(shards[i].file(), top + "/eval")) parent = top + "/eval";
        else continue;
        h5::Handle g = h5::open_group(shards[i].file(), parent);
        for (const std::string& child : h5::children(g.id()))
          if (!h5::exists(o, parent + "/" + child)) h5::copy(shards[i].file(), parent + "/" + child, o, parent + "/" + child);
      }
    }
    for (const auto& [id, source] : run_source) {
      h5::copy(shards[source].file(), "runs/" + id, o, "runs/" + id);
      result.merged_runs.push_back(id);
    }
  });
  for (int64_t k = 0; k < result.grid_points; ++k) {
    const std::string id = fmt::format("r{:04}", k);
    if (!run_source.count(id)) result.missing_runs.push_back(id);
  }
  return result;
}

}  // namespace qlab
