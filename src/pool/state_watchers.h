// StateWatchers: a warm channel's aggregate connectivity state, and whoever
// waits for it to change.
//
// NotifyOnStateChange() must behave as gRPC's: the watch holds an operation
// open on the caller's completion queue until it completes (so
// CompletionQueue::Shutdown() waits for it), ok == true when the state
// changed, ok == false at the deadline. Only a real gRPC watch does all that,
// so this keeps a "signal" channel per aggregate state: a grpc::Channel that
// never connects and so stays IDLE. Watches of the current state are
// registered on it with gRPC's own NotifyOnStateChange(IDLE, ...); when the
// state changes the signal channel is destroyed, which moves it to SHUTDOWN
// and completes every watch on it with ok == true.
//
// WaitForStateChange() blocks on a condition variable instead.
//
// Thread safety: every method may be called from any thread; Set() is called
// by the pool (under its own lock, which is taken before this one).

#ifndef WARM_SRC_POOL_STATE_WATCHERS_H_
#define WARM_SRC_POOL_STATE_WATCHERS_H_

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <memory>

#include "src/common/mutex.h"

namespace warm {
namespace internal {

class StateWatchers {
 public:
  // The current state; one atomic load.
  grpc_connectivity_state Get() const {
    return state_.load(std::memory_order_acquire);
  }
  // Moves to `state`, completing the watches of the old one; nothing when
  // it is the current state.
  void Set(grpc_connectivity_state state);

  void NotifyOnStateChange(grpc_connectivity_state last_observed,
                           gpr_timespec deadline, grpc::CompletionQueue* cq,
                           void* tag);
  bool WaitForStateChange(grpc_connectivity_state last_observed,
                          gpr_timespec deadline);

 private:
  Mutex mu_;
  CondVar changed_;
  // Written under mu_, read without it by Get().
  std::atomic<grpc_connectivity_state> state_{GRPC_CHANNEL_IDLE};
  // Watches of the current state wait on this; see above.
  std::shared_ptr<grpc::Channel> signal_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_STATE_WATCHERS_H_
