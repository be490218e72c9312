// Greedy decoding (temperature 0) with a KV cache: the "generate a sample and look at it"
// step that closes the papers' workflow.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace qlab {

struct GenerateResult {
  std::vector<int32_t> tokens;  // prompt (with BOS) then generated ids
  int64_t n_prompt = 0;
  std::string text;             // decoded prompt + continuation
  double seconds = 0;
};

// Generates up to max_tokens after `prompt`, stopping early at EOS/BOS or the context end.
// on_piece, when set, receives each new piece of text as it is produced.
GenerateResult generate_greedy(const Model& model, const Tokenizer& tokenizer, const std::string& prompt,
                               int64_t max_tokens, const std::function<void(const std::string&)>& on_piece = {});

}  // namespace qlab
