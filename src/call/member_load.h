// MemberLoad: one member's call counters, read by every pick; CallStats: a
// channel's totals, which outlive its members.
//
// A member's LoadInterceptor (src/call/load_interceptor.h) counts each of its
// calls in when the call is created and out when its status arrives (or the
// call is destroyed without one). Unlike counting until response headers,
// this counts a stream for as long as it is open.
//
// Thread safety: MemberLoad is atomics only, updated on whichever thread gRPC
// runs a call's operations on. CallStats takes a mutex only when a member
// comes or goes and when diagnostics read it, never per call.

#ifndef WARM_SRC_CALL_MEMBER_LOAD_H_
#define WARM_SRC_CALL_MEMBER_LOAD_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "src/common/mutex.h"
#include "warm/options.h"

namespace warm {
namespace internal {

class CallStats;
struct CallCounts;

// StallTrigger: lets the ends of one channel's calls start the pool's stall
// scan (LivenessOptions), at most once per `period`, so that nothing runs
// for liveness while the channel has no calls. One per channel, shared by
// its members' MemberLoads; `scan` hands over to the control thread.
class StallTrigger {
 public:
  StallTrigger(int64_t period_us, std::function<void()> scan)
      : period_us_(period_us), scan_(std::move(scan)) {}

  // A call ended at `now_us` (steady clock, microseconds).
  void OnCallEnd(int64_t now_us) {
    int64_t due = next_us_.load(std::memory_order_relaxed);
    if (now_us < due) return;
    // One of the calls ending at once wins the scan.
    if (next_us_.compare_exchange_strong(due, now_us + period_us_,
                                         std::memory_order_relaxed)) {
      scan_();
    }
  }

 private:
  alignas(64) std::atomic<int64_t> next_us_{0};
  const int64_t period_us_;
  const std::function<void()> scan_;
};

// Counters of one member, shared by the member and its interceptors.
struct MemberLoad {
  static constexpr int kCodes = 17;  // grpc::StatusCode 0..16

  MemberLoad() = default;
  // Registers with `stats`, which gets the final counts when this goes.
  explicit MemberLoad(std::shared_ptr<CallStats> stats);
  ~MemberLoad();
  MemberLoad(const MemberLoad&) = delete;
  MemberLoad& operator=(const MemberLoad&) = delete;

  // A copy of the counters now (relaxed loads: each is exact, the set is
  // not one instant).
  CallCounts Counts() const;

  // --- Read by every pick, on any thread: one cache line, so that a pick
  // touches one line per candidate. Written by the member's own calls.
  //
  // Calls in flight, streams included.
  alignas(64) std::atomic<int64_t> in_flight{0};
  // Liveness: unary calls in flight; the last time (steady clock,
  // microseconds) the member answered one (progress_us); and when the
  // latest of its unary calls started while none was in flight (busy_us).
  // A member with unary calls in flight and both stamps old stalled.
  // Streams are left out: an open stream may rightly be quiet for hours.
  std::atomic<int64_t> unary_in_flight{0};
  std::atomic<int64_t> progress_us{0};
  std::atomic<int64_t> busy_us{0};
  // PickPolicy::kLatency: a decaying peak of unary latencies, microseconds,
  // and when it was last updated (steady clock, microseconds; 0: the
  // member never answered a unary call). A slower call raises it at once,
  // a faster one pulls it 1/8 of the way down; without calls it halves
  // every 2^kLatencyHalfLifeShift us (LatencyPeakAt). Updated without a
  // lock: concurrent updates may lose one another's step.
  std::atomic<int64_t> latency_peak_us{0};
  std::atomic<int64_t> latency_stamp_us{0};
  // Peak-EWMA latency (PickPolicy::kPeakEwma), as Finagle's: a slower call
  // raises it at once, faster ones pull it down with weight 1 - e^(-dt/tau)
  // over the time dt since the last update, and at pick time it decays
  // towards 0 over the time since (so a member that got slow and then no
  // calls is tried again). Microseconds; stamp: steady clock, microseconds.
  std::atomic<int64_t> peak_ewma_us{0};
  std::atomic<int64_t> peak_stamp_us{0};

  // --- Counted per call, never read by a pick.
  alignas(64) std::atomic<uint64_t> started{0};
  std::array<std::atomic<uint64_t>, kCodes> finished{};

  // --- Set before the member's first call, then only read.
  //
  // Which of the pick's estimates the member's calls keep up: only the one
  // its channel's PickPolicy reads, so that kInFlight costs nothing more.
  alignas(64) PickPolicy pick = PickPolicy::kInFlight;
  // Outlier ejection, read by every call: codes that count as failures
  // (bit i = grpc::StatusCode i), how many in a row report an outlier (0:
  // never), and what reporting does. On lines that failing calls do not
  // write.
  uint32_t failure_codes = 0;
  int failures_to_report = 0;
  std::function<void()> report_outlier;
  // Null: no stall detection.
  std::shared_ptr<StallTrigger> stall_trigger;
  // A unary call that timed out (DEADLINE_EXCEEDED) on a member that
  // answered nothing for `stall_timeout_us` calls report_stall (it hands
  // over to the control thread). This finds a hung member when no other
  // call completes, e.g. with a single caller.
  int64_t stall_timeout_us = 0;
  std::function<void()> report_stall;

  // --- Written by failing or timed-out calls only.
  //
  // Calls that failed in a row; reset by any other code and by the pool.
  alignas(64) std::atomic<int> consecutive_failures{0};
  std::atomic<int64_t> last_stall_report_us{INT64_MIN / 2};

  // Latency of calls whose status arrived, from call creation to status:
  // a histogram (bucket i counts latencies <= kLatencyBoundsUs[i], the last
  // bucket the rest), their sum, and an exponentially weighted moving average
  // (weight 1/8 per call). The average is updated without a lock, so
  // concurrent updates may lose one another's step: it is an estimate.
  static constexpr int kLatencyBuckets = 15;
  static constexpr std::array<int64_t, kLatencyBuckets - 1> kLatencyBoundsUs = {
      500,    1000,   2500,   5000,    10000,   25000,   50000,
      100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
  alignas(
      64) std::array<std::atomic<uint64_t>, kLatencyBuckets> latency_buckets{};
  std::atomic<uint64_t> latency_sum_us{0};
  std::atomic<int64_t> latency_ewma_us{-1};  // -1: no call yet

  static constexpr double kPeakEwmaTauUs = 10e6;  // 10 s, Finagle's default
  void RecordPeakEwma(int64_t us, int64_t now_us);
  // The peak-EWMA latency decayed to `now_us`.
  double PeakEwmaAt(int64_t now_us) const;

  // kLatency's half-life: 2^18 us, about 0.26 s. Chosen in the slow_backend
  // benchmark against 2^20 (README): a member that had one slow call is
  // tried again four times sooner (about 1 s after a 50 ms call), and a
  // 50 ms backend still got only 0.015-0.047 % of calls at 4 to 32 callers
  // (0.002-0.033 % with 2^20); at 64 the cost decides, not the decay.
  static constexpr int kLatencyHalfLifeShift = 18;
  // kLatency's estimate of a member that has a unary call in flight but never
  // answered one (about 18 min): it gets one call at a time until its first
  // answer, so a new member is tried at once but not flooded by many callers.
  static constexpr int64_t kUnansweredPenaltyUs = int64_t{1} << 30;
  // Bounds that keep LatencyCostAt() within 64 bits: (2^20 + 1) x 2^40.
  static constexpr int64_t kMaxCountedInFlight = int64_t{1} << 20;
  static constexpr int64_t kMaxWeightUs = int64_t{1} << 40;

  // A call (`unary` or a stream) ended with `code` after `us`, at `now_us`:
  // updates the estimate `pick` reads, if any. Only unary calls say how
  // fast the member answers: a stream's latency is how long it was open. A
  // timed-out call counts as its deadline (the member did not answer in
  // time); a cancelled one is the caller's doing (kPeakEwma counts it, as
  // it always has).
  void RecordForPick(bool unary, int code, int64_t us, int64_t now_us) {
    if (!unary) return;
    switch (pick) {
      case PickPolicy::kLatency:
        if (code != grpc::StatusCode::CANCELLED) RecordLatencyPeak(us, now_us);
        return;
      case PickPolicy::kPeakEwma:
        RecordPeakEwma(us, now_us);
        return;
      case PickPolicy::kInFlight:
        return;
    }
  }
  // A unary call took `us` (DEADLINE_EXCEEDED: its deadline), ending at
  // `now_us`.
  void RecordLatencyPeak(int64_t us, int64_t now_us) {
    const int64_t current = LatencyPeakAt(now_us);
    latency_peak_us.store(us > current ? us : current + (us - current) / 8,
                          std::memory_order_relaxed);
    latency_stamp_us.store(now_us, std::memory_order_relaxed);
  }
  // The decaying peak at `now_us`: halved per half-life since its stamp, by
  // a shift (no exp(): this runs on every pick).
  int64_t LatencyPeakAt(int64_t now_us) const {
    const int64_t stamp = latency_stamp_us.load(std::memory_order_relaxed);
    const int64_t since = std::max<int64_t>(0, now_us - stamp);
    return latency_peak_us.load(std::memory_order_relaxed) >>
           std::min<int64_t>(62, since >> kLatencyHalfLifeShift);
  }
  // The latest time this member's calls or probes stamped: never later than
  // the real time (steady clock, microseconds).
  int64_t LatestStampUs() const {
    return std::max({progress_us.load(std::memory_order_relaxed),
                     busy_us.load(std::memory_order_relaxed),
                     latency_stamp_us.load(std::memory_order_relaxed)});
  }
  // kLatency's cost of sending one more call here at `now_us`: (calls in
  // flight + 1) x max(latency, age of the oldest unanswered unary call, 1).
  // The age (QuietFor: busy without an answer since) is what makes a hung
  // member lose at once: its calls' latency is known only at their
  // deadlines. Reads only this struct's first cache line.
  uint64_t LatencyCostAt(int64_t now_us) const {
    const int64_t unary = unary_in_flight.load(std::memory_order_relaxed);
    int64_t weight;
    if (latency_stamp_us.load(std::memory_order_relaxed) == 0) {
      // Never answered: free while idle (tried at once), then one at a time.
      weight = unary > 0 ? kUnansweredPenaltyUs : 0;
    } else {
      weight = LatencyPeakAt(now_us);
    }
    // now_us may be a coarse clock behind the stamps: the age is then
    // underestimated, clamped at 0, never overestimated.
    if (unary > 0) weight = std::max(weight, QuietFor(now_us));
    weight = std::clamp<int64_t>(weight, 1, kMaxWeightUs);
    const int64_t calls = std::clamp<int64_t>(
        in_flight.load(std::memory_order_relaxed), 0, kMaxCountedInFlight);
    return static_cast<uint64_t>(calls + 1) * static_cast<uint64_t>(weight);
  }

  void RecordLatency(int64_t us) {
    int bucket = 0;
    while (bucket < kLatencyBuckets - 1 && us > kLatencyBoundsUs[bucket]) {
      ++bucket;
    }
    latency_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    latency_sum_us.fetch_add(static_cast<uint64_t>(us),
                             std::memory_order_relaxed);
    const int64_t ewma = latency_ewma_us.load(std::memory_order_relaxed);
    latency_ewma_us.store(ewma < 0 ? us : ewma + (us - ewma) / 8,
                          std::memory_order_relaxed);
  }

  void CallStarted() {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    started.fetch_add(1, std::memory_order_relaxed);
  }
  void UnaryStarted(int64_t now_us) {
    // The stamp goes first and the count is released after it, so a scan
    // that sees the count (acquire) sees the stamp of this busy period.
    if (unary_in_flight.load(std::memory_order_relaxed) == 0) {
      busy_us.store(now_us, std::memory_order_relaxed);
    }
    unary_in_flight.fetch_add(1, std::memory_order_release);
  }
  // `answered`: the member answered it (a status other than the client's
  // own DEADLINE_EXCEEDED or CANCELLED; not when destroyed without one).
  void UnaryFinished(int64_t now_us, bool answered) {
    if (answered) progress_us.store(now_us, std::memory_order_relaxed);
    unary_in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  // How long the member has been busy without answering, at `now_us`.
  int64_t QuietFor(int64_t now_us) const {
    return now_us - std::max(progress_us.load(std::memory_order_relaxed),
                             busy_us.load(std::memory_order_relaxed));
  }
  // Unary calls in flight, none answered for stall_timeout_us. The count is
  // read first (acquire): a call that starts after it cannot pair its count
  // with an old busy stamp (UnaryStarted).
  bool Stalled(int64_t now_us) const {
    return unary_in_flight.load(std::memory_order_acquire) > 0 &&
           QuietFor(now_us) > stall_timeout_us;
  }
  void UnaryTimedOut(int64_t now_us) {
    // At most one report per stall_timeout: a hung member's calls time out
    // in bursts, and each report is a task for the control thread.
    if (report_stall && QuietFor(now_us) > stall_timeout_us) {
      int64_t last = last_stall_report_us.load(std::memory_order_relaxed);
      if (now_us - last > stall_timeout_us &&
          last_stall_report_us.compare_exchange_strong(
              last, now_us, std::memory_order_relaxed)) {
        report_stall();
      }
    }
    UnaryFinished(now_us, /*answered=*/false);
  }
  void CallFinished(int code) {
    if (code < 0 || code >= kCodes) code = 2;  // UNKNOWN
    finished[code].fetch_add(1, std::memory_order_relaxed);
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (failures_to_report == 0) return;
    if ((failure_codes >> code) & 1) {
      // Exactly one call sees the count reach the threshold.
      if (consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 ==
          failures_to_report) {
        report_outlier();
      }
    } else if (consecutive_failures.load(std::memory_order_relaxed) != 0) {
      // Only write when needed: this line is shared by the member's calls.
      consecutive_failures.store(0, std::memory_order_relaxed);
    }
  }

 private:
  const std::shared_ptr<CallStats> stats_;
};

// Microseconds on the steady clock (peak-EWMA stamps).
inline int64_t SteadyMicros(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             t.time_since_epoch())
      .count();
}

// Plain copies of MemberLoad's counters, or sums of several.
struct CallCounts {
  uint64_t started = 0;
  int64_t in_flight = 0;
  std::array<uint64_t, MemberLoad::kCodes> finished{};
  std::array<uint64_t, MemberLoad::kLatencyBuckets> latency_buckets{};
  uint64_t latency_sum_us = 0;
  uint64_t retired = 0;  // CallStats: loads whose final counts are included

  void Add(const CallCounts& other);
  // Calls whose latency was recorded (their status arrived).
  uint64_t latency_count() const;
};

// The q-quantile (0 < q <= 1) of a latency histogram: the upper bound of the
// bucket it falls in (the last bound for the open top bucket), or -1 when
// the histogram is empty.
int64_t LatencyQuantileUs(
    const std::array<uint64_t, MemberLoad::kLatencyBuckets>& buckets, double q);

// A channel's call counters, for metrics: every member's, including members
// already closed, so that totals never go down (a Prometheus counter that
// drops reads as a restart). A closing member's MemberLoad goes when its last
// call has finished, and then adds its final counts to the retired total,
// under the same mutex that Total() reads under: no call is counted twice or
// lost.
class CallStats {
 public:
  CallCounts Total() const;

 private:
  friend struct MemberLoad;
  void Register(const MemberLoad* load);
  void Retire(const MemberLoad* load);

  mutable Mutex mu_;
  CallCounts retired_ ABSL_GUARDED_BY(mu_);
  std::vector<const MemberLoad*> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_MEMBER_LOAD_H_
