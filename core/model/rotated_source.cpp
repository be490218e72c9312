#include "model/rotated_source.h"

#include "util/error.h"

namespace qlab {

RotatedSource::RotatedSource(const WeightSource& inner, Matrix q, const OnlineHadamards& online)
    : inner_(inner), q_(std::move(q), online.seed), online_(online) {
  check_rotatable(inner.config());
  if (q_.dim() != inner.config().dim)
    fail("{0}: a {1}×{1} rotation for a residual stream of width {2}", inner.path(), q_.dim(), inner.config().dim);
  final_norm_ = inner.load_outer().final_norm.weight;
}

Block RotatedSource::load_block(int64_t i) const {
  Block b = inner_.load_block(i);
  fold_block_norms(b);
  rotate_block(b, q_);
  add_online_hadamards(b, inner_.config(), online_);
  return b;
}

Model RotatedSource::load_outer() const {
  Model outer = inner_.load_outer();
  if (outer.final_norm.weight.size() > 0) outer.final_norm.weight.setOnes();  // folded into the head rows
  return outer;
}

Matrix RotatedSource::vocab_rows(VocabTable table, std::span<const int32_t> ids) const {
  Matrix rows = inner_.vocab_rows(table, ids);
  if (table == VocabTable::head && final_norm_.size() > 0) rows.array().rowwise() *= final_norm_.transpose().array();
  q_.right(rows);
  return rows;
}

}  // namespace qlab
