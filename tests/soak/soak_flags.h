// warm_soak's command line: every flag with its default, parsed strictly (a
// bad flag is named, and the process exits 2).
//
// Thread safety: a SoakFlags is a value, parsed once on the main thread.

#ifndef WARM_TESTS_SOAK_SOAK_FLAGS_H_
#define WARM_TESTS_SOAK_SOAK_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace warm {
namespace soak {

// Which sanitizer this binary was built with ("" for none): the defaults of
// the timing and memory bounds depend on it.
const char* SanitizerName();

struct SoakFlags {
  std::chrono::milliseconds duration{60000};
  // 0 on the command line or absent: drawn from std::random_device and
  // printed, so that any run can be replayed.
  uint64_t seed = 0;
  // Channels alive at once (split over static, DNS, TLS and, with root and
  // nft, netns kinds); channel churn replaces them.
  int channels = 8;
  // Child-process backends on 127.0.0.11.. (static and DNS targets share
  // them).
  int backends = 5;
  // Closed-loop threads (sync calls back to back) and the open-loop rate
  // (callback calls started per second whatever completes).
  int closed_loop_threads = 4;
  int open_loop_rate = 100;
  // Mean time between two faults (exponential gaps from the seed).
  std::chrono::milliseconds fault_interval{1500};
  std::chrono::milliseconds scrape_interval{1000};
  // A progress line (calls, RSS, heap, threads, fds) this often.
  std::chrono::milliseconds status_interval{30000};
  // Warm-up after which RSS is taken as the reference (default: a quarter
  // of the duration, at most 15 s).
  std::chrono::milliseconds warmup{-1};
  // RSS after warm-up may grow to rss_factor x warm-up RSS + rss_slack_mb.
  double rss_factor = 0;    // 0: 1.5, 2.5 under a sanitizer
  int rss_slack_mb = -1;    // -1: 64, 512 under ASan, 384 under TSan
  // How long after its deadline a call may end (0: 1 s, 5 s under a
  // sanitizer).
  std::chrono::milliseconds deadline_slack{0};
  // After load stops: how long calls may take to end, channels to go.
  std::chrono::milliseconds drain_timeout{30000};
  // After healing: how long every channel together has to serve again
  // (one deadline for the whole recovery phase, TLS rotation check
  // included; channels recover in parallel). 0: 2 x drain_timeout.
  std::chrono::milliseconds recovery_timeout{0};
  // The whole run's cap, from start: past it a watchdog thread prints what
  // is known (violations so far, calls still outstanding, the replay line)
  // and exits 1 without tearing down, so that a call warm never ends (even
  // a sync call on the main thread) cannot hang the soak. 0: derived,
  // duration + 3 x drain_timeout + RecoveryBound() + 60 s (WatchdogBound).
  std::chrono::milliseconds watchdog{0};
  // Fault kinds may be turned off; netns needs root and nft anyway.
  bool dns = true;
  bool tls = true;
  bool netns = true;
  std::string report;  // also write the summary here
  bool verbose = false;

  // The flags that reproduce this run (for the replay line).
  std::string ReplayArgs() const;
  // recovery_timeout, or its default.
  std::chrono::milliseconds RecoveryBound() const;
  // The watchdog's bound: `watchdog`, or the derived one.
  std::chrono::milliseconds WatchdogBound() const;
};

// Parses argv; on a bad or unknown flag prints a message naming it and the
// usage to stderr and exits 2; --help prints the usage and exits 0.
SoakFlags ParseSoakFlags(int argc, char** argv);

// "1500ms", "60s", "10m" (a bare number is seconds).
bool ParseDuration(const std::string& text, std::chrono::milliseconds* out);

}  // namespace soak
}  // namespace warm

#endif  // WARM_TESTS_SOAK_SOAK_FLAGS_H_
