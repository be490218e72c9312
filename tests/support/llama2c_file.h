// Test support: seeded random llama2.c checkpoints written to disk, and the naive
// reference forward pass of llama2.c's run.c (token by token, interleaved RoPE, double
// precision) computed straight from the file's floats, independent of qlab's runtime.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace qlab::test {

struct Llama2cHeader {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

struct Llama2cFile {
  Llama2cHeader h;
  std::vector<float> floats;  // everything after the header, in export order

  // Offsets of each tensor, in floats, in llama2.c's export order.
  int64_t head_size() const { return h.dim / h.n_heads; }
  int64_t kv_dim() const { return h.n_kv_heads * head_size(); }
  int64_t vocab() const { return h.vocab_size < 0 ? -h.vocab_size : h.vocab_size; }
  int64_t off_emb() const { return 0; }
  int64_t off_rms_att() const { return off_emb() + vocab() * h.dim; }
  int64_t off_wq() const { return off_rms_att() + int64_t(h.n_layers) * h.dim; }
  int64_t off_wk() const { return off_wq() + int64_t(h.n_layers) * h.dim * h.dim; }
  int64_t off_wv() const { return off_wk() + int64_t(h.n_layers) * h.dim * kv_dim(); }
  int64_t off_wo() const { return off_wv() + int64_t(h.n_layers) * h.dim * kv_dim(); }
  int64_t off_rms_ffn() const { return off_wo() + int64_t(h.n_layers) * h.dim * h.dim; }
  int64_t off_w1() const { return off_rms_ffn() + int64_t(h.n_layers) * h.dim; }
  int64_t off_w2() const { return off_w1() + int64_t(h.n_layers) * h.dim * h.hidden_dim; }
  int64_t off_w3() const { return off_w2() + int64_t(h.n_layers) * h.dim * h.hidden_dim; }
  int64_t off_rms_final() const { return off_w3() + int64_t(h.n_layers) * h.dim * h.hidden_dim; }
  int64_t off_freq() const { return off_rms_final() + h.dim; }
  int64_t off_wcls() const { return off_freq() + int64_t(h.seq_len) * head_size(); }
  int64_t n_floats() const { return off_wcls() + (h.vocab_size < 0 ? vocab() * h.dim : 0); }

  void write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&h), sizeof(h));
    out.write(reinterpret_cast<const char*>(floats.data()), static_cast<std::streamsize>(floats.size() * 4));
  }
};

inline Llama2cFile random_llama2c(Llama2cHeader h, uint32_t seed) {
  Llama2cFile f{h, {}};
  f.floats.resize(static_cast<size_t>(f.n_floats()));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (float& x : f.floats) x = normal(rng);
  auto ones_ish = [&](int64_t off, int64_t n) {
    for (int64_t i = 0; i < n; ++i) f.floats[off + i] = 1.0f + 0.2f * normal(rng);
  };
  ones_ish(f.off_rms_att(), int64_t(h.n_layers) * h.dim);
  ones_ish(f.off_rms_ffn(), int64_t(h.n_layers) * h.dim);
  ones_ish(f.off_rms_final(), h.dim);
  return f;
}

// llama2.c run.c forward, in double, one token at a time; returns logits per position.
inline std::vector<std::vector<double>> naive_llama2c_logits(const Llama2cFile& f, const std::vector<int32_t>& tokens) {
  const auto& h = f.h;
  const int64_t d = h.dim, hs = f.head_size(), kvd = f.kv_dim(), ffn = h.hidden_dim, V = f.vocab();
  const float* w = f.floats.data();
  auto matvec = [&](int64_t off, const std::vector<double>& x, int64_t rows) {
    std::vector<double> y(static_cast<size_t>(rows), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < static_cast<int64_t>(x.size()); ++c) y[r] += double(w[off + r * int64_t(x.size()) + c]) * x[c];
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, int64_t off) {
    double ss = 0;
    for (double v : x) ss += v * v;
    ss = 1.0 / std::sqrt(ss / double(x.size()) + 1e-5);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = double(w[off + int64_t(i)]) * x[i] * ss;
    return y;
  };
  std::vector<std::vector<std::vector<double>>> kcache(h.n_layers), vcache(h.n_layers);
  std::vector<std::vector<double>> all_logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    std::vector<double> x(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) x[i] = w[f.off_emb() + tokens[pos] * d + i];
    for (int l = 0; l < h.n_layers; ++l) {
      auto xb = rmsnorm(x, f.off_rms_att() + l * d);
      auto q = matvec(f.off_wq() + int64_t(l) * d * d, xb, d);
      auto k = matvec(f.off_wk() + int64_t(l) * d * kvd, xb, kvd);
      auto v = matvec(f.off_wv() + int64_t(l) * d * kvd, xb, kvd);
      for (int64_t i = 0; i < d; i += 2) {  // interleaved RoPE, as run.c
        double freq = 1.0 / std::pow(10000.0, double(i % hs) / double(hs));
        double val = double(pos) * freq, fcr = std::cos(val), fci = std::sin(val);
        for (int which = 0; which < (i < kvd ? 2 : 1); ++which) {
          std::vector<double>& vec = which == 0 ? q : k;
          double v0 = vec[i], v1 = vec[i + 1];
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      kcache[l].push_back(k);
      vcache[l].push_back(v);
      std::vector<double> att_out(static_cast<size_t>(d), 0.0);
      for (int64_t hh = 0; hh < h.n_heads; ++hh) {
        const int64_t kvh = hh / (h.n_heads / h.n_kv_heads);
        std::vector<double> att(pos + 1);
        double mx = -1e300;
        for (size_t t = 0; t <= pos; ++t) {
          double s = 0;
          for (int64_t i = 0; i < hs; ++i) s += q[hh * hs + i] * kcache[l][t][kvh * hs + i];
          att[t] = s / std::sqrt(double(hs));
          mx = std::max(mx, att[t]);
        }
        double sum = 0;
        for (double& a : att) sum += (a = std::exp(a - mx));
        for (size_t t = 0; t <= pos; ++t)
          for (int64_t i = 0; i < hs; ++i) att_out[hh * hs + i] += att[t] / sum * vcache[l][t][kvh * hs + i];
      }
      auto o = matvec(f.off_wo() + int64_t(l) * d * d, att_out, d);
      for (int64_t i = 0; i < d; ++i) x[i] += o[i];
      xb = rmsnorm(x, f.off_rms_ffn() + l * d);
      auto h1 = matvec(f.off_w1() + int64_t(l) * d * ffn, xb, ffn);
      auto h3 = matvec(f.off_w3() + int64_t(l) * d * ffn, xb, ffn);
      for (int64_t i = 0; i < ffn; ++i) h1[i] = h1[i] / (1.0 + std::exp(-h1[i])) * h3[i];
      auto down = matvec(f.off_w2() + int64_t(l) * d * ffn, h1, d);
      for (int64_t i = 0; i < d; ++i) x[i] += down[i];
    }
    x = rmsnorm(x, f.off_rms_final());
    all_logits.push_back(matvec(h.vocab_size < 0 ? f.off_wcls() : f.off_emb(), x, V));
  }
  return all_logits;
}

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("qlab_test_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::filesystem::path source_dir() { return QLAB_SOURCE_DIR; }

}  // namespace qlab::test
