// What the soak reads back from warm's diagnostics: Prometheus text parsed
// into samples, the JSON snapshot parsed into its proto, and a record of
// every counter seen so far, to check that none goes down.
//
// Thread safety: ParseMetricsText() is a pure function; a CounterHistory is
// used by one thread at a time (the scraper), guarded by its own mutex.

#ifndef WARM_TESTS_SOAK_SOAK_SCRAPE_H_
#define WARM_TESTS_SOAK_SOAK_SCRAPE_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/soak/soak_book.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm {
namespace soak {

struct MetricSample {
  std::string name;    // "warm_channel_calls_total"
  std::string series;  // name{labels} exactly as written
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses Prometheus text format 0.0.4 (comments skipped); an error naming
// the first line that does not parse.
absl::StatusOr<std::vector<MetricSample>> ParseMetricsText(
    const std::string& text);

// The snapshot JSON of /channels.json.
absl::StatusOr<warm::diagnostics::v1::Snapshot> ParseSnapshotJson(
    const std::string& json);

// Every counter value seen, by key; Check() reports one that went down.
// Counters: metric series named *_total, and histograms' _count and
// _bucket series; in the snapshot, every unsigned field of a channel's
// Counters and Tls, its calls finished per code, and its methods' started
// and handled counts. Keys carry the channel's process-unique id or label,
// so a channel created later never meets an old one's values.
class CounterHistory {
 public:
  explicit CounterHistory(Violations* violations) : violations_(violations) {}
  // Returns the number of counters compared.
  int CheckMetrics(const std::vector<MetricSample>& samples,
                   const std::string& source);
  int CheckSnapshot(const warm::diagnostics::v1::Snapshot& snapshot,
                    const std::string& source);

 private:
  void Check(const std::string& key, double value, const std::string& source);

  Violations* const violations_;
  std::mutex mu_;
  std::map<std::string, double> last_;
};

}  // namespace soak
}  // namespace warm

#endif  // WARM_TESTS_SOAK_SOAK_SCRAPE_H_
