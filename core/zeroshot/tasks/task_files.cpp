#include "zeroshot/tasks/task_files.h"

#include <charconv>

#include "util/error.h"
#include "util/file_io.h"
#include "zeroshot/tasks/python_str.h"
#include "zeroshot/tasks/release_checksums.h"

namespace qlab {

namespace {
std::string location(const std::filesystem::path& path, int64_t line) { return fmt::format("{}:{}", path.string(), line); }

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

// The text's lines without their '\n', numbered from 1; a final newline ends the last line.
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  int64_t number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    visit(text.substr(start, end - start), ++number);
    start = end + 1;
  }
}
}  // namespace

bool task_file_exists(const TaskLayout& layout, const std::string& relative) {
  return path_kind(layout.data_dir / relative) != PathKind::missing;
}

std::string read_task_file(TaskData& task, const TaskLayout& layout, const std::string& relative) {
  const std::filesystem::path path = layout.data_dir / relative;
  if (!task_file_exists(layout, relative))
    fail("{}: no such file; task '{}' reads {} under the data directory {} (the layout of shared/data/zeroshot)",
         path.string(), task.name, layout.expected, layout.data_dir.string());
  std::string text = read_text_file(path);
  task.files.push_back(path.string());
  task.checksum_notes.push_back(checksum_note(relative, text));
  return text;
}

std::vector<JsonRow> parse_json_lines(const std::filesystem::path& path, std::string_view text) {
  std::vector<JsonRow> rows;
  int64_t blank_line = 0;  // the first blank line seen, allowed only if nothing follows it
  for_each_line(text, [&](std::string_view line, int64_t number) {
    if (is_blank(line)) {
      if (blank_line == 0) blank_line = number;
      return;
    }
    if (blank_line != 0) fail("{}: blank line inside the file", location(path, blank_line));
    JsonRow row{{}, location(path, number)};
    try {
      row.value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}: bad JSON: {}", row.where, e.what());
    }
    if (!row.value.is_object()) fail("{}: expected a JSON object, got {}", row.where, row.value.type_name());
    rows.push_back(std::move(row));
  });
  return rows;
}

const nlohmann::json& json_field(const JsonRow& row, const char* key) {
  auto it = row.value.find(key);
  if (it == row.value.end()) fail("{}: missing field '{}'", row.where, key);
  return *it;
}

JsonRow object_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  if (!value.is_object()) fail("{}: field '{}' is a {}, expected an object", row.where, key, value.type_name());
  return {value, row.where};
}

std::vector<JsonRow> object_list_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  std::vector<JsonRow> out;
  if (value.is_array())
    for (const nlohmann::json& item : value)
      if (item.is_object()) out.push_back({item, row.where});
  if (!value.is_array() || out.size() != value.size())
    fail("{}: field '{}' is not a list of objects", row.where, key);
  return out;
}

std::string string_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  if (!value.is_string()) fail("{}: field '{}' is a {}, expected a string", row.where, key, value.type_name());
  return value.get<std::string>();
}

std::vector<std::string> string_list_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  std::vector<std::string> out;
  if (value.is_array())
    for (const nlohmann::json& item : value)
      if (item.is_string()) out.push_back(item.get<std::string>());
  if (!value.is_array() || out.size() != value.size())
    fail("{}: field '{}' is not a list of strings", row.where, key);
  return out;
}

int64_t integer_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  if (!value.is_number_integer()) fail("{}: field '{}' is a {}, expected an integer", row.where, key, value.type_name());
  return value.get<int64_t>();
}

bool bool_field(const JsonRow& row, const char* key) {
  const nlohmann::json& value = json_field(row, key);
  if (value.is_boolean()) return value.get<bool>();
  const std::string text = value.is_string() ? value.get<std::string>() : "";
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  fail("{}: field '{}' is {}, expected true or false", row.where, key, value.dump());
}

std::vector<CsvRecord> parse_csv(const std::filesystem::path& path, std::string_view text) {
  int64_t line = 1;
  if (size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    for (size_t i = 0; i < bad; ++i) line += text[i] == '\n';
    fail("{}: malformed UTF-8", location(path, line));
  }
  size_t pos = 0;
  auto end_of_record = [&](size_t at) {
    return text[at] == '\n' || (text[at] == '\r' && at + 1 < text.size() && text[at + 1] == '\n');
  };
  auto skip_record_end = [&] {
    pos += text[pos] == '\r' ? 2 : 1;
    ++line;
  };
  std::vector<CsvRecord> records;
  while (pos < text.size()) {
    if (end_of_record(pos)) {  // a blank line: csv.reader yields [], which readers skip
      skip_record_end();
      continue;
    }
    CsvRecord record{{}, location(path, line)};
    for (bool more = true; more;) {
      std::string& field_text = record.fields.emplace_back();
      if (pos < text.size() && text[pos] == '"') {  // quoted: up to the lone closing quote
        const int64_t opened = line;
        for (++pos;; ++pos) {
          if (pos >= text.size()) fail("{}: quoted field never closed", location(path, opened));
          if (text[pos] == '"' && !(pos + 1 < text.size() && text[pos + 1] == '"')) break;
          if (text[pos] == '"') ++pos;  // "" stands for one quote
          if (text[pos] == '\n') ++line;
          field_text += text[pos];
        }
        ++pos;
        if (pos < text.size() && text[pos] != ',' && !end_of_record(pos))
          fail("{}: unexpected character after a closing quote", location(path, line));
      } else {
        while (pos < text.size() && text[pos] != ',' && !end_of_record(pos)) field_text += text[pos++];
      }
      more = pos < text.size() && text[pos] == ',';
      pos += more;
    }
    if (pos < text.size()) skip_record_end();
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<LabelLine> parse_labels(const std::filesystem::path& path, std::string_view text, int64_t lo, int64_t hi) {
  std::vector<LabelLine> labels;
  for_each_line(text, [&](std::string_view line, int64_t number) {
    const size_t first = line.find_first_not_of(" \t\r"), last = line.find_last_not_of(" \t\r");
    const std::string_view digits = first == std::string_view::npos ? "" : line.substr(first, last - first + 1);
    int64_t label = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), label);
    if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() || label < lo || label > hi)
      fail("{}: expected a label {}..{}, got '{}'", location(path, number), lo, hi, line);
    labels.push_back({label, location(path, number)});
  });
  return labels;
}

}  // namespace qlab
