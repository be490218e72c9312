#include "log/log_structure.h"

#include <set>

#include "log/h5.h"
#include "util/error.h"

namespace qlab {

namespace {
// The common length of every column in `table`.
int64_t table_length(hid_t parent, const std::string& table, const std::string& where) {
  h5::Handle g = h5::open_group(parent, table);
  int64_t n = -1;
  std::string first;
  for (const std::string& column : h5::children(g.id())) {
    const int64_t len = h5::length(g.id(), column);
    if (n < 0) {
      n = len;
      first = column;
    } else if (len != n) {
      fail("{}: column '{}' has {} rows, '{}' has {}", where, first, n, column, len);
    }
  }
  return n < 0 ? 0 : n;
}

void check_evals(hid_t parent, const std::string& owner) {
  if (!h5::exists(parent, owner + "/eval")) return;
  h5::Handle evals = h5::open_group(parent, owner + "/eval");
  for (const std::string& ds : h5::children(evals.id())) {
    h5::Handle e = h5::open_group(evals.id(), ds);
    for (const char* a : {"data", "sha256"}) h5::attr_string(e.id(), a);
    h5::attr_double(e.id(), "ppl");
    const int64_t n = h5::attr_int(e.id(), "n_segments");
    if (h5::length(e.id(), "nll") != n)
      fail("{}/eval/{}: {} segments but {} nll values", owner, ds, n, h5::length(e.id(), "nll"));
  }
}

void check_run(hid_t runs, const std::string& id) {
  h5::Handle g = h5::open_group(runs, id);
  static const std::set<std::string> statuses = {"running", "done", "failed", "crashed"};
  const std::string status = h5::attr_string(g.id(), "status");
  if (!statuses.count(status)) fail("runs/{}: unknown status '{}'", id, status);
  h5::attr_string(g.id(), "error");
  std::set<double> blocks, linear_blocks;
  if (h5::exists(g.id(), "blocks")) {
    table_length(g.id(), "blocks", "runs/" + id + "/blocks");
    h5::Handle b = h5::open_group(g.id(), "blocks");
    const std::vector<double> numbers = h5::read_numbers(b.id(), "block");
    blocks.insert(numbers.begin(), numbers.end());
    if (blocks.size() != numbers.size()) fail("runs/{}/blocks: a block is logged twice", id);
  }
  if (h5::exists(g.id(), "linears")) {
    table_length(g.id(), "linears", "runs/" + id + "/linears");
    h5::Handle l = h5::open_group(g.id(), "linears");
    const std::vector<double> numbers = h5::read_numbers(l.id(), "block");
    linear_blocks.insert(numbers.begin(), numbers.end());
  }
  if (blocks != linear_blocks)
    fail("runs/{}: the linears' rows cover {} block(s), the blocks table {}", id, linear_blocks.size(), blocks.size());
  check_evals(runs, id);
}
}  // namespace

void validate_log_structure(hid_t file, const std::string& path) {
  try {
    for (const char* a : {"config_toml", "experiment"}) h5::attr_string(file, a);
    for (const std::string& top : h5::children(file))
      if (top.rfind("float", 0) == 0) check_evals(file, top);
    if (!h5::exists(file, "runs")) return;
    h5::Handle runs = h5::open_group(file, "runs");
    for (const std::string& id : h5::children(runs.id())) check_run(runs.id(), id);
  } catch (const Error& e) {
    fail("{}: the log's structure is damaged: {}", path, e.what());
  }
}

}  // namespace qlab
