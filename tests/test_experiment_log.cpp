// The experiment log's commits: one writer at a time, a block's rows land together or not at
// all, and a log whose tables disagree is refused before anything reads it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "log/experiment_log.h"
#include "log/h5.h"
#include "support/llama2c_file.h"

using namespace qlab;
using namespace qlab::test;

namespace {
LinearRow linear_row(const std::string& id, int32_t block) {
  LinearRow r;
  r.id = id;
  r.block = block;
  r.bits = 4;
  r.n_rows = r.n_cols = 8;
  return r;
}
}  // namespace

TEST_CASE("a second writer of one log is refused, naming the first", "[log]") {
  TempDir dir;
  const std::string path = (dir / "one.h5").string();
  ExperimentLog first = ExperimentLog::create(path, "x", "text");
  REQUIRE_THROWS_WITH(ExperimentLog::create(path, "x", "text", {}, true),
                      Catch::Contains(fmt::format("another qlab process (pid {}) is writing this log", getpid())));
  REQUIRE_THROWS_WITH(ExperimentLog::resume(path, "text", {}), Catch::Contains("another qlab process"));
}

TEST_CASE("a block whose rows cannot all be written leaves the log as it was", "[log]") {
  TempDir dir;
  const std::string path = (dir / "atomic.h5").string();
  ExperimentLog log = ExperimentLog::create(path, "x", "text");
  log.begin_run("r0000", {});
  log.append_block("r0000", {linear_row("0.q", 0), linear_row("0.k", 0)}, BlockRow{0});
  LinearRow bad = linear_row("1.q", 1);
  bad.metrics["evil.a/b/c"] = 1.0;  // HDF5 reads '/' as a path: the column cannot be created
  REQUIRE_THROWS(log.append_block("r0000", {linear_row("1.k", 1), bad}, BlockRow{1}));
  ExperimentLog read = ExperimentLog::open_read(path);
  h5::Handle lin = h5::open_group(read.file(), "runs/r0000/linears"), blocks = h5::open_group(read.file(), "runs/r0000/blocks");
  CHECK(h5::length(lin.id(), "id") == 2);
  CHECK(h5::length(lin.id(), "bits") == 2);
  CHECK(h5::length(blocks.id(), "block") == 1);
  CHECK(log.begin_run("r0000", {}) == 1);  // a resume continues after block 0
}

TEST_CASE("a log whose tables disagree is refused before it is read", "[log][bad-input]") {
  TempDir dir;
  const std::string path = (dir / "legacy.h5").string();
  {  // written as a log without qlab's checksum would be (an older qlab, or another program)
    h5::Handle f = h5::create_file(path, 0);
    h5::set_attr(f.id(), "config_toml", std::string("text"));
    h5::set_attr(f.id(), "experiment", std::string("x"));
    h5::Handle run = h5::group(f.id(), "runs/r0000");
    h5::set_attr(run.id(), "status", std::string("done"));
    h5::set_attr(run.id(), "error", std::string(""));
    h5::Handle lin = h5::group(run.id(), "linears");
    h5::append_strings(lin.id(), "id", {"0.q", "1.q"});
    h5::append(lin.id(), "block", std::vector<int32_t>{0, 1});
    h5::append(lin.id(), "bits", std::vector<int8_t>{4});
    h5::Handle blocks = h5::group(run.id(), "blocks");
    h5::append(blocks.id(), "block", std::vector<int32_t>{0});
  }
  REQUIRE_THROWS_WITH(ExperimentLog::open_read(path),
                      Catch::Contains("legacy.h5: the log's structure is damaged: runs/r0000/linears: column") &&
                          Catch::Contains("column 'bits' has 1 rows, 'block' has 2"));
  REQUIRE_THROWS_WITH(ExperimentLog::resume(path, "text", {}), Catch::Contains("the log's structure is damaged"));
}

TEST_CASE("an unwritable log path is a clear error", "[log][bad-input]") {
  REQUIRE_THROWS_WITH(ExperimentLog::create("/proc/qlab/forbidden.h5", "x", "text"), Catch::Contains("/proc/qlab/forbidden.h5"));
  REQUIRE_THROWS_WITH(ExperimentLog::open_read("/nonexistent/log.h5"), Catch::Contains("no such log"));
}

TEST_CASE("grid points and identities are written through the log's own methods, where merge and reports read them", "[log]") {
  TempDir dir;
  const std::string path = (dir / "identity.h5").string();
  {
    ExperimentLog log = ExperimentLog::create(path, "x", "text");
    log.set_grid_points(6);
    log.write_float_identity("float_m1", "/models/b");
    log.begin_run("r0003", {{"quant.bits", "3"}});
    log.write_run_identity("r0003", {"/models/a", "GPTQ", 3, 16, 128});
  }
  ExperimentLog read = ExperimentLog::open_read(path);
  CHECK(h5::attr_int(read.file(), "grid_points") == 6);
  h5::Handle f = h5::open_group(read.file(), "float_m1"), r = h5::open_group(read.file(), "runs/r0003");
  CHECK(h5::attr_string(f.id(), "identity.model") == "/models/b");
  CHECK(h5::attr_string(r.id(), "identity.model") == "/models/a");
  CHECK(h5::attr_string(r.id(), "identity.method") == "GPTQ");
  CHECK(h5::attr_int(r.id(), "identity.w_bits") == 3);
  CHECK(h5::attr_int(r.id(), "identity.a_bits") == 16);
  CHECK(h5::attr_int(r.id(), "identity.group_size") == 128);
  CHECK(h5::attr_string(r.id(), "quant.bits") == "3");
}

TEST_CASE("the log names the backend a session computed on: cpu by default, the device and GEMM precision when given", "[log][device]") {
  TempDir dir;
  const std::string path = (dir / "backend.h5").string();
  {
    ExperimentLog log = ExperimentLog::create(path, "x", "text");
    ExperimentLog read = ExperimentLog::open_read(path);
    CHECK(h5::attr_string(read.file(), "backend") == "cpu");
    CHECK(h5::attr_string(read.file(), "gemm_precision") == "fp32");
    log.write_backend("cuda:1", "NVIDIA H200, sm_90, 139 GiB", "tf32");
  }
  ExperimentLog read = ExperimentLog::open_read(path);
  CHECK(h5::attr_string(read.file(), "backend") == "cuda:1");
  CHECK(h5::attr_string(read.file(), "backend_device") == "NVIDIA H200, sm_90, 139 GiB");
  CHECK(h5::attr_string(read.file(), "gemm_precision") == "tf32");
  CHECK_THAT(h5::attr_string(read.file(), "backend_host_stages"), Catch::Contains("quantizers other than GPTQ's solve"));
}
