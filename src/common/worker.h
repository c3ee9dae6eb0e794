// Worker: the one process-wide background thread of warm.
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
#include <thread>

namespace warm {
namespace internal {

class Worker {
 public:
  // The process-wide worker, started on first call.
  static Worker& Get();

  // Runs `fn()` on the worker thread at `deadline`.
  void RunAt(gpr_timespec deadline, std::function<void()> fn);

  // Runs `fn()` on the worker thread once `channel`'s connectivity state
  // differs from `last_observed` (including when the channel shuts down), or
  // at `deadline`, whichever comes first. Until then gRPC holds a reference to
  // the core channel, so give a finite deadline and watch again.
  void WatchState(grpc::Channel& channel, grpc_connectivity_state last_observed,
                  gpr_timespec deadline, std::function<void()> fn);

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
