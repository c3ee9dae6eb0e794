#include "src/pool/state_watchers.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/time.h>

namespace warm {
namespace internal {
namespace {

// The signal channel's target: a valid address nothing ever connects to (the
// channel is never asked to connect, so it stays IDLE).
constexpr char kSignalTarget[] = "unix:/nonexistent/warm-state-signal";

}  // namespace

void StateWatchers::Set(grpc_connectivity_state state) {
  std::shared_ptr<grpc::Channel> old_signal;
  {
    MutexLock lock(&mu_);
    if (state == state_.load(std::memory_order_relaxed)) return;
    state_.store(state, std::memory_order_release);
    old_signal = std::move(signal_);
  }
  changed_.NotifyAll();
  // Destroying the signal channel completes every watch of the old state.
  old_signal.reset();
}

void StateWatchers::NotifyOnStateChange(grpc_connectivity_state last_observed,
                                        gpr_timespec deadline,
                                        grpc::CompletionQueue* cq, void* tag) {
  MutexLock lock(&mu_);
  if (signal_ == nullptr) {
    signal_ =
        grpc::CreateChannel(kSignalTarget, grpc::InsecureChannelCredentials());
  }
  // The signal channel is IDLE. Watching it from IDLE waits until it is
  // destroyed (the aggregate state changed: ok) or the deadline (not ok);
  // watching it from any other state completes at once with ok, which is
  // right when the aggregate state already differs from `last_observed`.
  const bool differs = state_.load(std::memory_order_relaxed) != last_observed;
  signal_->NotifyOnStateChange(
      differs ? GRPC_CHANNEL_SHUTDOWN : GRPC_CHANNEL_IDLE, deadline, cq, tag);
}

bool StateWatchers::WaitForStateChange(grpc_connectivity_state last_observed,
                                       gpr_timespec deadline) {
  MutexLock lock(&mu_);
  auto changed = [&] {
    return state_.load(std::memory_order_relaxed) != last_observed;
  };
  deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_REALTIME)) == 0) {
    changed_.Wait(&mu_, changed);
    return true;
  }
  return changed_.WaitUntil(&mu_, grpc::Timespec2Timepoint(deadline), changed);
}

}  // namespace internal
}  // namespace warm
