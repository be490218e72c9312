// safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// Files are memory-mapped; the header is checked against the file before any tensor is
// read (offsets inside the data, sizes matching shape × dtype), and every error names the
// file and the tensor. A sharded checkpoint is a model.safetensors.index.json whose
// weight_map sends each tensor name to its shard.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qlab {

// Readable as float: f32, f16, bf16; kept as integers: i32, u8; others are recognised so a
// header stays valid, but refused when read.
enum class Dtype { f32, f16, bf16, i32, u8, f64, i64, i16, i8, boolean };
const char* dtype_name(Dtype d);

struct TensorInfo {
  Dtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets inside the data section
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Parses and checks the header of an in-memory file image (used directly by the fuzzer).
  static std::map<std::string, TensorInfo> parse_header(const uint8_t* data, uint64_t size, const std::string& name,
                                                        uint64_t* data_start);
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;
  // The tensor converted to float32, as a rows × cols matrix (1-D tensors: 1 × n).
  Matrix to_matrix(const std::string& name) const;
  Vector to_vector(const std::string& name) const;
  // Rows `ids` of a 2-D tensor in float32 (only their bytes are read).
  Matrix rows(const std::string& name, std::span<const int32_t> ids) const;
  // Raw integer tensors (codes, indices).
  std::vector<int32_t> to_i32(const std::string& name) const;
  // Drops the map's resident pages from this process (they are read again from the file when
  // next touched). Releasing per tensor is not enough: a fault maps the neighbouring pages of
  // the file back (the kernel's fault-around), so the walked file would creep into RSS.
  void release() const;
  // Fails naming the file when it was deleted, replaced or resized since it was opened: the
  // map would go on reading the old file, or fault on a truncated one.
  void check_unchanged() const;

 private:
  SafetensorsFile() = default;
  // Elements [first, first + count) of the tensor (count < 0: all of it) into out.
  void convert(const std::string& name, float* out, int64_t first = 0, int64_t count = -1) const;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0, data_start_ = 0;
  uint64_t device_ = 0, inode_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

// One or many files: a model directory's model.safetensors, or its index and shards.
class SafetensorsSet {
 public:
  static SafetensorsSet open_dir(const std::filesystem::path& dir);
  bool has(const std::string& name) const { return owner_.count(name) > 0; }
  const SafetensorsFile& file_of(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }
  void release() const;          // every file's release()
  void check_unchanged() const;  // every file's check_unchanged()

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> owner_;
};

// Writes float32 tensors (row-major, any shape) and integer tensors to one file.
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // little-endian, dtype-sized elements
};
TensorToWrite f32_tensor(const std::string& name, std::vector<int64_t> shape, const float* data);
TensorToWrite f16_tensor(const std::string& name, std::vector<int64_t> shape, const float* data);  // rounded to nearest even
TensorToWrite i32_tensor(const std::string& name, std::vector<int64_t> shape, const int32_t* data);
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qlab
