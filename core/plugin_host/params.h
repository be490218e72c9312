// Plugin parameters: values from an experiment file or --set, checked against what the
// plugin declared (name, type, range, choices) and completed with the declared defaults.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "qlab/plugin.h"

namespace qlab {

struct ParamValue {
  std::variant<int64_t, double, bool, std::string> value;
  std::string where;  // "demo.toml:12" for errors
};

// Resolved values in the C layout hooks receive; owns the strings they point to.
class ResolvedParams {
 public:
  const qlab_param* data() const { return values_.data(); }
  int32_t size() const { return static_cast<int32_t>(values_.size()); }
  const std::vector<qlab_param>& values() const { return values_; }
  std::string describe() const;  // "block_size=128, damp_frac=0.01"

 private:
  friend ResolvedParams resolve_params(const qlab_plugin&, const std::map<std::string, ParamValue>&, const std::string&);
  std::vector<qlab_param> values_;
  std::vector<std::unique_ptr<std::string>> strings_;
};

// Throws naming `where` (the pipeline entry) for an unknown name (listing the known ones), a
// wrong type, a value out of range or not among the choices.
ResolvedParams resolve_params(const qlab_plugin& plugin, const std::map<std::string, ParamValue>& given,
                              const std::string& where);

// A declared default as a value, from the field of the declaration's type.
ParamValue declared_default(const qlab_param_decl& decl);
// The same default as TOML writes it: 128, 0.01, true, "mse" (for `qlab plugins`).
std::string default_text(const qlab_param_decl& decl);

}  // namespace qlab
