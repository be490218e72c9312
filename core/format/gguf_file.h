// GGUF files (llama.cpp's format, ggml/src/gguf.cpp), version 3, little-endian:
//   "GGUF", u32 version, i64 n_tensors, i64 n_kv,
//   n_kv × (string key, u32 type, value)        strings are u64 length + bytes, no NUL;
//                                               arrays are u32 elem_type, u64 n, elems
//   n_tensors × (string name, u32 n_dims, i64 ne[n_dims], i32 ggml_type, u64 offset)
//   zero padding to general.alignment (u32, a power of 2, default 32), then the data: each
//   tensor at its offset, the running sum of the previous tensors' sizes padded to the
//   alignment. ne[0] is the contiguous dimension: a row-major (out, in) matrix is ne = [in, out].
// The reader checks the whole header against the file before anything is used, as strictly
// as llama.cpp does (offsets in info order, ne[0] a whole number of blocks, typed keys), so a
// file it accepts is one llama.cpp loads; every error names the file and the key or tensor.
// The writer streams the tensors to a temporary file renamed on finish().
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/ggml_blocks.h"
#include "tensor/tensor.h"

namespace qlab {

// gguf_type ids.
enum class GgufType : uint32_t { u8 = 0, i8, u16, i16, u32, i32, f32, boolean, string, array, u64, i64, f64 };
const char* gguf_type_name(GgufType t);  // "u32", "string", "array", ...

// One metadata value: a scalar, a string, or an array of scalars or of strings. The typed
// accessors fail naming the file and key (`where`, set when read) unless the type is exactly
// the one asked for: llama.cpp refuses a u32 key written as i32.
struct GgufValue {
  GgufType type = GgufType::u32;
  GgufType elem_type = GgufType::u8;  // arrays only
  std::vector<uint8_t> bytes;         // fixed-size scalars and array elements, little-endian
  std::vector<std::string> strings;   // the string, or an array's strings
  std::string file, key;              // where it was read from, for the errors

  static GgufValue of_u8(uint8_t v);
  static GgufValue of_i8(int8_t v);
  static GgufValue of_u16(uint16_t v);
  static GgufValue of_i16(int16_t v);
  static GgufValue of_u32(uint32_t v);
  static GgufValue of_i32(int32_t v);
  static GgufValue of_f32(float v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  static GgufValue of_u64(uint64_t v);
  static GgufValue of_i64(int64_t v);
  static GgufValue of_f64(double v);
  // An array of a fixed-size type from its little-endian element bytes.
  static GgufValue of_array(GgufType elem, std::vector<uint8_t> element_bytes);
  static GgufValue of_strings(std::vector<std::string> v);
  static GgufValue of_f32s(std::span<const float> v);
  static GgufValue of_i32s(std::span<const int32_t> v);

  uint8_t u8() const;
  int8_t i8() const;
  uint16_t u16() const;
  int16_t i16() const;
  uint32_t u32() const;
  int32_t i32() const;
  float f32() const;
  bool boolean() const;
  const std::string& str() const;
  uint64_t u64() const;
  int64_t i64() const;
  double f64() const;
  uint64_t array_size() const;  // fails unless an array
  const std::vector<std::string>& str_array() const;
  std::vector<float> f32_array() const;
  std::vector<int32_t> i32_array() const;
  std::vector<uint32_t> u32_array() const;
  // "u32", or "array[f32]".
  std::string type_text() const;

 private:
  void expect(GgufType t) const;
  void expect_array(GgufType elem) const;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ne[0] contiguous
  uint64_t offset = 0;      // inside the data section
  uint64_t bytes = 0;
  int64_t numel() const;
  int64_t rows() const;  // product of ne[1..]
};

class GgufWriter {
 public:
  // Writes to path + ".tmp", renamed to path by finish(). Refuses an existing path unless
  // overwrite is set.
  explicit GgufWriter(const std::filesystem::path& path, bool overwrite = false);
  ~GgufWriter();  // without finish(): closes and removes the temporary file
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata, in file order; keys are unique. All of it comes before the first tensor.
  void add(const std::string& key, GgufValue value);
  void add_u32(const std::string& key, uint32_t v) { add(key, GgufValue::of_u32(v)); }
  void add_i32(const std::string& key, int32_t v) { add(key, GgufValue::of_i32(v)); }
  void add_f32(const std::string& key, float v) { add(key, GgufValue::of_f32(v)); }
  void add_bool(const std::string& key, bool v) { add(key, GgufValue::of_bool(v)); }
  void add_string(const std::string& key, std::string v) { add(key, GgufValue::of_string(std::move(v))); }
  void add_strings(const std::string& key, std::vector<std::string> v) { add(key, GgufValue::of_strings(std::move(v))); }
  void add_f32s(const std::string& key, std::span<const float> v) { add(key, GgufValue::of_f32s(v)); }
  void add_i32s(const std::string& key, std::span<const int32_t> v) { add(key, GgufValue::of_i32s(v)); }

  // Every tensor is declared (in file order) before the first is written.
  void declare_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne);
  // The next declared tensor's bytes (exactly its size); the header goes out before the first.
  void write_tensor(const std::string& name, std::span<const uint8_t> bytes);
  // Checks every declared tensor was written, then renames the file into place.
  void finish();

 private:
  void write_header();
  void write(const void* data, size_t n);
  void pad();
  std::string path_, tmp_;
  std::FILE* out_ = nullptr;
  uint64_t written_ = 0, alignment_ = 32, data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<GgufTensorInfo> tensors_;
  size_t next_ = 0;  // the next tensor to write
  bool header_written_ = false, finished_ = false;
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::filesystem::path& path);
  // Parses and checks an in-memory file image, which must outlive the result (the fuzzer's
  // entry, and the tests'); `name` stands for the file in errors.
  static std::unique_ptr<GgufFile> parse(const uint8_t* data, uint64_t size, const std::string& name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_start() const { return data_start_; }  // file offset of the data section

  bool has(const std::string& key) const { return kv_index_.count(key) > 0; }
  const GgufValue& value(const std::string& key) const;  // fails naming file and key when absent
  const std::vector<std::pair<std::string, GgufValue>>& kvs() const { return kvs_; }  // file order
  uint32_t u32(const std::string& key) const { return value(key).u32(); }
  float f32(const std::string& key) const { return value(key).f32(); }
  const std::string& str(const std::string& key) const { return value(key).str(); }

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // file order
  bool has_tensor(const std::string& name) const { return tensor_index_.count(name) > 0; }
  const GgufTensorInfo& tensor(const std::string& name) const;
  std::span<const uint8_t> bytes(const std::string& name) const;
  // Dequantized to float32: rows = product of ne[1..], cols = ne[0].
  Matrix to_matrix(const std::string& name) const;
  // Rows `ids` of the tensor (only their bytes are read).
  Matrix rows(const std::string& name, std::span<const int32_t> ids) const;

 private:
  GgufFile() = default;
  void parse_image();
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;  // map_ is ours to munmap
  uint32_t version_ = 0;
  uint64_t alignment_ = 32, data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// True when `path` is a regular file beginning with GGUF's magic (a FIFO is never read).
bool is_gguf_file(const std::filesystem::path& path);

}  // namespace qlab
