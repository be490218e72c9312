#include "export/gguf_export.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "export/hf_export.h"
#include "format/gguf_file.h"
#include "format/gguf_source.h"
#include "tensor/half.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace qlab {

namespace fs = std::filesystem;

namespace {

struct Vocabulary {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;  // llama.h: 1 normal, 2 unknown, 3 control, 6 byte
};

Vocabulary vocabulary(const std::string& path, int64_t vocab_size) {
  Vocabulary v;
  if (fs::path(path).extension() == ".model") {
    sentencepiece::SentencePieceProcessor sp;
    if (!sp.Load(path).ok()) fail("{}: cannot read the SentencePiece model", path);
    for (int i = 0; i < sp.GetPieceSize(); ++i) {
      v.pieces.push_back(sp.IdToPiece(i));
      v.scores.push_back(sp.GetScore(i));
      v.types.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsByte(i) ? 6 : sp.IsUnused(i) ? 5 : 1);
    }
  } else if (fs::path(path).extension() == ".bin") {
    const Llama2cTokenizer tok = Llama2cTokenizer::load(path);
    for (int32_t i = 0; i < tok.vocab_size(); ++i) {
      std::string piece = tok.piece(i);
      const bool control = i == tok.bos_id() || i == tok.eos_id();
      if (control) piece.erase(std::remove(piece.begin(), piece.end(), '\n'), piece.end());  // llama2.c writes "\n<s>\n"
      for (size_t at = piece.find(' '); at != std::string::npos; at = piece.find(' ', at + 3)) piece.replace(at, 1, "\xE2\x96\x81");
      v.pieces.push_back(piece);
      v.scores.push_back(tok.score(i));
      v.types.push_back(i == 0 ? 2 : control ? 3 : byte_piece_value(tok.piece(i)) >= 0 ? 6 : 1);
    }
  } else {
    fail("{}: GGUF export needs a SentencePiece model (.model) or a llama2.c tokenizer (.bin) for the vocabulary", path);
  }
  if (static_cast<int64_t>(v.pieces.size()) != vocab_size)
    fail("{}: {} tokens, but the model's vocabulary has {}", path, v.pieces.size(), vocab_size);
  std::set<std::string> seen;
  for (size_t i = 0; i < v.pieces.size(); ++i)
    if (!seen.insert(v.pieces[i]).second) fail("{}: token {} '{}' appears twice; llama.cpp needs unique pieces", path, i, v.pieces[i]);
  return v;
}

// llama.cpp rotates adjacent pairs: GGUF row h·hd + 2j + r holds Hugging Face row h·hd + r·hd/2 + j.
int64_t hf_row_of(int64_t gguf_row, int64_t hd) {
  const int64_t h = gguf_row / hd, j = (gguf_row % hd) / 2, r = gguf_row % 2;
  return h * hd + r * hd / 2 + j;
}

// Why q's grid has no exact ggml type ("" when it has one), and which type.
std::string exact_type(const QuantizedLinear& q, int64_t cols, GgmlType& type) {
  if (!q.codebook.empty()) return fmt::format("a {}-bit codebook (NF4, cluster)", q.bits);
  if (!q.sparse.empty()) return "a sparse part beside the codes";
  const int64_t width = q.group_size > 0 ? q.group_size : cols;
  for (int64_t c = 0; c < cols; ++c)
    if (q.g_idx[static_cast<size_t>(c)] != c / width) return "act-order groups (g_idx), which GGUF blocks of contiguous columns cannot hold";
  if (width % 32 != 0) return fmt::format("groups of {} columns (GGUF blocks hold 32)", width);
  const float mid = static_cast<float>(1 << (q.bits - 1));
  const bool sym = (q.zeros.array() == mid).all();
  if (q.bits == 4) type = sym ? GgmlType::Q4_0 : GgmlType::Q4_1;
  else if (q.bits == 8 && sym) type = GgmlType::Q8_0;
  else return fmt::format("{}-bit {} codes", q.bits, sym ? "symmetric" : "asymmetric");
  return "";
}

// Row `o` of q in `type`, from the run's own codes: d = fp16(s), m = fp16(−s·z).
void encode_row(const QuantizedLinear& q, int64_t o, int64_t cols, GgmlType type, uint8_t* out) {
  const int64_t width = q.group_size > 0 ? q.group_size : cols;
  const uint8_t* codes = q.codes.data() + o * cols;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const int64_t g = b * 32 / width;
    const uint16_t d = f32_to_f16(q.scales(o, g));
    const uint8_t* c = codes + b * 32;
    if (type == GgmlType::Q4_0) {
      out += pack_q4_0_block(d, c, out);
    } else if (type == GgmlType::Q4_1) {
      out += pack_q4_1_block(d, f32_to_f16(-q.scales(o, g) * q.zeros(o, g)), c, out);
    } else {
      int8_t s[32];
      for (int k = 0; k < 32; ++k) s[k] = static_cast<int8_t>(static_cast<int>(c[k]) - 128);
      out += pack_q8_0_block(d, s, out);
    }
  }
}

void encode_float_row(const float* x, int64_t n, GgmlType type, uint8_t* out) {
  if (type == GgmlType::F32) {
    std::memcpy(out, x, static_cast<size_t>(n) * 4);
  } else if (type == GgmlType::F16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = f32_to_f16(x[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
  } else if (type == GgmlType::Q4_0) {
    quantize_row_q4_0(x, out, n);
  } else if (type == GgmlType::Q4_1) {
    quantize_row_q4_1(x, out, n);
  } else {
    quantize_row_q8_0(x, out, n);
  }
}

GgmlType requantize_type(const std::string& name) {
  if (name == "q4_0") return GgmlType::Q4_0;
  if (name == "q4_1") return GgmlType::Q4_1;
  return GgmlType::Q8_0;
}

// One 2-D tensor: how it is stored and its bytes, rows in GGUF order.
struct Encoded {
  GgmlType type;
  std::vector<uint8_t> bytes;
  ExportReport::Codes codes;
  std::string note;  // why it is not stored as the run's grid
};

Encoded encode_linear(const Linear& l, const QuantizedLinear* q, const GgufExportOptions& o, int64_t permute_hd,
                      const std::string& where) {
  const int64_t rows = l.weight.rows(), cols = l.weight.cols();
  Encoded e{o.float_type, {}, ExportReport::Codes::none, ""};
  GgmlType exact = GgmlType::F32;
  std::string why;
  if (q && !o.all_float) {
    why = exact_type(*q, cols, exact);
    if (cols % 32 != 0) why = fmt::format("its rows hold {} values, not a multiple of 32", cols);
  }
  const bool keep_codes = q && !o.all_float && why.empty();
  if (keep_codes) {
    e.type = exact;
    e.codes = ExportReport::Codes::kept;
  } else if (q && !o.all_float && cols % 32 == 0) {
    if (o.requantize.empty())
      fail("{}: linear {} cannot be written as GGUF exactly: {}; re-encode it with --allow-requantize q4_0|q4_1|q8_0 "
           "(the log records the new error) or export --tensor-type f32",
           where, l.name, why);
    e.type = requantize_type(o.requantize);
    e.codes = ExportReport::Codes::re_encoded;
  } else if (q && !o.all_float) {
    e.note = why;  // a float fallback, printed in the table
  }
  const uint64_t row_bytes = ggml_row_bytes(e.type, cols);
  e.bytes.resize(row_bytes * static_cast<uint64_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = permute_hd > 0 ? hf_row_of(r, permute_hd) : r;
    uint8_t* out = e.bytes.data() + row_bytes * static_cast<uint64_t>(r);
    if (keep_codes) encode_row(*q, src, cols, e.type, out);
    else encode_float_row(l.weight.row(src).data(), cols, e.type, out);
  }
  return e;
}

double max_change(const Encoded& e, const Linear& l, int64_t permute_hd) {
  const int64_t rows = l.weight.rows(), cols = l.weight.cols();
  const uint64_t row_bytes = ggml_row_bytes(e.type, cols);
  std::vector<float> back(static_cast<size_t>(cols));
  double m = 0;
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(e.type, e.bytes.data() + row_bytes * static_cast<uint64_t>(r), back.data(), cols);
    const int64_t src = permute_hd > 0 ? hf_row_of(r, permute_hd) : r;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::fabs(static_cast<double>(back[static_cast<size_t>(c)]) - l.weight(src, c)));
  }
  return m;
}

}  // namespace

ExportReport export_gguf(const QuantizedRun& run, const fs::path& out, const GgufExportOptions& o) {
  const WeightSource& source = *run.source;
  const ModelConfig& c = source.config();
  const std::string where = fmt::format("{}: run {}", run.log_path, run.run_id);
  if (c.arch != "llama") fail("{}: llama.cpp has no '{}' architecture; export {} models as gptq or awq", where, c.arch, c.arch);
  if (c.rope_scaling.kind != RopeScalingKind::none) fail("{}: rope_scaling is not written to GGUF yet", where);
  if (run.tokenizer_path.empty()) fail("{}: the run records no tokenizer; GGUF needs the vocabulary", where);
  if (fs::is_directory(out)) fail("{}: is a directory; GGUF export writes a file", out.string());
  if (fs::exists(out)) {
    bool ours = false;
    try {
      ours = GgufFile::open(out)->has("qlab.run");
    } catch (const Error&) {
    }
    if (!ours) fail("{}: exists and is not an earlier qlab export; refusing to replace it (choose another --out)", out.string());
    if (!o.overwrite) fail("{}: exists (an earlier qlab export); replace it with --overwrite", out.string());
  }
  const Vocabulary vocab = vocabulary(run.tokenizer_path, c.vocab_size);
  const bool tied = run.tied_head();

  GgufWriter w(out, o.overwrite);
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", fmt::format("{} {}", run.experiment, run.run_id));
  w.add_u32("general.quantization_version", 2);
  w.add_u32("llama.context_length", static_cast<uint32_t>(c.max_seq_len));
  w.add_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  w.add_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  w.add_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  w.add_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.add_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.add_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.add_f32("llama.rope.freq_base", c.rope_theta);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_strings("tokenizer.ggml.tokens", vocab.pieces);
  w.add_f32s("tokenizer.ggml.scores", vocab.scores);
  w.add_i32s("tokenizer.ggml.token_type", vocab.types);
  w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_id));
  w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_id));
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_bool("tokenizer.ggml.add_space_prefix", true);
  w.add_string("qlab.experiment", run.experiment);
  w.add_string("qlab.run", run.run_id);
  w.add_string("qlab.version", run.qlab_version);
  w.add_string("qlab.method", run.method);
  w.add_string("qlab.source", run.model_path);
  w.add_string("qlab.source_sha256", run.source_sha256());

  // Types are known only once a block is encoded, and every tensor is declared before the
  // first is written: encode each block twice, once to declare, once to write.
  ExportReport report;
  auto block_tensors = [&](int64_t b, bool declare) {
    const Block block = run.block(b);
    const std::vector<QuantizedLinear> packed = run.quantized(b, block);
    for (const Norm* n : block.norms()) {
      const std::string name = gguf_tensor_name(n->name);
      if (declare) w.declare_tensor(name, GgmlType::F32, {n->weight.size()});
      else w.write_tensor(name, {reinterpret_cast<const uint8_t*>(n->weight.data()), static_cast<size_t>(n->weight.size()) * 4});
    }
    for (const Linear* l : block.linears()) {
      const std::string kind = l->name.substr(l->name.find('.') + 1);
      const std::string name = gguf_tensor_name(l->name);
      const auto q = std::find_if(packed.begin(), packed.end(), [&](const QuantizedLinear& p) { return p.name == l->name; });
      const int64_t hd = kind == "self_attn.q_proj" || kind == "self_attn.k_proj" ? c.head_dim : 0;
      const Encoded e = encode_linear(*l, q == packed.end() ? nullptr : &*q, o, hd, where);
      if (declare) {
        w.declare_tensor(name, e.type, {l->weight.cols(), l->weight.rows()});
        report.add(l->name, e.note.empty() ? ggml_type_name(e.type) : fmt::format("{} ({})", ggml_type_name(e.type), e.note),
                   max_change(e, *l, hd), e.codes);
      } else {
        w.write_tensor(name, e.bytes);
      }
    }
  };
  auto outer = [&](bool declare) {
    const int64_t V = c.vocab_size;
    for (const auto& [table, name] : {std::pair{VocabTable::embedding, "token_embd.weight"}, std::pair{VocabTable::head, "output.weight"}}) {
      if (table == VocabTable::head && tied) continue;
      const Matrix first = source.vocab_rows(table, id_range(0, 1));
      if (declare) {
        w.declare_tensor(name, o.float_type, {first.cols(), V});
        report.add(table == VocabTable::head ? "lm_head" : "embed_tokens", ggml_type_name(o.float_type), 0, ExportReport::Codes::none);
        continue;
      }
      const uint64_t row_bytes = ggml_row_bytes(o.float_type, first.cols());
      std::vector<uint8_t> bytes(row_bytes * static_cast<uint64_t>(V));
      for (int64_t r = 0; r < V; r += 1024) {
        const Matrix rows = source.vocab_rows(table, id_range(r, std::min(V, r + 1024)));
        for (int64_t i = 0; i < rows.rows(); ++i)
          encode_float_row(rows.row(i).data(), rows.cols(), o.float_type, bytes.data() + row_bytes * static_cast<uint64_t>(r + i));
      }
      w.write_tensor(name, bytes);
    }
    const Model m = source.load_outer();
    if (declare) w.declare_tensor("output_norm.weight", GgmlType::F32, {m.final_norm.weight.size()});
    else w.write_tensor("output_norm.weight", {reinterpret_cast<const uint8_t*>(m.final_norm.weight.data()), static_cast<size_t>(m.final_norm.weight.size()) * 4});
  };
  outer(true);
  for (int64_t b = 0; b < c.n_layers; ++b) block_tensors(b, true);
  outer(false);
  for (int64_t b = 0; b < c.n_layers; ++b) block_tensors(b, false);
  w.finish();
  return report;
}

}  // namespace qlab
