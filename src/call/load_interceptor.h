// LoadInterceptorFactory: counts every call of one member channel.
//
// Every member channel runs a LoadInterceptor first on each of its calls. The
// interceptor is created with the call (ClientContext::set_client_rpc_info in
// grpc::Channel::CreateCall), which counts the call in on the member's
// MemberLoad (src/call/member_load.h); it counts the call out when its status
// arrives (POST_RECV_STATUS) or, if that never happens, when the interceptor
// is destroyed with the call's ClientContext. It also counts the call, its
// messages (PRE_SEND_MESSAGE, POST_RECV_MESSAGE with a message) and its
// latency in the call's MethodSlot (src/call/method_stats.h): the one the
// pool passed in a CallSlotScope, or else the one of the call's method name.
//
// Thread safety: the interceptor runs on whichever thread gRPC runs the
// call's operations on; it touches only atomics.

#ifndef WARM_SRC_CALL_LOAD_INTERCEPTOR_H_
#define WARM_SRC_CALL_LOAD_INTERCEPTOR_H_

#include <grpcpp/support/client_interceptor.h>

#include <memory>

#include "src/call/member_load.h"
#include "src/call/method_stats.h"

namespace warm {
namespace internal {

class MethodCache;

// Creates a LoadInterceptor per call of one member channel. Owned by that
// member's grpc::Channel, which each call's ClientContext keeps alive, so it
// also keeps alive what the member's calls use after the member itself is
// gone: the member's method cache (method_cache.h) and the channel's
// per-method counters.
class LoadInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  LoadInterceptorFactory(std::shared_ptr<MemberLoad> load,
                         std::shared_ptr<MethodCache> methods,
                         std::shared_ptr<MethodStats> method_stats)
      : load_(std::move(load)),
        methods_(std::move(methods)),
        method_stats_(std::move(method_stats)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override;

 private:
  const std::shared_ptr<MemberLoad> load_;
  const std::shared_ptr<MethodCache> methods_;
  const std::shared_ptr<MethodStats> method_stats_;
};

// The load interceptor factory of a channel that is not a member's (the
// unresolved channel, the call holder's): its calls count as the warm
// channel's (`call_stats`, `method_stats`), on a MemberLoad of their own that
// no pick reads.
std::unique_ptr<LoadInterceptorFactory> SideChannelLoadFactory(
    std::shared_ptr<CallStats> call_stats,
    std::shared_ptr<MethodStats> method_stats);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_LOAD_INTERCEPTOR_H_
