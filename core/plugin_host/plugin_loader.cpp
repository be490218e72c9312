#define BOOST_DLL_USE_STD_FS
#include "plugin_host/plugin_loader.h"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <memory>

#include "util/error.h"
#include "util/sha256.h"

namespace qlab {

namespace {
// Keeps every library loaded for the life of the process (Boost.DLL's missuse list:
// nothing a plugin returned may outlive its library).
std::vector<std::unique_ptr<boost::dll::shared_library>>& libraries() {
  static std::vector<std::unique_ptr<boost::dll::shared_library>> libs;
  return libs;
}

std::vector<std::string> split_path_list(const char* text) {
  std::vector<std::string> out;
  if (!text) return out;
  std::string s(text);
  for (size_t start = 0; start <= s.size();) {
    size_t colon = s.find(':', start);
    if (colon == std::string::npos) colon = s.size();
    if (colon > start) out.push_back(s.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}
}  // namespace

std::string LoadedPlugin::hooks() const {
  std::string out;
  auto add = [&](bool has, const char* name) {
    if (has) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(descriptor->observe != nullptr, "observe");
  add(descriptor->transform != nullptr, "transform");
  add(descriptor->quantize != nullptr, "quantize");
  return out;
}

LoadedPlugin PluginRegistry::load_library(const std::filesystem::path& path) {
  auto lib = std::make_unique<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  lib->load(path, boost::dll::load_mode::default_mode, ec);
  if (ec) fail("{}: cannot load plugin library: {}", path.string(), ec.message());
  if (!lib->has("qlab_plugin_entry"))
    fail("{}: not a qlab plugin (no exported qlab_plugin_entry)", path.string());
  auto entry = lib->get<const qlab_plugin*()>("qlab_plugin_entry");
  const qlab_plugin* d = entry();
  if (!d) fail("{}: qlab_plugin_entry returned no descriptor", path.string());
  if (d->abi_version != QLAB_PLUGIN_ABI_VERSION)  // read before any other field
    fail("{}: plugin ABI {}, this qlab expects {}; rebuild it against plugins/sdk", path.string(), d->abi_version,
         QLAB_PLUGIN_ABI_VERSION);
  if (!d->name || !*d->name || !d->version || !d->summary || !d->create || !d->destroy)
    fail("{}: plugin descriptor lacks a name, version, summary, create or destroy", path.string());
  if (!d->observe && !d->transform && !d->quantize) fail("{}: plugin '{}' provides no hook", path.string(), d->name);
  if (d->transform && d->scope != QLAB_SCOPE_GROUP && d->scope != QLAB_SCOPE_LINEAR)
    fail("{}: plugin '{}' has a transform hook but no valid scope", path.string(), d->name);
  libraries().push_back(std::move(lib));
  return {path.string(), sha256_file(path), d};
}

PluginRegistry PluginRegistry::discover(const std::vector<std::string>& extra_dirs) {
  PluginRegistry reg;
  std::vector<std::string> dirs = extra_dirs;
  for (const std::string& d : split_path_list(std::getenv("QLAB_PLUGIN_PATH"))) dirs.push_back(d);
  // The install directory, found from the executable (<prefix>/bin/qlab → <prefix>/lib/qlab/plugins);
  // a qlab that is not installed (run from its build tree) uses the build's plugins/ instead.
  boost::dll::fs::error_code pec;
  const auto exe = boost::dll::program_location(pec);
  const std::string installed = pec ? "" : (exe.parent_path().parent_path() / "lib" / "qlab" / "plugins").string();
  std::error_code iec;
  dirs.push_back(!installed.empty() && std::filesystem::is_directory(installed, iec) ? installed : QLAB_BUILD_PLUGIN_DIR);
  std::vector<std::filesystem::path> seen;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    reg.searched_.push_back(dir);
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string n = entry.path().filename().string();
      if (n.rfind("libqlab_", 0) == 0 && entry.path().extension() == ".so") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto canonical = std::filesystem::weakly_canonical(f, ec);
      if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;  // one file reached twice
      seen.push_back(canonical);
      LoadedPlugin p = load_library(f);
      auto [it, inserted] = reg.plugins_.emplace(p.descriptor->name, p);
      if (!inserted)
        fail("two plugins are named '{}': {} and {}; remove one from the plugin path", p.descriptor->name, it->second.path, p.path);
    }
  }
  return reg;
}

const LoadedPlugin* PluginRegistry::find(const std::string& name) const {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : &it->second;
}

const LoadedPlugin& PluginRegistry::get(const std::string& name) const {
  if (const LoadedPlugin* p = find(name)) return *p;
  std::string known;
  for (const auto& [n, p] : plugins_) known += (known.empty() ? "" : ", ") + n;
  fail("unknown plugin '{}'; found: {} (searched: {})", name, known.empty() ? "none" : known,
       fmt::format("{}", fmt::join(searched_, ", ")));
}

}  // namespace qlab
