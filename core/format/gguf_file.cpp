#include "format/gguf_file.h"
#include <fstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fmt/ranges.h>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {
struct GgufTypeRow {
  GgufType type;
  const char* name;
  uint64_t size;  // bytes of one value; 0 for string and array
};
constexpr GgufTypeRow kGgufTypes[] = {
    {GgufType::u8, "u8", 1},         {GgufType::i8, "i8", 1},         {GgufType::u16, "u16", 2},
    {GgufType::i16, "i16", 2},       {GgufType::u32, "u32", 4},       {GgufType::i32, "i32", 4},
    {GgufType::f32, "f32", 4},       {GgufType::boolean, "bool", 1},  {GgufType::string, "string", 0},
    {GgufType::array, "array", 0},   {GgufType::u64, "u64", 8},       {GgufType::i64, "i64", 8},
    {GgufType::f64, "f64", 8},
};
constexpr uint32_t kGgufTypeCount = 13;
constexpr uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr size_t kMaxNameBytes = 63;    // GGML_MAX_NAME - 1: ggml keeps names in a 64-byte array
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;               // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, one dimension

uint64_t type_size(GgufType t) { return kGgufTypes[static_cast<uint32_t>(t)].size; }

uint64_t pad_to(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

template <typename T>
GgufValue scalar(GgufType type, T v) {
  GgufValue out;
  out.type = type;
  out.bytes.resize(sizeof(T));
  std::memcpy(out.bytes.data(), &v, sizeof(T));
  return out;
}

template <typename T>
T load(const std::vector<uint8_t>& bytes, size_t i = 0) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

// The value's own shape must agree with its type: a writer-made value is checked before it
// is written, so the file cannot come out unreadable.
void check_value_shape(const std::string& file, const std::string& key, const GgufValue& v) {
  const uint32_t t = static_cast<uint32_t>(v.type), e = static_cast<uint32_t>(v.elem_type);
  if (t >= kGgufTypeCount) fail("{}: key '{}' has unknown value type {}", file, key, t);
  if (v.type == GgufType::string) {
    if (v.strings.size() != 1) fail("{}: key '{}' is a string but holds {} strings", file, key, v.strings.size());
  } else if (v.type == GgufType::array) {
    if (e >= kGgufTypeCount || v.elem_type == GgufType::array)
      fail("{}: key '{}' is an array of {}, which GGUF does not allow", file, key, e < kGgufTypeCount ? gguf_type_name(v.elem_type) : "?");
    if (v.elem_type != GgufType::string && v.bytes.size() % type_size(v.elem_type) != 0)
      fail("{}: key '{}' holds {} bytes, not a whole number of {} elements", file, key, v.bytes.size(), gguf_type_name(v.elem_type));
  } else if (v.bytes.size() != type_size(v.type)) {
    fail("{}: key '{}' holds {} bytes, but a {} has {}", file, key, v.bytes.size(), gguf_type_name(v.type), type_size(v.type));
  }
}

// Reads the file image front to back; every read is checked against the end of the image
// and a short one names what was being read.
struct Cursor {
  const uint8_t* data;
  uint64_t size, pos;
  const std::string& file;
  std::string what;

  void need(uint64_t n) const {
    if (n > size - pos)
      fail("{}: truncated {}: {} bytes needed at offset {}, but the file has {} bytes", file, what, n, pos, size);
  }
  void raw(void* out, uint64_t n) {
    need(n);
    if (n > 0) std::memcpy(out, data + pos, n);  // an empty array's buffer may be null
    pos += n;
  }
  uint32_t u32() {
    uint32_t v;
    raw(&v, 4);
    return v;
  }
  uint64_t u64() {
    uint64_t v;
    raw(&v, 8);
    return v;
  }
  int64_t i64() {
    int64_t v;
    raw(&v, 8);
    return v;
  }
  std::string str() {
    const uint64_t n = u64();
    need(n);
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  }
  uint64_t remaining() const { return size - pos; }
};

GgufType read_type(Cursor& c, const std::string& key, const char* role) {
  const uint32_t t = c.u32();
  if (t >= kGgufTypeCount) fail("{}: key '{}' has unknown {} type {} (GGUF types are 0..12)", c.file, key, role, t);
  return static_cast<GgufType>(t);
}

void refuse_bad_bools(const std::string& file, const std::string& key, const std::vector<uint8_t>& bytes) {
  for (size_t i = 0; i < bytes.size(); ++i)
    if (bytes[i] > 1) fail("{}: key '{}' has bool byte {} at element {}, expected 0 or 1", file, key, bytes[i], i);
}

GgufValue read_value(Cursor& c, const std::string& key) {
  GgufValue v;
  v.type = read_type(c, key, "value");
  if (v.type == GgufType::string) {
    v.strings.push_back(c.str());
  } else if (v.type == GgufType::array) {
    v.elem_type = read_type(c, key, "array element");
    if (v.elem_type == GgufType::array) fail("{}: key '{}' is an array of arrays, which GGUF does not allow", c.file, key);
    const uint64_t n = c.u64();
    if (v.elem_type == GgufType::string) {
      if (n > c.remaining() / 8)  // each string needs at least its 8-byte length
        fail("{}: truncated {}: {} strings cannot fit the {} bytes left", c.file, c.what, n, c.remaining());
      v.strings.reserve(n);
      for (uint64_t i = 0; i < n; ++i) v.strings.push_back(c.str());
    } else {
      const uint64_t elem = type_size(v.elem_type);
      if (n > c.remaining() / elem)
        fail("{}: truncated {}: {} {} values cannot fit the {} bytes left", c.file, c.what, n, gguf_type_name(v.elem_type), c.remaining());
      v.bytes.resize(n * elem);
      c.raw(v.bytes.data(), n * elem);
    }
  } else {
    v.bytes.resize(type_size(v.type));
    c.raw(v.bytes.data(), v.bytes.size());
  }
  if (v.type == GgufType::boolean || (v.type == GgufType::array && v.elem_type == GgufType::boolean))
    refuse_bad_bools(c.file, key, v.bytes);
  return v;
}

void append(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
void append_u32(std::string& out, uint32_t v) { append(out, &v, 4); }
void append_u64(std::string& out, uint64_t v) { append(out, &v, 8); }
void append_str(std::string& out, const std::string& s) {
  append_u64(out, s.size());
  out += s;
}

void append_value(std::string& out, const GgufValue& v) {
  append_u32(out, static_cast<uint32_t>(v.type));
  if (v.type == GgufType::string) return append_str(out, v.strings[0]);
  if (v.type != GgufType::array) return append(out, v.bytes.data(), v.bytes.size());
  append_u32(out, static_cast<uint32_t>(v.elem_type));
  if (v.elem_type == GgufType::string) {
    append_u64(out, v.strings.size());
    for (const std::string& s : v.strings) append_str(out, s);
  } else {
    append_u64(out, v.bytes.size() / type_size(v.elem_type));
    append(out, v.bytes.data(), v.bytes.size());
  }
}

// Shape checks shared by the writer and the reader: what llama.cpp refuses, both refuse.
// Returns the tensor's bytes.
uint64_t check_tensor_shape(const std::string& file, const std::string& name, GgmlType type, const std::vector<int64_t>& ne) {
  if (ne.empty() || ne.size() > kMaxDims) fail("{}: tensor '{}' has {} dimensions; ggml allows 1 to {}", file, name, ne.size(), kMaxDims);
  int64_t numel = 1, nonzero = 1;
  for (size_t j = 0; j < ne.size(); ++j) {
    if (ne[j] < 0) fail("{}: tensor '{}' has ne[{}] = {}, negative", file, name, j, ne[j]);
    if (ne[j] == 0) {
      numel = 0;
      continue;
    }
    // Also the non-zero dimensions alone must fit, so rows() of an empty tensor cannot overflow.
    if (nonzero > std::numeric_limits<int64_t>::max() / ne[j])
      fail("{}: tensor '{}' has more elements than an int64 holds", file, name);
    nonzero *= ne[j];
    numel = numel == 0 ? 0 : nonzero;
  }
  const GgmlTypeInfo& t = ggml_type_info(type);
  if (ne[0] % t.block_size != 0)
    fail("{}: tensor '{}' of type {} has ne[0] = {}, not a multiple of its block size {}", file, name, t.name, ne[0], t.block_size);
  const uint64_t blocks = static_cast<uint64_t>(numel / t.block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / 2 / t.block_bytes)
    fail("{}: tensor '{}' is larger than a file can hold", file, name);
  return blocks * t.block_bytes;
}

void check_tensor_name(const std::string& file, const std::string& name) {
  if (name.empty()) fail("{}: a tensor has an empty name", file);
  if (name.size() > kMaxNameBytes)
    fail("{}: tensor name '{}' has {} bytes; ggml allows at most {}", file, name, name.size(), kMaxNameBytes);
}

void check_alignment(const std::string& file, const GgufValue& v) {
  const uint32_t a = v.u32();
  if (a == 0 || (a & (a - 1)) != 0) fail("{}: general.alignment is {}, not a power of 2", file, a);
}
}  // namespace

const char* gguf_type_name(GgufType t) {
  const uint32_t i = static_cast<uint32_t>(t);
  return i < kGgufTypeCount ? kGgufTypes[i].name : "?";
}

// --- GgufValue ---------------------------------------------------------------------------

GgufValue GgufValue::of_u8(uint8_t v) { return scalar(GgufType::u8, v); }
GgufValue GgufValue::of_i8(int8_t v) { return scalar(GgufType::i8, v); }
GgufValue GgufValue::of_u16(uint16_t v) { return scalar(GgufType::u16, v); }
GgufValue GgufValue::of_i16(int16_t v) { return scalar(GgufType::i16, v); }
GgufValue GgufValue::of_u32(uint32_t v) { return scalar(GgufType::u32, v); }
GgufValue GgufValue::of_i32(int32_t v) { return scalar(GgufType::i32, v); }
GgufValue GgufValue::of_f32(float v) { return scalar(GgufType::f32, v); }
GgufValue GgufValue::of_bool(bool v) { return scalar(GgufType::boolean, static_cast<uint8_t>(v ? 1 : 0)); }
GgufValue GgufValue::of_u64(uint64_t v) { return scalar(GgufType::u64, v); }
GgufValue GgufValue::of_i64(int64_t v) { return scalar(GgufType::i64, v); }
GgufValue GgufValue::of_f64(double v) { return scalar(GgufType::f64, v); }

GgufValue GgufValue::of_string(std::string v) {
  GgufValue out;
  out.type = GgufType::string;
  out.strings.push_back(std::move(v));
  return out;
}

GgufValue GgufValue::of_array(GgufType elem, std::vector<uint8_t> element_bytes) {
  GgufValue out;
  out.type = GgufType::array;
  out.elem_type = elem;
  out.bytes = std::move(element_bytes);
  check_value_shape("GGUF value", "(new array)", out);
  return out;
}

GgufValue GgufValue::of_strings(std::vector<std::string> v) {
  GgufValue out;
  out.type = GgufType::array;
  out.elem_type = GgufType::string;
  out.strings = std::move(v);
  return out;
}

GgufValue GgufValue::of_f32s(std::span<const float> v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return of_array(GgufType::f32, std::move(bytes));
}

GgufValue GgufValue::of_i32s(std::span<const int32_t> v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return of_array(GgufType::i32, std::move(bytes));
}

std::string GgufValue::type_text() const {
  if (type != GgufType::array) return gguf_type_name(type);
  return fmt::format("array[{}]", gguf_type_name(elem_type));
}

void GgufValue::expect(GgufType t) const {
  if (type != t) fail("{}: key '{}' has type {}, expected {}", file.empty() ? "GGUF value" : file, key, type_text(), gguf_type_name(t));
}

void GgufValue::expect_array(GgufType elem) const {
  if (type != GgufType::array || elem_type != elem)
    fail("{}: key '{}' has type {}, expected array[{}]", file.empty() ? "GGUF value" : file, key, type_text(), gguf_type_name(elem));
}

uint8_t GgufValue::u8() const { return expect(GgufType::u8), load<uint8_t>(bytes); }
int8_t GgufValue::i8() const { return expect(GgufType::i8), load<int8_t>(bytes); }
uint16_t GgufValue::u16() const { return expect(GgufType::u16), load<uint16_t>(bytes); }
int16_t GgufValue::i16() const { return expect(GgufType::i16), load<int16_t>(bytes); }
uint32_t GgufValue::u32() const { return expect(GgufType::u32), load<uint32_t>(bytes); }
int32_t GgufValue::i32() const { return expect(GgufType::i32), load<int32_t>(bytes); }
float GgufValue::f32() const { return expect(GgufType::f32), load<float>(bytes); }
bool GgufValue::boolean() const { return expect(GgufType::boolean), bytes[0] != 0; }
const std::string& GgufValue::str() const { return expect(GgufType::string), strings[0]; }
uint64_t GgufValue::u64() const { return expect(GgufType::u64), load<uint64_t>(bytes); }
int64_t GgufValue::i64() const { return expect(GgufType::i64), load<int64_t>(bytes); }
double GgufValue::f64() const { return expect(GgufType::f64), load<double>(bytes); }

uint64_t GgufValue::array_size() const {
  expect(GgufType::array);
  return elem_type == GgufType::string ? strings.size() : bytes.size() / type_size(elem_type);
}

const std::vector<std::string>& GgufValue::str_array() const { return expect_array(GgufType::string), strings; }

std::vector<float> GgufValue::f32_array() const {
  expect_array(GgufType::f32);
  std::vector<float> v(bytes.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = load<float>(bytes, i);
  return v;
}

std::vector<int32_t> GgufValue::i32_array() const {
  expect_array(GgufType::i32);
  std::vector<int32_t> v(bytes.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = load<int32_t>(bytes, i);
  return v;
}

std::vector<uint32_t> GgufValue::u32_array() const {
  expect_array(GgufType::u32);
  std::vector<uint32_t> v(bytes.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = load<uint32_t>(bytes, i);
  return v;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

int64_t GgufTensorInfo::rows() const {
  int64_t n = 1;
  for (size_t j = 1; j < ne.size(); ++j) n *= ne[j];
  return n;
}

// --- GgufWriter --------------------------------------------------------------------------

GgufWriter::GgufWriter(const std::filesystem::path& path, bool overwrite) : path_(path.string()), tmp_(path_ + ".tmp") {
  if (!overwrite && path_kind(path) != PathKind::missing) fail("{}: already exists; refusing to overwrite it", path_);
  out_ = std::fopen(tmp_.c_str(), "wb");
  if (!out_) fail("{}: cannot write: {}", tmp_, std::strerror(errno));
}

GgufWriter::~GgufWriter() {
  if (out_) std::fclose(out_);
  if (!finished_) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);  // a failed export leaves no half file
  }
}

void GgufWriter::write(const void* data, size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, out_) != n) fail("{}: write failed: {}", tmp_, std::strerror(errno));
  written_ += n;
}

void GgufWriter::pad() {
  static const uint8_t zeros[256] = {};
  while (written_ % alignment_ != 0) write(zeros, std::min<uint64_t>(sizeof(zeros), alignment_ - written_ % alignment_));
}

void GgufWriter::add(const std::string& key, GgufValue value) {
  if (header_written_) fail("{}: key '{}' added after the first tensor was written", path_, key);
  if (key.empty()) fail("{}: a key is empty", path_);
  for (const auto& kv : kvs_)
    if (kv.first == key) fail("{}: key '{}' added twice", path_, key);
  check_value_shape(path_, key, value);
  value.file = path_;
  value.key = key;
  if (key == "general.alignment") {
    check_alignment(path_, value);
    alignment_ = value.u32();
  }
  kvs_.emplace_back(key, std::move(value));
}

void GgufWriter::declare_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne) {
  if (header_written_) fail("{}: tensor '{}' declared after the first tensor was written", path_, name);
  check_tensor_name(path_, name);
  if (!find_ggml_type(static_cast<uint32_t>(type)))
    fail("{}: tensor '{}' has ggml type {}, which qlab does not write", path_, name, static_cast<uint32_t>(type));
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) fail("{}: tensor '{}' declared twice", path_, name);
  GgufTensorInfo info;
  info.name = name;
  info.type = type;
  info.bytes = check_tensor_shape(path_, name, type, ne);
  info.ne = std::move(ne);
  tensors_.push_back(std::move(info));
}

// Offsets are assigned here, once every tensor is known (the alignment may come late too).
void GgufWriter::write_header() {
  uint64_t offset = 0;
  for (GgufTensorInfo& t : tensors_) {
    t.offset = offset;
    offset += pad_to(t.bytes, alignment_);
  }
  std::string h = "GGUF";
  append_u32(h, 3);
  append_u64(h, tensors_.size());
  append_u64(h, kvs_.size());
  for (const auto& [key, value] : kvs_) {
    append_str(h, key);
    append_value(h, value);
  }
  for (const GgufTensorInfo& t : tensors_) {
    append_str(h, t.name);
    append_u32(h, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) append(h, &d, 8);
    append_u32(h, static_cast<uint32_t>(t.type));
    append_u64(h, t.offset);
  }
  write(h.data(), h.size());
  pad();
  data_start_ = written_;
  header_written_ = true;
}

void GgufWriter::write_tensor(const std::string& name, std::span<const uint8_t> bytes) {
  if (finished_) fail("{}: tensor '{}' written after finish()", path_, name);
  if (next_ >= tensors_.size()) fail("{}: tensor '{}' written, but every declared tensor was already written", path_, name);
  const GgufTensorInfo& t = tensors_[next_];
  if (t.name != name) fail("{}: tensor '{}' written out of order: the next declared tensor is '{}'", path_, name, t.name);
  if (bytes.size() != t.bytes)
    fail("{}: tensor '{}' has {} bytes, but {} × {} needs {}", path_, name, bytes.size(), ggml_type_name(t.type),
         fmt::join(t.ne, "×"), t.bytes);
  if (!header_written_) write_header();
  write(bytes.data(), bytes.size());
  pad();
  ++next_;
}

void GgufWriter::finish() {
  if (finished_) return;
  if (!header_written_) write_header();
  if (next_ < tensors_.size()) fail("{}: tensor '{}' was declared but never written", path_, tensors_[next_].name);
  const bool flushed = std::fflush(out_) == 0;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (!flushed || !closed) fail("{}: write failed: {}", tmp_, std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) fail("{}: cannot rename {} into place: {}", path_, tmp_, ec.message());
  finished_ = true;
}

// --- GgufFile ----------------------------------------------------------------------------

std::unique_ptr<GgufFile> GgufFile::parse(const uint8_t* data, uint64_t size, const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->map_ = data;
  f->size_ = size;
  f->parse_image();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path.string();
  require_regular_file(path);
  int fd = ::open(f->path_.c_str(), O_RDONLY | O_NONBLOCK);  // a FIFO swapped in after the check cannot block
  if (fd < 0) fail("{}: cannot open: {}", f->path_, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", f->path_);
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail("{}: mmap failed: {}", f->path_, std::strerror(errno));
    f->map_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
  } else {
    ::close(fd);
  }
  f->parse_image();
  return f;
}

GgufFile::~GgufFile() {
  if (mapped_) munmap(const_cast<uint8_t*>(map_), size_);
}

void GgufFile::parse_image() {
  const std::string& file = path_;
  if (size_ < 4) fail("{}: not a GGUF file ({} bytes)", file, size_);
  if (std::memcmp(map_, "GGUF", 4) != 0) {
    std::string shown;
    for (int i = 0; i < 4; ++i) shown += std::isprint(map_[i]) ? static_cast<char>(map_[i]) : '?';
    fail("{}: not a GGUF file (magic '{}' = {:02x} {:02x} {:02x} {:02x}, expected 'GGUF')", file, shown, map_[0], map_[1], map_[2], map_[3]);
  }
  Cursor c{map_, size_, 4, file, "header"};
  version_ = c.u32();
  if (version_ != 2 && version_ != 3) fail("{}: GGUF version {} is not supported (qlab reads versions 2 and 3)", file, version_);
  const int64_t n_tensors = c.i64(), n_kv = c.i64();
  if (n_tensors < 0 || static_cast<uint64_t>(n_tensors) > c.remaining() / kMinTensorInfoBytes)
    fail("{}: header claims {} tensors, more than the file's {} bytes can describe", file, n_tensors, size_);
  if (n_kv < 0 || static_cast<uint64_t>(n_kv) > c.remaining() / kMinKvBytes)
    fail("{}: header claims {} keys, more than the file's {} bytes can hold", file, n_kv, size_);

  for (int64_t i = 0; i < n_kv; ++i) {
    c.what = fmt::format("key {}", i);
    std::string key = c.str();
    if (key.empty()) fail("{}: key {} is empty", file, i);
    if (kv_index_.count(key)) fail("{}: duplicate key '{}'", file, key);
    c.what = fmt::format("value of key '{}'", key);
    GgufValue v = read_value(c, key);
    v.file = file;
    v.key = key;
    kv_index_[key] = kvs_.size();
    kvs_.emplace_back(std::move(key), std::move(v));
  }
  if (has("general.alignment")) {
    check_alignment(file, value("general.alignment"));
    alignment_ = value("general.alignment").u32();
  }

  for (int64_t i = 0; i < n_tensors; ++i) {
    c.what = fmt::format("tensor info {}", i);
    GgufTensorInfo t;
    t.name = c.str();
    check_tensor_name(file, t.name);
    if (tensor_index_.count(t.name)) fail("{}: duplicate tensor name '{}'", file, t.name);
    c.what = fmt::format("tensor info of '{}'", t.name);
    const uint32_t n_dims = c.u32();
    if (n_dims < 1 || n_dims > kMaxDims) fail("{}: tensor '{}' has {} dimensions; ggml allows 1 to {}", file, t.name, n_dims, kMaxDims);
    for (uint32_t j = 0; j < n_dims; ++j) t.ne.push_back(c.i64());
    const uint32_t type_id = c.u32();
    if (!find_ggml_type(type_id))
      fail("{}: tensor '{}' has ggml type id {}, which qlab does not read (F32, F16, BF16, Q4_0, Q4_1, Q8_0)", file, t.name, type_id);
    t.type = static_cast<GgmlType>(type_id);
    t.bytes = check_tensor_shape(file, t.name, t.type, t.ne);
    t.offset = c.u64();
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // llama.cpp requires the tensors to lie one after another in info order, each padded to
  // the alignment: any other offset is a gap, an overlap or a misalignment.
  data_start_ = pad_to(c.pos, alignment_);
  if (!tensors_.empty() && data_start_ > size_)
    fail("{}: truncated: the data section starts at offset {}, but the file has {} bytes", file, data_start_, size_);
  uint64_t expected = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const GgufTensorInfo& t = tensors_[i];
    if (t.offset % alignment_ != 0)
      fail("{}: tensor '{}' has offset {}, not a multiple of the alignment {}", file, t.name, t.offset, alignment_);
    if (t.offset < expected)
      fail("{}: tensor '{}' has offset {}, expected {}: it overlaps tensor '{}'", file, t.name, t.offset, expected, tensors_[i - 1].name);
    if (t.offset != expected)
      fail("{}: tensor '{}' has offset {}, expected {} (tensors follow one another in info order)", file, t.name, t.offset, expected);
    if (t.offset > size_ - data_start_ || t.bytes > size_ - data_start_ - t.offset)
      fail("{}: truncated: tensor '{}' needs bytes [{}, {}) of the file, which has {} bytes", file, t.name, data_start_ + t.offset,
           data_start_ + t.offset + t.bytes, size_);
    expected = t.offset + pad_to(t.bytes, alignment_);
  }
}

const GgufValue& GgufFile::value(const std::string& key) const {
  auto it = kv_index_.find(key);
  if (it == kv_index_.end()) fail("{}: no key '{}'", path_, key);
  return kvs_[it->second].second;
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail("{}: no tensor '{}'", path_, name);
  return tensors_[it->second];
}

std::span<const uint8_t> GgufFile::bytes(const std::string& name) const {
  const GgufTensorInfo& t = tensor(name);
  return {map_ + data_start_ + t.offset, static_cast<size_t>(t.bytes)};
}

Matrix GgufFile::to_matrix(const std::string& name) const {
  const GgufTensorInfo& t = tensor(name);
  const int64_t rows = t.rows(), cols = t.ne[0];
  if (cols == 0 || rows == 0) return Matrix(rows, cols);
  Matrix m(rows, cols);
  const uint8_t* base = map_ + data_start_ + t.offset;
  const uint64_t row_bytes = ggml_row_bytes(t.type, cols);
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) dequantize_row(t.type, base + static_cast<uint64_t>(r) * row_bytes, m.row(r).data(), cols);
  return m;
}

Matrix GgufFile::rows(const std::string& name, std::span<const int32_t> ids) const {
  const GgufTensorInfo& t = tensor(name);
  const int64_t rows = t.rows(), cols = t.ne[0];
  for (int32_t id : ids)
    if (id < 0 || id >= rows) fail("{}: row {} of tensor '{}' is outside its {} rows", path_, id, name, rows);
  Matrix m(static_cast<int64_t>(ids.size()), cols);
  if (cols == 0) return m;
  const uint8_t* base = map_ + data_start_ + t.offset;
  const uint64_t row_bytes = ggml_row_bytes(t.type, cols);
  for (size_t i = 0; i < ids.size(); ++i)
    dequantize_row(t.type, base + static_cast<uint64_t>(ids[i]) * row_bytes, m.row(static_cast<int64_t>(i)).data(), cols);
  return m;
}

bool is_gguf_file(const std::filesystem::path& path) {
  if (path_kind(path) != PathKind::regular) return false;  // a FIFO would block the read
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0};
  in.read(magic, 4);
  return in && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace qlab
