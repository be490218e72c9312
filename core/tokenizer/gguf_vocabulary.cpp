#include "tokenizer/gguf_vocabulary.h"

#include <algorithm>
#include <cstring>

#include "format/gguf_file.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "util/error.h"

namespace qlab {

std::unique_ptr<Tokenizer> gguf_tokenizer(const std::filesystem::path& path) {
  const std::unique_ptr<GgufFile> f = GgufFile::open(path);
  if (!f->has("tokenizer.ggml.model") || f->str("tokenizer.ggml.model") != "llama")
    fail("{}: no SentencePiece-style tokenizer inside (tokenizer.ggml.model must be 'llama'); pass --tokenizer", path.string());
  const std::vector<std::string>& pieces = f->value("tokenizer.ggml.tokens").str_array();
  const std::vector<float> scores = f->value("tokenizer.ggml.scores").f32_array();
  if (scores.size() != pieces.size())
    fail("{}: {} tokenizer scores for {} tokens", path.string(), scores.size(), pieces.size());
  // As a llama2.c tokenizer image (its BPE merges by score, as llama.cpp's SPM tokenizer does):
  // int32 max length, then per token its score, length and text with ▁ as a space.
  std::vector<uint8_t> image(4, 0);
  uint32_t max_len = 0;
  auto put = [&](const void* p, size_t n) { image.insert(image.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); };
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string text;  // ▁ (U+2581) back to a space
    for (size_t k = 0; k < pieces[i].size();) {
      const bool space = pieces[i].compare(k, 3, "\xE2\x96\x81") == 0;
      text += space ? ' ' : pieces[i][k];
      k += space ? 3 : 1;
    }
    const int32_t len = static_cast<int32_t>(text.size());
    max_len = std::max<uint32_t>(max_len, static_cast<uint32_t>(len));
    put(&scores[i], 4);
    put(&len, 4);
    put(text.data(), text.size());
  }
  std::memcpy(image.data(), &max_len, 4);
  return std::make_unique<Llama2cTokenizer>(Llama2cTokenizer::parse(image, path.string()));
}

}  // namespace qlab
