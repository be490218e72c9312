#include "format/hf_loader.h"

#include <fstream>

#include "format/hf_config.h"
#include "format/hf_source.h"
#include "format/safetensors.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

Model load_hf_model(const std::filesystem::path& dir) { return HfSource(dir).load_model(); }

nlohmann::json llama_config_json(const ModelConfig& c, bool tied) {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", c.dim},
          {"intermediate_size", c.hidden_dim}, {"num_hidden_layers", c.n_layers}, {"num_attention_heads", c.n_heads},
          {"num_key_value_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_seq_len},
          {"rms_norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta}, {"tie_word_embeddings", tied},
          {"bos_token_id", c.bos_id}, {"eos_token_id", c.eos_id}, {"hidden_act", "silu"}};
}

void write_hf_llama(const Model& m, const std::filesystem::path& dir) {
  const ModelConfig& c = m.config;
  if (c.arch != "llama") fail("write_hf_llama: model {} is '{}', not LLaMA-family", m.source, c.arch);
  if (c.rope_scaling.kind != RopeScalingKind::none) fail("write_hf_llama: model {} has rope_scaling, which this writer does not write", m.source);
  std::filesystem::create_directories(dir);
  const bool tied = m.lm_head.weight.rows() == m.embed_tokens.rows() && m.lm_head.weight == m.embed_tokens;
  nlohmann::json config = llama_config_json(c, tied);
  config["torch_dtype"] = "float32";
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
    for (const Norm* n : b.norms()) vector("model.layers." + n->name + ".weight", n->weight);
  }
  vector("model.norm.weight", m.final_norm.weight);
  if (!tied) matrix("lm_head.weight", m.lm_head.weight);
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
}

}  // namespace qlab
