// Evaluation data named by a spec "KIND:PATH" (a bare path is text:PATH). Each kind is one
// reference protocol, tokenized the way the reference code does it:
//   text:PATH        the file's bytes as they are, BOS first
//   wikitext2:PATH   wiki.test.raw rows (dataset-script semantics) joined with "\n\n" (GPTQ)
//   ptb:PATH         ptb.test.txt sentences joined with " " (GPTQ --new-eval)
//   ptb-old:PATH     ptb.valid.txt sentences joined with "\n\n" (GPTQ's first protocol)
//   c4:PATH          C4 validation JSON lines (.json/.json.gz): the first 1100 documents joined
//                    with " ", truncated to 256·seq_len tokens (GPTQ c4-new)
//   c4-old:PATH      256 random seq_len windows of documents with ≥ seq_len tokens, drawn with
//                    Python's random.seed(0) (GPTQ's first C4 protocol)
// PATH may also be a directory holding the split's usual file name.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace qlab {

struct DataProvenance {
  std::string spec, kind, path, sha256;
  uint64_t bytes = 0;
  int64_t n_tokens = 0;
};

struct DataSpec {
  std::string kind, path;
};
DataSpec parse_data_spec(const std::string& spec);  // throws on an unknown kind, listing the known ones
const std::vector<std::string>& data_kinds();

struct TokenData {
  std::vector<int32_t> tokens;
  DataProvenance provenance;
};

// The evaluation token stream for `spec`. seq_len matters only to the C4 protocols.
TokenData load_eval_tokens(const std::string& spec, const Tokenizer& tokenizer, int64_t seq_len);

// tokenizer.encode(text, BOS) for text read from `source`: a tokenizer's complaint about the
// text (invalid UTF-8) names the data file, not the tokenizer's.
std::vector<int32_t> encode_data(const Tokenizer& tokenizer, const std::string& text, const std::string& source);

// A spec's path; a directory stands for `file_in_dir` inside it, except for text:, which
// names one file.
std::filesystem::path resolve_data_path(const DataSpec& d, const char* file_in_dir);

}  // namespace qlab
