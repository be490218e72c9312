#include "eval/generate.h"

#include <chrono>

#include "forward/forward.h"
#include "util/error.h"

namespace qlab {

GenerateResult generate_greedy(const Model& model, const Tokenizer& tok, const std::string& prompt, int64_t max_tokens,
                               const std::function<void(const std::string&)>& on_piece) {
  auto start = std::chrono::steady_clock::now();
  GenerateResult r;
  r.tokens = tok.encode(prompt, true);
  r.n_prompt = static_cast<int64_t>(r.tokens.size());
  if (r.n_prompt >= model.config.max_seq_len)
    fail("prompt of {} tokens does not fit the model's context of {}", r.n_prompt, model.config.max_seq_len);
  const int64_t capacity = std::min<int64_t>(model.config.max_seq_len, r.n_prompt + max_tokens);
  KvCache cache = make_kv_cache(model, capacity);
  // The prompt as text, without the BOS marker itself.
  for (size_t i = 1; i < r.tokens.size(); ++i) r.text += tok.decode_piece(r.tokens[i - 1], r.tokens[i]);
  if (on_piece) on_piece(r.text);

  Matrix logits = forward_logits(model, r.tokens, cache);
  while (static_cast<int64_t>(r.tokens.size()) < capacity) {
    Eigen::Index next = 0;
    logits.row(logits.rows() - 1).maxCoeff(&next);
    const int32_t id = static_cast<int32_t>(next);
    if (id == tok.eos_id() || id == tok.bos_id()) break;
    std::string piece = tok.decode_piece(r.tokens.back(), id);
    r.tokens.push_back(id);
    r.text += piece;
    if (on_piece) on_piece(piece);
    if (static_cast<int64_t>(r.tokens.size()) >= capacity) break;
    logits = forward_logits(model, std::span<const int32_t>(&r.tokens.back(), 1), cache);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace qlab
