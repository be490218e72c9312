#include "data/calibration.h"

#include <filesystem>

#include "data/corpus_readers.h"
#include "data/memory_budget.h"
#include "data/python_random.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/sha256.h"

namespace qlab {

namespace {

void windows_of_stream(const std::vector<int32_t>& stream, const CalibrationSpec& spec, PythonRandom& rng,
                       CalibrationSet& out, const std::string& path) {
  const int64_t n = static_cast<int64_t>(stream.size());
  if (n <= spec.seq_len) fail("{}: {} tokens, too few for calibration windows of {}", path, n, spec.seq_len);
  for (int64_t s = 0; s < spec.n_segments; ++s) {
    int64_t i = rng.randint(0, n - spec.seq_len - 1);
    out.segments.emplace_back(stream.begin() + i, stream.begin() + i + spec.seq_len);
    out.document.push_back(-1);
    out.start.push_back(i);
  }
}

void gptq_documents(const std::vector<std::string>& docs, const CalibrationSpec& spec, const Tokenizer& tok,
                    PythonRandom& rng, CalibrationSet& out, const std::string& path) {
  for (int64_t s = 0; s < spec.n_segments; ++s) {
    std::vector<int32_t> ids;
    int64_t doc = 0;
    for (int64_t tries = 0;; ++tries) {
      if (tries > 100000) fail("{}: no document with at least {} tokens after 100000 draws", path, spec.seq_len);
      doc = rng.randint(0, static_cast<int64_t>(docs.size()) - 1);
      ids = encode_data(tok, docs[static_cast<size_t>(doc)], path);
      if (static_cast<int64_t>(ids.size()) >= spec.seq_len) break;
    }
    // A document of exactly seq_len tokens leaves randint(0, −1): Python raises there too.
    int64_t i = rng.randint(0, static_cast<int64_t>(ids.size()) - spec.seq_len - 1);
    out.segments.emplace_back(ids.begin() + i, ids.begin() + i + spec.seq_len);
    out.document.push_back(doc);
    out.start.push_back(i);
  }
}

void awq_lines(const std::vector<std::string>& lines, const CalibrationSpec& spec, const Tokenizer& tok,
               CalibrationSet& out, const std::string& path) {
  std::vector<int32_t> all;
  int64_t kept = 0;
  for (size_t i = 0; i < lines.size() && kept < spec.n_segments; ++i) {
    std::vector<int32_t> ids = encode_data(tok, strip(lines[i]), path);
    if (static_cast<int64_t>(ids.size()) > spec.seq_len || ids.empty()) continue;
    all.insert(all.end(), ids.begin(), ids.end());
    ++kept;
  }
  for (int64_t b = 0; (b + 1) * spec.seq_len <= static_cast<int64_t>(all.size()); ++b) {
    out.segments.emplace_back(all.begin() + b * spec.seq_len, all.begin() + (b + 1) * spec.seq_len);
    out.document.push_back(-1);
    out.start.push_back(b * spec.seq_len);
  }
}

}  // namespace

void check_calibration_tokens_fit(const CalibrationSpec& spec) {
  require_memory(static_cast<double>(spec.n_segments) * static_cast<double>(spec.seq_len) * sizeof(int32_t), "calibration",
                 fmt::format("{} segments × {} tokens × 4 bytes", spec.n_segments, spec.seq_len));
}

CalibrationSet sample_calibration(const CalibrationSpec& spec, const Tokenizer& tok) {
  if (spec.n_segments <= 0) fail("calibration: n_segments must be positive, got {}", spec.n_segments);
  if (spec.seq_len < 2) fail("calibration: seq_len must be at least 2, got {}", spec.seq_len);
  check_calibration_tokens_fit(spec);
  const DataSpec d = parse_data_spec(spec.data);
  const std::filesystem::path path =
      resolve_data_path(d, d.kind == "wikitext2" ? "wiki.train.raw" : d.kind == "ptb" ? "ptb.train.txt" : "c4-train.00000-of-01024.json.gz");
  const std::string name = path.string();
  CalibrationSet out;
  PythonRandom rng(spec.seed);
  const bool json = path.extension() == ".gz" || path.extension() == ".json" || path.extension() == ".jsonl";
  if (spec.sampler == Sampler::awq) {
    awq_lines(json ? read_json_lines_text(path) : read_lines(path), spec, tok, out, name);
    if (out.segments.empty()) fail("{}: the kept lines make no block of {} tokens", path.string(), spec.seq_len);
  } else {
    if (d.kind == "c4")
      gptq_documents(read_json_lines_text(path), spec, tok, rng, out, name);
    else if (d.kind == "wikitext2")
      windows_of_stream(encode_data(tok, join(read_wikitext_rows(path), " "), name), spec, rng, out, name);
    else if (d.kind == "ptb")
      windows_of_stream(encode_data(tok, join(read_ptb_sentences(path), " "), name), spec, rng, out, name);
    else if (d.kind == "text")
      windows_of_stream(encode_data(tok, read_text_file(path), name), spec, rng, out, name);
    else
      fail("calibration data '{}': kind '{}' has no GPTQ sampler (use c4, wikitext2, ptb or text)", spec.data, d.kind);
  }
  int64_t n_tokens = 0;
  for (const auto& s : out.segments) n_tokens += static_cast<int64_t>(s.size());
  out.provenance = {spec.data, d.kind, path.string(), sha256_file(path), std::filesystem::file_size(path), n_tokens};
  return out;
}

}  // namespace qlab
