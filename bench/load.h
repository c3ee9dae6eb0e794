// Load: callers sending unary Echo calls through one channel, every call
// recorded.
//
// Each caller thread sends its next call when the last one returns (closed
// loop), or, with a pace, starts one call every `pace`. Every call has a
// deadline, so a call to a hung backend ends. Every loop is bounded: callers
// stop at the end time given at construction, or sooner at Stop().
//
// Thread safety: all methods may be called from any thread.

#ifndef WARM_BENCH_LOAD_H_
#define WARM_BENCH_LOAD_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace bench {

using Clock = std::chrono::steady_clock;

// One call.
struct CallRecord {
  Clock::time_point start;
  Clock::time_point end;
  grpc::StatusCode code = grpc::StatusCode::OK;
  // The backend that answered ("127.0.0.2:41234"); only with
  // LoadOptions::record_backend, "" for a failed call.
  std::string backend;

  bool ok() const { return code == grpc::StatusCode::OK; }
  double latency_us() const {
    return std::chrono::duration<double, std::micro>(end - start).count();
  }
};

struct LoadOptions {
  int threads = 4;
  // Deadline of every call.
  std::chrono::milliseconds deadline{10000};
  // 0: closed loop. Otherwise each caller starts a call every `pace` (later
  // when a call takes longer).
  std::chrono::microseconds pace{0};
  // Keep the answering backend of every call (costs a string per call).
  bool record_backend = false;
};

// One Echo call through `stub` with `deadline`, timed.
CallRecord CallOnce(warm::testing::EchoTest::Stub& stub,
                    std::chrono::milliseconds deadline,
                    bool record_backend = false, bool wait_for_ready = false);

class Load {
 public:
  // Starts the callers at once; they stop by themselves after `duration`.
  Load(std::shared_ptr<grpc::ChannelInterface> channel, LoadOptions options,
       Clock::duration duration);
  // Stop().
  ~Load();

  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Waits until the callers have stopped by themselves (at the end time).
  void Join();
  // Stops starting calls, and waits for the calls in flight to end (each
  // within its deadline).
  void Stop();

  // Every call that has ended so far, in no particular order.
  std::vector<CallRecord> Records() const;

 private:
  struct Caller {
    mutable std::mutex mu;
    std::vector<CallRecord> records;
  };
  void Run(Caller& caller);

  const std::shared_ptr<grpc::ChannelInterface> channel_;
  const LoadOptions options_;
  const Clock::time_point end_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Caller>> callers_;
  std::vector<std::thread> threads_;
};

// Runs `options.threads` callers on `channel` for `duration` and returns
// every call.
std::vector<CallRecord> RunLoad(std::shared_ptr<grpc::ChannelInterface> channel,
                                const LoadOptions& options,
                                Clock::duration duration);

// Successful calls per second over the span of `records` (from the first
// start to the last end); 0 when empty.
double QpsOf(const std::vector<CallRecord>& records);
// Failed calls in `records`.
int FailuresIn(const std::vector<CallRecord>& records);

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_LOAD_H_
