// Published perplexity tables as data (results/published/*.csv): '#' lines cite the paper,
// table and protocol; then model,method,w_bits,a_bits,group_size,dataset,ppl rows. A log's
// runs are matched to rows by model, method, bits, group and dataset protocol.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "log/log_summary.h"

namespace qlab {

struct PublishedRow {
  std::string model, method, dataset;  // "facebook/opt-125m", "gptq", "wikitext2"
  int64_t w_bits = 16, a_bits = 16, group_size = 0;
  double ppl = 0;
};

struct PublishedTable {
  std::string path;
  std::vector<std::string> citation;  // the '#' lines
  std::vector<PublishedRow> rows;
};

PublishedTable read_published(const std::string& path);  // errors name the file and line

// A local model directory matches a published id when its last path component equals the
// id's name part, ignoring case and a trailing "-hf" ("/m/Llama-2-7b-hf" ~ "meta-llama/Llama-2-7b-hf").
bool same_model(const std::string& local_path, const std::string& published_id);

struct Comparison {
  std::string run, model, method, dataset;  // run "float" for the unquantized model
  int64_t w_bits = 16, a_bits = 16, group_size = 0;
  double ours = 0;
  std::optional<double> published;
};

// One entry per (run, dataset) of the log, published value filled where a row matches.
std::vector<Comparison> compare_with_published(const ExperimentSummary& s, const PublishedTable& t);

// "wikitext2_wiki.test.raw" → "wikitext2": the protocol part of a log's dataset group name.
std::string dataset_protocol(const std::string& eval_group);

}  // namespace qlab
