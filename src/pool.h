// Pool: the members of one warm channel, their states, and the picker.
//
// Control plane: opens `pool_size` members at creation over distinct addresses
// first, watches each member's connectivity state on the worker thread, keeps
// members connected (an IDLE member is asked to reconnect), aggregates the
// members' states into the channel's state, and publishes a new picker
// snapshot whenever the set of READY members changes. Serialized by `mu_`;
// state changes arrive on the worker thread.
//
// Data plane: CreateCall() reads the current snapshot without a lock, picks a
// member by power of two choices on in-flight calls and creates the call on
// that member's channel. When no member is READY, the call goes to a member
// that is still trying (CONNECTING before TRANSIENT_FAILURE), whose own
// channel then behaves as any gRPC channel: it fails fast with UNAVAILABLE, or
// waits when the call set wait_for_ready.
//
// Lifetime: owned by warm::Channel, which calls Shutdown() when destroyed.
// Worker callbacks hold only weak references.

#ifndef WARM_SRC_POOL_H_
#define WARM_SRC_POOL_H_

#include <grpcpp/channel.h>
#include <grpcpp/impl/call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/callback_queue.h"
#include "src/load_interceptor.h"
#include "src/member.h"
#include "src/picker.h"
#include "src/snapshot_cell.h"
#include "src/target.h"
#include "src/worker.h"
#include "warm/channel.h"

namespace warm {
namespace internal {

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Everything a pool is made from; validated by CreateChannel().
  struct Config {
    std::string name;
    std::string target;
    std::vector<Address> addresses;
    int pool_size = 3;
    grpc::ChannelArguments channel_args;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors;
  };

  // Creates the pool and opens its members.
  static std::shared_ptr<Pool> Start(Config config);
  ~Pool();

  const std::string& name() const { return config_.name; }
  const std::string& target() const { return config_.target; }

  // --- data plane: any thread, no lock -------------------------------------
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq);
  grpc::CompletionQueue* callback_cq() const { return callback_queue_->cq(); }

  // --- any thread -----------------------------------------------------------
  void* RegisterMethod(const char* method);
  grpc_connectivity_state GetState(bool try_to_connect);
  void NotifyOnStateChange(grpc_connectivity_state last_observed,
                           gpr_timespec deadline, grpc::CompletionQueue* cq,
                           void* tag);
  bool WaitForStateChange(grpc_connectivity_state last_observed,
                          gpr_timespec deadline);
  std::vector<MemberInfo> Members() const;

  // Closes every member (calls in flight finish on their member connections)
  // and completes pending state watches. Called once, by ~Channel.
  void Shutdown();

 private:
  // A NotifyOnStateChange() waiting for the aggregate state to change.
  struct StateWatcher {
    uint64_t id;
    grpc_connectivity_state last_observed;
    grpc::CompletionQueue* cq;
    void* tag;
    std::shared_ptr<Worker::Timer> deadline_timer;
  };

  explicit Pool(Config config);

  void OpenMemberLocked(const Address& address);
  void Watch(const Member& member, grpc_connectivity_state last_observed);
  void OnMemberStateChange(uint64_t member_id);
  void OnWatcherDeadline(uint64_t watcher_id);
  // Recomputes the aggregate state, publishes the picker and completes the
  // state watches that the change satisfies.
  void RefreshLocked();
  void ReclaimLater();

  const Config config_;
  const std::shared_ptr<CallbackQueue> callback_queue_;
  std::atomic<size_t> registered_methods_{0};
  std::atomic<grpc_connectivity_state> state_{GRPC_CHANNEL_IDLE};

  // Readers take no lock; Publish/Reclaim happen under mu_.
  SnapshotCell<PickerSnapshot> picker_;

  // std::mutex, not absl::Mutex: Debian's abseil is not built with
  // ThreadSanitizer, which then cannot see absl::Mutex; pthread mutexes it
  // always sees. Methods named ...Locked() require mu_.
  mutable std::mutex mu_;
  std::condition_variable state_changed_;  // signalled when state_ changes
  // Guarded by mu_:
  std::vector<std::shared_ptr<Member>> members_;
  std::vector<std::pair<uint64_t, bool>> published_;  // picker: (id, ready)
  std::list<StateWatcher> watchers_;
  uint64_t next_member_id_ = 1;
  uint64_t next_watcher_id_ = 1;
  bool shutdown_ = false;
  bool reclaim_pending_ = false;

  std::mutex methods_mu_;
  std::unordered_map<std::string, size_t> method_ids_;  // guarded by methods_mu_
};

// The aggregate of member states: READY if any member is READY, else
// CONNECTING if any is, else IDLE if any is, else TRANSIENT_FAILURE (also for
// no members). Exposed for tests.
grpc_connectivity_state AggregateState(
    const std::vector<grpc_connectivity_state>& states);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_H_
