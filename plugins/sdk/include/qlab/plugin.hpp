// Header-only C++20 adapter over plugin.h: a plugin is a small class.
//
//   struct MyQuantizer {
//     static constexpr const char* name = "mine", *version = "1.0.0", *summary = "...";
//     static constexpr qlab_param_decl params[] = {{"alpha", QLAB_PARAM_FLOAT, "0.5", "help", 1, 0.0, 1.0, nullptr}};
//     static constexpr uint32_t stats = QLAB_STAT_HESSIAN;            // optional, default 0
//     explicit MyQuantizer(const qlab::sdk::Params& p);
//     void quantize(const qlab_linear_in& in, qlab_quantize_out& out); // and/or transform, observe
//   };
//   QLAB_PLUGIN(MyQuantizer)
//
// Hooks the class lacks become NULL in the descriptor; exceptions become qlab_error at the
// boundary, so nothing C++ crosses it.
#pragma once
#include <Eigen/Core>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "qlab/plugin.h"

namespace qlab::sdk {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using MutableMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

inline ConstMap map(qlab_cview v) { return ConstMap(v.data, v.n_rows, v.n_cols, Eigen::OuterStride<>(v.row_stride)); }
inline MutableMap map(qlab_view v) { return MutableMap(v.data, v.n_rows, v.n_cols, Eigen::OuterStride<>(v.row_stride)); }

// Resolved parameter values, by name. The host has already checked names, types and ranges.
class Params {
 public:
  Params(const qlab_param* values, int32_t n) : values_(values), n_(n) {}
  int64_t get_int(const char* name) const { return find(name, QLAB_PARAM_INT).i; }
  double get_float(const char* name) const { return find(name, QLAB_PARAM_FLOAT).f; }
  bool get_bool(const char* name) const { return find(name, QLAB_PARAM_BOOL).i != 0; }
  std::string get_string(const char* name) const { return find(name, QLAB_PARAM_STRING).s; }

 private:
  const qlab_param& find(const char* name, int32_t type) const {
    for (int32_t i = 0; i < n_; ++i)
      if (std::strcmp(values_[i].name, name) == 0) {
        if (values_[i].type != type) throw std::runtime_error(std::string("parameter '") + name + "' has another type");
        return values_[i];
      }
    throw std::runtime_error(std::string("no parameter '") + name + "'");
  }
  const qlab_param* values_;
  int32_t n_;
};

// Appends a metric; names must outlive the call (use string literals).
inline void add_metric(qlab_metric* metrics, int32_t& n, const char* name, double value) {
  if (n < 16) metrics[n++] = {name, value};
}

class Failure : public std::exception {  // a message for the host, thrown from a hook
 public:
  explicit Failure(std::string m) : message_(std::move(m)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {
inline void set_error(qlab_error* err, const char* what) {
  if (err) std::snprintf(err->message, sizeof err->message, "%s", what);
}

template <class P>
struct Adapter {
  static void* create(const qlab_param* values, int32_t n, qlab_error* err) {
    try {
      return new P(Params(values, n));
    } catch (const std::exception& e) {
      set_error(err, e.what());
    } catch (...) {
      set_error(err, "unknown exception in create");
    }
    return nullptr;
  }
  static void destroy(void* self) { delete static_cast<P*>(self); }
  template <class Fn>
  static int32_t guard(qlab_error* err, Fn&& fn) {
    try {
      fn();
      return 0;
    } catch (const std::exception& e) {
      set_error(err, e.what());
    } catch (...) {
      set_error(err, "unknown exception");
    }
    return 1;
  }
  static int32_t observe(void* self, const char* name, int32_t block, qlab_cview x, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->observe(name, block, x); });
  }
  static int32_t transform(void* self, const qlab_group_in* in, qlab_transform_out* out, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->transform(*in, *out); });
  }
  static int32_t quantize(void* self, const qlab_linear_in* in, qlab_quantize_out* out, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->quantize(*in, *out); });
  }

  static const qlab_plugin* descriptor() {
    static const qlab_plugin d = [] {
      qlab_plugin p{};
      p.abi_version = QLAB_PLUGIN_ABI_VERSION;
      p.name = P::name;
      p.version = P::version;
      p.summary = P::summary;
      if constexpr (requires { P::params; }) {
        p.params = P::params;
        p.n_params = static_cast<int32_t>(sizeof(P::params) / sizeof(P::params[0]));
      }
      if constexpr (requires { P::stats; }) p.stats = P::stats;
      if constexpr (requires { P::scope; }) p.scope = P::scope;
      if constexpr (requires { P::uses_codebook; }) p.uses_codebook = P::uses_codebook;
      p.create = &create;
      p.destroy = &destroy;
      if constexpr (requires(P& x, qlab_cview v) { x.observe("", 0, v); }) p.observe = &observe;
      if constexpr (requires(P& x, const qlab_group_in& i, qlab_transform_out& o) { x.transform(i, o); }) p.transform = &transform;
      if constexpr (requires(P& x, const qlab_linear_in& i, qlab_quantize_out& o) { x.quantize(i, o); }) p.quantize = &quantize;
      return p;
    }();
    return &d;
  }
};
}  // namespace detail

}  // namespace qlab::sdk

#define QLAB_PLUGIN(Class) \
  extern "C" QLAB_EXPORT const qlab_plugin* qlab_plugin_entry(void) { return ::qlab::sdk::detail::Adapter<Class>::descriptor(); }
