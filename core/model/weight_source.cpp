#include "model/weight_source.h"

#include <algorithm>
#include <map>

#include "util/error.h"

namespace qlab {

Model WeightSource::load_model() const {
  Model m = load_outer();
  const std::vector<int32_t> all = id_range(0, config().vocab_size);
  m.embed_tokens = vocab_rows(VocabTable::embedding, all);
  m.lm_head.weight = vocab_rows(VocabTable::head, all);
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
  m.embed_positions = model_.embed_positions;
  m.project_in = model_.project_in;
  m.project_out = model_.project_out;
  m.final_norm = model_.final_norm;
  m.lm_head = {model_.lm_head.name, {}, model_.lm_head.bias};
  return m;
}

Matrix InMemorySource::vocab_rows(VocabTable table, std::span<const int32_t> ids) const {
  return gather_rows(table == VocabTable::embedding ? model_.embed_tokens : model_.lm_head.weight, ids, model_.source);
}

Matrix gather_rows(const Matrix& table, std::span<const int32_t> ids, const std::string& source) {
  Matrix rows(static_cast<int64_t>(ids.size()), table.cols());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= table.rows())
      fail("{}: token id {} is outside the model's vocabulary of {}", source, ids[i], table.rows());
    rows.row(static_cast<int64_t>(i)) = table.row(ids[i]);
  }
  return rows;
}

double largest_block_bytes(const std::vector<LinearShape>& linears) {
  std::map<std::string, double> per_block;
  for (const LinearShape& l : linears) {
    const size_t dot = l.name.find('.');
    if (dot == std::string::npos) continue;  // lm_head and other outer linears
    per_block[l.name.substr(0, dot)] +=
        4.0 * (static_cast<double>(l.out_features) * static_cast<double>(l.in_features) + (l.has_bias ? l.out_features : 0));
  }
  double most = 0;
  for (const auto& [block, bytes] : per_block) most = std::max(most, bytes);
  return most;
}

std::vector<int32_t> id_range(int64_t begin, int64_t end) {
  std::vector<int32_t> ids(static_cast<size_t>(end - begin));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(begin + static_cast<int64_t>(i));
  return ids;
}

}  // namespace qlab
