// A loglikelihood request in tokens, as the harness encodes it (zeroshot-protocol.md §1):
// v0.4+ moves the context's trailing whitespace to the continuation, encodes context +
// continuation whole and splits at len(enc(context)); v0.3 encodes the two separately (for
// SentencePiece that adds a spurious "▁" token to every continuation: harness PR #531).
// BOS only in v0.4.10+, and only where the tokenizer adds one by default.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/name_table.h"
#include "zeroshot/prefix_tree_packing.h"
#include "zeroshot/task.h"

namespace qlab {

struct RequestTokens {
  std::vector<int32_t> context, continuation;
};

RequestTokens encode_request(const Tokenizer& tok, const LoglikelihoodRequest& request, HarnessVersion version);

// Python's str.rstrip(): the number of trailing bytes of `text` that are Unicode whitespace.
size_t trailing_whitespace_bytes(const std::string& text);

// What to do with a continuation longer than max_length, which the harness refuses
// (an assertion): fail naming the document, or score only its last max_length tokens (a
// departure from the harness, counted in the log) so a small-context model can still run
// every document.
enum class OverlongContinuation { fail, keep_tail };
inline constexpr NameTable<OverlongContinuation, 2> kOverlongPolicies{
    {{{OverlongContinuation::fail, "fail"}, {OverlongContinuation::keep_tail, "keep-tail"}}}};

// The model's input for a request: (context + continuation)[-(max_length+1):][:-1], cut from
// the left (a BOS there is lost, not re-added); its last continuation.size() positions
// predict the continuation. Fails, naming `where`, on an empty continuation.
RequestInput request_input(const RequestTokens& request, int64_t max_length, OverlongContinuation overlong,
                           const std::string& where);

}  // namespace qlab
