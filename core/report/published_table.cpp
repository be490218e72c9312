#include "report/published_table.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace qlab {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
std::string strip_hf(std::string s) {
  if (s.size() > 3 && s.compare(s.size() - 3, 3, "-hf") == 0) s.resize(s.size() - 3);
  return s;
}
}  // namespace

PublishedTable read_published(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the published table", path);
  PublishedTable t;
  t.path = path;
  std::string line;
  int n = 0;
  bool header_seen = false;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      t.citation.push_back(line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1));
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (!header_seen) {
      if (line != "model,method,w_bits,a_bits,group_size,dataset,ppl")
        fail("{}:{}: expected the header model,method,w_bits,a_bits,group_size,dataset,ppl", path, n);
      header_seen = true;
      continue;
    }
    if (cells.size() != 7) fail("{}:{}: expected 7 columns, got {}", path, n, cells.size());
    PublishedRow r{cells[0], cells[1], cells[5]};
    auto integer = [&](const std::string& c, const char* what) {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(c.data(), c.data() + c.size(), v);
      if (ec != std::errc() || end != c.data() + c.size()) fail("{}:{}: {} '{}' is not an integer", path, n, what, c);
      return v;
    };
    r.w_bits = integer(cells[2], "w_bits");
    r.a_bits = integer(cells[3], "a_bits");
    r.group_size = integer(cells[4], "group_size");
    try {
      size_t used = 0;
      r.ppl = std::stod(cells[6], &used);
      if (used != cells[6].size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      fail("{}:{}: ppl '{}' is not a number", path, n, cells[6]);
    }
    t.rows.push_back(r);
  }
  if (!header_seen) fail("{}: no header row; expected model,method,w_bits,a_bits,group_size,dataset,ppl", path);
  return t;
}

bool same_model(const std::string& local_path, const std::string& published_id) {
  std::filesystem::path p(local_path);
  if (p.filename().empty()) p = p.parent_path();
  if (p.extension() == ".bin" || p.extension() == ".safetensors") p = p.stem();  // a llama2.c checkpoint file
  else p = p.filename();
  const std::string local = strip_hf(lower(p.string()));
  const size_t slash = published_id.rfind('/');
  const std::string name = strip_hf(lower(slash == std::string::npos ? published_id : published_id.substr(slash + 1)));
  return !local.empty() && local == name;
}

std::string dataset_protocol(const std::string& eval_group) { return eval_group.substr(0, eval_group.find('_')); }

std::vector<Comparison> compare_with_published(const ExperimentSummary& s, const PublishedTable& t) {
  std::vector<Comparison> out;
  auto match = [&](Comparison& c) {
    for (const PublishedRow& r : t.rows)
      if (same_model(c.model, r.model) && r.method == c.method && r.w_bits == c.w_bits && r.a_bits == c.a_bits &&
          r.group_size == c.group_size && r.dataset == c.dataset)
        c.published = r.ppl;
  };
  for (const auto& [ds, ppl] : s.float_ppl) {
    Comparison c{"float", s.float_model, "fp16", dataset_protocol(ds), 16, 16, 0, ppl, std::nullopt};
    match(c);
    out.push_back(c);
  }
  for (const RunSummary& r : s.runs) {
    if (r.identity.empty()) continue;  // a log written before runs recorded what they are
    for (const auto& [ds, ppl] : r.ppl) {
      Comparison c{r.run_id, r.identity.at("model"), r.identity.at("method"), dataset_protocol(ds),
                   std::stoll(r.identity.at("w_bits")), std::stoll(r.identity.at("a_bits")), std::stoll(r.identity.at("group_size")), ppl, std::nullopt};
      match(c);
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace qlab
