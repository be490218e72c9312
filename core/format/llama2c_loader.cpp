#include "format/llama2c_loader.h"

#include <cstdint>
#include <fstream>

#include "model/arch.h"
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

namespace {

// The checkpoint as a source: the header read and the size checked at open; each block
// read by seeking to its slice of every per-layer tensor.
class Llama2cSource : public WeightSource {
 public:
  explicit Llama2cSource(const std::filesystem::path& path);
  const ModelConfig& config() const override { return config_; }
  const std::string& path() const override { return path_; }
  std::vector<LinearShape> linears() const override;
  Block load_block(int64_t i) const override;
  Model load_outer() const override;
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override;

 private:
  // Where each llama2.c tensor starts (bytes) and how many floats one layer of it holds.
  struct Tensor {
    const char* name;
    int64_t offset = 0, per_layer = 0;
  };
  const Tensor& tensor(const char* name) const;
  void read(std::ifstream& in, int64_t offset, float* dst, int64_t n, const std::string& what) const;
  std::string path_;
  ModelConfig config_;
  bool shared_classifier_ = true;
  std::vector<Tensor> tensors_;
  int64_t final_offset_ = 0, wcls_offset_ = 0;
};

Llama2cSource::Llama2cSource(const std::filesystem::path& path) : path_(path.string()) {
  const std::string& name = path_;
  std::error_code ec;
  require_regular_file(path);
  const int64_t file_size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (file_size < static_cast<int64_t>(sizeof(Header)))
    fail("{}: truncated: {} bytes, a llama2.c header alone is {}", name, file_size, sizeof(Header));

  std::ifstream in(path, std::ios::binary);
  Header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  check_header(name, h);

  ModelConfig& c = config_;
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
  shared_classifier_ = h.vocab_size > 0;

  const int64_t d = c.dim, L = c.n_layers, kv = c.kv_dim(), f = c.hidden_dim, V = c.vocab_size;
  const int64_t freq_cis = c.max_seq_len * c.head_dim;  // legacy RoPE tables, real + imag
  // llama2.c's export order; each tensor holds all layers back to back.
  int64_t at = static_cast<int64_t>(sizeof(Header)) + V * d * 4;
  for (auto [tname, per_layer] : std::initializer_list<std::pair<const char*, int64_t>>{
           {"rms_att_weight", d}, {"wq", d * d}, {"wk", d * kv}, {"wv", d * kv}, {"wo", d * d},
           {"rms_ffn_weight", d}, {"w1", f * d}, {"w2", d * f}, {"w3", f * d}}) {
    tensors_.push_back({tname, at, per_layer});
    at += L * per_layer * 4;
  }
  final_offset_ = at;
  wcls_offset_ = at + (d + freq_cis) * 4;
  const int64_t expected = wcls_offset_ + (shared_classifier_ ? 0 : V * d * 4);
  if (file_size != expected)
    fail("{}: {} bytes, but a llama2.c checkpoint with dim={} hidden_dim={} n_layers={} n_heads={} n_kv_heads={} "
         "vocab_size={} seq_len={} has {} bytes{}",
         name, file_size, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len, expected,
         file_size < expected ? " (truncated?)" : " (trailing data?)");
}

const Llama2cSource::Tensor& Llama2cSource::tensor(const char* name) const {
  for (const Tensor& t : tensors_)
    if (std::string(t.name) == name) return t;
  fail("{}: no llama2.c tensor '{}'", path_, name);
}

void Llama2cSource::read(std::ifstream& in, int64_t offset, float* dst, int64_t n, const std::string& what) const {
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(dst), n * static_cast<int64_t>(sizeof(float)));
  if (!in) fail("{}: truncated while reading '{}'", path_, what);
}

std::vector<LinearShape> Llama2cSource::linears() const {
  std::vector<LinearShape> out;
  for (int64_t i = 0; i < config_.n_layers; ++i)
    for (const TensorRow& r : arch_llama().tensors)
      if (r.kind == TensorKind::linear)
        out.push_back({tensor_names(r, i, 0)[0], dim_size(config_, r.rows), dim_size(config_, r.cols), false});
  out.push_back({"lm_head", config_.vocab_size, config_.dim, false});
  return out;
}

Block Llama2cSource::load_block(int64_t i) const {
  const ModelConfig& c = config_;
  if (i < 0 || i >= c.n_layers) fail("{}: block {} requested, the model has {}", path_, i, c.n_layers);
  Block b = named_block(arch_llama(), i);
  std::ifstream in(path_, std::ios::binary);
  auto load = [&](const char* name, float* dst, int64_t n) {
    const Tensor& t = tensor(name);
    read(in, t.offset + i * t.per_layer * 4, dst, n, fmt::format("{} (layer {})", name, i));
  };
  auto matrix = [&](const char* name, Linear& l, int64_t rows, int64_t cols) {
    l.weight.resize(rows, cols);
    load(name, l.weight.data(), rows * cols);
  };
  auto vector = [&](const char* name, Norm& n) {
    n.weight.resize(c.dim);
    load(name, n.weight.data(), c.dim);
  };
  vector("rms_att_weight", b.attn_norm);
  matrix("wq", b.q, c.dim, c.dim);
  matrix("wk", b.k, c.kv_dim(), c.dim);
  matrix("wv", b.v, c.kv_dim(), c.dim);
  matrix("wo", b.o, c.dim, c.dim);
  vector("rms_ffn_weight", b.mlp_norm);
  matrix("w1", b.gate, c.hidden_dim, c.dim);
  matrix("w2", b.down, c.dim, c.hidden_dim);
  matrix("w3", b.up, c.hidden_dim, c.dim);
  b.q.weight = interleaved_to_half(b.q.weight, c.n_heads, c.head_dim);
  b.k.weight = interleaved_to_half(b.k.weight, c.n_kv_heads, c.head_dim);
  check_finite(b, path_);
  return b;
}

Model Llama2cSource::load_outer() const {
  const int64_t d = config_.dim;
  std::ifstream in(path_, std::ios::binary);
  Model m;
  m.config = config_;
  m.source = path_;
  m.final_norm = {"norm", Vector(d), {}};
  read(in, final_offset_, m.final_norm.weight.data(), d, "rms_final_weight");
  m.lm_head = {"lm_head", {}, {}};
  check_finite(m);
  return m;
}

Matrix Llama2cSource::vocab_rows(VocabTable table, std::span<const int32_t> ids) const {
  const int64_t d = config_.dim;
  const bool head = table == VocabTable::head && !shared_classifier_;
  const int64_t offset = head ? wcls_offset_ : static_cast<int64_t>(sizeof(Header));
  const char* what = head ? "wcls" : "token_embedding_table";
  std::ifstream in(path_, std::ios::binary);
  Matrix rows(static_cast<int64_t>(ids.size()), d);
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      fail("{}: token id {} is outside the model's vocabulary of {}", path_, ids[i], config_.vocab_size);
  for (size_t i = 0, run = 1; i < ids.size(); i += run) {  // consecutive ids (head chunks) in one read
    for (run = 1; i + run < ids.size() && ids[i + run] == ids[i] + static_cast<int32_t>(run);) ++run;
    read(in, offset + int64_t{ids[i]} * d * 4, rows.row(static_cast<int64_t>(i)).data(), static_cast<int64_t>(run) * d, what);
  }
  check_finite(rows, path_, what);
  return rows;
}

}  // namespace

std::unique_ptr<WeightSource> open_llama2c(const std::filesystem::path& path) { return std::make_unique<Llama2cSource>(path); }

Model load_llama2c(const std::filesystem::path& path) { return Llama2cSource(path).load_model(); }

}  // namespace qlab
