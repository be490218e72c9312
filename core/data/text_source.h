// Evaluation and calibration text named by a spec: "text:PATH" or a bare path (the file's
// bytes, as is). Later protocols (wikitext2:, ptb:, c4:) are further kinds of spec.
#pragma once
#include <string>

namespace qlab {

struct TextSource {
  std::string kind;  // "text"
  std::string path;
  std::string text;  // what the tokenizer sees
};

TextSource load_text_source(const std::string& spec);

}  // namespace qlab
