// Finds and loads plugins: every libqlab_*.so in --plugin-path dirs, then $QLAB_PLUGIN_PATH
// (':'-separated), then the install directory (<prefix>/lib/qlab/plugins beside
// <prefix>/bin/qlab) or, for a qlab run from its build tree, the build's plugins/. dlopen loads
// each library; the ABI version is checked before any other field is read; two libraries
// with one plugin name are an error naming both. A library that cannot be used (dlopen's
// reason, no entry point, another ABI, a bad descriptor) is skipped with a warning and
// listed as broken: it only fails an experiment that names its plugin. Libraries stay
// loaded until exit.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "qlab/plugin.h"

namespace qlab {

struct LoadedPlugin {
  std::string path;
  std::string sha256;
  const qlab_plugin* descriptor = nullptr;
  std::string hooks() const;  // "quantize", "transform", "transform,quantize"
};

struct BrokenLibrary {
  std::string path;
  std::string reason;  // the load error, naming the path
};

class PluginRegistry {
 public:
  // Scans the search path; skips broken libraries (warning on stderr), throws on a duplicate name.
  static PluginRegistry discover(const std::vector<std::string>& extra_dirs);
  // Loads one library file (used by the scan and by tests); throws naming the file.
  static LoadedPlugin load_library(const std::filesystem::path& path);

  const LoadedPlugin* find(const std::string& name) const;
  // Throws, listing the known names, or with the load error when the plugin's library
  // (libqlab_<name>.so) is broken.
  const LoadedPlugin& get(const std::string& name) const;
  const std::map<std::string, LoadedPlugin>& all() const { return plugins_; }
  const std::vector<BrokenLibrary>& broken() const { return broken_; }
  const std::vector<std::string>& searched() const { return searched_; }

 private:
  std::map<std::string, LoadedPlugin> plugins_;
  std::vector<BrokenLibrary> broken_;
  std::vector<std::string> searched_;
};

}  // namespace qlab
