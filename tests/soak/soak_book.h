// The soak's own bookkeeping: every call the harness starts, per channel
// (CallTally), the run's violations (Violations), and a timestamped,
// serialized log (SoakLog). These are what warm's counters are checked
// against, so they are kept apart from warm: plain atomics and a map of the
// calls still outstanding.
//
// Thread safety: every class here is thread-safe.

#ifndef WARM_TESTS_SOAK_SOAK_BOOK_H_
#define WARM_TESTS_SOAK_SOAK_BOOK_H_

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace warm {
namespace soak {

using SteadyClock = std::chrono::steady_clock;

constexpr int kCodes = 17;

// Lines to stdout, each "[   12.345s] text", never interleaved.
class SoakLog {
 public:
  explicit SoakLog(SteadyClock::time_point start) : start_(start) {}
  void Line(const std::string& text);
  double Seconds() const;
  SteadyClock::time_point start() const { return start_; }

 private:
  const SteadyClock::time_point start_;
  std::mutex mu_;
};

// Every broken invariant, printed as it is found and counted by kind.
class Violations {
 public:
  explicit Violations(SoakLog* log) : log_(log) {}
  void Add(const std::string& kind, const std::string& detail);
  int count() const;
  std::map<std::string, int> by_kind() const;
  // The first details (at most 50), for the report.
  std::vector<std::string> details() const;

 private:
  SoakLog* const log_;
  mutable std::mutex mu_;
  int count_ = 0;
  std::map<std::string, int> by_kind_;
  std::vector<std::string> details_;
};

// Calls of the whole run by final status code and, per code, by cause (the
// status message with digits and addresses folded, so that "connection to
// 127.0.0.12:4711 refused" and "...13:4711..." count as one cause).
class CallOutcomes {
 public:
  void Add(const grpc::Status& status);
  std::array<uint64_t, kCodes> by_code() const;
  // Per code, causes with their counts, most frequent first (at most
  // `max_causes` per code).
  std::map<int, std::vector<std::pair<std::string, uint64_t>>> causes(
      size_t max_causes) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kCodes> by_code_{};
  std::map<int, std::map<std::string, uint64_t>> causes_;
};

// One warm channel's calls as the harness counts them: started when the
// harness is about to call the stub, finished when the stub has returned
// the status (sync) or the callback ran (callback). Between the two a call is
// outstanding, with its deadline, so that a call that never ends or ends far
// past its deadline is found.
class CallTally {
 public:
  struct Shared {
    Violations* violations;
    CallOutcomes* outcomes;
    std::chrono::milliseconds deadline_slack;
  };
  CallTally(std::string name, Shared shared)
      : name_(std::move(name)), shared_(shared) {}

  const std::string& name() const { return name_; }

  // Starts counting a call of kind `what` ("unary", "callback",
  // "server_stream"); returns its id for End().
  uint64_t Begin(SteadyClock::time_point deadline, const char* what);
  // The call's status arrived. Checks that it was outstanding and that it
  // did not end more than deadline_slack after its deadline.
  void End(uint64_t id, const grpc::Status& status);

  uint64_t started() const { return started_.load(std::memory_order_acquire); }
  uint64_t finished() const {
    return finished_.load(std::memory_order_acquire);
  }
  std::array<uint64_t, kCodes> finished_by_code() const;
  size_t outstanding() const;

  // Reports (once each) outstanding calls past deadline + slack; returns
  // how many are past it.
  int CheckOverdue(SteadyClock::time_point now);
  // Describes the calls still outstanding (for the lost-call report).
  std::vector<std::string> DescribeOutstanding(
      SteadyClock::time_point now) const;

 private:
  struct Outstanding {
    SteadyClock::time_point started;
    SteadyClock::time_point deadline;
    const char* what;
    bool reported = false;
  };

  const std::string name_;
  const Shared shared_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> finished_{0};
  std::array<std::atomic<uint64_t>, kCodes> by_code_{};
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Outstanding> outstanding_;
};

}  // namespace soak
}  // namespace warm

#endif  // WARM_TESTS_SOAK_SOAK_BOOK_H_
