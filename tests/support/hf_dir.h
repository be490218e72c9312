// Test support: Hugging Face model directories built from named float tensors, and a naive
// OPT forward pass (double precision, loops) over the same tensors.
#pragma once
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "format/safetensors.h"

namespace qlab::test {

struct NamedTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
using TensorMap = std::map<std::string, NamedTensor>;

inline void write_hf_dir(const std::filesystem::path& dir, const nlohmann::json& config, const TensorMap& tensors) {
  std::filesystem::create_directories(dir);
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) out.push_back(f32_tensor(name, t.shape, t.data.data()));
  write_safetensors(dir / "model.safetensors", out);
  std::ofstream(dir / "config.json") << config.dump(2);
}

struct OptShape {
  int64_t hidden, ffn, layers, heads, vocab, max_pos, proj;
  bool pre_norm;
};

inline nlohmann::json opt_config(const OptShape& s) {
  return {{"architectures", {"OPTForCausalLM"}}, {"model_type", "opt"},       {"hidden_size", s.hidden},
          {"ffn_dim", s.ffn},                    {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
          {"vocab_size", s.vocab},               {"max_position_embeddings", s.max_pos},
          {"word_embed_proj_dim", s.proj},       {"do_layer_norm_before", s.pre_norm},
          {"activation_function", "relu"},       {"bos_token_id", 2}, {"eos_token_id", 2}};
}

inline TensorMap random_opt(const OptShape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  TensorMap t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    NamedTensor nt{shape, std::vector<float>(static_cast<size_t>(n))};
    for (float& x : nt.data) x = mean + normal(rng);
    t["model.decoder." + name] = nt;
  };
  add("embed_tokens.weight", {s.vocab, s.proj});
  add("embed_positions.weight", {s.max_pos + 2, s.hidden});
  if (s.proj != s.hidden) {
    add("project_in.weight", {s.hidden, s.proj});
    add("project_out.weight", {s.proj, s.hidden});
  }
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + n + ".weight", {s.hidden, s.hidden});
      add(p + "self_attn." + n + ".bias", {s.hidden});
    }
    add(p + "fc1.weight", {s.ffn, s.hidden});
    add(p + "fc1.bias", {s.ffn});
    add(p + "fc2.weight", {s.hidden, s.ffn});
    add(p + "fc2.bias", {s.hidden});
    for (const char* n : {"self_attn_layer_norm", "final_layer_norm"}) {
      add(p + n + ".weight", {s.hidden}, 1.0f);
      add(p + n + ".bias", {s.hidden});
    }
  }
  if (s.pre_norm) {
    add("final_layer_norm.weight", {s.hidden}, 1.0f);
    add("final_layer_norm.bias", {s.hidden});
  }
  return t;
}

// HF OPTForCausalLM forward, written out with loops in double precision.
inline std::vector<std::vector<double>> naive_opt_logits(const OptShape& s, const TensorMap& t,
                                                         const std::vector<int32_t>& tokens) {
  auto W = [&](const std::string& n) -> const std::vector<float>& { return t.at("model.decoder." + n).data; };
  auto linear = [&](const std::string& n, const std::vector<double>& x, int64_t out, bool bias) {
    const auto& w = W(n + ".weight");
    std::vector<double> y(static_cast<size_t>(out), 0.0);
    for (int64_t r = 0; r < out; ++r) {
      for (size_t c = 0; c < x.size(); ++c) y[r] += double(w[r * x.size() + c]) * x[c];
      if (bias) y[r] += W(n + ".bias")[r];
    }
    return y;
  };
  auto layer_norm = [&](const std::string& n, const std::vector<double>& x) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size());
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * W(n + ".weight")[i] + W(n + ".bias")[i];
    return y;
  };
  const size_t T = tokens.size();
  const int64_t hd = s.hidden / s.heads;
  std::vector<std::vector<double>> x(T);
  for (size_t p = 0; p < T; ++p) {
    std::vector<double> e(static_cast<size_t>(s.proj));
    for (int64_t i = 0; i < s.proj; ++i) e[i] = W("embed_tokens.weight")[tokens[p] * s.proj + i];
    if (s.proj != s.hidden) e = linear("project_in", e, s.hidden, false);
    for (int64_t i = 0; i < s.hidden; ++i) e[i] += W("embed_positions.weight")[(p + 2) * s.hidden + i];
    x[p] = e;
  }
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string pre = "layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(T), k(T), v(T);
    for (size_t p = 0; p < T; ++p) {
      auto h = s.pre_norm ? layer_norm(pre + "self_attn_layer_norm", x[p]) : x[p];
      q[p] = linear(pre + "self_attn.q_proj", h, s.hidden, true);
      k[p] = linear(pre + "self_attn.k_proj", h, s.hidden, true);
      v[p] = linear(pre + "self_attn.v_proj", h, s.hidden, true);
    }
    for (size_t p = 0; p < T; ++p) {
      std::vector<double> a(static_cast<size_t>(s.hidden), 0.0);
      for (int64_t h = 0; h < s.heads; ++h) {
        std::vector<double> sc(p + 1);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j <= p; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < hd; ++i) dot += q[p][h * hd + i] * k[j][h * hd + i];
          sc[j] = dot / std::sqrt(double(hd));
          mx = std::max(mx, sc[j]);
        }
        for (double& z : sc) sum += (z = std::exp(z - mx));
        for (size_t j = 0; j <= p; ++j)
          for (int64_t i = 0; i < hd; ++i) a[h * hd + i] += sc[j] / sum * v[j][h * hd + i];
      }
      auto o = linear(pre + "self_attn.out_proj", a, s.hidden, true);
      for (int64_t i = 0; i < s.hidden; ++i) o[i] += x[p][i];
      x[p] = s.pre_norm ? o : layer_norm(pre + "self_attn_layer_norm", o);
    }
    for (size_t p = 0; p < T; ++p) {
      auto h = s.pre_norm ? layer_norm(pre + "final_layer_norm", x[p]) : x[p];
      auto f = linear(pre + "fc1", h, s.ffn, true);
      for (double& z : f) z = std::max(z, 0.0);
      auto o = linear(pre + "fc2", f, s.hidden, true);
      for (int64_t i = 0; i < s.hidden; ++i) o[i] += x[p][i];
      x[p] = s.pre_norm ? o : layer_norm(pre + "final_layer_norm", o);
    }
  }
  std::vector<std::vector<double>> logits;
  for (size_t p = 0; p < T; ++p) {
    auto h = s.pre_norm ? layer_norm("final_layer_norm", x[p]) : x[p];
    if (s.proj != s.hidden) h = linear("project_out", h, s.proj, false);
    std::vector<double> z(static_cast<size_t>(s.vocab), 0.0);
    for (int64_t r = 0; r < s.vocab; ++r)
      for (int64_t i = 0; i < s.proj; ++i) z[r] += double(W("embed_tokens.weight")[r * s.proj + i]) * h[i];
    logits.push_back(z);
  }
  return logits;
}

}  // namespace qlab::test
