// `qlab plugins`: every plugin on the search path with its hooks, parameters, statistics and
// the formats it supports.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "util/table.h"
#include "plugin_host/format_support.h"
#include "plugin_host/params.h"
#include "plugin_host/plugin_loader.h"

namespace qlab::cli {

namespace {
std::string stats_text(uint32_t mask) {
  std::string out;
  auto add = [&](uint32_t bit, const char* name) {
    if (mask & bit) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(QLAB_STAT_HESSIAN, "hessian");
  add(QLAB_STAT_ABS_MEAN, "abs_mean");
  add(QLAB_STAT_ABS_MAX, "abs_max");
  add(QLAB_STAT_ROWS, "rows");
  return out.empty() ? "-" : out;
}
const char* type_text(int32_t t) {
  return t == QLAB_PARAM_INT ? "int" : t == QLAB_PARAM_FLOAT ? "float" : t == QLAB_PARAM_BOOL ? "bool" : "string";
}
}  // namespace

Command add_plugins(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("plugins", "list the plugins found: path, version, hooks, parameters, statistics; and the broken libraries skipped");
  cmd->add_option("--plugin-path", *dirs, "extra directories to search first");
  cmd->add_flag("--json", *json, "one JSON array");
  return [dirs, json]() {
    PluginRegistry reg = PluginRegistry::discover(*dirs);
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& [name, p] : reg.all()) {
        const qlab_plugin& d = *p.descriptor;
        nlohmann::json params = nlohmann::json::array();
        for (int32_t i = 0; i < d.n_params; ++i) {
          const qlab_param_decl& q = d.params[i];
          nlohmann::json j = {{"name", q.name}, {"type", type_text(q.type)}, {"default", default_text(q)}, {"help", q.help}};
          if (q.has_range) j["range"] = {q.min_value, q.max_value};
          if (q.choices) j["choices"] = q.choices;
          params.push_back(j);
        }
        out.push_back({{"name", name}, {"path", p.path}, {"version", d.version}, {"summary", d.summary},
                       {"hooks", p.hooks()}, {"stats", stats_text(d.stats)}, {"supports", describe_support(d.support)},
                       {"sha256", p.sha256},
                       {"abi_version", d.abi_version}, {"parameters", params}});
      }
      for (const BrokenLibrary& b : reg.broken()) out.push_back({{"path", b.path}, {"broken", b.reason}});
      fmt::print("{}\n", out.dump(2));
      return 0;
    }
    if (reg.all().empty()) fmt::print("no plugins found (searched: {})\n", fmt::join(reg.searched(), ", "));
    for (const auto& [name, p] : reg.all()) {
      const qlab_plugin& d = *p.descriptor;
      fmt::print("{} {} — {}\n  path: {}\n  hooks: {}   statistics: {}   supports: {}\n", name, d.version, d.summary, p.path,
                 p.hooks(), stats_text(d.stats), describe_support(d.support));
      if (d.n_params > 0) {
        Table t({"  parameter", "type", "default", "help"});
        for (int32_t i = 0; i < d.n_params; ++i) {
          const qlab_param_decl& q = d.params[i];
          std::string help = q.help;
          if (q.has_range) help += fmt::format(" [{}, {}]", q.min_value, q.max_value);
          if (q.choices) help += fmt::format(" ({})", q.choices);
          t.add_row({std::string("  ") + q.name, type_text(q.type), default_text(q), help});
        }
        fmt::print("{}", t.render());
      }
      fmt::print("\n");
    }
    for (const BrokenLibrary& b : reg.broken()) fmt::print("broken library {}\n  {}\n\n", b.path, b.reason);
    return 0;
  };
}

}  // namespace qlab::cli
