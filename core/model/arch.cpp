#include "model/arch.h"

#include <fmt/format.h>

#include "util/error.h"

namespace qlab {

int64_t dim_size(const ModelConfig& c, Dim d) {
  switch (d) {
    case Dim::model: return c.dim;
    case Dim::q: return c.n_heads * c.head_dim;
    case Dim::kv: return c.kv_dim();
    case Dim::hidden: return c.hidden_dim;
    case Dim::head: return c.head_dim;
    case Dim::n_experts: return c.n_experts;
  }
  return 0;
}

bool TensorRow::per_expert() const { return std::string(name).find("{e}") != std::string::npos; }

bool Arch::has(Slot s) const {
  for (const TensorRow& r : tensors)
    if (r.slot == s) return true;
  return false;
}

const TensorRow& Arch::row(Slot s) const {
  for (const TensorRow& r : tensors)
    if (r.slot == s) return r;
  fail("architecture '{}' has no slot {}", family, static_cast<int>(s));
}

const std::vector<const Arch*>& arch_table() {
  static const std::vector<const Arch*> rows = {&arch_llama(), &arch_qwen3(), &arch_opt(), &arch_mixtral()};
  return rows;
}

const Arch& arch_of(const std::string& family) {
  std::string known;
  for (const Arch* a : arch_table()) {
    if (a->family == family) return *a;
    known += (known.empty() ? "" : ", ") + a->family;
  }
  fail("unknown architecture family '{}'; known: {}", family, known);
}

const Arch* arch_for_hf_name(const std::string& name) {
  for (const Arch* a : arch_table())
    for (const std::string& n : a->hf_names)
      if (n == name) return a;
  return nullptr;
}

std::vector<std::string> tensor_names(const TensorRow& row, int64_t index, int64_t n_experts) {
  const std::string local = row.name;
  if (!row.per_expert()) return {fmt::format("{}.{}", index, local)};
  std::vector<std::string> out;
  const size_t at = local.find("{e}");
  for (int64_t e = 0; e < n_experts; ++e)
    out.push_back(fmt::format("{}.{}{}{}", index, local.substr(0, at), e, local.substr(at + 3)));
  return out;
}

Block named_block(const Arch& arch, int64_t index) {
  Block b;
  b.index = static_cast<int>(index);
  b.arch = &arch;
  for (const TensorRow& r : arch.tensors) {
    if (r.per_expert() || r.slot == Slot::router)
      fail("architecture '{}': mixture-of-experts blocks are described by the table but not run yet", arch.family);
    const std::string name = fmt::format("{}.{}", index, r.name);
    if (r.kind == TensorKind::linear) b.linear(r.slot).name = name; else b.norm(r.slot).name = name;
  }
  return b;
}

}  // namespace qlab
