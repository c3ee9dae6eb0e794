// Promtool and Prometheus: Debian's Prometheus tools (package prometheus) for
// tests of warm's /metrics exposition.
//
// Promtool::CheckMetrics() lints an exposition with `promtool check metrics`.
// Prometheus runs a real /usr/bin/prometheus in a child process on 127.0.0.1
// and a free port, scraping one target of the test every second, and reads
// what it stored back through its HTTP API, so a test can check that a real
// Prometheus scrapes and understands warm's metrics.
//
// Every wait is bounded, and errors carry what is needed to see why: the
// tool's output, Prometheus's log and its targets' last scrape errors.
// Prometheus dies with the test (see Subprocess, tests/testing/subprocess.h:
// create it on a thread that outlives it, such as the test's own).
//
// Thread safety: Promtool is stateless. A Prometheus's methods may be called
// from any thread; each query is an HTTP request of its own.

#ifndef WARM_TESTS_TESTING_PROMETHEUS_H_
#define WARM_TESTS_TESTING_PROMETHEUS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace warm {
namespace testing {

// The Debian package of promtool and prometheus.
inline constexpr char kPrometheusPackage[] = "prometheus";

// What `promtool check metrics` said of an exposition.
struct MetricsCheck {
  bool ok = false;     // exit code 0: it parsed and has no lint problems
  int exit_code = 0;   // 1: parse error, 3: lint problems
  std::string output;  // stdout and stderr: the problems, one a line
};

class Promtool {
 public:
  static constexpr char kBinary[] = "/usr/bin/promtool";
  static constexpr std::chrono::seconds kTimeout{30};

  // Runs `promtool check metrics` with `exposition_text` (Prometheus text
  // format 0.0.4) on its stdin. An error only when promtool cannot run (not
  // installed: the message names the package) or takes longer than kTimeout;
  // a rejected exposition is a MetricsCheck with ok false.
  static absl::StatusOr<MetricsCheck> CheckMetrics(
      const std::string& exposition_text);
};

// One element of an instant query's result: a series' labels (with
// "__name__" unless the query computed it) and its value. A scalar result is
// one Sample without labels.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// One scrape target as /api/v1/targets describes it.
struct ScrapeTarget {
  std::string scrape_url;  // "http://127.0.0.1:41234/metrics"
  std::string health;      // "up", "down" or "unknown" (not scraped yet)
  std::string last_error;  // the last scrape's error, empty when it worked
};

struct PrometheusOptions {
  // The path Prometheus scrapes on the target.
  std::string metrics_path = "/metrics";
  // scrape_timeout must be shorter than scrape_interval.
  std::chrono::milliseconds scrape_interval{1000};
  std::chrono::milliseconds scrape_timeout{800};
  // How long Prometheus may take to start and be ready.
  std::chrono::milliseconds start_timeout{60000};
};

class Prometheus {
 public:
  static constexpr char kBinary[] = "/usr/bin/prometheus";
  // The scrape job; every stored series has the label job="warm".
  static constexpr char kJob[] = "warm";

  // Starts Prometheus scraping http://`target``metrics_path` (target:
  // "127.0.0.1:41234") and returns once it is ready (/-/ready answers 200).
  // An error, with its log, when it cannot start within start_timeout; when
  // it is not installed the message names the Debian package.
  static absl::StatusOr<std::unique_ptr<Prometheus>> Start(
      const std::string& target, const PrometheusOptions& options = {});

  // Kills Prometheus and removes its configuration and storage.
  ~Prometheus();

  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // "127.0.0.1:9090": its web UI and HTTP API.
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // Evaluates `promql` now (GET /api/v1/query). A vector result gives its
  // samples, a scalar one sample without labels; an error for a query
  // Prometheus rejects (with its message), another result type, or no
  // answer.
  absl::StatusOr<std::vector<Sample>> Query(const std::string& promql) const;

  // Queries `promql` until it gives exactly one sample whose value satisfies
  // `predicate`, and returns that sample. DeadlineExceeded when that does not
  // happen before `deadline`, with the last result or error, the targets'
  // health (a failing scrape's last error) and the end of Prometheus's log.
  absl::StatusOr<Sample> WaitForValue(
      const std::string& promql, const std::function<bool(double)>& predicate,
      std::chrono::steady_clock::time_point deadline) const;

  // The scrape targets and their health (GET /api/v1/targets).
  absl::StatusOr<std::vector<ScrapeTarget>> TargetHealth() const;

  // For failure messages: the process, its targets' health and the end of
  // its log.
  std::string Describe() const;

 private:
  Prometheus(TempDir dir, std::unique_ptr<Subprocess> process, int port);

  TempDir dir_;  // configuration and storage
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::string address_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_PROMETHEUS_H_
