#include "config/experiment.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <toml++/toml.h>

#include "config/schema.h"
#include "config/sweep.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

// The name becomes results/runs/<name>.h5: it must not reach outside that directory.
void check_name(const std::string& path, const std::string& name) {
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos ||
      std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20; }))
    fail("{}: name = \"{}\" must be a plain file name (the log is results/runs/<name>.h5): not empty, no '/', "
         "no control characters, not starting with '.'", path, name);
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets) {
  Experiment ex;
  ex.path = path;
  ex.config_text = read_text_file(path);
  toml::table root;
  try {
    root = toml::parse(ex.config_text, path);
  } catch (const toml::parse_error& e) {
    fail("{}:{}: {}", path, e.source().begin.line, e.description());
  }
  for (const std::string& s : sets) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos) fail("--set '{}': expected key=value", s);
    toml::table v = parse_value(s.substr(eq + 1));
    set_path(root, s.substr(0, eq), *v.get("v"), fmt::format("--set {}", s));
    ex.config_text += "\n# --set " + s;
  }
  std::ostringstream settings;
  settings << root << "\n";
  ex.settings_toml = settings.str();
  ex.name = root.get("name") && root.get("name")->is_string() ? *root.get("name")->value<std::string>()
                                                               : std::filesystem::path(path).stem().string();
  check_name(path, ex.name);
  const Sweep sweep = Sweep::read(path, root);
  ex.sweep_mode = sweep.mode;
  for (size_t point = 0; point < sweep.n_points; ++point) {
    const SweepPoint values = sweep.set_point(path, point, root);
    RunConfig r;
    try {
      r = build_run(path, root);
    } catch (const Error& e) {
      if (values.empty()) throw;
      fail("{}\n  (at sweep point r{:04}: {})", e.what(), point, setting_text(values));
    }
    r.run_id = fmt::format("r{:04}", point);
    r.sweep_point = values;
    ex.runs.push_back(std::move(r));
  }
  ex.grid_points = ex.runs.size();
  for (const RunConfig& r : ex.runs)
    if (std::find(ex.model_paths.begin(), ex.model_paths.end(), r.model_path) == ex.model_paths.end()) ex.model_paths.push_back(r.model_path);
  return ex;
}

}  // namespace qlab
