#include "export/hf_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "format/hf_config.h"
#include "format/hf_loader.h"
#include "format/safetensors.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace fs = std::filesystem;

namespace {

// Where the family's tensors live in a Hugging Face checkpoint.
std::string hf_prefix(const ModelConfig& c) { return c.arch == "opt" ? "model.decoder." : "model."; }

bool is_qlab_export_dir(const fs::path& dir) {
  try {
    const HfConfig cfg = HfConfig::load((dir / "config.json").string());
    const nlohmann::json& j = cfg.json();
    return j.contains("quantization_config") && j["quantization_config"].contains("meta") &&
           j["quantization_config"]["meta"].contains("qlab_run");
  } catch (const Error&) {
    return false;
  }
}

double max_abs_difference(const Matrix& a, const Matrix& b) {
  return a.size() == 0 ? 0.0 : static_cast<double>((a - b).cwiseAbs().maxCoeff());
}

Matrix rounded(const Matrix& m, StoragePrecision p) {
  if (p == StoragePrecision::f32) return m;
  Matrix r(m.rows(), m.cols());
  for (int64_t i = 0; i < m.size(); ++i) r.data()[i] = f16_to_f32(f32_to_f16(m.data()[i]));
  return r;
}

// The grid every packed linear shares (the formats hold one bits/group_size per model).
struct SharedGrid {
  int32_t bits = 0;
  int64_t group_size = 0;  // −1: per row
  bool sym = true, act_order = false;
  std::string first;       // the linear that set it
};

int64_t group_size_of(const QuantizedLinear& q, int64_t cols) { return q.group_size > 0 && q.group_size < cols ? q.group_size : -1; }

bool symmetric(const QuantizedLinear& q) {
  const float mid = static_cast<float>(1 << (q.bits - 1));
  return (q.zeros.array() == mid).all();
}

bool act_order(const QuantizedLinear& q, int64_t cols) {
  const int64_t width = q.group_size > 0 ? q.group_size : cols;
  for (int64_t c = 0; c < cols; ++c)
    if (q.g_idx[static_cast<size_t>(c)] != c / width) return true;
  return false;
}

// "damp_frac=0.01, act_order=true" → 0.01 (GPTQ's damp_percent), or the reference default.
double damp_of(const std::string& params) {
  const size_t at = params.find("damp_frac=");
  return at == std::string::npos ? 0.01 : std::atof(params.c_str() + at + 10);
}

}  // namespace

void check_export_target(const fs::path& out, bool overwrite) {
  const PathKind kind = path_kind(out);
  if (kind == PathKind::missing) return;
  const bool ours = kind == PathKind::directory && is_qlab_export_dir(out);
  if (!ours) fail("{}: exists and is not an earlier qlab export; refusing to replace it (choose another --out)", out.string());
  if (!overwrite) fail("{}: exists (an earlier qlab export); replace it with --overwrite", out.string());
}

ExportReport export_hf(const QuantizedRun& run, const fs::path& out, const HfExportOptions& options) {
  check_export_target(out, options.overwrite);
  const WeightSource& source = *run.source;
  const ModelConfig& c = source.config();
  if (c.arch != "llama" && c.arch != "opt")
    fail("{}: run {}: exporting a '{}' model is not supported (llama, opt)", run.log_path, run.run_id, c.arch);
  const bool awq = options.format == PackedFormat::awq_gemm;
  const std::string prefix = hf_prefix(c);
  const fs::path tmp = out.string() + ".qlab-tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  struct RemoveUnlessDone {  // a failed export leaves nothing behind
    fs::path dir;
    bool done = false;
    ~RemoveUnlessDone() {
      std::error_code ec;
      if (!done) fs::remove_all(dir, ec);
    }
  } cleanup{tmp};
  const std::string sha = run.source_sha256();
  const std::map<std::string, std::string> provenance = {
      {"format", "pt"}, {"qlab.experiment", run.experiment}, {"qlab.run", run.run_id},
      {"qlab.version", run.qlab_version}, {"qlab.source", run.model_path}, {"qlab.source_sha256", sha}};
  const int64_t n_shards = c.n_layers + 1;
  auto shard_name = [&](int64_t i) { return fmt::format("model-{:05}-of-{:05}.safetensors", i + 1, n_shards); };
  nlohmann::json weight_map = nlohmann::json::object();
  auto write_shard = [&](int64_t i, const std::vector<TensorToWrite>& tensors) {
    for (const TensorToWrite& t : tensors) weight_map[t.name] = shard_name(i);
    write_safetensors(tmp / shard_name(i), tensors, provenance);
  };
  const bool f16 = options.float_dtype == StoragePrecision::f16;
  auto float_tensor = [&](const std::string& name, std::vector<int64_t> shape, const float* data) {
    return f16 ? f16_tensor(name, std::move(shape), data) : f32_tensor(name, std::move(shape), data);
  };
  const char* float_name = f16 ? "F16" : "F32";

  ExportReport report;
  SharedGrid grid;
  std::optional<PackedFormat> format;  // chosen from the first packed linear unless given
  if (awq) format = PackedFormat::awq_gemm;
  else if (options.gptq_checkpoint_format) format = options.gptq_checkpoint_format;
  std::set<std::string> float_kinds, packed_kinds;
  std::vector<std::string> float_linears;
  for (int64_t b = 0; b < c.n_layers; ++b) {
    const Block block = run.block(b);
    const std::vector<QuantizedLinear> packed = run.quantized(b, block);
    std::vector<TensorToWrite> tensors;
    for (const Linear* l : block.linears()) {
      const std::string hf = prefix + "layers." + l->name;
      const std::string kind = l->name.substr(l->name.find('.') + 1);
      const auto q = std::find_if(packed.begin(), packed.end(), [&](const QuantizedLinear& p) { return p.name == l->name; });
      if (q == packed.end()) {
        tensors.push_back(float_tensor(hf + ".weight", {l->weight.rows(), l->weight.cols()}, l->weight.data()));
        report.add(l->name, float_name, max_abs_difference(rounded(l->weight, options.float_dtype), l->weight), ExportReport::Codes::none);
        float_kinds.insert(kind);
        float_linears.push_back(hf);
      } else {
        const int64_t rows = l->weight.rows(), cols = l->weight.cols();
        if (grid.first.empty()) {
          grid = {q->bits, group_size_of(*q, cols), symmetric(*q), false, l->name};
          if (!format) format = grid.sym ? PackedFormat::gptq_v1 : PackedFormat::gptq_v2;
        } else if (q->bits != grid.bits || group_size_of(*q, cols) != grid.group_size) {
          fail("{}: run {}: {} is {}-bit with group size {} but {} is {}-bit with group size {}; a {} checkpoint holds one "
               "bits and group_size for every linear",
               run.log_path, run.run_id, l->name, q->bits, group_size_of(*q, cols), grid.first, grid.bits, grid.group_size,
               packed_format_name(*format));
        }
        grid.sym = grid.sym && symmetric(*q);
        grid.act_order = grid.act_order || act_order(*q, cols);
        QuantizedLinear named = *q;
        named.name = fmt::format("{}: run {}: linear {}", run.log_path, run.run_id, l->name);
        for (TensorToWrite& t : pack_linear(named, rows, cols, *format, hf)) tensors.push_back(std::move(t));
        report.add(l->name, fmt::format("{} {}-bit g{}", packed_format_name(*format), q->bits, grid.group_size),
                   max_abs_difference(exported_weight(*q, rows, cols), l->weight), ExportReport::Codes::kept);
        packed_kinds.insert(kind);
      }
      if (l->bias.size() > 0) tensors.push_back(float_tensor(hf + ".bias", {l->bias.size()}, l->bias.data()));
    }
    for (const Norm* n : block.norms()) {
      tensors.push_back(float_tensor(prefix + "layers." + n->name + ".weight", {n->weight.size()}, n->weight.data()));
      if (n->bias.size() > 0) tensors.push_back(float_tensor(prefix + "layers." + n->name + ".bias", {n->bias.size()}, n->bias.data()));
    }
    write_shard(b + 1, tensors);
  }
  if (grid.first.empty()) fail("{}: run {} has no quantized linear to export", run.log_path, run.run_id);

  // The outer tensors: embeddings (and lm_head unless tied) read in chunks of rows.
  const Model outer = source.load_outer();
  std::vector<TensorToWrite> tensors;
  auto table = [&](VocabTable which, const std::string& name) {
    const int64_t V = c.vocab_size;
    const int64_t width = source.vocab_rows(which, id_range(0, 1)).cols();
    TensorToWrite t{name, f16 ? Dtype::f16 : Dtype::f32, {V, width}, {}};
    t.bytes.resize(static_cast<size_t>(V * width) * (f16 ? 2 : 4));
    const int64_t chunk = std::max<int64_t>(1, (int64_t{32} << 20) / (4 * width));
    for (int64_t r = 0; r < V; r += chunk) {
      const Matrix rows = source.vocab_rows(which, id_range(r, std::min(V, r + chunk)));
      const TensorToWrite part = float_tensor(name, {rows.rows(), width}, rows.data());
      std::copy(part.bytes.begin(), part.bytes.end(), t.bytes.begin() + static_cast<std::ptrdiff_t>(r * width * (f16 ? 2 : 4)));
    }
    report.add(which == VocabTable::head ? "lm_head" : "embed_tokens", float_name, 0, ExportReport::Codes::none);
    return t;
  };
  tensors.push_back(table(VocabTable::embedding, prefix + "embed_tokens.weight"));
  const bool tied = run.tied_head();
  if (!tied) tensors.push_back(table(VocabTable::head, "lm_head.weight"));
  if (outer.lm_head.bias.size() > 0) tensors.push_back(float_tensor("lm_head.bias", {outer.lm_head.bias.size()}, outer.lm_head.bias.data()));
  if (outer.embed_positions.size() > 0)
    tensors.push_back(float_tensor(prefix + "embed_positions.weight", {outer.embed_positions.rows(), outer.embed_positions.cols()},
                                   outer.embed_positions.data()));
  for (const Linear* p : {&outer.project_in, &outer.project_out})
    if (p->weight.size() > 0) tensors.push_back(float_tensor(prefix + p->name + ".weight", {p->weight.rows(), p->weight.cols()}, p->weight.data()));
  if (outer.final_norm.weight.size() > 0) {
    const std::string n = prefix + outer.final_norm.name;
    tensors.push_back(float_tensor(n + ".weight", {outer.final_norm.weight.size()}, outer.final_norm.weight.data()));
    if (outer.final_norm.bias.size() > 0) tensors.push_back(float_tensor(n + ".bias", {outer.final_norm.bias.size()}, outer.final_norm.bias.data()));
  }
  write_shard(0, tensors);

  // config.json: the source's own when it is a Hugging Face directory, else LLaMA's.
  nlohmann::json config = fs::is_directory(run.model_path) ? HfConfig::load((fs::path(run.model_path) / "config.json").string()).json()
                                                           : llama_config_json(c, tied);
  config["torch_dtype"] = f16 ? "float16" : "float32";
  const nlohmann::json meta = {{"quantizer", {"qlab:" + run.qlab_version}}, {"qlab_experiment", run.experiment}, {"qlab_run", run.run_id},
                               {"qlab_method", run.method}, {"qlab_source", run.model_path}, {"qlab_source_sha256", sha}};
  nlohmann::json q;
  if (awq) {
    nlohmann::json skipped = float_linears.empty() ? nlohmann::json(nullptr) : nlohmann::json(float_kinds);
    q = {{"quant_method", "awq"}, {"zero_point", true}, {"group_size", grid.group_size > 0 ? grid.group_size : c.dim},
         {"bits", 4}, {"version", "gemm"}, {"modules_to_not_convert", skipped}, {"meta", meta}};
    const nlohmann::json autoawq = {{"zero_point", true}, {"q_group_size", q["group_size"]}, {"w_bit", 4}, {"version", "GEMM"}};
    std::ofstream(tmp / "quant_config.json") << autoawq.dump(2) << "\n";
  } else {
    const std::string f = packed_format_name(*format);
    q = {{"quant_method", "gptq"}, {"bits", grid.bits}, {"group_size", grid.group_size}, {"desc_act", grid.act_order},
         {"sym", grid.sym}, {"true_sequential", true}, {"damp_percent", damp_of(run.quantizer_params)}, {"static_groups", false},
         {"checkpoint_format", f}, {"format", f}, {"pack_dtype", "int32"}, {"lm_head", false}, {"meta", meta}};
    if (!float_linears.empty()) {
      nlohmann::json dynamic = nlohmann::json::object();  // GPTQModel: "-:" skips a module
      for (const std::string& name : float_linears) dynamic["-:^" + name + "$"] = nlohmann::json::object();
      q["dynamic"] = dynamic;
    }
    nlohmann::json in_block = nlohmann::json::array();  // optimum/transformers: the quantized modules
    in_block.push_back(nlohmann::json(std::vector<std::string>(packed_kinds.begin(), packed_kinds.end())));
    q["modules_in_block_to_quantize"] = in_block;
    std::ofstream(tmp / "quantize_config.json") << q.dump(2) << "\n";
  }
  config["quantization_config"] = q;
  std::ofstream(tmp / "config.json") << config.dump(2) << "\n";
  nlohmann::json index = {{"metadata", {{"qlab_run", run.run_id}}}, {"weight_map", weight_map}};
  std::ofstream(tmp / "model.safetensors.index.json") << index.dump(2) << "\n";
  // The tokenizer the run used, so the directory evaluates on its own.
  if (!run.tokenizer_path.empty() && path_kind(run.tokenizer_path) == PathKind::regular) {
    const fs::path tok = run.tokenizer_path;
    fs::copy_file(tok, tmp / (tok.extension() == ".model" ? fs::path("tokenizer.model") : tok.filename()));
  } else if (fs::is_directory(run.model_path)) {
    for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"})
      if (path_kind(fs::path(run.model_path) / name) == PathKind::regular) fs::copy_file(fs::path(run.model_path) / name, tmp / name);
  }
  if (path_kind(out) != PathKind::missing) fs::remove_all(out);  // an earlier qlab export, checked above
  fs::rename(tmp, out);
  cleanup.done = true;
  return report;
}

}  // namespace qlab
