#include "run/shard.h"

#include <charconv>
#include <cstdlib>

#include "util/error.h"

namespace qlab {

namespace {
std::optional<int> to_int(const std::string& s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}
}  // namespace

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  const auto i = to_int(text.substr(0, slash)), n = slash == std::string::npos ? std::nullopt : to_int(text.substr(slash + 1));
  if (!i || !n || *n < 1 || *i < 0 || *i >= *n)
    fail("--shard '{}': expected i/n with 0 <= i < n (shard 0 of 4 is 0/4)", text);
  return {*i, *n, "--shard"};
}

std::optional<Shard> resolve_shard(const std::string& option) {
  if (!option.empty()) return parse_shard(option);
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return std::nullopt;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const auto i = to_int(id), n = to_int(count), lo = min ? to_int(min) : std::optional<int>(0);
  if (!i || !n || !lo || *n < 1 || *i - *lo < 0 || *i - *lo >= *n)
    fail("Slurm array: SLURM_ARRAY_TASK_ID={} SLURM_ARRAY_TASK_MIN={} SLURM_ARRAY_TASK_COUNT={} do not name a task of a "
         "contiguous array (use --array=0-N, or pass --shard i/n)", id, min ? min : "unset", count);
  return Shard{*i - *lo, *n, "Slurm array"};
}

void select_shard(Experiment& ex, const Shard& s) {
  std::vector<RunConfig> kept;
  for (size_t k = 0; k < ex.runs.size(); ++k)
    if (static_cast<int>(k % static_cast<size_t>(s.count)) == s.index) kept.push_back(std::move(ex.runs[k]));
  ex.runs = std::move(kept);
}

}  // namespace qlab
