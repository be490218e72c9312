// Finds and loads plugins: every libqlab_*.so in --plugin-path dirs, then $QLAB_PLUGIN_PATH
// (':'-separated), then the install directory (<prefix>/lib/qlab/plugins beside
// <prefix>/bin/qlab) or, for a qlab run from its build tree, the build's plugins/. Boost.DLL loads
// each library; the ABI version is checked before any other field is read; two libraries
// with one plugin name are an error naming both. Libraries stay loaded until exit.
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
  std::string hooks() const;  // "quantize", "transform", "observe,transform", ...
};

class PluginRegistry {
 public:
  // Scans the search path; throws on a broken library, an ABI mismatch or a duplicate name.
  static PluginRegistry discover(const std::vector<std::string>& extra_dirs);
  // Loads one library file (used by the scan and by tests).
  static LoadedPlugin load_library(const std::filesystem::path& path);

  const LoadedPlugin* find(const std::string& name) const;
  const LoadedPlugin& get(const std::string& name) const;  // throws, listing the known names
  const std::map<std::string, LoadedPlugin>& all() const { return plugins_; }
  const std::vector<std::string>& searched() const { return searched_; }

 private:
  std::map<std::string, LoadedPlugin> plugins_;
  std::vector<std::string> searched_;
};

}  // namespace qlab
