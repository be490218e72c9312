#include "format/hf_source.h"

#include <algorithm>
#include <cstdlib>

#include "format/hf_quantization.h"
#include "format/rope_scaling.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The tensor's header entry, checked against the shape the config implies; errors name the
// file and the tensor.
const SafetensorsFile& checked(const SafetensorsSet& set, const std::string& full, const std::vector<int64_t>& shape) {
  const SafetensorsFile& f = set.file_of(full);
  const TensorInfo& t = f.info(full);
  if (t.shape != shape) {
    std::string need = shape_text(shape);
    fail("{}: tensor '{}' has shape {}, the config needs {}", f.path(), full, shape_text(t.shape), need);
  }
  return f;
}

Matrix matrix(const SafetensorsSet& set, const std::string& full, int64_t rows, int64_t cols) {
  return checked(set, full, {rows, cols}).to_matrix(full);
}

Vector vector(const SafetensorsSet& set, const std::string& full, int64_t n) {
  return checked(set, full, {n}).to_vector(full);
}

ModelConfig read_llama_family(const HfConfig& cfg) {
  ModelConfig c;
  c.dim = cfg.int_required("hidden_size");
  c.hidden_dim = cfg.int_required("intermediate_size");
  c.n_layers = cfg.int_required("num_hidden_layers");
  c.n_heads = cfg.int_required("num_attention_heads");
  c.n_kv_heads = cfg.int_or("num_key_value_heads", c.n_heads);
  c.head_dim = cfg.int_or("head_dim", c.dim / c.n_heads);
  c.vocab_size = cfg.int_required("vocab_size");
  c.max_seq_len = cfg.int_or("max_position_embeddings", 2048);
  c.norm_eps = static_cast<float>(cfg.positive_float_or("rms_norm_eps", 1e-6));
  c.rope_theta = static_cast<float>(cfg.positive_float_or("rope_theta", 10000.0));
  c.bos_id = static_cast<int32_t>(cfg.int_or("bos_token_id", 1));
  c.eos_id = cfg.has("eos_token_id") && cfg.json()["eos_token_id"].is_number_integer()
                 ? cfg.json()["eos_token_id"].get<int32_t>() : 2;
  const bool uses_window = cfg.architecture() == "MistralForCausalLM" || cfg.bool_or("use_sliding_window", false);
  if (uses_window && cfg.has("sliding_window")) c.sliding_window = cfg.int_required("sliding_window");
  if (c.n_heads % c.n_kv_heads != 0) fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", cfg.path(), c.n_heads, c.n_kv_heads);
  if (c.head_dim % 2 != 0) fail("{}: head dimension {} must be even for RoPE", cfg.path(), c.head_dim);
  c.rope_scaling = read_rope_scaling(cfg, c.max_seq_len);
  return c;
}

ModelConfig read_opt(const HfConfig& cfg) {
  ModelConfig c;
  c.dim = cfg.int_required("hidden_size");
  c.hidden_dim = cfg.int_required("ffn_dim");
  c.n_layers = cfg.int_required("num_hidden_layers");
  c.n_heads = c.n_kv_heads = cfg.int_required("num_attention_heads");
  if (c.dim % c.n_heads != 0) fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", cfg.path(), c.dim, c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  c.vocab_size = cfg.int_required("vocab_size");
  c.max_seq_len = cfg.int_required("max_position_embeddings");
  c.position_offset = 2;  // OPTLearnedPositionalEmbedding's offset
  c.norm_eps = 1e-5f;
  c.pre_norm = cfg.bool_or("do_layer_norm_before", true);
  c.bos_id = static_cast<int32_t>(cfg.int_or("bos_token_id", 2));
  c.eos_id = static_cast<int32_t>(cfg.int_or("eos_token_id", 2));
  if (cfg.string_or("activation_function", "relu") != "relu")
    fail("{}: activation_function '{}' is not supported for OPT (only relu)", cfg.path(), cfg.string_or("activation_function", ""));
  if (!cfg.bool_or("enable_bias", true)) fail("{}: enable_bias = false is not supported", cfg.path());
  return c;
}

// Blocks beyond num_hidden_layers would be silently dropped, evaluating a truncated model.
void check_layer_count(const HfConfig& cfg, const SafetensorsSet& set, const std::string& layers_prefix, int64_t n_layers) {
  int64_t held = 0;
  for (const std::string& name : set.names()) {
    if (name.rfind(layers_prefix, 0) != 0) continue;
    const char* digits = name.c_str() + layers_prefix.size();
    char* end = nullptr;
    const long long index = std::strtoll(digits, &end, 10);
    if (end != digits && *end == '.') held = std::max<int64_t>(held, index + 1);
  }
  if (held > n_layers)
    fail("{}: the weights hold {} layers ({}{}.* present) but config.json says num_hidden_layers = {}", cfg.path(), held,
         layers_prefix, held - 1, n_layers);
}

}  // namespace

// How a family's config.json and the tensors outside its blocks read, beside its table row.
struct HfFamily {
  const char* family;
  ModelConfig (*read_config)(const HfConfig&);
  std::vector<std::string> prefixes;  // the first holding "<prefix>embed_tokens.weight", else the last
  bool always_tied;                   // no lm_head.weight means tied, whatever tie_word_embeddings says
  const char* embed_width_key;        // an embedding narrower than hidden_size (OPT-350M), or nullptr
  const char* no_final_norm_key;      // true drops the final norm, or nullptr
};

namespace {

const HfFamily& hf_family(const HfConfig& cfg, const Arch& arch) {
  // Checkpoints store OPT's decoder as "model.decoder." (transformers) or "decoder." (fairseq ports).
  static const std::vector<HfFamily> rows = {
      {"llama", read_llama_family, {"model."},                   false, nullptr,               nullptr},
      {"qwen3", read_llama_family, {"model."},                   false, nullptr,               nullptr},
      {"opt",   read_opt,          {"model.decoder.", "decoder."}, true,  "word_embed_proj_dim", "_remove_final_layer_norm"},
  };
  for (const HfFamily& f : rows)
    if (arch.family == f.family) return f;
  fail("{}: architecture '{}' is described but not run yet", cfg.path(), arch.family);
}

HfConfig load_config(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  if (path_kind(config_path) == PathKind::missing) fail("{}: no config.json in this model directory", dir.string());
  return HfConfig::load(config_path.string());
}

const Arch& arch_for(const HfConfig& cfg) {
  const std::string name = cfg.architecture();
  if (const Arch* a = arch_for_hf_name(name)) return *a;
  fail("{}: unknown architecture '{}'; known: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
       "OPTForCausalLM", cfg.path(), name.empty() ? "(none: no architectures or model_type)" : name);
}

// The per-layer file name of a block tensor: "<prefix>layers.<i>.<local>".
std::string file_name(const std::string& prefix, const std::string& qlab_name) {
  return prefix + "layers." + qlab_name;
}

}  // namespace

HfSource::HfSource(const std::filesystem::path& dir)
    : cfg_(load_config(dir)), arch_(&arch_for(cfg_)), hf_(&hf_family(cfg_, *arch_)) {
  config_ = hf_->read_config(cfg_);
  config_.arch = arch_->family;
  set_ = SafetensorsSet::open_dir(dir);
  packed_ = read_quantization_config(cfg_, dir);
  prefix_ = hf_->prefixes.back();
  for (const std::string& p : hf_->prefixes)
    if (set_.has(p + "embed_tokens.weight")) {
      prefix_ = p;
      break;
    }
  check_layer_count(cfg_, set_, prefix_ + "layers.", config_.n_layers);
  // Every shape from the headers now, in load order, so a bad file fails before any work.
  check_outer_shapes();
  for (int64_t i = 0; i < config_.n_layers; ++i) check_block_shapes(i);
  if (has_final_norm()) {
    checked(set_, prefix_ + arch_->final_norm + ".weight", {config_.dim});
    if (arch_->norm == NormKind::layer) checked(set_, prefix_ + arch_->final_norm + ".bias", {config_.dim});
  }
  if (!lm_head_name().empty()) checked(set_, "lm_head.weight", {config_.vocab_size, embed_width()});
  else if (!tied_lm_head()) fail("{}: no 'lm_head.weight' and tie_word_embeddings is false", set_.dir());
}

bool HfSource::tied_lm_head() const {
  return hf_->always_tied || cfg_.bool_or("tie_word_embeddings", false);
}

std::string HfSource::lm_head_name() const { return set_.has("lm_head.weight") ? "lm_head.weight" : ""; }

int64_t HfSource::embed_width() const { return hf_->embed_width_key ? cfg_.int_or(hf_->embed_width_key, config_.dim) : config_.dim; }

bool HfSource::has_final_norm() const {
  // Post-norm blocks end normed already.
  return config_.pre_norm && !(hf_->no_final_norm_key && cfg_.bool_or(hf_->no_final_norm_key, false));
}

void HfSource::check_outer_shapes() const {
  const ModelConfig& c = config_;
  const int64_t proj = embed_width();
  checked(set_, prefix_ + "embed_tokens.weight", {c.vocab_size, proj});
  if (arch_->position == PositionKind::learned) checked(set_, prefix_ + "embed_positions.weight", {c.max_seq_len + c.position_offset, c.dim});
  if (proj != c.dim) {
    checked(set_, prefix_ + "project_in.weight", {c.dim, proj});
    checked(set_, prefix_ + "project_out.weight", {proj, c.dim});
  }
}

void HfSource::check_block_shapes(int64_t i) const {
  for (const TensorRow& r : arch_->tensors) {
    const std::string full = file_name(prefix_, tensor_names(r, i, config_.n_experts)[0]);
    const int64_t rows = dim_size(config_, r.rows);
    if (r.kind == TensorKind::norm) {
      checked(set_, full + ".weight", {rows});
      if (arch_->norm == NormKind::layer) checked(set_, full + ".bias", {rows});
      continue;
    }
    if (set_.has(full + ".qweight")) {
      if (!packed_) fail("{}: tensor '{}.qweight' is packed but config.json has no quantization_config", set_.file_of(full + ".qweight").path(), full);
    } else {
      checked(set_, full + ".weight", {rows, dim_size(config_, r.cols)});
    }
    if (r.bias == BiasRule::required || set_.has(full + ".bias")) checked(set_, full + ".bias", {rows});
  }
}

std::vector<LinearShape> HfSource::linears() const {
  std::vector<LinearShape> out;
  for (int64_t i = 0; i < config_.n_layers; ++i)
    for (const TensorRow& r : arch_->tensors) {
      if (r.kind != TensorKind::linear) continue;
      const std::string name = tensor_names(r, i, config_.n_experts)[0];
      out.push_back({name, dim_size(config_, r.rows), dim_size(config_, r.cols), set_.has(file_name(prefix_, name) + ".bias")});
    }
  out.push_back({"lm_head", config_.vocab_size, embed_width(), false});
  return out;
}

// One loop over the family's table: the only place Hugging Face block tensors are read.
Block HfSource::load_block(int64_t i) const {
  if (i < 0 || i >= config_.n_layers) fail("{}: block {} requested, the model has {}", set_.dir(), i, config_.n_layers);
  set_.check_unchanged();
  Block b = named_block(*arch_, i);
  for (const TensorRow& r : arch_->tensors) {
    const int64_t rows = dim_size(config_, r.rows);
    if (r.kind == TensorKind::norm) {
      Norm& n = b.norm(r.slot);
      const std::string full = file_name(prefix_, n.name);
      n.weight = vector(set_, full + ".weight", rows);
      if (arch_->norm == NormKind::layer) n.bias = vector(set_, full + ".bias", rows);
      continue;
    }
    Linear& l = b.linear(r.slot);
    const std::string full = file_name(prefix_, l.name);
    l.weight = set_.has(full + ".qweight") ? unpack_linear(set_, full, rows, dim_size(config_, r.cols), *packed_)
                                           : matrix(set_, full + ".weight", rows, dim_size(config_, r.cols));
    if (r.bias == BiasRule::required || set_.has(full + ".bias")) l.bias = vector(set_, full + ".bias", rows);
  }
  check_finite(b, set_.dir());
  set_.release();  // the float copy is what is used: RSS stays one block's, however many are walked
  return b;
}

Model HfSource::load_outer() const {
  const ModelConfig& c = config_;
  const int64_t proj = embed_width();
  Model m;
  m.config = c;
  m.source = set_.dir();
  if (arch_->position == PositionKind::learned)
    m.embed_positions = matrix(set_, prefix_ + "embed_positions.weight", c.max_seq_len + c.position_offset, c.dim);
  if (proj != c.dim) {
    m.project_in = {"project_in", matrix(set_, prefix_ + "project_in.weight", c.dim, proj), {}};
    m.project_out = {"project_out", matrix(set_, prefix_ + "project_out.weight", proj, c.dim), {}};
  }
  const std::string final_norm = arch_->final_norm;
  m.final_norm = {final_norm, {}, {}};
  if (has_final_norm()) {
    m.final_norm.weight = vector(set_, prefix_ + final_norm + ".weight", c.dim);
    if (arch_->norm == NormKind::layer) m.final_norm.bias = vector(set_, prefix_ + final_norm + ".bias", c.dim);
  }
  m.lm_head = {"lm_head", {}, {}};
  check_finite(m);
  set_.release();
  return m;
}

Matrix HfSource::vocab_rows(VocabTable table, std::span<const int32_t> ids) const {
  // Shapes were checked at open; a tied head reads the embedding table (checked at open).
  const std::string name = table == VocabTable::head && !lm_head_name().empty() ? lm_head_name() : prefix_ + "embed_tokens.weight";
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      fail("{}: token id {} is outside the model's vocabulary of {}", set_.dir(), ids[i], config_.vocab_size);
  set_.check_unchanged();
  Matrix rows = set_.file_of(name).rows(name, ids);
  check_finite(rows, set_.dir(), name);
  set_.release();  // the pages read leave RSS: the table is never resident whole
  return rows;
}

}  // namespace qlab
