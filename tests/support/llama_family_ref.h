// Test support: a random LLaMA-family model (LLaMA, Llama-3 rope scaling, Qwen3 q/k norms,
// explicit head_dim, GQA) as named tensors, its config.json, and a naive forward pass in
// double precision written from the Hugging Face modeling code's math, independent of
// core/forward.
#pragma once
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "support/hf_dir.h"

namespace qlab::test {

struct LlamaShape {
  std::string arch = "LlamaForCausalLM";  // or "Qwen3ForCausalLM"
  int64_t hidden = 32, ffn = 48, layers = 2, heads = 4, kv_heads = 2, head_dim = 8, vocab = 50, max_pos = 64;
  double theta = 10000.0, eps = 1e-6;
  bool qk_norm = false, tied = false;
  nlohmann::json rope_scaling;  // null: none
};

inline nlohmann::json llama_config(const LlamaShape& s) {
  nlohmann::json c = {{"architectures", {s.arch}}, {"hidden_size", s.hidden}, {"intermediate_size", s.ffn},
                      {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads},
                      {"head_dim", s.head_dim}, {"vocab_size", s.vocab}, {"max_position_embeddings", s.max_pos},
                      {"rms_norm_eps", s.eps}, {"rope_theta", s.theta}, {"tie_word_embeddings", s.tied}};
  if (!s.rope_scaling.is_null()) c["rope_scaling"] = s.rope_scaling;
  return c;
}

inline TensorMap random_llama(const LlamaShape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.3f);
  TensorMap t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float centre = 0.0f) {
    int64_t size = 1;
    for (int64_t d : shape) size *= d;
    std::vector<float> v(static_cast<size_t>(size));
    for (float& x : v) x = centre + n(rng) * (centre != 0.0f ? 0.3f : 1.0f);
    t[name] = {shape, v};
  };
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  add("model.embed_tokens.weight", {s.vocab, s.hidden});
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.hidden}, 1.0f);
    add(p + "self_attn.q_proj.weight", {q, s.hidden});
    add(p + "self_attn.k_proj.weight", {kv, s.hidden});
    add(p + "self_attn.v_proj.weight", {kv, s.hidden});
    if (s.qk_norm) {
      add(p + "self_attn.q_norm.weight", {s.head_dim}, 1.0f);
      add(p + "self_attn.k_norm.weight", {s.head_dim}, 1.0f);
    }
    add(p + "self_attn.o_proj.weight", {s.hidden, q});
    add(p + "post_attention_layernorm.weight", {s.hidden}, 1.0f);
    add(p + "mlp.gate_proj.weight", {s.ffn, s.hidden});
    add(p + "mlp.up_proj.weight", {s.ffn, s.hidden});
    add(p + "mlp.down_proj.weight", {s.hidden, s.ffn});
  }
  add("model.norm.weight", {s.hidden}, 1.0f);
  if (!s.tied) add("lm_head.weight", {s.vocab, s.hidden});
  return t;
}

// transformers' rope frequencies (default, linear, dynamic, llama3) for a sequence of T positions.
inline std::vector<double> naive_inv_freq(const LlamaShape& s, size_t T) {
  const double hd = double(s.head_dim);
  const nlohmann::json& rs = s.rope_scaling;
  const std::string type = rs.is_null() ? "default" : rs.value("rope_type", rs.value("type", std::string("default")));
  double base = s.theta;
  if (type == "dynamic") {
    const double orig = rs.value("original_max_position_embeddings", double(s.max_pos)), factor = rs["factor"];
    const double seq = std::max(double(T), orig);
    base *= std::pow(factor * seq / orig - (factor - 1.0), hd / (hd - 2.0));
  }
  std::vector<double> f;
  for (int64_t j = 0; j < s.head_dim / 2; ++j) f.push_back(1.0 / std::pow(base, 2.0 * double(j) / hd));
  if (type == "linear")
    for (double& x : f) x /= double(rs["factor"]);
  if (type == "llama3") {
    const double factor = rs["factor"], lo = rs["low_freq_factor"], hi = rs["high_freq_factor"];
    const double orig = rs["original_max_position_embeddings"];
    for (double& x : f) {
      const double wavelen = 2 * std::numbers::pi / x;
      if (wavelen > orig / lo) x = x / factor;
      else if (wavelen >= orig / hi) {
        const double smooth = (orig / wavelen - lo) / (hi - lo);
        x = (1 - smooth) * x / factor + smooth * x;
      }
    }
  }
  return f;
}

inline std::vector<std::vector<double>> naive_llama_logits(const LlamaShape& s, const TensorMap& t, const std::vector<int32_t>& tokens) {
  auto W = [&](const std::string& n) -> const std::vector<float>& { return t.at(n).data; };
  auto linear = [&](const std::string& n, const std::vector<double>& x, int64_t out) {
    const auto& w = W(n + ".weight");
    std::vector<double> y(static_cast<size_t>(out), 0.0);
    for (int64_t r = 0; r < out; ++r)
      for (size_t c = 0; c < x.size(); ++c) y[r] += double(w[r * x.size() + c]) * x[c];
    return y;
  };
  auto rms = [&](const std::string& n, const double* x, int64_t len, double* y) {
    double ms = 0;
    for (int64_t i = 0; i < len; ++i) ms += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ms / double(len) + s.eps);
    for (int64_t i = 0; i < len; ++i) y[i] = x[i] * inv * W(n + ".weight")[i];
  };
  auto norm = [&](const std::string& n, const std::vector<double>& x) {
    std::vector<double> y(x.size());
    rms(n, x.data(), int64_t(x.size()), y.data());
    return y;
  };
  const size_t T = tokens.size();
  const int64_t hd = s.head_dim, half = hd / 2, q_dim = s.heads * hd, kv_dim = s.kv_heads * hd;
  const std::vector<double> inv_freq = naive_inv_freq(s, T);
  auto rope = [&](std::vector<double>& x, int64_t n_heads, size_t pos) {
    for (int64_t h = 0; h < n_heads; ++h)
      for (int64_t j = 0; j < half; ++j) {
        const double angle = double(pos) * inv_freq[j], a = x[h * hd + j], b = x[h * hd + j + half];
        x[h * hd + j] = a * std::cos(angle) - b * std::sin(angle);
        x[h * hd + j + half] = b * std::cos(angle) + a * std::sin(angle);
      }
  };
  std::vector<std::vector<double>> x(T);
  for (size_t p = 0; p < T; ++p)
    for (int64_t i = 0; i < s.hidden; ++i) x[p].push_back(W("model.embed_tokens.weight")[tokens[p] * s.hidden + i]);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(T), k(T), v(T);
    for (size_t p = 0; p < T; ++p) {
      auto h = norm(pre + "input_layernorm", x[p]);
      q[p] = linear(pre + "self_attn.q_proj", h, q_dim);
      k[p] = linear(pre + "self_attn.k_proj", h, kv_dim);
      v[p] = linear(pre + "self_attn.v_proj", h, kv_dim);
      if (s.qk_norm) {  // Qwen3: RMSNorm over each head before RoPE
        for (int64_t hh = 0; hh < s.heads; ++hh) rms(pre + "self_attn.q_norm", &q[p][hh * hd], hd, &q[p][hh * hd]);
        for (int64_t hh = 0; hh < s.kv_heads; ++hh) rms(pre + "self_attn.k_norm", &k[p][hh * hd], hd, &k[p][hh * hd]);
      }
      rope(q[p], s.heads, p);
      rope(k[p], s.kv_heads, p);
    }
    for (size_t p = 0; p < T; ++p) {
      std::vector<double> a(static_cast<size_t>(q_dim), 0.0);
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t g = h / (s.heads / s.kv_heads);
        std::vector<double> sc(p + 1);
        double mx = -1e300, sum = 0;
        for (size_t j = 0; j <= p; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < hd; ++i) dot += q[p][h * hd + i] * k[j][g * hd + i];
          sc[j] = dot / std::sqrt(double(hd));
          mx = std::max(mx, sc[j]);
        }
        for (double& z : sc) sum += (z = std::exp(z - mx));
        for (size_t j = 0; j <= p; ++j)
          for (int64_t i = 0; i < hd; ++i) a[h * hd + i] += sc[j] / sum * v[j][g * hd + i];
      }
      auto o = linear(pre + "self_attn.o_proj", a, s.hidden);
      for (int64_t i = 0; i < s.hidden; ++i) x[p][i] += o[i];
    }
    for (size_t p = 0; p < T; ++p) {
      auto h = norm(pre + "post_attention_layernorm", x[p]);
      auto gate = linear(pre + "mlp.gate_proj", h, s.ffn), up = linear(pre + "mlp.up_proj", h, s.ffn);
      for (int64_t i = 0; i < s.ffn; ++i) up[i] *= gate[i] / (1.0 + std::exp(-gate[i]));
      auto o = linear(pre + "mlp.down_proj", up, s.hidden);
      for (int64_t i = 0; i < s.hidden; ++i) x[p][i] += o[i];
    }
  }
  std::vector<std::vector<double>> logits;
  const std::string head = s.tied ? "model.embed_tokens" : "lm_head";
  for (size_t p = 0; p < T; ++p) logits.push_back(linear(head, norm("model.norm", x[p]), s.vocab));
  return logits;
}

}  // namespace qlab::test
