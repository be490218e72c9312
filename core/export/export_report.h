// What an export did with each tensor, grouped by kind ("self_attn.q_proj" over all blocks):
// how it is stored and how far the stored tensor is from the run's weight (0 = exact), so a
// user sees at once what mapped exactly and what was rounded or re-encoded.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "util/table.h"

namespace qlab {

class ExportReport {
 public:
  // What happened to a tensor's quantization codes: kept as the run made them, re-encoded
  // in another grid, or none (a float tensor).
  enum class Codes { kept, re_encoded, none };
  // One tensor: its qlab name ("3.mlp.down_proj", "lm_head"), how it is stored ("gptq 4-bit
  // g128", "Q4_1", "F16") and the largest |stored − run's| weight difference.
  void add(const std::string& name, const std::string& stored_as, double max_abs_change, Codes codes);
  cli::Table table() const;
  double max_abs_change() const;
  int64_t re_encoded() const;  // tensors whose quantized codes were not kept

 private:
  struct Row {
    int64_t count = 0;
    double max_abs_change = 0;
    Codes codes = Codes::none;
  };
  std::map<std::pair<std::string, std::string>, Row> rows_;  // (kind, stored as)
};

}  // namespace qlab
