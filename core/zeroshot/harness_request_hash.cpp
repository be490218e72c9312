#include "zeroshot/harness_request_hash.h"

#include <fmt/format.h>

#include "util/sha256.h"
#include "zeroshot/tasks/python_str.h"

namespace qlab {

namespace {
void append_json_string(std::string& out, const std::string& text) {
  out += '"';
  for (char32_t c : utf8_decode(text)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c >= 0x20 && c <= 0x7E) {
          out += static_cast<char>(c);
        } else if (c < 0x10000) {
          out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
        } else {
          const uint32_t v = static_cast<uint32_t>(c) - 0x10000;
          out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        }
    }
  }
  out += '"';
}

std::string hash_of(const TaskData& task, int group, bool all_groups) {
  std::vector<std::pair<std::string, std::string>> requests;
  const int copies = task.kind == TaskKind::target_word ? 2 : 1;
  for (const TaskDoc& doc : task.docs) {
    if (!all_groups && doc.group != group) continue;
    for (const LoglikelihoodRequest& r : doc.requests)
      for (int i = 0; i < copies; ++i) requests.emplace_back(r.context, r.continuation);
  }
  return sha256_hex(python_json_dumps(requests));
}
}  // namespace

std::string python_json_dumps(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out = "[";
  for (size_t i = 0; i < pairs.size(); ++i) {
    out += i == 0 ? "[" : ", [";
    append_json_string(out, pairs[i].first);
    out += ", ";
    append_json_string(out, pairs[i].second);
    out += "]";
  }
  return out + "]";
}

std::string v0_3_request_hash(const TaskData& task) { return hash_of(task, 0, true); }

std::string v0_3_request_hash_of_group(const TaskData& task, int group) { return hash_of(task, group, false); }

}  // namespace qlab
