#include "zeroshot/request_tokens.h"

#include <algorithm>

#include "util/error.h"

namespace qlab {

namespace {
// Python's str.isspace() code points.
bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}
}  // namespace

size_t trailing_whitespace_bytes(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;  // back to the first byte of the last UTF-8 character
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data() + start);
    const size_t len = end - start;
    uint32_t cp = len == 1 ? p[0]
                : len == 2 ? ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu)
                : len == 3 ? ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu)
                           : 0xFFFFFFFFu;  // 4-byte characters are never whitespace
    if (!is_python_space(cp)) break;
    end = start;
  }
  return text.size() - end;
}

namespace {
// An empty context is replaced by one token, so the continuation's first token has a
// position predicting it: BOS, or EOS where there is none (v0.3: always EOS, "<|endoftext|>").
void give_empty_context_a_token(const Tokenizer& tok, HarnessVersion version, std::vector<int32_t>& context) {
  if (!context.empty()) return;
  const int32_t id = version != HarnessVersion::v0_3 && tok.bos_id() >= 0 ? tok.bos_id() : tok.eos_id();
  if (id < 0) fail("{}: the tokenizer has neither BOS nor EOS to stand for an empty context", tok.source());
  context.push_back(id);
}
}  // namespace

RequestTokens encode_request(const Tokenizer& tok, const LoglikelihoodRequest& r, HarnessVersion version) {
  RequestTokens out;
  if (version == HarnessVersion::v0_3) {
    out.context = tok.encode(r.context, false);
    out.continuation = tok.encode(r.continuation, false);
    give_empty_context_a_token(tok, version, out.context);
    return out;
  }
  const bool bos = version == HarnessVersion::v0_4_10;  // encode(…, true) adds BOS only where the tokenizer's default does
  const size_t n = trailing_whitespace_bytes(r.context);
  const std::string context = r.context.substr(0, r.context.size() - n);
  const std::string continuation = r.context.substr(r.context.size() - n) + r.continuation;
  std::vector<int32_t> whole = tok.encode(context + continuation, bos);
  out.context = tok.encode(context, bos);
  // The split is at len(enc(context)) with no check that the prefixes agree, as the harness does.
  const size_t cut = std::min(out.context.size(), whole.size());
  out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(cut), whole.end());
  give_empty_context_a_token(tok, version, out.context);
  return out;
}

RequestInput request_input(const RequestTokens& r, int64_t max_length, OverlongContinuation overlong, const std::string& where) {
  const int64_t n_cont = static_cast<int64_t>(r.continuation.size());
  if (n_cont == 0) fail("{}: the continuation encodes to no tokens", where);
  if (n_cont > max_length && overlong == OverlongContinuation::fail)
    fail("{}: the continuation is {} tokens, longer than the model's context of {} (the harness refuses it; "
         "--overlong keep-tail scores its last {} tokens)",
         where, n_cont, max_length, max_length);
  std::vector<int32_t> all = r.context;
  all.insert(all.end(), r.continuation.begin(), r.continuation.end());
  const size_t keep = std::min(all.size(), static_cast<size_t>(max_length + 1));
  RequestInput in;
  in.input.assign(all.end() - static_cast<std::ptrdiff_t>(keep), all.end() - 1);
  const size_t scored = static_cast<size_t>(std::min(n_cont, max_length));
  in.continuation.assign(r.continuation.end() - static_cast<std::ptrdiff_t>(scored), r.continuation.end());
  return in;
}

}  // namespace qlab
