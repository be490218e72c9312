// The zero-shot data files as rows: a whole-file read that records the file and its checksum
// note in the task, then JSON lines, RFC 4180 CSV records or one label per line, each row
// carrying its "file:line" so every complaint about it names where it is.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "zeroshot/task.h"

namespace qlab {

// Where a task's files live under the data directory, for the "no such file" message.
struct TaskLayout {
  std::filesystem::path data_dir;
  std::string expected;  // e.g. "piqa/dev.jsonl and piqa/dev-labels.lst"
};

bool task_file_exists(const TaskLayout& layout, const std::string& relative);
// Reads `relative` under layout.data_dir, failing when it is missing (naming the file and the
// expected layout); appends its path to task.files and its checksum note to task.checksum_notes.
std::string read_task_file(TaskData& task, const TaskLayout& layout, const std::string& relative);

struct JsonRow {
  nlohmann::json value;  // an object
  std::string where;     // "file:line"
};
// One JSON object per line; blank lines end the file only (a blank line inside it fails).
std::vector<JsonRow> parse_json_lines(const std::filesystem::path& path, std::string_view text);
// row.value[key], failing with "file:line: missing field 'key'"; the typed ones also fail
// naming the field when its value has another type.
const nlohmann::json& json_field(const JsonRow& row, const char* key);
JsonRow object_field(const JsonRow& row, const char* key);
std::vector<JsonRow> object_list_field(const JsonRow& row, const char* key);
std::string string_field(const JsonRow& row, const char* key);
std::vector<std::string> string_list_field(const JsonRow& row, const char* key);
int64_t integer_field(const JsonRow& row, const char* key);
bool bool_field(const JsonRow& row, const char* key);  // true/false, or SuperGLUE's "true"/"false"

struct CsvRecord {
  std::vector<std::string> fields;
  std::string where;  // "file:line" of the record's first line
};
// Comma-separated records as Python's csv module reads them: quoted fields with "" for a
// quote and embedded newlines, LF or CRLF record ends; blank lines are skipped. Fails on
// malformed UTF-8, a stray quote in a quoted field or an unterminated one.
std::vector<CsvRecord> parse_csv(const std::filesystem::path& path, std::string_view text);

struct LabelLine {
  int64_t label;
  std::string where;
};
// A labels file: one integer in [lo, hi] per line (surrounding spaces allowed).
std::vector<LabelLine> parse_labels(const std::filesystem::path& path, std::string_view text, int64_t lo, int64_t hi);

}  // namespace qlab
