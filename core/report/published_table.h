// Published tables as data (results/published/*.csv): '#' lines cite the paper, table and
// protocol; then rows in one of two forms, told apart by the header line:
//   model,method,w_bits,a_bits,group_size,dataset,ppl           perplexity on a dataset protocol
//   model,method,w_bits,a_bits,group_size,task,metric,value     a zero-shot task metric (acc and
//                                                               acc_norm as fractions, not percent)
// A log's runs are matched to rows by model, method, bits, group and the dataset protocol or
// the task and metric.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "log/log_summary.h"

namespace qlab {

enum class PublishedForm { perplexity, task };

struct PublishedRow {
  std::string model, method;  // "facebook/opt-125m", "gptq"
  int64_t w_bits = 16, a_bits = 16, group_size = 0;
  std::string dataset;        // perplexity rows: "wikitext2"
  std::string task, metric;   // task rows: "piqa", "acc_norm"
  double value = 0;           // the perplexity, or the task metric
};

struct PublishedTable {
  std::string path;
  PublishedForm form = PublishedForm::perplexity;
  std::vector<std::string> citation;  // the '#' lines
  std::vector<PublishedRow> rows;
};

PublishedTable read_published(const std::string& path);  // errors name the file and line

// A local model directory matches a published id when its last path component equals the
// id's name part, ignoring case and a trailing "-hf" ("/m/Llama-2-7b-hf" ~ "meta-llama/Llama-2-7b-hf").
bool same_model(const std::string& local_path, const std::string& published_id);

struct Comparison {
  std::string run, model, method;  // run "float" (or "float_m1"…) for an unquantized model
  int64_t w_bits = 16, a_bits = 16, group_size = 0;
  std::string dataset;             // perplexity tables
  std::string task, metric;        // task tables
  double ours = 0;
  std::optional<double> published;
};

// Perplexity tables: one entry per (run, dataset) of the log. Task tables: one entry per
// (run, task metric) of the log that the table publishes for some model. The published value
// is filled where a row matches.
std::vector<Comparison> compare_with_published(const ExperimentSummary& s, const PublishedTable& t);

// "wikitext2_wiki.test.raw" → "wikitext2": the protocol part of a log's dataset group name.
std::string dataset_protocol(const std::string& eval_group);

}  // namespace qlab
