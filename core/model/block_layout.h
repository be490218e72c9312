// A block described by names alone, without a weight: which linears it has and their shapes,
// which share an input (statistics are captured once per input group), and its scalable
// groups. The plan (`qlab run --dry-run`) is resolved from this before anything is loaded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/weight_source.h"

namespace qlab {

struct GroupLayout {
  std::string producer;  // "3.input_layernorm", "3.mlp.up_proj"
  ProducerKind producer_kind = ProducerKind::norm;
  std::vector<std::string> consumers;
  Inspect inspect = Inspect::consumers;
};

struct BlockLayout {
  int64_t index = 0;
  std::vector<LinearShape> linears;                     // forward order
  std::vector<std::vector<std::string>> input_groups;   // linear names sharing an input, forward order
  std::vector<GroupLayout> scalable_groups;
};

BlockLayout block_layout(const ModelConfig& config, int64_t index);

}  // namespace qlab
