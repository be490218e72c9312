#include "config/experiment.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fnmatch.h>

#include <filesystem>
#include <set>
#include <toml++/toml.h>

#include "data/corpus_readers.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

std::string at(const std::string& file, const toml::node& n) {
  // Values set by --set or a sweep axis have no line in the file.
  return n.source().begin.line > 0 ? fmt::format("{}:{}", file, n.source().begin.line) : file;
}

void check_keys(const std::string& file, const toml::table& t, const std::string& section, const std::set<std::string>& known) {
  for (const auto& [k, v] : t)
    if (!known.count(std::string(k.str()))) {
      std::string list;
      for (const std::string& s : known) list += (list.empty() ? "" : ", ") + s;
      fail("{}: unknown key '{}' in {}; known: {}", at(file, v), k.str(), section, list);
    }
}

// Paths in an experiment file are relative to the file's directory.
// "${QLAB_MODELS:-models}/opt-125m": paths may name environment variables (with a default
// after ":-"), so experiment files can be shared across machines. An unset variable without
// a default is an error.
std::string expand_env(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string::npos) fail("'{}': unterminated ${{...}}", text);
    const std::string inner = text.substr(i + 2, close - i - 2);
    const size_t dash = inner.find(":-");
    const std::string name = inner.substr(0, dash);
    const char* value = std::getenv(name.c_str());
    if (value && *value) out += value;
    else if (dash != std::string::npos) out += inner.substr(dash + 2);
    else fail("'{}': environment variable {} is not set (give a default with ${{{}:-...}})", text, name, name);
    i = close + 1;
  }
  return out;
}

std::string resolve_path(const std::filesystem::path& base, const std::string& raw) {
  const std::string p = expand_env(raw);
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}
std::string resolve_spec(const std::filesystem::path& base, const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && colon > 1) return spec.substr(0, colon + 1) + resolve_path(base, spec.substr(colon + 1));
  return resolve_path(base, spec);
}

template <typename T>
T get(const std::string& file, const toml::table& t, const char* key, const std::string& section, T fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = n->value<double>()) return *v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (n->is_boolean()) return *n->value<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (n->is_integer()) return static_cast<T>(*n->value<int64_t>());
  } else {
    if (n->is_string()) return *n->value<std::string>();
  }
  fail("{}: {}.{} has the wrong type", at(file, *n), section, key);
}

ParamValue param_value(const std::string& file, const toml::node& n, const std::string& where) {
  const std::string loc = at(file, n);
  if (n.is_integer()) return {*n.value<int64_t>(), loc};
  if (n.is_floating_point()) return {*n.value<double>(), loc};
  if (n.is_boolean()) return {*n.value<bool>(), loc};
  if (n.is_string()) return {*n.value<std::string>(), loc};
  fail("{}: {}: parameters must be numbers, booleans or strings", loc, where);
}

// A --set or sweep value: TOML syntax when it parses, else a bare string.
toml::table parse_value(const std::string& text) {
  try {
    return toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    toml::table t;
    t.insert("v", text);
    return t;
  }
}

// Sets a dotted path ("quant.bits", "pipeline.gptq.damp_frac", "pipeline.0.alpha") in `root`.
void set_path(toml::table& root, const std::string& dotted, const toml::node& value, const std::string& where) {
  std::vector<std::string> parts;
  for (size_t s = 0; s <= dotted.size();) {
    size_t d = dotted.find('.', s);
    if (d == std::string::npos) d = dotted.size();
    parts.push_back(dotted.substr(s, d - s));
    s = d + 1;
  }
  if (dotted == "pipeline") {  // a whole pipeline: [{ plugin = "awq" }, { plugin = "rtn" }]
    const toml::array* entries = value.as_array();
    if (!entries || entries->empty() || !std::all_of(entries->begin(), entries->end(), [](const toml::node& e) { return e.is_table(); }))
      fail("{}: a 'pipeline' value must be a non-empty array of {{ plugin = ... }} tables", where);
    root.insert_or_assign("pipeline", *entries);
    return;
  }
  if (parts.size() < 2 && parts[0] != "name") fail("{}: '{}' is not a dotted path like quant.bits", where, dotted);
  toml::table* table = &root;
  size_t i = 0;
  if (parts[0] == "pipeline") {
    if (parts.size() != 3) fail("{}: pipeline paths are pipeline.<plugin or index>.<parameter>, got '{}'", where, dotted);
    toml::array* pipeline = root["pipeline"].as_array();
    if (!pipeline) fail("{}: '{}': the experiment has no pipeline", where, dotted);
    table = nullptr;
    // An index too large for size_t names no entry, like any other index past the end.
    size_t index = 0;
    const char* first = parts[1].data();
    const char* last = first + parts[1].size();
    const auto [end, ec] = std::from_chars(first, last, index);  // digits only: no sign, no spaces
    const bool is_index = ec == std::errc() && end == last;
    for (size_t k = 0; k < pipeline->size(); ++k) {
      toml::table* e = pipeline->get(k)->as_table();
      if (!e) continue;
      if ((is_index && index == k) || (!is_index && e->get("plugin") && e->get("plugin")->value<std::string>() == parts[1])) {
        if (table) fail("{}: '{}': plugin '{}' appears twice in the pipeline; use pipeline.<index>.{}", where, dotted, parts[1], parts[2]);
        table = e;
      }
    }
    if (!table) fail("{}: '{}': no pipeline entry '{}'", where, dotted, parts[1]);
    i = 2;
  } else {
    for (; i + 1 < parts.size(); ++i) {
      if (!table->contains(parts[i])) table->insert(parts[i], toml::table{});
      table = (*table)[parts[i]].as_table();
      if (!table) fail("{}: '{}': '{}' is not a table", where, dotted, parts[i]);
    }
  }
  table->insert_or_assign(parts[i], value);
}

// [quant] act_*: the activation half of the format. Settings that would be silently ignored
// or contradict each other are refused.
void parse_activation_quant(const std::string& file, const toml::table& q, RunConfig& r) {
  r.act.bits = get<int32_t>(file, q, "act_bits", "quant", 0);
  if (r.act.bits != 0 && (r.act.bits < 2 || r.act.bits > 16)) fail("{}: quant.act_bits = {} is outside 2..16 (0 = off)", at(file, q), r.act.bits);
  const bool off = r.act.bits == 0;
  for (const char* key : {"act_scheme", "act_calibrator", "act_percentile", "act_outlier_threshold"})
    if (off && q.contains(key)) fail("{}: quant.{} has no effect while quant.act_bits is 0 (activations unquantized); set act_bits", at(file, q), key);
  try {
    r.act.scheme = parse_act_scheme(get<std::string>(file, q, "act_scheme", "quant", "per_token"));
    r.act_calibration.method = parse_range_calibrator(get<std::string>(file, q, "act_calibrator", "quant", "minmax"));
  } catch (const Error& e) {
    fail("{}: quant: {}", at(file, q), e.what());
  }
  const bool is_static = r.act.scheme == ActScheme::static_range;
  if (!is_static && q.contains("act_calibrator"))
    fail("{}: quant.act_calibrator calibrates static ranges, but act_scheme is dynamic ('{}'); set act_scheme = \"static\"", at(file, q), act_scheme_name(r.act.scheme));
  r.act_calibration.percentile = get<double>(file, q, "act_percentile", "quant", 99.99);
  if (q.contains("act_percentile") && r.act_calibration.method != RangeCalibrator::percentile)
    fail("{}: quant.act_percentile is used only by act_calibrator = \"percentile\"", at(file, q));
  if (!(r.act_calibration.percentile > 0.0 && r.act_calibration.percentile <= 100.0))
    fail("{}: quant.act_percentile = {} is outside (0, 100]", at(file, q), r.act_calibration.percentile);
  r.act.outlier_threshold = static_cast<float>(get<double>(file, q, "act_outlier_threshold", "quant", 0.0));
  if (!(r.act.outlier_threshold >= 0.0f) || !std::isfinite(r.act.outlier_threshold))
    fail("{}: quant.act_outlier_threshold must be a finite value >= 0 (LLM.int8() uses 6.0; 0 = off)", at(file, q));
  if (is_static && r.act.outlier_threshold > 0)
    fail("{}: quant.act_outlier_threshold (LLM.int8()) picks outlier columns per input, dynamically; it cannot combine with act_scheme = \"static\"", at(file, q));
}

// lm_head stays in float (as in the references): an override may only confirm that. Decoder
// linears are named "<block>.<path>", so a pattern starting with a letter can match lm_head alone.
void check_lm_head_override(const OverrideRule& rule) {
  if (!glob_match(rule.match, "lm_head")) return;
  if (rule.skip && !*rule.skip)
    fail("{}: quantizing lm_head is not supported; the references keep it in float", rule.where);
  const bool only_lm_head = std::isalpha(static_cast<unsigned char>(rule.match[0]));
  if (only_lm_head && (rule.bits || rule.group_size || rule.sym))
    fail("{}: override match '{}': lm_head is never quantized (the references keep it in float); only skip = true may name it",
         rule.where, rule.match);
}

const std::set<std::string> kTop = {"name", "model", "calibration", "eval", "quant", "walker", "pipeline", "override", "sweep"};

RunConfig build_run(const std::string& file, const toml::table& t) {
  const std::filesystem::path base = std::filesystem::path(file).parent_path();
  check_keys(file, t, "the experiment", kTop);
  RunConfig r;
  auto section = [&](const char* name, const std::set<std::string>& keys, bool required) -> const toml::table* {
    const toml::node* n = t.get(name);
    if (!n) {
      if (required) fail("{}: missing [{}]", file, name);
      return nullptr;
    }
    if (!n->is_table()) fail("{}: {} must be a table", at(file, *n), name);
    check_keys(file, *n->as_table(), fmt::format("[{}]", name), keys);
    return n->as_table();
  };
  const toml::table* model = section("model", {"path", "tokenizer"}, true);
  r.model_path = resolve_path(base, get<std::string>(file, *model, "path", "model", ""));
  if (r.model_path.empty()) fail("{}: model.path is required", file);
  r.tokenizer_path = resolve_path(base, get<std::string>(file, *model, "tokenizer", "model", ""));

  if (const toml::table* c = section("calibration", {"data", "sampler", "n_segments", "seq_len", "seed"}, false)) {
    r.calibration.data = resolve_spec(base, get<std::string>(file, *c, "data", "calibration", ""));
    r.calibration.sampler = get<std::string>(file, *c, "sampler", "calibration", "gptq");
    r.calibration.n_segments = get<int64_t>(file, *c, "n_segments", "calibration", 128);
    r.calibration.seqlen = get<int64_t>(file, *c, "seq_len", "calibration", 2048);
    r.calibration.seed = get<int64_t>(file, *c, "seed", "calibration", 0);
    if (r.calibration.sampler != "gptq" && r.calibration.sampler != "awq")
      fail("{}: calibration.sampler '{}' is not one of gptq, awq", at(file, *c), r.calibration.sampler);
    if (r.calibration.n_segments <= 0 || r.calibration.seqlen < 2) fail("{}: calibration needs n_segments > 0 and seq_len >= 2", at(file, *c));
    try {
      check_calibration_tokens_fit(r.calibration);
    } catch (const Error& e) {
      fail("{}: {}", at(file, *c), e.what());
    }
    parse_data_spec(r.calibration.data);
  }
  if (const toml::table* e = section("eval", {"data", "seq_len", "max_segments"}, false)) {
    if (const toml::node* d = e->get("data")) {
      if (d->is_string()) r.eval_data.push_back(resolve_spec(base, *d->value<std::string>()));
      else if (const toml::array* a = d->as_array())
        for (const toml::node& x : *a) {
          if (!x.is_string()) fail("{}: eval.data entries must be strings", at(file, x));
          r.eval_data.push_back(resolve_spec(base, *x.value<std::string>()));
        }
      else fail("{}: eval.data must be a string or an array of strings", at(file, *d));
    }
    for (const std::string& s : r.eval_data) parse_data_spec(s);
    r.eval_seq_len = get<int64_t>(file, *e, "seq_len", "eval", 2048);
    r.eval_max_segments = get<int64_t>(file, *e, "max_segments", "eval", 0);
    if (r.eval_max_segments < 0) fail("{}: eval.max_segments = {} must be >= 0 (0 = all segments)", at(file, *e), r.eval_max_segments);
    if (r.eval_seq_len < 2) fail("{}: eval.seq_len = {} is too short: at least 2 tokens per segment are needed", at(file, *e), r.eval_seq_len);
  }
  if (const toml::table* q = section("quant", {"bits", "group_size", "sym", "range", "act_bits", "act_scheme", "act_calibrator",
                                              "act_percentile", "act_outlier_threshold"}, false)) {
    parse_activation_quant(file, *q, r);
    r.format.bits = get<int32_t>(file, *q, "bits", "quant", 4);
    r.format.group_size = get<int32_t>(file, *q, "group_size", "quant", 0);
    r.format.sym = get<bool>(file, *q, "sym", "quant", false);
    std::string range = get<std::string>(file, *q, "range", "quant", "gptq");
    if (range != "gptq" && range != "minmax") fail("{}: quant.range '{}' is not one of gptq, minmax", at(file, *q), range);
    r.format.range = range == "gptq" ? QLAB_RANGE_GPTQ : QLAB_RANGE_MINMAX;
    if (r.format.bits < 2 || r.format.bits > 8) fail("{}: quant.bits = {} is outside 2..8", at(file, *q), r.format.bits);
    if (r.format.group_size < 0) fail("{}: quant.group_size must be >= 0 (0 = per output channel)", at(file, *q));
  }
  if (const toml::table* w = section("walker", {"propagate", "activations", "true_sequential"}, false)) {
    r.propagate = get<std::string>(file, *w, "propagate", "walker", "quantized");
    if (r.propagate != "quantized" && r.propagate != "float")
      fail("{}: walker.propagate '{}' is not one of quantized, float", at(file, *w), r.propagate);
    r.activations = get<std::string>(file, *w, "activations", "walker", "f32");
    if (r.activations != "f32" && r.activations != "f16" && r.activations != "bf16")
      fail("{}: walker.activations '{}' is not one of f32, f16, bf16", at(file, *w), r.activations);
    r.true_sequential = get<bool>(file, *w, "true_sequential", "walker", false);
  }
  if (r.act.scheme == ActScheme::static_range && r.act.enabled() && r.calibration.data.empty())
    fail("{}: quant.act_scheme = \"static\" calibrates activation ranges on calibration data, but there is no [calibration] data", file);
  const toml::node* p = t.get("pipeline");
  if (!p || !p->is_array() || p->as_array()->empty()) fail("{}: 'pipeline' must be a non-empty array of {{ plugin = ... }} tables", file);
  for (size_t i = 0; i < p->as_array()->size(); ++i) {
    const toml::node& n = *p->as_array()->get(i);
    if (!n.is_table()) fail("{}: pipeline[{}] must be a table", at(file, n), i);
    PipelineEntry e;
    e.where = at(file, n);
    for (const auto& [k, v] : *n.as_table()) {
      if (k.str() == "plugin") {
        if (!v.is_string()) fail("{}: pipeline[{}].plugin must be a string", at(file, v), i);
        e.plugin = *v.value<std::string>();
      } else {
        e.params[std::string(k.str())] = param_value(file, v, fmt::format("pipeline[{}]", i));
      }
    }
    if (e.plugin.empty()) fail("{}: pipeline[{}] has no 'plugin'", e.where, i);
    r.pipeline.push_back(std::move(e));
  }
  if (const toml::node* o = t.get("override")) {
    if (!o->is_array()) fail("{}: 'override' must be an array of tables", at(file, *o));
    for (const toml::node& n : *o->as_array()) {
      if (!n.is_table()) fail("{}: override entries must be tables", at(file, n));
      const toml::table& ot = *n.as_table();
      check_keys(file, ot, "an override", {"match", "skip", "bits", "group_size", "sym"});
      OverrideRule rule;
      rule.where = at(file, n);
      rule.match = get<std::string>(file, ot, "match", "override", "");
      if (rule.match.empty()) fail("{}: override needs a 'match' glob", rule.where);
      if (ot.get("skip")) rule.skip = get<bool>(file, ot, "skip", "override", false);
      if (ot.get("sym")) rule.sym = get<bool>(file, ot, "sym", "override", false);
      if (ot.get("bits")) rule.bits = get<int32_t>(file, ot, "bits", "override", 4);
      if (ot.get("group_size")) rule.group_size = get<int32_t>(file, ot, "group_size", "override", 0);
      if (rule.bits && (*rule.bits < 2 || *rule.bits > 8)) fail("{}: override bits = {} is outside 2..8", rule.where, *rule.bits);
      check_lm_head_override(rule);
      r.overrides.push_back(rule);
    }
  }
  return r;
}

std::string toml_text(const toml::node& n) {
  if (const toml::array* a = n.as_array(); a && !a->empty() && a->front().is_table()) {
    // A pipeline value reads as "awq+rtn", parameters in brackets: "gptq(act_order=true)".
    std::string text;
    for (const toml::node& e : *a) {
      std::string params;
      for (const auto& [k, v] : *e.as_table())
        if (k.str() != "plugin") params += fmt::format("{}{}={}", params.empty() ? "" : ",", k.str(), toml_text(v));
      const toml::node* plugin = e.as_table()->get("plugin");
      text += fmt::format("{}{}{}", text.empty() ? "" : "+", plugin ? plugin->value<std::string>().value_or("?") : "?", params.empty() ? "" : "(" + params + ")");
    }
    return text;
  }
  if (auto f = n.value_exact<double>()) return fmt::format("{}", *f);  // shortest form: 0.99, not 0.98999999999999999
  std::ostringstream s;
  n.visit([&](const auto& v) { s << v; });
  return s.str();
}

}  // namespace

ParamValue parse_set_value(const std::string& text, const std::string& where) {
  toml::table v = parse_value(text);
  ParamValue p = param_value(where, *v.get("v"), where);
  p.where = where;  // the --set option, not a line of the one-line TOML it was parsed as
  return p;
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

std::optional<qlab_format> format_for(const RunConfig& run, const std::string& id) {
  qlab_format f = run.format;
  bool skip = id == "lm_head";  // the references never quantize lm_head or the embeddings
  for (const OverrideRule& o : run.overrides) {
    if (!glob_match(o.match, id)) continue;
    if (o.skip) skip = *o.skip;
    if (o.bits) f.bits = *o.bits;
    if (o.group_size) f.group_size = *o.group_size;
    if (o.sym) f.sym = *o.sym ? 1 : 0;
  }
  if (skip) return std::nullopt;
  return f;
}

// Beyond this a sweep is almost surely a mistake, and its expansion alone would exhaust memory.
constexpr size_t kMaxGridPoints = 100000;

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
  ex.name = root.get("name") && root.get("name")->is_string() ? *root.get("name")->value<std::string>()
                                                               : std::filesystem::path(path).stem().string();
  // The name becomes results/runs/<name>.h5: it must not reach outside that directory.
  if (ex.name.empty() || ex.name[0] == '.' || ex.name.find('/') != std::string::npos ||
      std::any_of(ex.name.begin(), ex.name.end(), [](unsigned char c) { return c < 0x20; }))
    fail("{}: name = \"{}\" must be a plain file name (the log is results/runs/<name>.h5): not empty, no '/', "
         "no control characters, not starting with '.'", path, ex.name);
  // The sweep: axes of values, expanded as a grid (Cartesian product, last axis fastest) or
  // zipped. Each point is set into the parsed tree in place, so every other node keeps its
  // line for error messages.
  std::vector<std::pair<std::string, toml::array>> axes;
  if (const toml::node* s = root.get("sweep")) {
    if (!s->is_table()) fail("{}: [sweep] must be a table", at(path, *s));
    ex.sweep_mode = "grid";
    for (const auto& [k, v] : *s->as_table()) {
      if (k.str() == "mode") {
        ex.sweep_mode = v.value<std::string>().value_or("");
        if (ex.sweep_mode != "grid" && ex.sweep_mode != "zip") fail("{}: sweep.mode must be \"grid\" or \"zip\"", at(path, v));
        continue;
      }
      if (!v.is_array() || v.as_array()->empty()) fail("{}: sweep axis '{}' must be a non-empty array", at(path, v), k.str());
      axes.emplace_back(std::string(k.str()), *v.as_array());
    }
    // toml++ keeps keys sorted; the axes follow the file's order instead (the last varies fastest).
    std::stable_sort(axes.begin(), axes.end(), [&](const auto& a, const auto& b) {
      const auto pa = s->as_table()->get(a.first)->source().begin, pb = s->as_table()->get(b.first)->source().begin;
      return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
    });
    if (ex.sweep_mode == "zip")
      for (const auto& [name, values] : axes)
        if (values.size() != axes[0].second.size())
          fail("{}: zip sweep axes differ in length: '{}' has {}, '{}' has {}", path, axes[0].first, axes[0].second.size(), name, values.size());
    root.erase("sweep");
  }
  size_t n_points = 1;
  if (!axes.empty()) {
    if (ex.sweep_mode == "zip") n_points = axes[0].second.size();
    else
      for (const auto& a : axes) {
        if (n_points > kMaxGridPoints / a.second.size())
          fail("{}: the sweep has more than {} grid points; split it into several experiments", path, kMaxGridPoints);
        n_points *= a.second.size();
      }
    if (n_points > kMaxGridPoints)
      fail("{}: the sweep has {} grid points, more than {}; split it into several experiments", path, n_points, kMaxGridPoints);
  }
  for (size_t point = 0; point < n_points; ++point) {
    std::vector<size_t> index(axes.size());
    size_t rest = point;
    for (size_t a = axes.size(); a-- > 0;) {  // last axis varies fastest
      const size_t n = axes[a].second.size();
      index[a] = ex.sweep_mode == "zip" ? point : rest % n;
      rest = ex.sweep_mode == "zip" ? rest : rest / n;
    }
    // Set in the file's order, so a whole-pipeline axis comes before the parameters set in it.
    std::vector<std::pair<std::string, std::string>> values;
    for (size_t a = 0; a < axes.size(); ++a) {
      const toml::node& v = *axes[a].second.get(index[a]);
      set_path(root, axes[a].first, v, fmt::format("{}: sweep axis '{}'", path, axes[a].first));
      values.emplace_back(axes[a].first, toml_text(v));
    }
    RunConfig r;
    try {
      r = build_run(path, root);
    } catch (const Error& e) {
      if (values.empty()) throw;
      std::string setting;
      for (const auto& [k, v] : values) setting += fmt::format("{}{} = {}", setting.empty() ? "" : ", ", k, v);
      fail("{}\n  (at sweep point r{:04}: {})", e.what(), point, setting);
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
