// The scenarios of warm_bench, each comparing a warm channel with plain gRPC
// channels over the same loopback backends, in the same run.
//
// Every scenario is bounded in time by its configuration and returns its
// figures as JSON and as Markdown (a title, the setup in words, a table), or
// an error when the harness itself could not run (a backend that did not
// start, a channel that never connected). Timings are reported, never
// asserted.

#ifndef WARM_BENCH_SCENARIOS_H_
#define WARM_BENCH_SCENARIOS_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/report.h"

namespace warm {
namespace bench {

// What the command line sets; 0 (or empty) means the scenario's own default,
// written in warm_bench's usage text.
struct BenchConfig {
  // Short runs that only show the harness works (ctest's smoke tests).
  bool smoke = false;
  int reps = 0;
  double seconds = 0;          // one measurement (overhead, slow_backend)
  std::vector<int> threads;    // closed-loop callers (overhead, slow_backend)
  double failover_window = 0;  // failover, netfault: seconds after fault
  double dns_bound = 0;        // seconds to wait for traffic to move
  int channels = 0;            // scale: idle channels in one process
  double cpu_window = 0;       // scale: seconds CPU is measured over
  // overhead: while measuring, fetch /metrics and /channels.json from a
  // warm::DiagnosticsServer every this many ms, as a scraper would (0: no
  // diagnostics server).
  int scrape_ms = 0;
  // slow_backend: where to write the latency percentiles for the plot.
  std::string slow_plot_data;
  // load_step: where to write p99 and pool size per second for the plot.
  std::string load_step_plot_data;
  // scale: this program, run again to measure each variant on its own.
  std::string self_path;
};

struct ScenarioReport {
  std::string name;
  JsonObject json;
  std::string markdown;
};

// The order in which to run `n` variants in repetition `rep`: rotated each
// repetition, so that no variant always runs first (or right after another)
// on a machine whose load drifts.
inline std::vector<int> RotatedOrder(int rep, int n) {
  std::vector<int> order;
  for (int k = 0; k < n; ++k) order.push_back((rep + k) % n);
  return order;
}

// "met" or "MISSED".
inline const char* GoalWord(bool met) { return met ? "met" : "MISSED"; }

absl::StatusOr<ScenarioReport> RunOverhead(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunSlowBackend(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunFailover(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunDnsMove(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunWarmStart(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunScale(const BenchConfig& config);
// Skipped (a report that says why) where network namespaces cannot be made.
absl::StatusOr<ScenarioReport> RunNetfault(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunDetect(const BenchConfig& config);
absl::StatusOr<ScenarioReport> RunWaitForReady(const BenchConfig& config);
// Runs its backends as processes of this program (BenchConfig::self_path).
absl::StatusOr<ScenarioReport> RunLoadStep(const BenchConfig& config);

// The scale scenario measures each variant in a process of its own (so that
// one variant's freed memory does not hide the next one's); this is that
// process's work: `channels` idle channels of `variant` to `target`, RSS and
// CPU measured over `cpu_window` seconds, printed as one line of
// "key=number" pairs.
int RunScaleChild(const std::string& variant, const std::string& target,
                  int channels, double cpu_window);

// The netfault scenario's backends run in child processes inside network
// namespaces; this is such a process's work: a BenchBackend on `host` and a
// free port, announced as "PORT <n>" on stdout, served until stdin ends.
int RunNetfaultBackend(const std::string& host);

// The load_step scenario's backends: this is such a process's work: a
// BenchBackend of finite capacity on `host` and a free port, announced as
// "PORT <n>" on stdout, served until the process is killed (or its parent
// dies).
int RunLoadStepBackend(const std::string& host);

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_SCENARIOS_H_
