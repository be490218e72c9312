// Checked readers for the fields both tokenizer.json encoders take: token ids and merges.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/error.h"

namespace qlab {

// A token id: an integer in 0 .. 2^31−1.
inline int32_t token_id(const nlohmann::json& v, const std::string& path, const std::string& piece) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
    fail("{}: id of token '{}' is not an integer in 0..{}", path, piece, INT32_MAX);
  return static_cast<int32_t>(v.get<int64_t>());
}

// A merge, written "left right" or ["left", "right"].
inline std::pair<std::string, std::string> merge_pair(const nlohmann::json& m, const std::string& path, int32_t rank) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    if (space == std::string::npos) fail("{}: merge {} '{}' is not two tokens", path, rank, s);
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) return {m[0].get<std::string>(), m[1].get<std::string>()};
  fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", path, rank);
}

struct AddedToken {
  std::string content;
  int32_t id;
  bool special;
};

// model.vocab plus added_tokens into `ids`; returns the added tokens.
inline std::vector<AddedToken> read_vocabulary(const nlohmann::json& j, const std::string& path,
                                               std::unordered_map<std::string, int32_t>& ids) {
  for (auto& [piece, id] : j.at("model").at("vocab").items()) ids[piece] = token_id(id, path, piece);
  std::vector<AddedToken> added;
  if (j.contains("added_tokens") && j.at("added_tokens").is_array())
    for (const auto& a : j.at("added_tokens")) {
      const std::string content = a.at("content").get<std::string>();
      added.push_back({content, token_id(a.at("id"), path, content), a.value("special", false)});
      ids[content] = added.back().id;
    }
  return added;
}

}  // namespace qlab
