#include "tokenizer/metaspace_bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include "tokenizer/bpe_merge.h"
#include "tokenizer/tokenizer_json_fields.h"
#include "util/error.h"

namespace qlab {

namespace {
const std::string kMeta = "\xE2\x96\x81";  // ▁

// The prepend scheme from either form LLaMA tokenizer.json files take.
bool find_prepend(const nlohmann::json& node, std::string& scheme) {
  if (node.is_object()) {
    const std::string type = node.value("type", "");
    if (type == "Prepend") return scheme = "always", true;
    if (type == "Metaspace") {
      scheme = node.value("prepend_scheme", node.value("add_prefix_space", true) ? "always" : "never");
      return true;
    }
    for (const char* key : {"normalizers", "pretokenizers"})
      if (node.contains(key))
        for (const auto& child : node[key])
          if (find_prepend(child, scheme)) return true;
  }
  return false;
}
}  // namespace

std::unique_ptr<MetaspaceBpeTokenizer> MetaspaceBpeTokenizer::from_tokenizer_json(const nlohmann::json& j,
                                                                                  const std::string& path) {
  std::unique_ptr<MetaspaceBpeTokenizer> t(new MetaspaceBpeTokenizer());
  t->source_ = path;
  const auto& model = j.at("model");
  for (const AddedToken& a : read_vocabulary(j, path, t->ids_))
    if (a.special) t->specials_.push_back({a.content, a.id});
  t->pieces_.assign(t->ids_.size(), "");
  for (const auto& [piece, id] : t->ids_) {
    if (id < 0 || id >= static_cast<int32_t>(t->ids_.size())) fail("{}: token ids must be 0..{}, found {}", path, t->ids_.size() - 1, id);
    t->pieces_[static_cast<size_t>(id)] = piece;
  }
  int32_t rank = 0;
  for (const auto& m : model.at("merges")) {
    const auto [left, right] = merge_pair(m, path, rank);
    auto l = t->ids_.find(left), r = t->ids_.find(right), merged = t->ids_.find(left + right);
    if (l == t->ids_.end() || r == t->ids_.end() || merged == t->ids_.end())
      fail("{}: merge '{} {}' (rank {}) names a token missing from the vocabulary", path, left, right, rank);
    t->merges_.emplace((static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) | static_cast<uint32_t>(r->second),
                       std::make_pair(rank, merged->second));
    ++rank;
  }
  t->byte_fallback_ = model.value("byte_fallback", false);
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    auto it = t->ids_.find(model.at("unk_token").get<std::string>());
    if (it != t->ids_.end()) t->unk_id_ = it->second;
  }
  std::string scheme = "always";
  if (!find_prepend(j.contains("normalizer") ? j.at("normalizer") : nlohmann::json(), scheme))
    find_prepend(j.contains("pre_tokenizer") ? j.at("pre_tokenizer") : nlohmann::json(), scheme);
  t->prepend_ = scheme == "first" ? Prepend::first : scheme == "never" ? Prepend::never : Prepend::always;
  const auto& post = j.contains("post_processor") ? j.at("post_processor") : nlohmann::json();
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && !post.at("single").empty() &&
      post.at("single").at(0).contains("SpecialToken"))
  {
    const std::string bos = post.at("single").at(0).at("SpecialToken").at("id").get<std::string>();
    auto it = t->ids_.find(bos);
    if (it == t->ids_.end()) fail("{}: the post-processor's BOS '{}' is not in the vocabulary", path, bos);
    t->bos_id_ = it->second;
  }
  if (auto it = t->ids_.find("</s>"); it != t->ids_.end()) t->eos_id_ = it->second;
  return t;
}

void MetaspaceBpeTokenizer::encode_chunk(std::string_view text, bool first, std::vector<int32_t>& out) const {
  std::string normalized;
  if (prepend_ == Prepend::always || (prepend_ == Prepend::first && first)) normalized = kMeta;
  for (char ch : text) normalized += ch == ' ' ? kMeta : std::string(1, ch);
  std::vector<int32_t> symbols;
  for (size_t i = 0; i < normalized.size();) {
    size_t n = 1;
    while (i + n < normalized.size() && (static_cast<unsigned char>(normalized[i + n]) & 0xC0) == 0x80) ++n;
    auto it = ids_.find(normalized.substr(i, n));
    if (it != ids_.end()) {
      symbols.push_back(it->second);
    } else if (byte_fallback_) {
      for (size_t b = 0; b < n; ++b) {
        auto byte = ids_.find(fmt::format("<0x{:02X}>", static_cast<unsigned char>(normalized[i + b])));
        if (byte == ids_.end()) fail("{}: byte_fallback is set but the vocabulary lacks byte tokens", source_);
        symbols.push_back(byte->second);
      }
    } else {
      if (unk_id_ < 0) fail("{}: character not in the vocabulary and no unk_token or byte_fallback", source_);
      symbols.push_back(unk_id_);
    }
    i += n;
  }
  bpe_merge(symbols, [this](int32_t a, int32_t b) -> std::optional<MergeRule> {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
    if (it == merges_.end()) return std::nullopt;
    return MergeRule{static_cast<double>(it->second.first), it->second.second};
  });
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::vector<int32_t> MetaspaceBpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  bool first = true;
  for (const TextChunk& c : split_on_specials(text, specials_)) {
    if (c.special_id >= 0)
      out.push_back(c.special_id);
    else
      encode_chunk(c.text, first, out);
    first = false;
  }
  return out;
}

std::string MetaspaceBpeTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size()) fail("{}: token id {} outside the vocabulary of {}", source_, token, vocab_size());
  for (const SpecialToken& s : specials_)
    if (s.id == token) return "";
  const std::string& piece = pieces_[static_cast<size_t>(token)];
  if (int byte = byte_piece_value(piece); byte >= 0) return std::string(1, static_cast<char>(byte));
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, kMeta) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += piece[i++];
    }
  }
  if ((prev < 0 || prev == bos_id_) && prepend_ != Prepend::never && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace qlab
