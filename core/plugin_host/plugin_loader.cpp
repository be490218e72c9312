#define BOOST_DLL_USE_STD_FS
#include "plugin_host/plugin_loader.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "plugin_host/params.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/split.h"

namespace qlab {

namespace {
// More parameters than any plugin declares; a larger count is a corrupt descriptor.
constexpr int32_t kMaxParams = 256;

// dlopen directly rather than through Boost.DLL, which replaces dlerror()'s reason (the
// missing dependency, the bad ELF header) with "Bad file descriptor". Libraries are never
// closed: nothing a plugin returned may outlive its library.
void* open_library(const std::filesystem::path& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    fail("{}: cannot load plugin library: {}", path.string(), why ? why : "unknown dlopen error");
  }
  return handle;
}

void check_params(const std::filesystem::path& path, const qlab_plugin& d) {
  if (d.n_params < 0 || d.n_params > kMaxParams)
    fail("{}: plugin '{}' declares {} parameters (expected 0..{})", path.string(), d.name, d.n_params, kMaxParams);
  if (d.n_params > 0 && !d.params) fail("{}: plugin '{}' declares {} parameters but no array", path.string(), d.name, d.n_params);
  for (int32_t i = 0; i < d.n_params; ++i) {
    const qlab_param_decl& p = d.params[i];
    if (!p.name || !*p.name || !p.help || (p.type == QLAB_PARAM_STRING && !p.default_string))
      fail("{}: plugin '{}': parameter declaration {} lacks a name, default or help", path.string(), d.name, i);
    if (p.type < QLAB_PARAM_INT || p.type > QLAB_PARAM_STRING)
      fail("{}: plugin '{}': parameter '{}' has an unknown type {}", path.string(), d.name, p.name, p.type);
    for (int32_t j = 0; j < i; ++j)
      if (std::string_view(d.params[j].name) == p.name) fail("{}: plugin '{}' declares parameter '{}' twice", path.string(), d.name, p.name);
  }
  // Every default must pass the plugin's own range and choices: a slip in a declaration
  // shows here, at load, not in the first experiment that leaves the parameter out.
  try {
    resolve_params(d, {}, "declared");
  } catch (const Error& e) {
    fail("{}: plugin '{}' declares a default its own declaration refuses: {}", path.string(), d.name, e.what());
  }
}

// The support declaration must be readable: bit widths within 2..8, a non-negative multiple.
void check_support(const std::filesystem::path& path, const qlab_plugin& d) {
  constexpr uint32_t kAnyBits = 0x1FCu;  // bits 2..8
  if (d.support.bits & ~kAnyBits)
    fail("{}: plugin '{}' declares support for bit widths outside 2..8 (mask {:#x})", path.string(), d.name, d.support.bits);
  if (d.support.group_size_multiple < 0)
    fail("{}: plugin '{}' declares a negative group size multiple {}", path.string(), d.name, d.support.group_size_multiple);
  if (d.naming < QLAB_NAMING_OWN || d.naming > QLAB_NAMING_BASELINE)
    fail("{}: plugin '{}' declares an unknown naming {}", path.string(), d.name, d.naming);
}

std::vector<std::string> split_path_list(const char* text) {
  return text ? split(text, ':', EmptyParts::skip) : std::vector<std::string>{};
}
}  // namespace

std::string LoadedPlugin::hooks() const {
  std::string out;
  auto add = [&](bool has, const char* name) {
    if (has) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(descriptor->transform != nullptr, "transform");
  add(descriptor->quantize != nullptr, "quantize");
  add(descriptor->transform_model != nullptr, "transform_model");
  return out;
}

LoadedPlugin PluginRegistry::load_library(const std::filesystem::path& path) {
  void* lib = open_library(path);
  auto entry = reinterpret_cast<qlab_plugin_entry_fn>(dlsym(lib, "qlab_plugin_entry"));
  if (!entry) fail("{}: not a qlab plugin (no exported qlab_plugin_entry)", path.string());
  const qlab_plugin* d = entry();
  if (!d) fail("{}: qlab_plugin_entry returned no descriptor", path.string());
  if (d->abi_version != QLAB_PLUGIN_ABI_VERSION)  // read before any other field
    fail("{}: plugin ABI {}, this qlab expects {}; rebuild it against plugins/sdk{}", path.string(), d->abi_version,
         QLAB_PLUGIN_ABI_VERSION,
         d->abi_version == 2 ? " (version 3 adds the model-scope hook transform_model and grows qlab_plugin: "
                               "a version-2 library would be read past its end)"
                             : "");
  if (!d->name || !*d->name || !d->version || !d->summary || !d->create || !d->destroy)
    fail("{}: plugin descriptor lacks a name, version, summary, create or destroy", path.string());
  if (!d->transform && !d->quantize && !d->transform_model) fail("{}: plugin '{}' provides no hook", path.string(), d->name);
  if (d->transform_model && (d->transform || d->quantize || d->scope != QLAB_SCOPE_MODEL))
    fail("{}: plugin '{}' has a model-scope hook beside other hooks or without QLAB_SCOPE_MODEL; a model transform is a plugin of its own",
         path.string(), d->name);
  if (d->transform && d->scope != QLAB_SCOPE_GROUP && d->scope != QLAB_SCOPE_LINEAR)
    fail("{}: plugin '{}' has a transform hook but no valid scope", path.string(), d->name);
  check_params(path, *d);
  check_support(path, *d);
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
      LoadedPlugin p;
      try {
        p = load_library(f);
      } catch (const Error& e) {
        // Unusable here but maybe not needed: only an experiment naming it is refused (get()).
        reg.broken_.push_back({f.string(), e.what()});
        std::fprintf(stderr, "qlab: warning: skipping a broken plugin library: %s\n", e.what());
        continue;
      }
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
  // A broken library is named after its plugin by convention (libqlab_<name>.so).
  const std::string file = "libqlab_" + name + ".so";
  for (const BrokenLibrary& b : broken_)
    if (std::filesystem::path(b.path).filename() == file) fail("plugin '{}' is in a library that cannot be used: {}", name, b.reason);
  std::string known;
  for (const auto& [n, p] : plugins_) known += (known.empty() ? "" : ", ") + n;
  std::string broken;
  for (const BrokenLibrary& b : broken_) broken += "; skipped " + b.reason;
  fail("unknown plugin '{}'; found: {} (searched: {}){}", name, known.empty() ? "none" : known,
       fmt::format("{}", fmt::join(searched_, ", ")), broken);
}

}  // namespace qlab
