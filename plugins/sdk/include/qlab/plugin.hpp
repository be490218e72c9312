// Header-only C++20 adapter over plugin.h: a plugin is a small class.
//
//   struct MyQuantizer {
//     static constexpr const char* name = "mine", *version = "1.0.0", *summary = "...";
//     static constexpr auto alpha = qlab::sdk::float_param("alpha", 0.5, "help").range(0.0, 1.0);
//     static constexpr qlab_param_decl params[] = {alpha};
//     static constexpr uint32_t stats = QLAB_STAT_HESSIAN;            // optional, default 0
//     static constexpr qlab_support support = qlab::sdk::Support().bits({4});  // optional, default: any format
//     explicit MyQuantizer(const qlab::sdk::Params& p) : alpha_(p.get(alpha)) {}
//     void quantize(const qlab_linear_in& in, qlab_quantize_out& out); // and/or transform
//   };
//   QLAB_PLUGIN(MyQuantizer)
//
// Each parameter's name is written once, in its declaration; `p.get(alpha)` returns the
// declared type, so a misspelt or mistyped parameter fails to compile. Hooks the class
// lacks become NULL in the descriptor; exceptions become qlab_error at the boundary, so
// nothing C++ crosses it. Optional members: scope, uses_codebook, support, naming and
// `static const char* method_name(const Params&)`.
#pragma once
#include <Eigen/Core>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "qlab/plugin.h"

namespace qlab::sdk {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using MutableMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

inline ConstMap map(qlab_cview v) { return ConstMap(v.data, v.n_rows, v.n_cols, Eigen::OuterStride<>(v.row_stride)); }
inline MutableMap map(qlab_view v) { return MutableMap(v.data, v.n_rows, v.n_cols, Eigen::OuterStride<>(v.row_stride)); }
// The C views of a dense row-major matrix, for host services and qlab_linalg.
inline qlab_view view(RowMatrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }
inline qlab_cview cview(const RowMatrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }

class Failure : public std::exception {  // a message for the host, thrown from a hook
 public:
  explicit Failure(std::string m) : message_(std::move(m)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// A parameter declaration of value type T (int64_t, double, bool or std::string), built by
// the functions below and narrowed with .range() or .choices().
template <class T>
struct Param {
  qlab_param_decl decl;
  constexpr Param range(double lo, double hi) const
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
  {
    Param p = *this;
    p.decl.has_range = 1;
    p.decl.min_value = lo;
    p.decl.max_value = hi;
    return p;
  }
  constexpr Param choices(const char* bar_separated) const
    requires std::is_same_v<T, std::string>
  {
    Param p = *this;
    p.decl.choices = bar_separated;
    return p;
  }
  constexpr operator qlab_param_decl() const { return decl; }
};

// A support declaration: Support().bits({3, 4}).group_size_multiple(32); the default
// Support() accepts every format.
struct Support {
  qlab_support value{};
  constexpr Support bits(std::initializer_list<int> widths) const {
    Support s = *this;
    for (int b : widths) s.value.bits |= 1u << b;
    return s;
  }
  constexpr Support needs_groups() const {
    Support s = *this;
    s.value.needs_groups = 1;
    return s;
  }
  constexpr Support group_size_multiple(int32_t n) const {
    Support s = *this;
    s.value.group_size_multiple = n;
    return s;
  }
  constexpr operator qlab_support() const { return value; }
};

namespace detail {
constexpr qlab_param_decl declaration(const char* name, int32_t type, const char* help) {
  qlab_param_decl d{};
  d.name = name;
  d.type = type;
  d.help = help;
  return d;
}
}  // namespace detail

constexpr Param<int64_t> int_param(const char* name, int64_t def, const char* help) {
  Param<int64_t> p{detail::declaration(name, QLAB_PARAM_INT, help)};
  p.decl.default_int = def;
  return p;
}
constexpr Param<double> float_param(const char* name, double def, const char* help) {
  Param<double> p{detail::declaration(name, QLAB_PARAM_FLOAT, help)};
  p.decl.default_float = def;
  return p;
}
constexpr Param<bool> bool_param(const char* name, bool def, const char* help) {
  Param<bool> p{detail::declaration(name, QLAB_PARAM_BOOL, help)};
  p.decl.default_int = def ? 1 : 0;
  return p;
}
constexpr Param<std::string> string_param(const char* name, const char* def, const char* help) {
  Param<std::string> p{detail::declaration(name, QLAB_PARAM_STRING, help)};
  p.decl.default_string = def;
  return p;
}

// Resolved parameter values. The host has already checked names, types and ranges.
class Params {
 public:
  Params(const qlab_param* values, int32_t n) : values_(values), n_(n) {}
  template <class T>
  T get(const Param<T>& p) const {
    const qlab_param& v = find(p.decl.name, p.decl.type);
    if constexpr (std::is_same_v<T, std::string>) return v.s;
    else if constexpr (std::is_same_v<T, bool>) return v.i != 0;
    else if constexpr (std::is_same_v<T, double>) return v.f;
    else return v.i;
  }

 private:
  const qlab_param& find(const char* name, int32_t type) const {
    for (int32_t i = 0; i < n_; ++i)
      if (std::strcmp(values_[i].name, name) == 0) {
        if (values_[i].type != type) throw Failure(std::string("parameter '") + name + "' has another type");
        return values_[i];
      }
    throw Failure(std::string("no parameter '") + name + "' (is it in params[]?)");
  }
  const qlab_param* values_;
  int32_t n_;
};

// Appends a metric; names must outlive the call (use string literals). More than
// QLAB_MAX_METRICS is a plugin bug: it fails the hook rather than dropping values.
inline void add_metric(qlab_metric* metrics, int32_t& n, const char* name, double value) {
  if (n >= QLAB_MAX_METRICS) throw Failure(std::string("more than ") + std::to_string(QLAB_MAX_METRICS) + " metrics (at '" + name + "')");
  metrics[n++] = {name, value};
}

// The non-empty pieces of `text` between `separator`s: "q_|k_||v" → {"q_", "k_", "v"}.
inline std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

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
  static int32_t transform(void* self, const qlab_group_in* in, qlab_transform_out* out, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->transform(*in, *out); });
  }
  static int32_t quantize(void* self, const qlab_linear_in* in, qlab_quantize_out* out, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->quantize(*in, *out); });
  }
  static int32_t transform_model(void* self, const qlab_model_in* in, qlab_model_out* out, qlab_error* err) {
    return guard(err, [&] { static_cast<P*>(self)->transform_model(*in, *out); });
  }
  static const char* method_name(const qlab_param* values, int32_t n) {
    try {
      return P::method_name(Params(values, n));
    } catch (...) {
      return nullptr;  // the host falls back to the plugin's name
    }
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
      if constexpr (requires { P::support; }) p.support = P::support;
      if constexpr (requires { P::naming; }) p.naming = P::naming;
      if constexpr (requires(const Params& v) { { P::method_name(v) } -> std::convertible_to<const char*>; }) p.method_name = &method_name;
      p.create = &create;
      p.destroy = &destroy;
      if constexpr (requires(P& x, const qlab_group_in& i, qlab_transform_out& o) { x.transform(i, o); }) p.transform = &transform;
      if constexpr (requires(P& x, const qlab_linear_in& i, qlab_quantize_out& o) { x.quantize(i, o); }) p.quantize = &quantize;
      if constexpr (requires(P& x, const qlab_model_in& i, qlab_model_out& o) { x.transform_model(i, o); }) {
        p.transform_model = &transform_model;
        p.scope = QLAB_SCOPE_MODEL;
      }
      return p;
    }();
    return &d;
  }
};
}  // namespace detail

}  // namespace qlab::sdk

#define QLAB_PLUGIN(Class) \
  extern "C" QLAB_EXPORT const qlab_plugin* qlab_plugin_entry(void) { return ::qlab::sdk::detail::Adapter<Class>::descriptor(); }
