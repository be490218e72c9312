#include "data/data_spec.h"

#include <algorithm>
#include <filesystem>

#include "data/corpus_readers.h"
#include "data/python_random.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace qlab {

const std::vector<std::string>& data_kinds() {
  static const std::vector<std::string> kinds = {"text", "wikitext2", "ptb", "ptb-old", "c4", "c4-old"};
  return kinds;
}

DataSpec parse_data_spec(const std::string& spec) {
  DataSpec d{"text", spec};
  size_t colon = spec.find(':');
  if (colon != std::string::npos && colon > 1) {  // "C:\..." stays a path
    d.kind = spec.substr(0, colon);
    d.path = spec.substr(colon + 1);
  }
  const auto& kinds = data_kinds();
  if (std::find(kinds.begin(), kinds.end(), d.kind) == kinds.end())
    fail("data spec '{}': unknown kind '{}'; known: {}", spec, d.kind, join(kinds, ", "));
  if (d.path.empty()) fail("data spec '{}': no path", spec);
  return d;
}

namespace {

// The evaluation split's usual file name in a dataset directory.
const char* eval_file_name(const std::string& kind) {
  return kind == "wikitext2" ? "wiki.test.raw"
         : kind == "ptb"     ? "ptb.test.txt"
         : kind == "ptb-old" ? "ptb.valid.txt"
                             : "c4-validation.00000-of-00008.json.gz";
}

std::vector<int32_t> c4_old_windows(const std::vector<std::string>& docs, const Tokenizer& tok, int64_t seq_len,
                                    const std::string& path) {
  PythonRandom rng(0);
  std::vector<int32_t> out;
  for (int w = 0; w < 256; ++w) {
    std::vector<int32_t> ids;
    for (int64_t tries = 0;; ++tries) {
      if (tries > 100000) fail("{}: no document with at least {} tokens after 100000 draws", path, seq_len);
      ids = encode_data(tok, docs[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(docs.size()) - 1))], path);
      if (static_cast<int64_t>(ids.size()) >= seq_len) break;
    }
    int64_t i = rng.randint(0, static_cast<int64_t>(ids.size()) - seq_len - 1);
    out.insert(out.end(), ids.begin() + i, ids.begin() + i + seq_len);
  }
  return out;
}

}  // namespace

std::vector<int32_t> encode_data(const Tokenizer& tok, const std::string& text, const std::string& source) {
  try {
    return tok.encode(text, true);
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
}

std::filesystem::path resolve_data_path(const DataSpec& d, const char* file_in_dir) {
  const std::filesystem::path p(d.path);
  if (path_kind(p) != PathKind::directory) return p;
  if (d.kind == "text") fail("{}: is a directory; a text: spec names one file", p.string());
  return p / file_in_dir;
}

TokenData load_eval_tokens(const std::string& spec, const Tokenizer& tok, int64_t seq_len) {
  const DataSpec d = parse_data_spec(spec);
  const std::filesystem::path path = resolve_data_path(d, eval_file_name(d.kind));
  const std::string name = path.string();
  TokenData out;
  if (d.kind == "text") {
    std::string text = read_text_file(path);
    if (text.empty()) fail("{}: empty text file", path.string());
    out.tokens = encode_data(tok, text, name);
  } else if (d.kind == "wikitext2") {
    out.tokens = encode_data(tok, join(read_wikitext_rows(path), "\n\n"), name);
  } else if (d.kind == "ptb" || d.kind == "ptb-old") {
    out.tokens = encode_data(tok, join(read_ptb_sentences(path), d.kind == "ptb" ? " " : "\n\n"), name);
  } else if (d.kind == "c4") {
    std::vector<std::string> docs = read_json_lines_text(path);
    if (docs.size() > 1100) docs.resize(1100);
    out.tokens = encode_data(tok, join(docs, " "), name);
    if (static_cast<int64_t>(out.tokens.size()) > 256 * seq_len) out.tokens.resize(static_cast<size_t>(256 * seq_len));
  } else {  // c4-old
    out.tokens = c4_old_windows(read_json_lines_text(path), tok, seq_len, name);
  }
  out.provenance = {spec, d.kind, path.string(), sha256_file(path), std::filesystem::file_size(path),
                    static_cast<int64_t>(out.tokens.size())};
  return out;
}

}  // namespace qlab
