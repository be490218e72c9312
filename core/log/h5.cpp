#include "log/h5.h"

#include <cstring>
#include <map>

#include "util/error.h"

namespace qlab::h5 {

namespace {
void check(herr_t rc, const std::string& what) {
  if (rc < 0) fail("HDF5: {} failed", what);
}
hid_t checked(hid_t id, const std::string& what) {
  if (id < 0) fail("HDF5: {} failed", what);
  return id;
}
template <typename T> hid_t native();
template <> hid_t native<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native<int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native<int8_t>() { return H5T_NATIVE_INT8; }

Handle string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return Handle(t, H5Tclose);
}

// Opens the column, creating an empty chunked unlimited dataset of `type` when absent.
Handle column(hid_t group, const std::string& name, hid_t type) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0) return Handle(checked(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "open " + name), H5Dclose);
  hsize_t dims = 0, maxdims = H5S_UNLIMITED, chunk = 256;
  Handle space(H5Screate_simple(1, &dims, &maxdims), H5Sclose);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(plist.id(), 1, &chunk);
  return Handle(checked(H5Dcreate2(group, name.c_str(), type, space.id(), H5P_DEFAULT, plist.id(), H5P_DEFAULT), "create " + name), H5Dclose);
}

void append_raw(hid_t group, const std::string& name, hid_t type, const void* data, hsize_t n) {
  Handle ds = column(group, name, type);
  Handle space(H5Dget_space(ds.id()), H5Sclose);
  hsize_t old = 0;
  H5Sget_simple_extent_dims(space.id(), &old, nullptr);
  hsize_t total = old + n;
  check(H5Dset_extent(ds.id(), &total), "extend " + name);
  if (n == 0) return;
  Handle file_space(H5Dget_space(ds.id()), H5Sclose);
  H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, &old, nullptr, &n, nullptr);
  Handle mem_space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  check(H5Dwrite(ds.id(), type, mem_space.id(), file_space.id(), H5P_DEFAULT, data), "write " + name);
}
}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}
hid_t Handle::release() {
  const hid_t id = id_;
  id_ = -1;
  return id;
}
Handle::~Handle() {
  if (id_ >= 0 && close_) close_(id_);
}

namespace {
// HDF5 registers an atexit handler that closes files still open; after a failed write (a full
// disk) that close crashed. qlab closes its files itself, so the handler is not installed.
void init_library() {
  static const bool done = [] {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, naming the file
    return true;
  }();
  (void)done;
}

// Attributes stay in the object header: HDF5 1.10's H5Ocopy (qlab merge) crashes copying
// variable-length string attributes from dense storage, the 1.8 format's default past 8.
Handle compact_attributes(hid_t property_class) {
  Handle p(H5Pcreate(property_class), H5Pclose);
  H5Pset_attr_phase_change(p.id(), 65535, 0);
  return p;
}

Handle file_access() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_V18);  // checksummed object headers
  H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_STRONG);
  return fapl;
}
}  // namespace

Handle create_file(const std::string& path, hsize_t userblock) {
  init_library();
  Handle fcpl = compact_attributes(H5P_FILE_CREATE);
  if (userblock > 0) H5Pset_userblock(fcpl.id(), userblock);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_EXCL, fcpl.id(), file_access().id());
  if (f < 0) fail("{}: cannot create the experiment log (is the directory writable?)", path);
  return Handle(f, H5Fclose);
}

Handle open_file(const std::string& path, bool write) {
  init_library();
  hid_t f = H5Fopen(path.c_str(), write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, file_access().id());
  if (f < 0) fail("{}: cannot open as an HDF5 experiment log", path);
  return Handle(f, H5Fclose);
}

void close_file(Handle file, const std::string& path) {
  const hid_t id = file.release();
  if (id >= 0 && H5Fclose(id) < 0) fail("{}: writing the log failed (disk full?)", path);
}

void flush(hid_t file) { check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush"); }

bool exists(hid_t parent, const std::string& path) {
  std::string partial;
  for (size_t s = 0; s <= path.size();) {
    size_t slash = path.find('/', s);
    if (slash == std::string::npos) slash = path.size();
    partial += (partial.empty() ? "" : "/") + path.substr(s, slash - s);
    if (H5Lexists(parent, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    s = slash + 1;
  }
  return true;
}

Handle group(hid_t parent, const std::string& path) {
  if (exists(parent, path)) return open_group(parent, path);
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  return Handle(checked(H5Gcreate2(parent, path.c_str(), lcpl.id(), compact_attributes(H5P_GROUP_CREATE).id(), H5P_DEFAULT),
                        "create group " + path),
                H5Gclose);
}

Handle open_group(hid_t parent, const std::string& path) {
  hid_t g = H5Gopen2(parent, path.c_str(), H5P_DEFAULT);
  if (g < 0) fail("experiment log has no group '{}'", path);
  return Handle(g, H5Gclose);
}

void copy(hid_t src, const std::string& src_path, hid_t dst, const std::string& dst_path) {
  const size_t slash = dst_path.rfind('/');
  if (slash != std::string::npos) group(dst, dst_path.substr(0, slash));  // the parents
  if (H5Ocopy(src, src_path.c_str(), dst, dst_path.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
    fail("HDF5: cannot copy {} into the new log", src_path);
}

bool is_group(hid_t parent, const std::string& name) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) return false;
  const hid_t obj = H5Oopen(parent, name.c_str(), H5P_DEFAULT);
  if (obj < 0) return false;
  const bool group = H5Iget_type(obj) == H5I_GROUP;
  H5Oclose(obj);
  return group;
}

std::vector<std::string> children(hid_t group) {
  std::vector<std::string> out;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
              [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                static_cast<std::vector<std::string>*>(data)->push_back(name);
                return 0;
              },
              &out);
  return out;
}

namespace {
void write_attr(hid_t obj, const std::string& name, hid_t type, const void* value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(checked(H5Acreate2(obj, name.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name), H5Aclose);
  check(H5Awrite(a.id(), type, value), "write attribute " + name);
}
}  // namespace

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = string_type();
  const char* p = value.c_str();
  write_attr(obj, name, t.id(), &p);
}
void set_attr(hid_t obj, const std::string& name, int64_t value) { write_attr(obj, name, H5T_NATIVE_INT64, &value); }
void set_attr(hid_t obj, const std::string& name, double value) { write_attr(obj, name, H5T_NATIVE_DOUBLE, &value); }
bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

std::string attr_string(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) fail("experiment log: missing attribute '{}'", name);
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  Handle t = string_type();
  char* p = nullptr;
  check(H5Aread(a.id(), t.id(), &p), "read attribute " + name);
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}
namespace {
template <typename T>
T numeric_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) fail("experiment log: missing attribute '{}'", name);
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  T v = 0;
  check(H5Aread(a.id(), native<T>(), &v), "read attribute " + name);
  return v;
}
}  // namespace

int64_t attr_int(hid_t obj, const std::string& name) { return numeric_attr<int64_t>(obj, name); }
double attr_double(hid_t obj, const std::string& name) { return numeric_attr<double>(obj, name); }

template <typename T>
void append(hid_t group, const std::string& name, const std::vector<T>& values) {
  append_raw(group, name, native<T>(), values.data(), values.size());
}
template void append<double>(hid_t, const std::string&, const std::vector<double>&);
template void append<float>(hid_t, const std::string&, const std::vector<float>&);
template void append<int64_t>(hid_t, const std::string&, const std::vector<int64_t>&);
template void append<int32_t>(hid_t, const std::string&, const std::vector<int32_t>&);
template void append<int8_t>(hid_t, const std::string&, const std::vector<int8_t>&);

void append_strings(hid_t group, const std::string& name, const std::vector<std::string>& values) {
  Handle t = string_type();
  std::vector<const char*> p;
  for (const std::string& s : values) p.push_back(s.c_str());
  append_raw(group, name, t.id(), p.data(), p.size());
}

int64_t length(hid_t group, const std::string& name) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) return 0;
  Handle ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle space(H5Dget_space(ds.id()), H5Sclose);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.id(), &n, nullptr);
  return static_cast<int64_t>(n);
}

std::vector<double> read_numbers(hid_t group, const std::string& name) {
  std::vector<double> out(static_cast<size_t>(length(group, name)));
  if (out.empty()) return out;
  Handle ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  check(H5Dread(ds.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read " + name);
  return out;
}

std::vector<std::string> read_strings(hid_t group, const std::string& name) {
  const size_t n = static_cast<size_t>(length(group, name));
  std::vector<std::string> out;
  if (n == 0) return out;
  Handle ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle t = string_type();
  std::vector<char*> p(n, nullptr);
  check(H5Dread(ds.id(), t.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()), "read " + name);
  for (char* s : p) {
    out.emplace_back(s ? s : "");
    H5free_memory(s);
  }
  return out;
}

namespace {
template <typename T>
void write_fixed(hid_t group, const std::string& name, const std::vector<T>& values) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0) H5Ldelete(group, name.c_str(), H5P_DEFAULT);
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle ds(checked(H5Dcreate2(group, name.c_str(), native<T>(), space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create " + name), H5Dclose);
  if (n) check(H5Dwrite(ds.id(), native<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write " + name);
}
}  // namespace

void write_vector(hid_t group, const std::string& name, const std::vector<double>& values) { write_fixed(group, name, values); }
void write_vector(hid_t group, const std::string& name, const std::vector<int64_t>& values) { write_fixed(group, name, values); }

}  // namespace qlab::h5
