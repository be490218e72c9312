// One live plugin instance: created from resolved parameters, destroyed with the object;
// hook calls turn a plugin's error into a qlab::Error naming the plugin and the layer. A
// format the plugin does not support is refused before its hook is called (validation
// refuses it earlier; this covers callers that build formats themselves, like `qlab layer`).
#pragma once
#include <string>

#include "plugin_host/params.h"
#include "plugin_host/plugin_loader.h"

namespace qlab {

class PluginInstance {
 public:
  PluginInstance(const LoadedPlugin& plugin, ResolvedParams params);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const qlab_plugin& descriptor() const { return *plugin_.descriptor; }
  const LoadedPlugin& plugin() const { return plugin_; }
  const ResolvedParams& params() const { return params_; }
  const char* name() const { return plugin_.descriptor->name; }

  void transform(const qlab_group_in& in, qlab_transform_out& out);
  void quantize(const qlab_linear_in& in, qlab_quantize_out& out);
  void transform_model(const qlab_model_in& in, qlab_model_out& out);

 private:
  void check_format(const qlab_format& f, const std::string& layer) const;
  void check(int32_t rc, const char* hook, const std::string& layer, const qlab_error& err) const;
  const LoadedPlugin& plugin_;
  ResolvedParams params_;
  void* self_ = nullptr;
};

}  // namespace qlab
