#include "walk/model_transform.h"

#include <cstring>
#include <vector>

#include "backend/linalg.h"
#include "model/arch.h"
#include "model/residual_rotation.h"
#include "model/rotated_source.h"
#include "tensor/hadamard.h"
#include "util/error.h"
#include "walk/linear_hooks.h"

namespace qlab {

namespace {
int32_t hadamard_service(void*, int64_t n, uint64_t seed, qlab_view out, qlab_error* err) {
  try {
    if (out.n_rows != n || out.n_cols != n) fail("hadamard: a {}×{} output for width {}", out.n_rows, out.n_cols, n);
    const Matrix h = randomized_hadamard(n, seed);
    for (int64_t r = 0; r < n; ++r) std::memcpy(out.data + r * out.row_stride, h.row(r).data(), sizeof(float) * static_cast<size_t>(n));
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err->message, sizeof err->message, "%s", e.what());
    return 1;
  }
}

// A block linear's role: its name without the block index ("0.mlp.up_proj" → "mlp.up_proj").
std::string role(const std::string& name) { return name.substr(name.find('.') + 1); }
}  // namespace

std::optional<ModelTransform> run_model_transform(Pipeline& pipeline, const WeightSource& source) {
  PluginInstance* plugin = nullptr;
  for (auto& t : pipeline.transforms)
    if (t->descriptor().transform_model) {
      if (plugin) fail("the pipeline has two model-scope transforms ({} and {}); compose them in one plugin", plugin->name(), t->name());
      plugin = t.get();
    }
  if (!plugin) return std::nullopt;
  const ModelConfig& c = source.config();
  check_rotatable(c);
  const Block b = source.load_block(0);
  std::vector<std::string> readers, writers;
  for (const Linear* l : {&b.q, &b.k, &b.v, &b.gate, &b.up})
    if (l->weight.size() > 0) readers.push_back(role(l->name));
  readers.push_back("lm_head");
  for (const Linear* l : {&b.o, &b.down}) writers.push_back(role(l->name));
  std::vector<const char*> reader_names, writer_names;
  for (const std::string& r : readers) reader_names.push_back(r.c_str());
  for (const std::string& w : writers) writer_names.push_back(w.c_str());

  qlab_model_in in{};
  in.family = c.arch.c_str();
  in.dim = c.dim;
  in.hidden_dim = c.hidden_dim;
  in.n_layers = c.n_layers;
  in.n_heads = c.n_heads;
  in.n_kv_heads = c.n_kv_heads;
  in.head_dim = c.head_dim;
  in.vocab_size = c.vocab_size;
  in.norm_kind = arch_of(c.arch).norm == NormKind::rms ? QLAB_NORM_RMS : QLAB_NORM_LAYER;
  in.pre_norm = c.pre_norm ? 1 : 0;
  in.n_readers = static_cast<int32_t>(reader_names.size());
  in.n_writers = static_cast<int32_t>(writer_names.size());
  in.readers = reader_names.data();
  in.writers = writer_names.data();
  in.la = cpu_linalg();
  in.hadamard = &hadamard_service;

  ModelTransform t;
  t.plugin = plugin->name();
  t.rotation = Matrix::Identity(c.dim, c.dim);
  qlab_model_out out{};
  out.rotation = {t.rotation.data(), c.dim, c.dim, c.dim};
  plugin->transform_model(in, out);
  take_metrics(*plugin, out.metrics, out.n_metrics, t.metrics);
  if (!out.wrote_rotation) t.rotation = Matrix::Identity(c.dim, c.dim);
  const double off = (t.rotation.transpose() * t.rotation - Matrix::Identity(c.dim, c.dim)).cwiseAbs().maxCoeff();
  if (!(off < 1e-4))
    fail("plugin '{}': the rotation it returned is not orthogonal (max |QᵀQ − I| = {:.3g}, above 1e-4)", t.plugin, off);
  constexpr uint32_t known = QLAB_ONLINE_DOWN_HADAMARD | QLAB_ONLINE_VALUE_OUTPUT_HADAMARD | QLAB_ONLINE_QUERY_KEY_HADAMARD;
  if (out.online & ~known)
    fail("plugin '{}' asks for online transforms {:#x}; this qlab knows QLAB_ONLINE_DOWN_HADAMARD (1), "
         "QLAB_ONLINE_VALUE_OUTPUT_HADAMARD (2) and QLAB_ONLINE_QUERY_KEY_HADAMARD (4)",
         t.plugin, out.online);
  t.online.down = (out.online & QLAB_ONLINE_DOWN_HADAMARD) != 0;
  t.online.value_output = (out.online & QLAB_ONLINE_VALUE_OUTPUT_HADAMARD) != 0;
  t.online.query_key = (out.online & QLAB_ONLINE_QUERY_KEY_HADAMARD) != 0;
  t.online.seed = out.online_seed;
  // A width no form covers fails here, named, before the walk starts.
  if (t.online.down) plan_hadamard(c.hidden_dim, t.online.seed);
  if (t.online.value_output) plan_hadamard(c.n_heads * c.head_dim, t.online.seed);
  if (t.online.value_output || t.online.query_key) plan_hadamard(c.head_dim, t.online.seed);
  return t;
}

std::unique_ptr<WeightSource> transformed_source(const WeightSource& source, const ModelTransform& t) {
  return std::make_unique<RotatedSource>(source, t.rotation, t.online);
}

}  // namespace qlab
