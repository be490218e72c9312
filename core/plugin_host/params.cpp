#include "plugin_host/params.h"

#include <algorithm>
#include <fmt/format.h>

#include <cmath>

#include "util/error.h"
#include "util/split.h"

namespace qlab {

namespace {
const char* type_name(int32_t t) {
  switch (t) {
    case QLAB_PARAM_INT: return "an integer";
    case QLAB_PARAM_FLOAT: return "a number";
    case QLAB_PARAM_BOOL: return "true or false";
    default: return "a string";
  }
}
}  // namespace

ParamValue declared_default(const qlab_param_decl& d) {
  switch (d.type) {
    case QLAB_PARAM_INT: return {d.default_int, "default"};
    case QLAB_PARAM_FLOAT: return {d.default_float, "default"};
    case QLAB_PARAM_BOOL: return {d.default_int != 0, "default"};
    default: return {std::string(d.default_string ? d.default_string : ""), "default"};
  }
}

std::string default_text(const qlab_param_decl& d) {
  switch (d.type) {
    case QLAB_PARAM_INT: return fmt::format("{}", d.default_int);
    case QLAB_PARAM_FLOAT: {  // 0.0, not 0: TOML would read 0 as an integer
      const std::string text = fmt::format("{}", d.default_float);
      return text.find_first_of(".en") == std::string::npos ? text + ".0" : text;
    }
    case QLAB_PARAM_BOOL: return d.default_int ? "true" : "false";
    default: return fmt::format("\"{}\"", d.default_string ? d.default_string : "");
  }
}

ResolvedParams resolve_params(const qlab_plugin& plugin, const std::map<std::string, ParamValue>& given,
                              const std::string& where) {
  std::vector<std::string> known;
  for (int32_t i = 0; i < plugin.n_params; ++i) known.push_back(plugin.params[i].name);
  for (const auto& [name, value] : given)
    if (std::find(known.begin(), known.end(), name) == known.end())
      fail("{}: {} ({}): unknown parameter '{}'; known: {}", value.where, where, plugin.name, name,
           known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")));

  ResolvedParams out;
  for (int32_t i = 0; i < plugin.n_params; ++i) {
    const qlab_param_decl& d = plugin.params[i];
    auto it = given.find(d.name);
    const ParamValue v = it != given.end() ? it->second : declared_default(d);
    auto bad = [&](const std::string& why) { fail("{}: {} ({}): parameter '{}' {}", v.where, where, plugin.name, d.name, why); };
    qlab_param p{d.name, d.type, 0, 0.0, nullptr};
    switch (d.type) {
      case QLAB_PARAM_INT:
        if (!std::holds_alternative<int64_t>(v.value)) bad(fmt::format("must be {}", type_name(d.type)));
        p.i = std::get<int64_t>(v.value);
        if (d.has_range && (p.i < d.min_value || p.i > d.max_value)) bad(fmt::format("= {} is outside [{}, {}]", p.i, d.min_value, d.max_value));
        break;
      case QLAB_PARAM_FLOAT:
        if (std::holds_alternative<int64_t>(v.value)) p.f = static_cast<double>(std::get<int64_t>(v.value));
        else if (std::holds_alternative<double>(v.value)) p.f = std::get<double>(v.value);
        else bad(fmt::format("must be {}", type_name(d.type)));
        if (!std::isfinite(p.f)) bad("must be finite");
        if (d.has_range && (p.f < d.min_value || p.f > d.max_value)) bad(fmt::format("= {} is outside [{}, {}]", p.f, d.min_value, d.max_value));
        break;
      case QLAB_PARAM_BOOL:
        if (!std::holds_alternative<bool>(v.value)) bad(fmt::format("must be {}", type_name(d.type)));
        p.i = std::get<bool>(v.value) ? 1 : 0;
        break;
      default: {
        if (!std::holds_alternative<std::string>(v.value)) bad(fmt::format("must be {}", type_name(d.type)));
        const std::string s = std::get<std::string>(v.value);
        if (d.choices) {
          const std::vector<std::string> choices = split(d.choices, '|');
          if (std::find(choices.begin(), choices.end(), s) == choices.end()) bad(fmt::format("= \"{}\" is not one of {}", s, d.choices));
        }
        out.strings_.push_back(std::make_unique<std::string>(s));
        p.s = out.strings_.back()->c_str();
      }
    }
    out.values_.push_back(p);
  }
  return out;
}

std::string ResolvedParams::describe() const {
  std::string out;
  for (const qlab_param& p : values_) {
    if (!out.empty()) out += ", ";
    switch (p.type) {
      case QLAB_PARAM_INT: out += fmt::format("{}={}", p.name, p.i); break;
      case QLAB_PARAM_FLOAT: out += fmt::format("{}={}", p.name, p.f); break;
      case QLAB_PARAM_BOOL: out += fmt::format("{}={}", p.name, p.i ? "true" : "false"); break;
      default: out += fmt::format("{}=\"{}\"", p.name, p.s);
    }
  }
  return out;
}

}  // namespace qlab
