#include "plugin_host/plugin_instance.h"

#include <cstring>

#include "plugin_host/format_support.h"
#include "util/error.h"
#include "util/watchdog.h"

namespace qlab {

namespace {
// The plugin's message, read only within its 512 bytes: a plugin may leave out the NUL.
std::string message_of(const qlab_error& err) {
  const size_t n = strnlen(err.message, sizeof err.message);
  return n == 0 ? "no message" : std::string(err.message, n);
}
}  // namespace

PluginInstance::PluginInstance(const LoadedPlugin& plugin, ResolvedParams params)
    : plugin_(plugin), params_(std::move(params)) {
  qlab_error err{};
  self_ = plugin_.descriptor->create(params_.data(), params_.size(), &err);
  if (!self_) fail("plugin '{}' ({}): create failed: {}", name(), plugin_.path, message_of(err));
}

PluginInstance::~PluginInstance() {
  if (self_) plugin_.descriptor->destroy(self_);
}

void PluginInstance::check(int32_t rc, const char* hook, const std::string& layer, const qlab_error& err) const {
  if (rc != 0)
    fail("plugin '{}' failed in {} on layer {}: {}", name(), hook, layer, message_of(err));
}

void PluginInstance::check_format(const qlab_format& f, const std::string& layer) const {
  if (const std::string problem = unsupported_format(descriptor(), f); !problem.empty())
    fail("plugin '{}' cannot quantize {}: {}", name(), layer, problem);
}

void PluginInstance::transform(const qlab_group_in& in, qlab_transform_out& out) {
  check_format(in.format, in.name);
  qlab_error err{};
  const Watch watch(fmt::format("the transform hook of plugin '{}' on {}", name(), in.name));
  check(plugin_.descriptor->transform(self_, &in, &out, &err), "transform", in.name, err);
}

void PluginInstance::quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
  check_format(in.format, in.name);
  qlab_error err{};
  const Watch watch(fmt::format("the quantize hook of plugin '{}' on {}", name(), in.name));
  check(plugin_.descriptor->quantize(self_, &in, &out, &err), "quantize", in.name, err);
}

void PluginInstance::transform_model(const qlab_model_in& in, qlab_model_out& out) {
  qlab_error err{};
  const Watch watch(fmt::format("the model transform hook of plugin '{}'", name()));
  check(plugin_.descriptor->transform_model(self_, &in, &out, &err), "transform_model", "the model", err);
}

}  // namespace qlab
