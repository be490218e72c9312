#include "plan/bit_allocation.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace qlab {

namespace {
double bits_of(const LinearChoices& l, size_t i) { return static_cast<double>(l.n_weights) * l.options[i].bits_per_weight; }

// Each linear's argmin of error + λ·bits (ties: fewer bits).
std::vector<size_t> priced(const std::vector<LinearChoices>& linears, double lambda) {
  std::vector<size_t> choice(linears.size());
  for (size_t l = 0; l < linears.size(); ++l) {
    double best = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < linears[l].options.size(); ++i) {
      const double v = linears[l].options[i].error + lambda * bits_of(linears[l], i);
      const size_t c = choice[l];
      if (v < best || (v == best && bits_of(linears[l], i) < bits_of(linears[l], c))) best = v, choice[l] = i;
    }
  }
  return choice;
}

double total_bits(const std::vector<LinearChoices>& linears, const std::vector<size_t>& choice) {
  double b = 0;
  for (size_t l = 0; l < linears.size(); ++l) b += bits_of(linears[l], choice[l]);
  return b;
}
}  // namespace

BitAllocation allocate_bits(const std::vector<LinearChoices>& linears, double target_bits) {
  double weights = 0, cheapest = 0, dearest = 0;
  for (const LinearChoices& l : linears) {
    if (l.options.empty()) fail("bit allocation: {} has no format to choose from", l.linear);
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const FormatCost& f : l.options) {
      if (!(f.error >= 0) || !(f.bits_per_weight > 0)) fail("bit allocation: {} in {} has error {} and {} bits per weight", l.linear, f.format, f.error, f.bits_per_weight);
      lo = std::min(lo, f.bits_per_weight);
      hi = std::max(hi, f.bits_per_weight);
    }
    weights += static_cast<double>(l.n_weights);
    cheapest += lo * static_cast<double>(l.n_weights);
    dearest += hi * static_cast<double>(l.n_weights);
  }
  if (weights == 0) fail("bit allocation: no weights to allocate");
  const double budget = target_bits * weights, slack = 1e-9 * budget;
  if (budget < cheapest - slack)
    fail("a budget of {} bits per weight is below the cheapest allocation, {:.4f} (every linear in its smallest format)", target_bits, cheapest / weights);
  if (budget > dearest + slack)
    fail("a budget of {} bits per weight is above the most expensive allocation, {:.4f} (every linear in its largest format): nothing to choose",
         target_bits, dearest / weights);

  // The cheapest price on bits whose choices fit: bisection between a price that overspends and one that fits.
  std::vector<size_t> choice = priced(linears, 0.0);
  if (total_bits(linears, choice) > budget + slack) {
    double lo = 0, hi = 1e-12;
    while (total_bits(linears, priced(linears, hi)) > budget + slack) hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; ++i) {
      const double mid = 0.5 * (lo + hi);
      (total_bits(linears, priced(linears, mid)) > budget + slack ? lo : hi) = mid;
    }
    choice = priced(linears, hi);
  }
  // The leftover budget: upgrades by error drop per added bit, while one fits.
  for (;;) {
    const double left = budget + slack - total_bits(linears, choice);
    double best_rate = 0;
    size_t best_l = 0, best_i = 0;
    for (size_t l = 0; l < linears.size(); ++l)
      for (size_t i = 0; i < linears[l].options.size(); ++i) {
        const double added = bits_of(linears[l], i) - bits_of(linears[l], choice[l]);
        const double drop = linears[l].options[choice[l]].error - linears[l].options[i].error;
        if (added <= 0 || added > left || drop <= 0) continue;
        if (drop / added > best_rate) best_rate = drop / added, best_l = l, best_i = i;
      }
    if (best_rate == 0) break;
    choice[best_l] = best_i;
  }
  BitAllocation a;
  a.choice = choice;
  for (size_t l = 0; l < linears.size(); ++l) a.total_error += linears[l].options[choice[l]].error;
  a.average_bits = total_bits(linears, choice) / weights;
  return a;
}

}  // namespace qlab
