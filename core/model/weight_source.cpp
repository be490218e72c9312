#include "model/weight_source.h"

namespace qlab {

Model WeightSource::load_model() const {
  Model m = load_outer();
  m.blocks.reserve(static_cast<size_t>(n_blocks()));
  for (int64_t i = 0; i < n_blocks(); ++i) m.blocks.push_back(load_block(i));
  return m;
}

std::vector<LinearShape> InMemorySource::linears() const {
  std::vector<LinearShape> out;
  for (const Linear* l : const_cast<Model&>(model_).linears())
    out.push_back({l->name, l->out_features(), l->in_features(), l->bias.size() > 0});
  return out;
}

Model InMemorySource::load_outer() const {
  Model m;
  m.config = model_.config;
  m.source = model_.source;
  m.embed_tokens = model_.embed_tokens;
  m.embed_positions = model_.embed_positions;
  m.project_in = model_.project_in;
  m.project_out = model_.project_out;
  m.final_norm = model_.final_norm;
  m.lm_head = model_.lm_head;
  return m;
}

}  // namespace qlab
