#include "format/gguf_source.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "format/llama2c_loader.h"
#include "model/arch.h"
#include "util/error.h"

namespace qlab {

namespace {

const char* kSlots[][2] = {{"self_attn.q_proj", "attn_q"},    {"self_attn.k_proj", "attn_k"}, {"self_attn.v_proj", "attn_v"},
                           {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
                           {"mlp.down_proj", "ffn_down"}};

}  // namespace

std::string gguf_tensor_name(const std::string& qlab_name) {
  const size_t dot = qlab_name.find('.');
  const std::string kind = qlab_name.substr(dot + 1);
  for (const auto& s : kSlots)
    if (kind == s[0]) return fmt::format("blk.{}.{}.weight", qlab_name.substr(0, dot), s[1]);
  if (kind == "input_layernorm") return fmt::format("blk.{}.attn_norm.weight", qlab_name.substr(0, dot));
  if (kind == "post_attention_layernorm") return fmt::format("blk.{}.ffn_norm.weight", qlab_name.substr(0, dot));
  fail("GGUF: no llama.cpp tensor for '{}'", qlab_name);
}

GgufSource::GgufSource(const std::filesystem::path& path) : file_(GgufFile::open(path)) {
  const GgufFile& f = *file_;
  if (f.str("general.architecture") != "llama")
    fail("{}: general.architecture '{}' is not supported (llama)", f.path(), f.str("general.architecture"));
  ModelConfig& c = config_;
  c.arch = "llama";
  c.dim = f.u32("llama.embedding_length");
  c.hidden_dim = f.u32("llama.feed_forward_length");
  c.n_layers = f.u32("llama.block_count");
  c.n_heads = f.u32("llama.attention.head_count");
  c.n_kv_heads = f.has("llama.attention.head_count_kv") ? f.u32("llama.attention.head_count_kv") : c.n_heads;
  c.max_seq_len = f.u32("llama.context_length");
  c.norm_eps = f.f32("llama.attention.layer_norm_rms_epsilon");
  c.rope_theta = f.has("llama.rope.freq_base") ? f.f32("llama.rope.freq_base") : 10000.0f;
  if (c.n_heads == 0 || c.n_kv_heads == 0 || c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0)
    fail("{}: {} heads, {} key/value heads and width {} do not fit together", f.path(), c.n_heads, c.n_kv_heads, c.dim);
  c.head_dim = c.dim / c.n_heads;
  if (f.has("llama.rope.dimension_count") && f.u32("llama.rope.dimension_count") != c.head_dim)
    fail("{}: llama.rope.dimension_count {} differs from the head width {}", f.path(), f.u32("llama.rope.dimension_count"), c.head_dim);
  if (!f.has_tensor("token_embd.weight")) fail("{}: tensor 'token_embd.weight' is missing", f.path());
  c.vocab_size = f.tensor("token_embd.weight").ne.size() == 2 ? f.tensor("token_embd.weight").ne[1] : 0;
  if (f.has("tokenizer.ggml.bos_token_id")) c.bos_id = static_cast<int32_t>(f.u32("tokenizer.ggml.bos_token_id"));
  if (f.has("tokenizer.ggml.eos_token_id")) c.eos_id = static_cast<int32_t>(f.u32("tokenizer.ggml.eos_token_id"));
  tied_ = !f.has_tensor("output.weight");
  // Every tensor's shape now, so a bad file fails before any work.
  tensor("token_embd.weight", c.vocab_size, c.dim);
  if (!tied_) tensor("output.weight", c.vocab_size, c.dim);
  tensor("output_norm.weight", 1, c.dim);
  for (const LinearShape& l : linears())
    if (l.name != "lm_head") tensor(gguf_tensor_name(l.name), l.out_features, l.in_features);
  for (int64_t i = 0; i < c.n_layers; ++i)
    for (const char* n : {"input_layernorm", "post_attention_layernorm"}) tensor(gguf_tensor_name(fmt::format("{}.{}", i, n)), 1, c.dim);
}

// The tensor's info checked as rows × cols (ggml's ne = [cols, rows]); returns nothing.
Matrix GgufSource::tensor(const std::string& name, int64_t rows, int64_t cols) const {
  const GgufTensorInfo& t = file_->tensor(name);
  const std::vector<int64_t> want = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
  if (t.ne != want) fail("{}: tensor '{}' has ne [{}], the metadata needs [{}]", file_->path(), name, fmt::join(t.ne, ", "), fmt::join(want, ", "));
  return {};
}

std::vector<LinearShape> GgufSource::linears() const {
  std::vector<LinearShape> out;
  const Arch& arch = arch_llama();
  for (int64_t i = 0; i < config_.n_layers; ++i)
    for (const TensorRow& r : arch.tensors)
      if (r.kind == TensorKind::linear)
        out.push_back({tensor_names(r, i, 0)[0], dim_size(config_, r.rows), dim_size(config_, r.cols), false});
  out.push_back({"lm_head", config_.vocab_size, config_.dim, false});
  return out;
}

Block GgufSource::load_block(int64_t i) const {
  if (i < 0 || i >= config_.n_layers) fail("{}: block {} requested, the model has {}", path(), i, config_.n_layers);
  Block b = named_block(arch_llama(), i);
  for (Linear* l : b.linears()) l->weight = file_->to_matrix(gguf_tensor_name(l->name));
  for (Norm* n : {&b.attn_norm, &b.mlp_norm}) n->weight = file_->to_matrix(gguf_tensor_name(n->name)).row(0);
  b.q.weight = interleaved_to_half(b.q.weight, config_.n_heads, config_.head_dim);
  b.k.weight = interleaved_to_half(b.k.weight, config_.n_kv_heads, config_.head_dim);
  check_finite(b, path());
  return b;
}

Model GgufSource::load_outer() const {
  Model m;
  m.config = config_;
  m.source = path();
  m.final_norm = {"norm", file_->to_matrix("output_norm.weight").row(0), {}};
  m.lm_head = {"lm_head", {}, {}};
  return m;
}

Matrix GgufSource::vocab_rows(VocabTable table, std::span<const int32_t> ids) const {
  for (int32_t id : ids)
    if (id < 0 || id >= config_.vocab_size) fail("{}: token id {} is outside the model's vocabulary of {}", path(), id, config_.vocab_size);
  const std::string name = table == VocabTable::head && !tied_ ? "output.weight" : "token_embd.weight";
  Matrix rows = file_->rows(name, ids);
  check_finite(rows, path(), name);
  return rows;
}

}  // namespace qlab
