#include "format/hf_loader.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "format/hf_config.h"
#include "format/safetensors.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

// Tensor access with the shape the config implies; errors name the file and the tensor.
class Weights {
 public:
  Weights(const SafetensorsSet& set, std::string prefix) : set_(set), prefix_(std::move(prefix)) {}
  bool has(const std::string& name) const { return set_.has(prefix_ + name); }
  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const std::string full = prefix_ + name;
    const SafetensorsFile& f = set_.file_of(full);
    const TensorInfo& t = f.info(full);
    if (t.shape != std::vector<int64_t>{rows, cols})
      fail("{}: tensor '{}' has shape {}, the config needs [{}, {}]", f.path(), full, shape_text(t.shape), rows, cols);
    return f.to_matrix(full);
  }
  Vector vector(const std::string& name, int64_t n) const {
    const std::string full = prefix_ + name;
    const SafetensorsFile& f = set_.file_of(full);
    const TensorInfo& t = f.info(full);
    if (t.shape != std::vector<int64_t>{n})
      fail("{}: tensor '{}' has shape {}, the config needs [{}]", f.path(), full, shape_text(t.shape), n);
    return f.to_vector(full);
  }
  // Fills a linear's weight (and bias when the file has one), keeping its shape.
  void linear(Linear& l, const std::string& name, bool bias_required) const {
    l.weight = matrix(name + ".weight", l.weight.rows(), l.weight.cols());
    if (bias_required || has(name + ".bias")) l.bias = vector(name + ".bias", l.weight.rows());
  }
  void norm(Norm& n, const std::string& name, bool with_bias) const {
    n.weight = vector(name + ".weight", n.weight.size());
    if (with_bias) n.bias = vector(name + ".bias", n.weight.size());
  }

 private:
  static std::string shape_text(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
  const SafetensorsSet& set_;
  std::string prefix_;
};

void refuse_rope_scaling(const HfConfig& cfg) {
  if (!cfg.has("rope_scaling")) return;
  const auto& rs = cfg.json()["rope_scaling"];
  std::string type = rs.is_object() ? rs.value("rope_type", rs.value("type", std::string("?"))) : "?";
  fail("{}: rope_scaling of type '{}' is not implemented (LLaMA-3.1-style scaled RoPE); evaluate without it or "
       "extend model/block_forward.cpp", cfg.path(), type);
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

Model load_llama_family(const HfConfig& cfg, const SafetensorsSet& set) {
  ModelConfig c;
  c.arch = "llama";
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
  refuse_rope_scaling(cfg);
  check_layer_count(cfg, set, "model.layers.", c.n_layers);

  Weights w(set, "model.");
  Model m;
  m.config = c;
  m.source = set.dir();
  m.embed_tokens = w.matrix("embed_tokens.weight", c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    Block b = make_llama_block(c, i);
    const std::string p = fmt::format("layers.{}.", i);
    for (Linear* l : b.linears()) w.linear(*l, p + l->name.substr(l->name.find('.') + 1), false);
    w.norm(b.attn_norm, p + "input_layernorm", false);
    w.norm(b.mlp_norm, p + "post_attention_layernorm", false);
    m.blocks.push_back(std::move(b));
  }
  m.final_norm = {"norm", Vector::Ones(c.dim), {}};
  w.norm(m.final_norm, "norm", false);
  m.lm_head = {"lm_head", {}, {}};
  if (set.has("lm_head.weight"))
    m.lm_head.weight = Weights(set, "").matrix("lm_head.weight", c.vocab_size, c.dim);
  else if (cfg.bool_or("tie_word_embeddings", false))
    m.lm_head.weight = m.embed_tokens;
  else
    fail("{}: no 'lm_head.weight' and tie_word_embeddings is false", set.dir());
  return m;
}

Model load_opt(const HfConfig& cfg, const SafetensorsSet& set) {
  ModelConfig c;
  c.arch = "opt";
  c.dim = cfg.int_required("hidden_size");
  c.hidden_dim = cfg.int_required("ffn_dim");
  c.n_layers = cfg.int_required("num_hidden_layers");
  c.n_heads = c.n_kv_heads = cfg.int_required("num_attention_heads");
  if (c.dim % c.n_heads != 0) fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", cfg.path(), c.dim, c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  c.vocab_size = cfg.int_required("vocab_size");
  c.max_seq_len = cfg.int_required("max_position_embeddings");
  c.norm = NormKind::layer;
  c.mlp = MlpKind::relu;
  c.position = PositionKind::learned;
  c.position_offset = 2;  // OPTLearnedPositionalEmbedding's offset
  c.norm_eps = 1e-5f;
  c.pre_norm = cfg.bool_or("do_layer_norm_before", true);
  c.bos_id = static_cast<int32_t>(cfg.int_or("bos_token_id", 2));
  c.eos_id = static_cast<int32_t>(cfg.int_or("eos_token_id", 2));
  if (cfg.string_or("activation_function", "relu") != "relu")
    fail("{}: activation_function '{}' is not supported for OPT (only relu)", cfg.path(), cfg.string_or("activation_function", ""));
  if (!cfg.bool_or("enable_bias", true)) fail("{}: enable_bias = false is not supported", cfg.path());
  const int64_t proj = cfg.int_or("word_embed_proj_dim", c.dim);

  // Checkpoints store the decoder as "model.decoder." (transformers) or "decoder." (fairseq ports).
  const std::string prefix = set.has("model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder.";
  check_layer_count(cfg, set, prefix + "layers.", c.n_layers);
  Weights w(set, prefix);
  Model m;
  m.config = c;
  m.source = set.dir();
  m.embed_tokens = w.matrix("embed_tokens.weight", c.vocab_size, proj);
  m.embed_positions = w.matrix("embed_positions.weight", c.max_seq_len + c.position_offset, c.dim);
  if (proj != c.dim) {
    m.project_in = {"project_in", w.matrix("project_in.weight", c.dim, proj), {}};
    m.project_out = {"project_out", w.matrix("project_out.weight", proj, c.dim), {}};
  }
  for (int i = 0; i < c.n_layers; ++i) {
    Block b = make_opt_block(c, i);
    const std::string p = fmt::format("layers.{}.", i);
    for (Linear* l : b.linears()) w.linear(*l, p + l->name.substr(l->name.find('.') + 1), true);
    w.norm(b.attn_norm, p + "self_attn_layer_norm", true);
    w.norm(b.mlp_norm, p + "final_layer_norm", true);
    m.blocks.push_back(std::move(b));
  }
  m.final_norm = {"final_layer_norm", {}, {}};
  if (c.pre_norm && !cfg.bool_or("_remove_final_layer_norm", false)) {
    m.final_norm = {"final_layer_norm", Vector::Ones(c.dim), Vector::Zero(c.dim)};
    w.norm(m.final_norm, "final_layer_norm", true);
  }
  m.lm_head = {"lm_head", set.has("lm_head.weight") ? Weights(set, "").matrix("lm_head.weight", c.vocab_size, proj)
                                                     : m.embed_tokens, {}};  // OPT ties lm_head to the embedding
  return m;
}

struct ArchRow {
  std::vector<std::string> names;  // architectures[0] or model_type values
  std::function<Model(const HfConfig&, const SafetensorsSet&)> load;
};

const std::vector<ArchRow>& arch_table() {
  static const std::vector<ArchRow> rows = {
      {{"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "llama", "mistral", "qwen2"}, load_llama_family},
      {{"OPTForCausalLM", "opt"}, load_opt},
  };
  return rows;
}

}  // namespace

Model load_hf_model(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  if (path_kind(config_path) == PathKind::missing) fail("{}: no config.json in this model directory", dir.string());
  HfConfig cfg = HfConfig::load(config_path.string());
  const std::string arch = cfg.architecture();
  for (const ArchRow& row : arch_table())
    if (std::find(row.names.begin(), row.names.end(), arch) != row.names.end()) {
      SafetensorsSet set = SafetensorsSet::open_dir(dir);
      Model m = row.load(cfg, set);
      check_finite(m);
      return m;
    }
  fail("{}: unknown architecture '{}'; known: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, OPTForCausalLM",
       config_path.string(), arch.empty() ? "(none: no architectures or model_type)" : arch);
}

void write_hf_llama(const Model& m, const std::filesystem::path& dir) {
  const ModelConfig& c = m.config;
  if (c.arch != "llama") fail("write_hf_llama: model {} is '{}', not LLaMA-family", m.source, c.arch);
  std::filesystem::create_directories(dir);
  const bool tied = m.lm_head.weight.rows() == m.embed_tokens.rows() && m.lm_head.weight == m.embed_tokens;
  nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim}, {"num_hidden_layers", c.n_layers}, {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta}, {"tie_word_embeddings", tied},
      {"bos_token_id", c.bos_id}, {"eos_token_id", c.eos_id}, {"hidden_act", "silu"}, {"torch_dtype", "float32"}};
  std::vector<TensorToWrite> tensors;
  auto matrix = [&](const std::string& name, const Matrix& w) {
    tensors.push_back(f32_tensor(name, {w.rows(), w.cols()}, w.data()));
  };
  auto vector = [&](const std::string& name, const Vector& v) { tensors.push_back(f32_tensor(name, {v.size()}, v.data())); };
  matrix("model.embed_tokens.weight", m.embed_tokens);
  for (const Block& b : m.blocks) {
    const std::string p = fmt::format("model.layers.{}.", b.index);
    for (const Linear* l : b.linears()) {
      const std::string local = l->name.substr(l->name.find('.') + 1);
      matrix(p + local + ".weight", l->weight);
      if (l->bias.size() > 0) vector(p + local + ".bias", l->bias);
    }
    vector(p + "input_layernorm.weight", b.attn_norm.weight);
    vector(p + "post_attention_layernorm.weight", b.mlp_norm.weight);
  }
  vector("model.norm.weight", m.final_norm.weight);
  if (!tied) matrix("lm_head.weight", m.lm_head.weight);
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
}

}  // namespace qlab
