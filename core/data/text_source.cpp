#include "data/text_source.h"

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

TextSource load_text_source(const std::string& spec) {
  TextSource src;
  src.kind = "text";
  src.path = spec;
  if (size_t colon = spec.find(':'); colon != std::string::npos && colon > 1) {  // "C:\" is a path
    src.kind = spec.substr(0, colon);
    src.path = spec.substr(colon + 1);
  }
  if (src.kind != "text") fail("data spec '{}': unknown kind '{}'; known: text", spec, src.kind);
  src.text = read_text_file(src.path);
  if (src.text.empty()) fail("{}: empty text file", src.path);
  return src;
}

}  // namespace qlab
