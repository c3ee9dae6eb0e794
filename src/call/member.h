// Member: one gRPC channel to one backend address, with its own connection.
//
// A member owns a grpc::Channel created on a literal address with a local
// subchannel pool (so two members on one address are two TCP connections),
// the counters its calls update (MemberLoad), and a cache of its registered
// methods. It is the data plane's view of a member: what the pool knows of it
// (connectivity, health, ejection; whether it is pickable) lives in the
// pool's decisions (src/pool/pool_decisions.h), which choose the picker
// snapshot (src/call/picker.h) it appears in.
//
// Thread safety: everything but construction may be called from any thread.

#ifndef WARM_SRC_CALL_MEMBER_H_
#define WARM_SRC_CALL_MEMBER_H_

#include <grpcpp/channel.h>
#include <grpcpp/impl/rpc_method.h>

#include <cstdint>
#include <memory>
#include <string>

#include "src/call/member_load.h"
#include "src/call/method_cache.h"
#include "src/common/target.h"

namespace warm {
namespace internal {

class Member {
 public:
  Member(uint64_t id, Address address, std::shared_ptr<grpc::Channel> channel,
         std::shared_ptr<MemberLoad> load,
         std::shared_ptr<MethodCache> methods);
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  uint64_t id() const { return id_; }
  const Address& address() const { return address_; }
  grpc::Channel& channel() const { return *channel_; }
  const MemberLoad& load() const { return *load_; }
  // Restarts the count of calls failed in a row (outlier ejection).
  void ResetFailures() const {
    load_->consecutive_failures.store(0, std::memory_order_relaxed);
  }
  // Liveness: the member was heard from at `now_us` (a probe passed), so
  // its calls count as stalled only from then on.
  void MarkProgress(int64_t now_us) const {
    load_->progress_us.store(now_us, std::memory_order_relaxed);
  }

  // The RpcMethod for `method` on this member; `registered_methods` is how
  // many ids the warm channel has handed out (a tag beyond is not ours).
  // Sets `*slot` to its per-method counters, or null (see MethodCache::Get).
  grpc::internal::RpcMethod MethodFor(const grpc::internal::RpcMethod& method,
                                      size_t registered_methods,
                                      MethodSlot** slot);

 private:
  const uint64_t id_;
  const Address address_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::shared_ptr<grpc::ChannelInterface> channel_interface_;
  const std::shared_ptr<MemberLoad> load_;
  const std::shared_ptr<MethodCache> methods_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_MEMBER_H_
