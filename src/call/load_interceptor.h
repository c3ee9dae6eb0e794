// Per-member call accounting: in-flight calls and calls by status code.
//
// Every member channel runs a LoadInterceptor first on each of its calls. The
// interceptor is created with the call (ClientContext::set_client_rpc_info in
// grpc::Channel::CreateCall), which counts the call in; it counts the call out
// when its status arrives (POST_RECV_STATUS) or, if that never happens, when
// the interceptor is destroyed with the call's ClientContext. Unlike counting
// until response headers, this counts a stream for as long as it is open.
//
// Thread safety: MemberLoad is atomics only; the interceptor runs on whichever
// thread gRPC runs the call's operations on. CallStats (a channel's totals,
// which outlive its members) takes a mutex only when a member comes or goes
// and when diagnostics read it, never per call.

#ifndef WARM_SRC_CALL_LOAD_INTERCEPTOR_H_
#define WARM_SRC_CALL_LOAD_INTERCEPTOR_H_

#include <grpcpp/support/client_interceptor.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "src/common/mutex.h"
#include "src/health/health_check.h"

namespace warm {
namespace internal {

class MethodCache;
class CallStats;
struct CallCounts;

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

  // Read by every pick on any thread: on its own cache line.
  alignas(64) std::atomic<int64_t> in_flight{0};
  alignas(64) std::atomic<uint64_t> started{0};
  std::array<std::atomic<uint64_t>, kCodes> finished{};

  // Outlier ejection, set before the member's first call and read by every
  // call: codes that count as failures (bit i = grpc::StatusCode i), how
  // many in a row report an outlier (0: never), and what reporting does.
  // On a line of their own, which failing calls do not write.
  alignas(64) uint32_t failure_codes = 0;
  int failures_to_report = 0;
  std::function<void()> report_outlier;
  // Keep the peak-EWMA latency (set before the first call).
  bool peak_ewma = false;
  // Calls that failed in a row; reset by any other code and by the pool.
  alignas(64) std::atomic<int> consecutive_failures{0};

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

  // Peak-EWMA latency (PickPolicy::kPeakEwma), as Finagle's: a slower call
  // raises it at once, faster ones pull it down with weight 1 - e^(-dt/tau)
  // over the time dt since the last update, and at pick time it decays
  // towards 0 over the time since (so a member that got slow and then no
  // calls is tried again). Microseconds; stamp: steady clock, microseconds.
  static constexpr double kPeakEwmaTauUs = 10e6;  // 10 s, Finagle's default
  std::atomic<int64_t> peak_ewma_us{0};
  std::atomic<int64_t> peak_stamp_us{0};

  void RecordPeakEwma(int64_t us, int64_t now_us);
  // The peak-EWMA latency decayed to `now_us`.
  double PeakEwmaAt(int64_t now_us) const;

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

// Creates a LoadInterceptor per call of one member channel. Owned by that
// member's grpc::Channel, which each call's ClientContext keeps alive, so it
// also keeps alive what the member's calls use after the member itself is
// gone: the member's method cache (method_cache.h).
class LoadInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  LoadInterceptorFactory(std::shared_ptr<MemberLoad> load,
                         std::shared_ptr<MethodCache> methods)
      : load_(std::move(load)), methods_(std::move(methods)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override;

 private:
  const std::shared_ptr<MemberLoad> load_;
  const std::shared_ptr<MethodCache> methods_;
};

// Runs one of the user's interceptor factories (shared by all members) on a
// member channel.
class SharedInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  using Factories = std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>;
  SharedInterceptorFactory(std::shared_ptr<const Factories> factories,
                           size_t index)
      : factories_(std::move(factories)), index_(index) {}

  // Not for warm's own health checks (src/health/health_check.h).
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    if (IsHealthCheck(info->method())) return nullptr;
    return (*factories_)[index_]->CreateClientInterceptor(info);
  }

 private:
  const std::shared_ptr<const Factories> factories_;
  const size_t index_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_LOAD_INTERCEPTOR_H_
