#include "run/run_inputs.h"

#include <fmt/chrono.h>

#include <chrono>
#include <filesystem>
#include <functional>

#include "data/data_spec.h"
#include "util/error.h"

namespace qlab {

namespace fs = std::filesystem;

namespace {
// The regular files a path names: itself, or the files directly inside a directory.
std::vector<fs::path> files_of(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return {};
  if (!fs::is_directory(path, ec)) return {fs::absolute(path)};
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file(ec)) out.push_back(fs::absolute(e.path()));
  return out;
}

// Calls `visit(kind, file)` for each file the experiment's runs read, and each plugin library.
void for_each_input(const Experiment& ex, const PluginRegistry& registry,
                    const std::function<void(const std::string&, const fs::path&)>& visit) {
  for (const RunConfig& run : ex.runs) {
    for (const fs::path& f : files_of(run.model_path)) visit("model", f);
    for (const fs::path& f : files_of(run.tokenizer_path)) visit("tokenizer", f);
    std::vector<std::string> data = run.eval_data;
    if (!run.calibration.data.empty()) data.push_back(run.calibration.data);
    for (const std::string& spec : data)
      for (const fs::path& f : files_of(parse_data_spec(spec).path)) visit("data", f);
    for (const PipelineEntry& e : run.pipeline)
      if (const LoadedPlugin* p = registry.find(e.plugin)) visit("plugin " + e.plugin, p->path);
  }
}

std::string file_fingerprint(const fs::path& f) {
  std::error_code ec;
  const auto size = fs::file_size(f, ec);
  const auto mtime = std::chrono::file_clock::to_sys(fs::last_write_time(f, ec));
  return ec ? "unreadable" : fmt::format("size {} modified {:%Y-%m-%dT%H:%M:%S}Z", size, mtime);
}
}  // namespace

RunInputs collect_run_inputs(const Experiment& ex, const PluginRegistry& registry, int threads) {
  RunInputs inputs{{"threads", std::to_string(threads)}};
  for_each_input(ex, registry, [&](const std::string& kind, const fs::path& f) {
    if (kind.rfind("plugin ", 0) == 0) inputs[kind] = registry.get(kind.substr(7)).sha256;
    else inputs[kind + " " + f.string()] = file_fingerprint(f);
  });
  return inputs;
}

void refuse_output_among_inputs(const std::string& log_path, const Experiment& ex, const PluginRegistry& registry) {
  const fs::path out = fs::weakly_canonical(fs::absolute(log_path));
  auto check = [&](const std::string& kind, const fs::path& f) {
    std::error_code ec;
    if (fs::weakly_canonical(f, ec) == out)
      fail("{}: --out names one of the run's inputs ({} {}); the log would destroy it: choose another --out", log_path,
           kind.rfind("plugin ", 0) == 0 ? kind + " library" : kind + " file", f.string());
  };
  check("experiment", fs::absolute(ex.path));
  for_each_input(ex, registry, check);
}

}  // namespace qlab
