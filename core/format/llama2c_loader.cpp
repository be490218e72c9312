#include "format/llama2c_loader.h"

#include <cstdint>
#include <fstream>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

Matrix interleaved_to_half(const Matrix& w, int64_t n_heads, int64_t hd) {
  Matrix out(w.rows(), w.cols());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < hd / 2; ++j) {
      out.row(h * hd + j) = w.row(h * hd + 2 * j);
      out.row(h * hd + hd / 2 + j) = w.row(h * hd + 2 * j + 1);
    }
  return out;
}

Matrix half_to_interleaved(const Matrix& w, int64_t n_heads, int64_t hd) {
  Matrix out(w.rows(), w.cols());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < hd / 2; ++j) {
      out.row(h * hd + 2 * j) = w.row(h * hd + j);
      out.row(h * hd + 2 * j + 1) = w.row(h * hd + hd / 2 + j);
    }
  return out;
}

namespace {

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

class TensorReader {
 public:
  explicit TensorReader(const std::filesystem::path& path) : path_(path.string()), in_(path, std::ios::binary) {}
  std::ifstream& stream() { return in_; }
  void read(float* dst, int64_t n, const std::string& what) {
    in_.read(reinterpret_cast<char*>(dst), n * static_cast<int64_t>(sizeof(float)));
    if (!in_) fail("{}: truncated while reading '{}'", path_, what);
  }
  void skip(int64_t n_floats) { in_.seekg(n_floats * static_cast<int64_t>(sizeof(float)), std::ios::cur); }

 private:
  std::string path_;
  std::ifstream in_;
};

void check_header(const std::string& path, const Header& h) {
  auto bad = [&](const char* why) {
    fail("{}: impossible llama2.c header ({}): dim={} hidden_dim={} n_layers={} n_heads={} n_kv_heads={} vocab_size={} seq_len={}",
         path, why, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len);
  };
  if (h.dim <= 0 || h.dim > 65536) bad("dim must be in 1..65536");
  if (h.hidden_dim <= 0 || h.hidden_dim > 262144) bad("hidden_dim must be in 1..262144");
  if (h.n_layers <= 0 || h.n_layers > 1024) bad("n_layers must be in 1..1024");
  if (h.n_heads <= 0 || h.dim % h.n_heads != 0) bad("n_heads must divide dim");
  if ((h.dim / h.n_heads) % 2 != 0) bad("head size must be even for RoPE");
  if (h.n_kv_heads <= 0 || h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0)
    bad("n_kv_heads must divide n_heads");
  if (h.vocab_size == 0 || h.vocab_size > (1 << 22) || h.vocab_size < -(1 << 22)) bad("vocab_size out of range");
  if (h.seq_len <= 0 || h.seq_len > (1 << 20)) bad("seq_len must be in 1..1048576");
}

}  // namespace

Model load_llama2c(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  require_regular_file(path);
  const int64_t file_size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (file_size < static_cast<int64_t>(sizeof(Header)))
    fail("{}: truncated: {} bytes, a llama2.c header alone is {}", name, file_size, sizeof(Header));

  TensorReader reader(path);
  Header h{};
  reader.stream().read(reinterpret_cast<char*>(&h), sizeof(h));
  check_header(name, h);

  ModelConfig c;
  c.arch = "llama";
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.dim / h.n_heads;
  c.vocab_size = h.vocab_size < 0 ? -static_cast<int64_t>(h.vocab_size) : h.vocab_size;
  c.max_seq_len = h.seq_len;
  c.norm_eps = 1e-5f;  // llama2.c's fixed epsilon
  c.rope_theta = 10000.0f;
  const bool shared_classifier = h.vocab_size > 0;

  const int64_t d = c.dim, L = c.n_layers, kv = c.kv_dim(), f = c.hidden_dim, V = c.vocab_size;
  const int64_t freq_cis = c.max_seq_len * c.head_dim;  // legacy RoPE tables, real + imag
  const int64_t n_floats = V * d + L * d + L * d * d + 2 * L * d * kv + L * d * d + L * d + 3 * L * d * f + d +
                           freq_cis + (shared_classifier ? 0 : V * d);
  const int64_t expected = static_cast<int64_t>(sizeof(Header)) + n_floats * 4;
  if (file_size != expected)
    fail("{}: {} bytes, but a llama2.c checkpoint with dim={} hidden_dim={} n_layers={} n_heads={} n_kv_heads={} "
         "vocab_size={} seq_len={} has {} bytes{}",
         name, file_size, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len, expected,
         file_size < expected ? " (truncated?)" : " (trailing data?)");

  Model m;
  m.config = c;
  m.source = name;
  m.embed_tokens.resize(V, d);
  reader.read(m.embed_tokens.data(), V * d, "token_embedding_table");
  for (int i = 0; i < L; ++i) m.blocks.push_back(make_llama_block(c, i));

  // Each llama2.c tensor holds all layers back to back.
  auto read_layers = [&](const char* what, auto member) {
    for (Block& b : m.blocks) {
      auto& t = member(b);
      reader.read(t.data(), t.size(), fmt::format("{} (layer {})", what, b.index));
    }
  };
  read_layers("rms_att_weight", [](Block& b) -> Vector& { return b.attn_norm.weight; });
  read_layers("wq", [](Block& b) -> Matrix& { return b.q.weight; });
  read_layers("wk", [](Block& b) -> Matrix& { return b.k.weight; });
  read_layers("wv", [](Block& b) -> Matrix& { return b.v.weight; });
  read_layers("wo", [](Block& b) -> Matrix& { return b.o.weight; });
  read_layers("rms_ffn_weight", [](Block& b) -> Vector& { return b.mlp_norm.weight; });
  read_layers("w1", [](Block& b) -> Matrix& { return b.gate.weight; });
  read_layers("w2", [](Block& b) -> Matrix& { return b.down.weight; });
  read_layers("w3", [](Block& b) -> Matrix& { return b.up.weight; });
  m.final_norm = {"norm", Vector(d), {}};
  reader.read(m.final_norm.weight.data(), d, "rms_final_weight");
  reader.skip(freq_cis);
  m.lm_head = {"lm_head", Matrix(V, d), {}};
  if (shared_classifier)
    m.lm_head.weight = m.embed_tokens;
  else
    reader.read(m.lm_head.weight.data(), V * d, "wcls");

  for (Block& b : m.blocks) {
    b.q.weight = interleaved_to_half(b.q.weight, c.n_heads, c.head_dim);
    b.k.weight = interleaved_to_half(b.k.weight, c.n_kv_heads, c.head_dim);
  }
  check_finite(m);
  return m;
}

}  // namespace qlab
