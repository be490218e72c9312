// A thin RAII layer over the HDF5 C API: files, groups, scalar attributes and appendable
// 1-D columns (chunked, unlimited), which is all the experiment log needs.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qlab::h5 {

class Handle {  // owns one hid_t, closed with the matching H5*close
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  ~Handle();
  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  hid_t release();  // gives up ownership without closing

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Files carry checksummed (HDF5 1.8 format) metadata. create_file refuses an existing path and
// reserves `userblock` bytes at the start for the application.
Handle create_file(const std::string& path, hsize_t userblock);
Handle open_file(const std::string& path, bool write);
// Closes everything in the file and reports a failed final write (a full disk) as an error.
void close_file(Handle file, const std::string& path);
void flush(hid_t file);

bool exists(hid_t parent, const std::string& path);
Handle group(hid_t parent, const std::string& path);  // opens, creating it (and parents) if needed
Handle open_group(hid_t parent, const std::string& path);
std::vector<std::string> children(hid_t group);
bool is_group(hid_t parent, const std::string& name);  // a child that is a group (not a column)
// Copies the object at `src_path` under `src` (a group with everything below it) to `dst_path` under `dst`.
void copy(hid_t src, const std::string& src_path, hid_t dst, const std::string& dst_path);

void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, int64_t value);
void set_attr(hid_t obj, const std::string& name, double value);
bool has_attr(hid_t obj, const std::string& name);
std::string attr_string(hid_t obj, const std::string& name);
int64_t attr_int(hid_t obj, const std::string& name);
double attr_double(hid_t obj, const std::string& name);

// Appendable columns. Numeric columns store the C++ type given; strings are variable-length.
template <typename T>
void append(hid_t group, const std::string& name, const std::vector<T>& values);
void append_strings(hid_t group, const std::string& name, const std::vector<std::string>& values);
int64_t length(hid_t group, const std::string& name);  // 0 when absent
std::vector<double> read_numbers(hid_t group, const std::string& name);  // any numeric column, as double
std::vector<std::string> read_strings(hid_t group, const std::string& name);
void write_vector(hid_t group, const std::string& name, const std::vector<double>& values);  // fixed, replaces
void write_vector(hid_t group, const std::string& name, const std::vector<int64_t>& values);

}  // namespace qlab::h5
