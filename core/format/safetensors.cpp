#include "format/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/half.h"
#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {
struct DtypeRow {
  const char* name;
  Dtype dtype;
  int size;
};
constexpr DtypeRow kDtypes[] = {
    {"F32", Dtype::f32, 4}, {"F16", Dtype::f16, 2}, {"BF16", Dtype::bf16, 2}, {"I32", Dtype::i32, 4},
    {"U8", Dtype::u8, 1},   {"F64", Dtype::f64, 8}, {"I64", Dtype::i64, 8},   {"I16", Dtype::i16, 2},
    {"I8", Dtype::i8, 1},   {"BOOL", Dtype::boolean, 1},
};
int dtype_size(Dtype d) {
  for (const DtypeRow& r : kDtypes)
    if (r.dtype == d) return r.size;
  return 0;
}
constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit

// The format requires non-overlapping buffers: two tensors sharing bytes would read each
// other's weights silently.
void refuse_overlaps(const std::map<std::string, TensorInfo>& tensors, const std::string& file) {
  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  for (const auto& [name, info] : tensors)
    if (info.end > info.begin) by_offset.emplace_back(&name, &info);  // empty tensors occupy no bytes
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, info] = by_offset[i];
    if (info->begin < prev->end)
      fail("{}: tensors '{}' and '{}' overlap: data_offsets [{}, {}] and [{}, {}] share bytes (safetensors buffers must not overlap)",
           file, *prev_name, *name, prev->begin, prev->end, info->begin, info->end);
  }
}

// A shard named by the index must be a file inside the model directory.
void refuse_escaping_shard(const std::filesystem::path& index, const std::string& tensor, const std::string& shard) {
  if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos)
    fail("{}: weight_map['{}'] names '{}', which is not a plain file name inside the model directory", index.string(), tensor, shard);
}
}  // namespace

const char* dtype_name(Dtype d) {
  for (const DtypeRow& r : kDtypes)
    if (r.dtype == d) return r.name;
  return "?";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::map<std::string, TensorInfo> SafetensorsFile::parse_header(const uint8_t* data, uint64_t size,
                                                                const std::string& name, uint64_t* data_start) {
  if (size < 8) fail("{}: not a safetensors file ({} bytes, shorter than the 8-byte header length)", name, size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeader || n > size - 8)
    fail("{}: safetensors header length {} does not fit the file of {} bytes", name, n, size);
  nlohmann::json header = nlohmann::json::parse(data + 8, data + 8 + n, nullptr, false);
  if (header.is_discarded() || !header.is_object()) fail("{}: safetensors header is not a JSON object", name);
  *data_start = 8 + n;
  const uint64_t data_size = size - *data_start;

  std::map<std::string, TensorInfo> out;
  for (auto item = header.begin(); item != header.end(); ++item) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    if (key == "__metadata__") continue;
    auto bad = [&](const std::string& why) { fail("{}: tensor '{}': {}", name, key, why); };
    if (!value.is_object()) bad("header entry is not an object");
    auto dt = value.find("dtype"), sh = value.find("shape"), off = value.find("data_offsets");
    if (dt == value.end() || !dt->is_string()) bad("missing or non-string 'dtype'");
    if (sh == value.end() || !sh->is_array()) bad("missing or non-array 'shape'");
    if (off == value.end() || !off->is_array() || off->size() != 2) bad("'data_offsets' must be [begin, end]");
    TensorInfo info{};
    bool known = false;
    for (const DtypeRow& r : kDtypes)
      if (dt->get<std::string>() == r.name) info.dtype = r.dtype, known = true;
    if (!known) bad(fmt::format("unknown dtype '{}'", dt->get<std::string>()));
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > (1ull << 48) / v) bad("shape is impossibly large");
      numel *= v;
      info.shape.push_back(static_cast<int64_t>(v));
    }
    for (const auto& o : *off)
      if (!o.is_number_unsigned()) bad("data_offsets must be non-negative integers");
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.begin > info.end || info.end > data_size)
      bad(fmt::format("data_offsets [{}, {}] fall outside the {} data bytes", info.begin, info.end, data_size));
    if (info.end - info.begin != numel * static_cast<uint64_t>(dtype_size(info.dtype)))
      bad(fmt::format("data_offsets span {} bytes, but shape × {} needs {}", info.end - info.begin,
                      dtype_name(info.dtype), numel * static_cast<uint64_t>(dtype_size(info.dtype))));
    out.emplace(key, std::move(info));
  }
  refuse_overlaps(out, name);
  return out;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
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
  f->device_ = static_cast<uint64_t>(st.st_dev);
  f->inode_ = static_cast<uint64_t>(st.st_ino);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail("{}: mmap failed: {}", f->path_, std::strerror(errno));
    f->map_ = static_cast<const uint8_t*>(p);
  } else {
    ::close(fd);
  }
  f->tensors_ = parse_header(f->map_, f->size_, f->path_, &f->data_start_);
  return f;
}

void SafetensorsFile::check_unchanged() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    fail("{}: the file went away while qlab was reading it ({}); put it back and continue (qlab run --resume)", path_,
         std::strerror(errno));
  if (static_cast<uint64_t>(st.st_dev) != device_ || static_cast<uint64_t>(st.st_ino) != inode_ ||
      static_cast<uint64_t>(st.st_size) != size_)
    fail("{}: the file was replaced or changed size while qlab was reading it ({} bytes, {} at open); "
         "restore it and continue (qlab run --resume)", path_, st.st_size, size_);
}

void SafetensorsSet::check_unchanged() const {
  for (const auto& f : files_) f->check_unchanged();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(const_cast<uint8_t*>(map_), size_);
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("{}: no tensor '{}'", path_, name);
  return it->second;
}

void SafetensorsFile::convert(const std::string& name, float* out, int64_t first, int64_t count) const {
  const TensorInfo& t = info(name);
  const int64_t n = count < 0 ? t.numel() : count;
  switch (t.dtype) {
    case Dtype::f32:
      std::memcpy(out, map_ + data_start_ + t.begin + 4 * static_cast<uint64_t>(first), static_cast<size_t>(n) * 4);
      break;
    case Dtype::f16:
    case Dtype::bf16: {
      const uint8_t* src = map_ + data_start_ + t.begin + 2 * static_cast<uint64_t>(first);
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = t.dtype == Dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    }
    default:
      fail("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16", path_, name, dtype_name(t.dtype));
  }
}

// The map is private and read-only, so dropping its pages loses nothing: what is read again
// comes from the file. The return value is ignored for that reason.
void SafetensorsFile::release() const {
  if (map_) madvise(const_cast<uint8_t*>(map_), size_, MADV_DONTNEED);
}

Matrix SafetensorsFile::to_matrix(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (t.shape.size() > 2) fail("{}: tensor '{}' has {} dimensions, expected at most 2", path_, name, t.shape.size());
  int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
  int64_t cols = t.shape.empty() ? 1 : t.shape.back();
  Matrix m(rows, cols);
  convert(name, m.data());
  return m;
}

Matrix SafetensorsFile::rows(const std::string& name, std::span<const int32_t> ids) const {
  const TensorInfo& t = info(name);
  if (t.shape.size() != 2) fail("{}: tensor '{}' has {} dimensions, expected 2", path_, name, t.shape.size());
  const int64_t cols = t.shape[1];
  Matrix m(static_cast<int64_t>(ids.size()), cols);
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= t.shape[0])
      fail("{}: row {} of tensor '{}' is outside its {} rows", path_, ids[i], name, t.shape[0]);
  for (size_t i = 0, run = 1; i < ids.size(); i += run) {  // consecutive ids (lm_head chunks) in one parallel conversion
    for (run = 1; i + run < ids.size() && ids[i + run] == ids[i] + static_cast<int32_t>(run);) ++run;
    convert(name, m.row(static_cast<int64_t>(i)).data(), ids[i] * cols, static_cast<int64_t>(run) * cols);
  }
  return m;
}

Vector SafetensorsFile::to_vector(const std::string& name) const {
  const TensorInfo& t = info(name);
  Vector v(t.numel());
  convert(name, v.data());
  return v;
}

std::vector<int32_t> SafetensorsFile::to_i32(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (t.dtype != Dtype::i32) fail("{}: tensor '{}' has dtype {}, expected I32", path_, name, dtype_name(t.dtype));
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), map_ + data_start_ + t.begin, v.size() * 4);
  return v;
}

void SafetensorsSet::release() const {
  for (const auto& f : files_) f->release();
}

SafetensorsSet SafetensorsSet::open_dir(const std::filesystem::path& dir) {
  SafetensorsSet set;
  set.dir_ = dir.string();
  const auto single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  std::vector<std::string> shards;
  std::map<std::string, std::string> weight_map;
  if (path_kind(index) != PathKind::missing) {
    nlohmann::json j = nlohmann::json::parse(read_text_file(index), nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: not a safetensors index (no 'weight_map' object)", index.string());
    for (auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) fail("{}: weight_map['{}'] is not a file name", index.string(), tensor);
      refuse_escaping_shard(index, tensor, shard.get<std::string>());
      weight_map[tensor] = shard.get<std::string>();
      if (std::find(shards.begin(), shards.end(), shard.get<std::string>()) == shards.end())
        shards.push_back(shard.get<std::string>());
    }
    for (const std::string& s : shards)
      if (path_kind(dir / s) == PathKind::missing)
        fail("{}: shard '{}' is listed in the index but missing from the directory", index.string(), s);
  } else if (path_kind(single) != PathKind::missing) {
    shards.push_back("model.safetensors");
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", set.dir_);
  }
  for (const std::string& s : shards) {
    set.files_.push_back(SafetensorsFile::open(dir / s));
    for (const auto& [name, info] : set.files_.back()->tensors()) {
      if (!weight_map.empty() && weight_map.count(name) && weight_map[name] != s) continue;
      set.owner_[name] = set.files_.size() - 1;
    }
  }
  for (const auto& [tensor, shard] : weight_map)
    if (!set.owner_.count(tensor))
      fail("{}: the index places tensor '{}' in '{}', which does not hold it", (dir / "model.safetensors.index.json").string(),
           tensor, shard);
  return set;
}

const SafetensorsFile& SafetensorsSet::file_of(const std::string& name) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) fail("{}: missing tensor '{}'", dir_, name);
  return *files_[it->second];
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, owner] : owner_) out.push_back(name);
  return out;
}

TensorToWrite f32_tensor(const std::string& name, std::vector<int64_t> shape, const float* data) {
  TensorToWrite t{name, Dtype::f32, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t s : t.shape) n *= s;
  t.bytes.resize(static_cast<size_t>(n) * 4);
  std::memcpy(t.bytes.data(), data, t.bytes.size());
  return t;
}

TensorToWrite f16_tensor(const std::string& name, std::vector<int64_t> shape, const float* data) {
  TensorToWrite t{name, Dtype::f16, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t s : t.shape) n *= s;
  t.bytes.resize(static_cast<size_t>(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_f16(data[i]);
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  return t;
}

TensorToWrite i32_tensor(const std::string& name, std::vector<int64_t> shape, const int32_t* data) {
  TensorToWrite t = f32_tensor(name, std::move(shape), reinterpret_cast<const float*>(data));
  t.dtype = Dtype::i32;
  return t;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text += ' ';  // the format pads the header to 8 bytes
  const std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) fail("{}: cannot write", path.string());
    uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const TensorToWrite& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
    if (!out) fail("{}: write failed", path.string());
  }
  std::filesystem::rename(tmp, path);  // no half-written file under the real name
}

}  // namespace qlab
