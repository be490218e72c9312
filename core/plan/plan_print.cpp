#include "plan/plan_print.h"

#include <fmt/format.h>

#include <map>

#include "util/table.h"

namespace qlab {

std::string format_name(const qlab_format& f) {
  return fmt::format("W{} {} {} {}-range", f.bits, f.group_size > 0 ? fmt::format("g{}", f.group_size) : "per-channel",
                     f.sym ? "sym" : "asym", f.range == QLAB_RANGE_MINMAX ? "minmax" : "gptq");
}

namespace {

std::string stats_name(uint32_t mask) {
  static const std::pair<uint32_t, const char*> names[] = {
      {QLAB_STAT_HESSIAN, "hessian"}, {QLAB_STAT_ABS_MEAN, "abs_mean"}, {QLAB_STAT_ABS_MAX, "abs_max"}, {QLAB_STAT_ROWS, "rows"}};
  std::string text;
  for (const auto& [bit, name] : names)
    if (mask & bit) text += fmt::format("{}{}", text.empty() ? "" : "+", name);
  return text.empty() ? "-" : text;
}

std::string linear_format(const LinearPlan& l) { return l.format ? format_name(*l.format) : "float (skip)"; }

std::string rules_text(const LinearPlan& l) {
  std::string text;
  for (const std::string& r : l.rules) text += fmt::format("{}{}", text.empty() ? "" : "; ", r);
  return text.empty() ? "-" : text;
}

std::string stages_text(const BlockPlan& b) {
  if (b.stages.size() == 1 && b.stages[0].empty()) return "1 stage (every input group at once)";
  std::string text = fmt::format("{} stages:", b.stages.size());
  for (const std::vector<size_t>& stage : b.stages) {
    std::string names;
    for (size_t g : stage)
      for (const std::string& n : b.input_groups[g]) names += fmt::format("{}{}", names.empty() ? "" : ",", n.substr(n.find('.') + 1));
    text += fmt::format(" [{}]", names);
  }
  return text;
}

std::string groups_text(const BlockPlan& b) {
  std::string text;
  for (const GroupLayout& g : b.offered_groups) {
    std::string consumers;
    for (const std::string& c : g.consumers) consumers += fmt::format("{}{}", consumers.empty() ? "" : ",", c.substr(c.find('.') + 1));
    text += fmt::format("{}{} → {}", text.empty() ? "" : "; ", g.producer.substr(g.producer.find('.') + 1), consumers);
  }
  return text;
}

// One linear as a row, everything the walker acts on.
std::vector<std::string> row(const LinearPlan& l) {
  return {l.id, fmt::format("{}×{}", l.out_features, l.in_features), linear_format(l), std::to_string(l.stage), stats_name(l.stats),
          rules_text(l)};
}

}  // namespace

std::string plan_text(const LayerPlan& plan) {
  std::string text = fmt::format("plan {}: {} block(s); activations {}; propagate {}; calibration activations stored as {}\n",
                                 plan.run_id, plan.blocks.size(),
                                 plan.act.enabled() ? fmt::format("A{} {}", plan.act.bits, act_scheme_name(plan.act.scheme)) : "float",
                                 plan.float_propagation ? "float" : "quantized", kStoragePrecisions.name(plan.activations));
  if (plan.fp16_scales) text.insert(text.size() - 1, "; scales rounded to fp16");
  if (plan.blocks.empty()) return text;
  const BlockPlan& first = plan.blocks[0];
  text += fmt::format("block 0: {}\n", stages_text(first));
  if (!first.offered_groups.empty())
    text += fmt::format("  scalable groups offered ({}): {}\n", stats_name(plan.group_stats), groups_text(first));
  cli::Table t({"linear", "shape", "format", "stage", "statistics", "overrides"});
  for (const LinearPlan& l : first.linears) t.add_row(row(l));
  text += t.render();
  if (plan.blocks.size() == 1) return text;
  std::map<std::string, int64_t> formats;
  std::vector<std::string> differing;
  for (size_t b = 1; b < plan.blocks.size(); ++b) {
    const BlockPlan& bp = plan.blocks[b];
    for (size_t i = 0; i < bp.linears.size(); ++i) {
      const LinearPlan& l = bp.linears[i];
      ++formats[linear_format(l)];
      std::vector<std::string> mine = row(l), theirs = i < first.linears.size() ? row(first.linears[i]) : std::vector<std::string>{};
      if (!theirs.empty()) mine[0] = theirs[0] = "";  // the ids differ by block alone
      if (mine != theirs)
        differing.push_back(fmt::format("  {}: {} {}, stage {}, {} ({})", l.id, row(l)[1], linear_format(l), l.stage, stats_name(l.stats),
                                        rules_text(l)));
    }
    if (stages_text(bp) != stages_text(first)) differing.push_back(fmt::format("  block {}: {}", b, stages_text(bp)));
    if (groups_text(bp) != groups_text(first))
      differing.push_back(fmt::format("  block {}: scalable groups offered: {}", b, groups_text(bp)));
  }
  std::string counts;
  for (const auto& [f, n] : formats) counts += fmt::format("{}{} × {}", counts.empty() ? "" : ", ", n, f);
  text += fmt::format("blocks 1–{}: {}\n", plan.blocks.size() - 1, counts);
  if (differing.empty()) text += "  every block as block 0\n";
  else {
    text += fmt::format("  differing from block 0 ({}):\n", differing.size());
    for (const std::string& d : differing) text += d + "\n";
  }
  return text;
}

}  // namespace qlab
