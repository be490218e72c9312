// Budgeted mixed precision: one format per linear from a menu, minimising the summed
// sensitivity (a measured per-linear output error, or a Hessian-trace proxy) subject to an
// average bits-per-weight budget. A multiple-choice knapsack, solved by its Lagrangian: for a
// price λ on bits every linear independently takes argmin error + λ·bits; bisection on λ finds
// the cheapest price within budget, then the leftover budget buys the upgrades with the best
// error drop per bit that still fit (HAWQ-V3 and LLM-MQ solve the same problem; an exact
// integer program is not needed at these sizes: the Lagrangian optimum is exact whenever it
// spends the budget, and the greedy repair closes most of the rest).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qlab {

struct FormatCost {
  std::string format;     // "w3g128": a label the caller maps back
  double bits_per_weight; // storage, scales included
  double error;           // the sensitivity of this linear in this format (≥ 0)
};

struct LinearChoices {
  std::string linear;
  int64_t n_weights = 0;
  std::vector<FormatCost> options;
};

struct BitAllocation {
  std::vector<size_t> choice;  // per linear, an index into its options
  double total_error = 0, average_bits = 0;
};

// Fails naming the budget and the range when target_bits is below the cheapest allocation or
// above the most expensive, and naming the linear when it has no option.
BitAllocation allocate_bits(const std::vector<LinearChoices>& linears, double target_bits);

}  // namespace qlab
