// Worker: the one process-wide background thread of warm, the Scheduler
// (src/common/scheduler.h) of every channel.
//
// Every warm channel's control plane runs here: member connectivity changes,
// health checks and timers complete on one grpc::CompletionQueue that this
// thread drains, and each completion's handler runs on this thread. Handlers
// must not block: they update state, publish pickers and arm more watches or
// timers. The thread starts on first use and lives until the process exits
// (like gRPC's own threads); it never blocks on the network.
//
// Thread safety: every method may be called from any thread.

#ifndef WARM_SRC_COMMON_WORKER_H_
#define WARM_SRC_COMMON_WORKER_H_

#include <grpc/support/time.h>
#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "src/common/scheduler.h"

namespace warm {
namespace internal {

class Worker final : public Scheduler {
 public:
  // The process-wide worker, started on first call.
  static Worker& Get();
  // The same, as a pool's Scheduler (never destroyed).
  static std::shared_ptr<Scheduler> Shared();

  // Scheduler: steady_clock, gRPC alarms and connectivity watches on cq().
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  void Post(std::function<void()> fn) override;
  std::unique_ptr<Timer> RunAt(SteadyTime at,
                               std::function<void()> fn) override;
  grpc_connectivity_state GetState(grpc::Channel& channel,
                                   bool try_to_connect) override {
    return channel.GetState(try_to_connect);
  }
  // Until the watch completes gRPC holds a reference to the core channel, so
  // give a finite deadline and watch again.
  void WatchState(grpc::Channel& channel, grpc_connectivity_state last_observed,
                  SteadyTime deadline, std::function<void()> fn) override;
  bool OnControlThread() const override { return OnWorkerThread(); }

  // A tag for an operation the caller starts on cq(): when it completes,
  // `fn(ok)` runs on the worker thread. Every tag must be used exactly once.
  void* Completion(std::function<void(bool ok)> fn);
  grpc::CompletionQueue* cq() { return &cq_; }

  // Whether the caller is the worker thread.
  bool OnWorkerThread() const {
    return std::this_thread::get_id() == thread_id_;
  }

  // Completions armed and not yet handled (watches, timers, health checks).
  int64_t pending() const { return pending_.load(std::memory_order_acquire); }

 private:
  struct Event;
  Worker();
  void Loop();
  Event* Arm(std::function<void(bool ok)> fn);

  grpc::CompletionQueue cq_;
  std::atomic<int64_t> pending_{0};
  std::thread::id thread_id_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_WORKER_H_
