#include "tokenizer/tokenizer_loader.h"

#include "format/gguf_file.h"
#include "tokenizer/gguf_vocabulary.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level_bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/metaspace_bpe_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

bool mentions_byte_level(const nlohmann::json& node) {
  if (node.is_object()) {
    if (node.value("type", "") == "ByteLevel") return true;
    for (const auto& [k, v] : node.items())
      if (mentions_byte_level(v)) return true;
  } else if (node.is_array()) {
    for (const auto& v : node)
      if (mentions_byte_level(v)) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<Tokenizer> parse_tokenizer_json(const std::string& text, const std::string& name) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", name);
  try {  // any field of the wrong type or shape becomes an error naming the file
    if (!j.contains("model") || !j["model"].is_object()) fail("{}: no 'model' section", name);
    const std::string type = j["model"].value("type", "BPE");
    if (type != "BPE") fail("{}: tokenizer model type '{}' is not supported (BPE only)", name, type);
    if (!j["model"].contains("vocab") || !j["model"]["vocab"].is_object() || !j["model"].contains("merges") ||
        !j["model"]["merges"].is_array())
      fail("{}: BPE model needs a 'vocab' object and a 'merges' array", name);
    if (mentions_byte_level(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json()))
      return ByteLevelBpeTokenizer::from_tokenizer_json(j, name);
    return MetaspaceBpeTokenizer::from_tokenizer_json(j, name);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed tokenizer.json: {}", name, e.what());
  }
}

namespace {

std::filesystem::path find_in_dir(const std::filesystem::path& dir) {
  for (const char* name : {"tokenizer.model", "tokenizer.json", "vocab.json", "tokenizer.bin"})
    if (path_kind(dir / name) != PathKind::missing) return dir / name;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string n = entry.path().filename().string();
    if (n.rfind("tok", 0) == 0 && entry.path().extension() == ".bin") return entry.path();
  }
  return {};
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  const PathKind kind = path_kind(path);
  if (kind == PathKind::missing) fail("{}: no such tokenizer file or directory", path.string());
  if (kind == PathKind::directory) {
    std::filesystem::path found = find_in_dir(path);
    if (found.empty())
      fail("{}: no tokenizer here (looked for tokenizer.model, tokenizer.json, vocab.json + merges.txt, tokenizer.bin)", path.string());
    return load_tokenizer(found);
  }
  const std::string name = path.filename().string(), ext = path.extension().string();
  if (ext == ".model") return SentencePieceTokenizer::load(path);
  if (name == "vocab.json") {
    const auto merges = path.parent_path() / "merges.txt";
    if (path_kind(merges) == PathKind::missing) fail("{}: byte-level BPE needs merges.txt beside it", path.string());
    return ByteLevelBpeTokenizer::from_vocab_merges(path, merges);
  }
  if (ext == ".json") return parse_tokenizer_json(read_text_file(path), path.string());
  if (ext == ".bin") return std::make_unique<Llama2cTokenizer>(Llama2cTokenizer::load(path));
  fail("{}: unknown tokenizer file (expected tokenizer.model, tokenizer.json, vocab.json or a llama2.c .bin)", path.string());
}

std::unique_ptr<Tokenizer> load_tokenizer_for(const Model& model, const std::filesystem::path& explicit_path) {
  const std::filesystem::path source(model.source);
  const bool llama2c = !std::filesystem::is_directory(source);
  std::filesystem::path path = explicit_path;
  if (path.empty() && !llama2c) path = source;
  if (path.empty() && is_gguf_file(source)) return gguf_tokenizer(source);  // the vocabulary travels inside
  if (path.empty()) {
    for (const std::string& candidate : {fmt::format("tok{}.bin", model.config.vocab_size), std::string("tokenizer.bin")})
      if (path_kind(source.parent_path() / candidate) != PathKind::missing) {
        path = source.parent_path() / candidate;
        break;
      }
    if (path.empty())
      fail("{}: no tokenizer given and none beside it (looked for tok{}.bin, tokenizer.bin); pass --tokenizer",
           model.source, model.config.vocab_size);
  }
  std::unique_ptr<Tokenizer> tok = load_tokenizer(path);
  const bool fits = llama2c ? tok->vocab_size() == model.config.vocab_size : tok->vocab_size() <= model.config.vocab_size;
  if (!fits)
    fail("{}: tokenizer has {} tokens but the model {} has a vocabulary of {}", tok->source(), tok->vocab_size(),
         model.source, model.config.vocab_size);
  return tok;
}

}  // namespace qlab
