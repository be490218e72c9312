#include "run/block_checkpoint.h"

#include <fmt/format.h>

#include <filesystem>

#include "format/safetensors.h"
#include "util/error.h"

namespace qlab {

std::string BlockCheckpoint::file(int64_t block) const {
  return fmt::format("{}.blocks/{}/block_{:04}.safetensors", log_path_, run_id_, block);
}

void BlockCheckpoint::put(const BlockResult& result, const Block& block, const ActivationPlan& act) {
  const std::string path = file(result.block);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) fail("{}: cannot create the checkpoint directory ({})", std::filesystem::path(path).parent_path().string(), ec.message());
  std::vector<TensorToWrite> tensors;
  auto vector = [&](const std::string& name, const Vector& v) {
    if (v.size() > 0) tensors.push_back(f32_tensor(name, {v.size()}, v.data()));
  };
  for (const Linear* l : block.linears()) {
    tensors.push_back(f32_tensor(l->name, {l->weight.rows(), l->weight.cols()}, l->weight.data()));
    vector(l->name + ".bias", l->bias);
    if (auto it = act.input_absmax.find(l->name); it != act.input_absmax.end())
      tensors.push_back(f32_tensor(l->name + ".input_absmax", {1}, &it->second));
  }
  for (const Norm* n : {&block.attn_norm, &block.mlp_norm}) {
    vector(n->name + ".weight", n->weight);
    vector(n->name + ".bias", n->bias);
  }
  write_safetensors(path, tensors);
}

void BlockCheckpoint::restore(int64_t index, Block& block, ActivationPlan& act) const {
  const std::string path = file(index);
  if (!std::filesystem::exists(path))
    fail("{}: --resume: the finished block's weights are missing; start the run afresh without --resume", path);
  auto f = SafetensorsFile::open(path);
  auto vector = [&](const std::string& name, Vector& v) {
    if (v.size() > 0) v = f->to_vector(name);
  };
  for (Linear* l : block.linears()) {
    l->weight = f->to_matrix(l->name);
    vector(l->name + ".bias", l->bias);
    if (f->has(l->name + ".input_absmax")) act.input_absmax[l->name] = f->to_matrix(l->name + ".input_absmax")(0, 0);
  }
  for (Norm* n : {&block.attn_norm, &block.mlp_norm}) {
    vector(n->name + ".weight", n->weight);
    vector(n->name + ".bias", n->bias);
  }
}

}  // namespace qlab
