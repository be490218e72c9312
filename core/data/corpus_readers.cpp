#include "data/corpus_readers.h"

#include <zlib.h>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {
std::vector<std::string> split_lines_keep_newline(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string read_maybe_gz(const std::filesystem::path& path) {
  if (path.extension() != ".gz") return read_text_file(path);
  require_regular_file(path);  // gzopen would block on a FIFO
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail("{}: cannot open", path.string());
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string error_text = err < 0 ? msg : "";
  gzclose(f);
  if (n < 0 || !error_text.empty()) fail("{}: not a valid gzip file: {}", path.string(), error_text);
  return out;
}
}  // namespace

std::string strip(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

std::vector<std::string> read_wikitext_rows(const std::filesystem::path& path) {
  std::vector<std::string> rows = split_lines_keep_newline(read_text_file(path));
  for (std::string& row : rows)
    if (strip(row).empty()) row.clear();
  return rows;
}

std::vector<std::string> read_ptb_sentences(const std::filesystem::path& path) {
  std::vector<std::string> rows = split_lines_keep_newline(read_text_file(path));
  for (std::string& row : rows) row = strip(row);
  return rows;
}

std::vector<std::string> read_json_lines_text(const std::filesystem::path& path) {
  const std::string text = read_maybe_gz(path);
  std::vector<std::string> docs;
  size_t start = 0;
  int64_t line_no = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string::npos ? text.size() : nl;
    ++line_no;
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (strip(std::string(line)).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) fail("{}:{}: not a JSON line", path.string(), line_no);
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      fail("{}:{}: JSON line without a string 'text' field", path.string(), line_no);
    docs.push_back(j["text"].get<std::string>());
  }
  if (docs.empty()) fail("{}: no JSON lines with text", path.string());
  return docs;
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> rows = split_lines_keep_newline(read_text_file(path));
  for (std::string& row : rows)
    if (!row.empty() && row.back() == '\n') row.pop_back();
  return rows;
}

std::string join(const std::vector<std::string>& rows, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) out += separator;
    out += rows[i];
  }
  return out;
}

}  // namespace qlab
