// Summary statistics for benchmark figures: medians, percentiles, ranges.
//
// The machine the benchmarks run on is shared and noisy, so every figure is a
// median over repetitions with its range, and latency figures are exact
// percentiles of every call (nearest rank), not estimates.

#ifndef WARM_BENCH_STATS_H_
#define WARM_BENCH_STATS_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace warm {
namespace bench {

// The p-th percentile (0 < p <= 100) of `sorted` (ascending) by nearest
// rank; 0 when empty.
template <typename T>
double Percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * sorted.size());
  const size_t index =
      rank < 1 ? 0 : std::min(sorted.size() - 1, static_cast<size_t>(rank) - 1);
  return static_cast<double>(sorted[index]);
}

// The median (the mean of the middle two for an even count); 0 when empty.
inline double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Median, smallest and largest of a set of repetitions.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
};

inline Summary Summarize(const std::vector<double>& values) {
  if (values.empty()) return {};
  const auto [min, max] = std::minmax_element(values.begin(), values.end());
  return {Median(values), *min, *max};
}

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_STATS_H_
