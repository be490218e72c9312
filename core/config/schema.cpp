#include "config/schema.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "config/activation_checks.h"
#include "config/format_rules.h"
#include "config/paths.h"
#include "config/toml_fields.h"
#include "data/corpus_readers.h"
#include "zeroshot/request_tokens.h"
#include "zeroshot/task.h"

namespace qlab {

namespace {

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

template <typename E, size_t N>
E parse_name(const NameTable<E, N>& table, const std::string& file, const toml::table& t, const char* section, const char* key,
             const char* fallback) {
  return table.parse(get<std::string>(file, t, key, section, fallback), fmt::format("{}: {}.{}", at(file, t), section, key));
}

const std::set<std::string> kTop = {"name", "model", "calibration", "eval", "quant", "walker", "pipeline", "override", "allocate", "sweep", "export"};

void read_calibration(const std::string& file, const std::filesystem::path& base, const toml::table& c, RunConfig& r) {
  r.calibration.data = resolve_spec(base, get<std::string>(file, c, "data", "calibration", ""));
  r.calibration.sampler = parse_name(kSamplers, file, c, "calibration", "sampler", "gptq");
  r.calibration.n_segments = get<int64_t>(file, c, "n_segments", "calibration", 128);
  r.calibration.seq_len = get<int64_t>(file, c, "seq_len", "calibration", 2048);
  r.calibration.seed = get<int64_t>(file, c, "seed", "calibration", 0);
  if (r.calibration.n_segments <= 0 || r.calibration.seq_len < 2) fail("{}: calibration needs n_segments > 0 and seq_len >= 2", at(file, c));
  try {
    check_calibration_tokens_fit(r.calibration);
  } catch (const Error& e) {
    fail("{}: {}", at(file, c), e.what());
  }
  parse_data_spec(r.calibration.data);
}

void read_eval(const std::string& file, const std::filesystem::path& base, const toml::table& e, RunConfig& r) {
  if (const toml::node* d = e.get("data")) {
    if (d->is_string()) r.eval_data.push_back(resolve_spec(base, *d->value<std::string>()));
    else if (const toml::array* a = d->as_array())
      for (const toml::node& x : *a) {
        if (!x.is_string()) fail("{}: eval.data entries must be strings", at(file, x));
        r.eval_data.push_back(resolve_spec(base, *x.value<std::string>()));
      }
    else fail("{}: eval.data must be a string or an array of strings", at(file, *d));
  }
  for (const std::string& s : r.eval_data) parse_data_spec(s);
  r.eval_seq_len = get<int64_t>(file, e, "seq_len", "eval", 2048);
  r.eval_max_segments = get<int64_t>(file, e, "max_segments", "eval", 0);
  if (r.eval_max_segments < 0) fail("{}: eval.max_segments = {} must be >= 0 (0 = all segments)", at(file, e), r.eval_max_segments);
  if (r.eval_seq_len < 2) fail("{}: eval.seq_len = {} is too short: at least 2 tokens per segment are needed", at(file, e), r.eval_seq_len);
  if (const toml::node* t = e.get("tasks")) {
    const toml::array* a = t->as_array();
    if (!a) fail("{}: eval.tasks must be an array of task names ({})", at(file, *t), fmt::join(known_tasks(), ", "));
    for (const toml::node& x : *a) {
      if (!x.is_string()) fail("{}: eval.tasks entries must be strings", at(file, x));
      const std::string name = *x.value<std::string>();
      if (std::find(known_tasks().begin(), known_tasks().end(), name) == known_tasks().end())
        fail("{}: eval.tasks: unknown task '{}' (known: {})", at(file, x), name, fmt::join(known_tasks(), ", "));
      r.tasks.names.push_back(name);
    }
  }
  r.tasks.data_dir = resolve_path(base, get<std::string>(file, e, "task_data", "eval", ""));
  r.tasks.harness = get<std::string>(file, e, "harness", "eval", "v0.4");
  try {
    parse_harness_version(r.tasks.harness);
  } catch (const Error& err) {
    fail("{}: eval.harness: {}", at(file, e), err.what());
  }
  r.tasks.overlong = get<std::string>(file, e, "overlong", "eval", "fail");
  kOverlongPolicies.parse(r.tasks.overlong, fmt::format("{}: eval.overlong", at(file, e)));
  r.tasks.limit = get<int64_t>(file, e, "task_limit", "eval", 0);
  r.tasks.max_length = get<int64_t>(file, e, "max_length", "eval", 0);
  if (r.tasks.limit < 0) fail("{}: eval.task_limit = {} must be >= 0 (0 = every document)", at(file, e), r.tasks.limit);
  if (r.tasks.max_length < 0) fail("{}: eval.max_length = {} must be >= 0 (0 = the model's context)", at(file, e), r.tasks.max_length);
}

std::vector<std::string> string_list(const std::string& file, const toml::table& t, const char* key, const std::set<std::string>& allowed) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) fail("{}: export.{} must be an array of strings", at(file, *n), key);
  for (const toml::node& x : *a) {
    if (!x.is_string()) fail("{}: export.{} entries must be strings", at(file, x), key);
    const std::string v = *x.value<std::string>();
    if (!allowed.empty() && !allowed.count(v))
      fail("{}: export.{} = \"{}\" is not one of {}", at(file, x), key, v, fmt::join(allowed, ", "));
    out.push_back(v);
  }
  return out;
}

void read_export(const std::string& file, const std::filesystem::path& base, const toml::table& e, RunConfig& r) {
  r.exports.runs = string_list(file, e, "runs", {});
  r.exports.formats = string_list(file, e, "formats", {"gptq", "awq", "gguf"});
  const std::string dir = get<std::string>(file, e, "dir", "export", "");
  r.exports.dir = dir.empty() ? "" : resolve_path(base, dir);
  auto choice = [&](const char* key, const std::string& fallback, const std::set<std::string>& allowed) {
    const std::string v = get<std::string>(file, e, key, "export", fallback);
    if (!allowed.count(v)) fail("{}: export.{} = \"{}\" is not one of {}", at(file, e), key, v, fmt::join(allowed, ", "));
    return v;
  };
  r.exports.float_dtype = choice("float_dtype", "", {"", "f16", "f32"});
  r.exports.checkpoint_format = choice("checkpoint_format", "", {"", "gptq", "gptq_v2"});
  r.exports.requantize = choice("requantize", "", {"", "q4_0", "q4_1", "q8_0"});
}

void read_quant(const std::string& file, const toml::table& q, RunConfig& r) {
  parse_activation_quant(file, q, r);
  const std::string where = at(file, q);
  r.format.bits = checked_bits(get<int64_t>(file, q, "bits", "quant", 4), where, "quant.bits");
  r.format.group_size = checked_group_size(get<int64_t>(file, q, "group_size", "quant", 0), where, "quant.group_size");
  r.format.sym = get<bool>(file, q, "sym", "quant", false);
  r.format.range = parse_grid_range(get<std::string>(file, q, "range", "quant", "gptq"), where, "quant.range");
  const std::string scale_dtype = get<std::string>(file, q, "scale_dtype", "quant", "f32");
  if (scale_dtype != "f32" && scale_dtype != "f16")
    fail("{}: quant.scale_dtype = \"{}\" is not one of f32, f16", where, scale_dtype);
  r.fp16_scales = scale_dtype == "f16";
}

void read_walker(const std::string& file, const toml::table& w, RunConfig& r) {
  r.propagate = parse_name(kPropagations, file, w, "walker", "propagate", "quantized");
  r.activations = parse_name(kStoragePrecisions, file, w, "walker", "activations", "f32");
  r.true_sequential = get<bool>(file, w, "true_sequential", "walker", false);
}

void read_pipeline(const std::string& file, const toml::table& t, RunConfig& r) {
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
}

void read_overrides(const std::string& file, const toml::node& o, RunConfig& r) {
  if (!o.is_array()) fail("{}: 'override' must be an array of tables", at(file, o));
  for (const toml::node& n : *o.as_array()) {
    if (!n.is_table()) fail("{}: override entries must be tables", at(file, n));
    const toml::table& ot = *n.as_table();
    check_keys(file, ot, "an override", {"match", "skip", "bits", "group_size", "sym"});
    OverrideRule rule;
    rule.where = at(file, n);
    rule.match = get<std::string>(file, ot, "match", "override", "");
    if (rule.match.empty()) fail("{}: override needs a 'match' glob", rule.where);
    if (ot.get("skip")) rule.skip = get<bool>(file, ot, "skip", "override", false);
    if (ot.get("sym")) rule.sym = get<bool>(file, ot, "sym", "override", false);
    if (ot.get("bits")) rule.bits = checked_bits(get<int64_t>(file, ot, "bits", "override", 4), rule.where, "override bits");
    if (ot.get("group_size"))
      rule.group_size = checked_group_size(get<int64_t>(file, ot, "group_size", "override", 0), rule.where, "override group_size");
    check_lm_head_override(rule);
    r.overrides.push_back(rule);
  }
}

void read_allocate(const std::string& file, const toml::table& a, RunConfig& r) {
  // enabled = false: a zip sweep's uniform points beside its budgeted ones, in one log and plot.
  if (!get<bool>(file, a, "enabled", "allocate", true)) return;
  // The allocation's rules come after the user's and win; a linear the user pinned to a format
  // would be measured in that one format for every menu entry and then overwritten.
  for (const OverrideRule& rule : r.overrides)
    if (!rule.skip.value_or(false) && (rule.bits || rule.group_size))
      fail("{}: [allocate] chooses every linear's bits and group size, but [[override]] match '{}' sets them too; "
           "remove one, or skip the linear (skip = true) to keep it out of the allocation",
           rule.where, rule.match);
  AllocationSpec spec;
  spec.target_bits = get<double>(file, a, "target_bits", "allocate", 0.0);
  if (!(spec.target_bits > 0)) fail("{}: allocate.target_bits (average bits per weight, e.g. 3.25) is required and positive", at(file, a));
  spec.sensitivity = get<std::string>(file, a, "sensitivity", "allocate", "output_error");
  if (spec.sensitivity != "output_error" && spec.sensitivity != "hessian_trace")
    fail("{}: allocate.sensitivity '{}' is not output_error or hessian_trace", at(file, a), spec.sensitivity);
  const toml::array* menu = a["formats"].as_array();
  if (!menu || menu->size() < 2)
    fail("{}: allocate.formats needs two or more formats, e.g. [{{bits = 3, group_size = 128}}, {{bits = 4, group_size = 128}}]", at(file, a));
  for (const toml::node& n : *menu) {
    if (!n.is_table()) fail("{}: allocate.formats entries are tables {{bits = …, group_size = …}}", at(file, n));
    const toml::table& f = *n.as_table();
    check_keys(file, f, "an allocate format", {"bits", "group_size", "sym"});
    qlab_format q = r.format;
    if (!f.contains("bits")) fail("{}: an allocate format needs bits, e.g. {{bits = 3, group_size = 128}}", at(file, n));
    q.bits = checked_bits(get<int64_t>(file, f, "bits", "allocate.formats", 4), at(file, n), "allocate.formats bits");
    if (f.contains("group_size")) q.group_size = checked_group_size(get<int64_t>(file, f, "group_size", "allocate.formats", 0), at(file, n), "allocate.formats group_size");
    if (f.contains("sym")) q.sym = get<bool>(file, f, "sym", "allocate.formats", false) ? 1 : 0;
    spec.menu.push_back(q);
  }
  // The budget counts code bits, so the reachable averages are [fewest bits, most bits]: a
  // budget outside fails here, before any walk.
  const auto [fewest, most] = std::minmax_element(spec.menu.begin(), spec.menu.end(),
                                                  [](const qlab_format& a, const qlab_format& b) { return a.bits < b.bits; });
  if (spec.target_bits < fewest->bits || spec.target_bits > most->bits)
    fail("{}: allocate.target_bits = {} is outside what the formats can average, {} to {} bits per weight", at(file, a),
         spec.target_bits, fewest->bits, most->bits);
  r.allocate = spec;
}

}  // namespace

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

  if (const toml::table* c = section("calibration", {"data", "sampler", "n_segments", "seq_len", "seed"}, false))
    read_calibration(file, base, *c, r);
  if (const toml::table* e = section("eval", {"data", "seq_len", "max_segments", "tasks", "task_data", "harness", "task_limit", "max_length", "overlong"}, false)) read_eval(file, base, *e, r);
  if (const toml::table* q = section("quant", {"bits", "group_size", "sym", "range", "act_bits", "act_scheme", "act_calibrator",
                                              "act_percentile", "act_outlier_threshold", "act_clip_ratio", "kv_bits", "kv_clip_ratio", "scale_dtype"}, false))
    read_quant(file, *q, r);
  if (const toml::table* w = section("walker", {"propagate", "activations", "true_sequential"}, false)) read_walker(file, *w, r);
  if (r.act.scheme == ActScheme::static_range && r.act.enabled() && r.calibration.data.empty())
    fail("{}: quant.act_scheme = \"static\" calibrates activation ranges on calibration data, but there is no [calibration] data", file);
  read_pipeline(file, t, r);
  if (const toml::node* o = t.get("override")) read_overrides(file, *o, r);
  if (const toml::table* a = section("allocate", {"enabled", "target_bits", "formats", "sensitivity"}, false)) read_allocate(file, *a, r);
  if (const toml::table* e = section("export", {"runs", "formats", "dir", "float_dtype", "checkpoint_format", "requantize"}, false))
    read_export(file, base, *e, r);
  return r;
}

}  // namespace qlab
