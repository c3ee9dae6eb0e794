// CallHolder: where a channel's wait_for_ready calls wait while nothing is
// pickable.
//
// A plain gRPC channel queues a wait_for_ready call until its policy has
// somewhere to send it. A warm call is created on one member's channel the
// moment the stub asks (grpc::ChannelInterface::CreateCall), so without
// help it would be bound to a member that may never come up, or, before the
// first DNS answer, have nowhere to go at all. So when nothing is pickable,
// Pool::CreateCall creates a wait_for_ready call on the holder's channel
// instead: an in-process channel to a process-wide generic gRPC server,
// where the call waits, and whence, once a member is pickable, it is
// forwarded to that member as a second call (the "leg"), message by message
// in both directions, with its metadata, deadline, cancellation, status and
// trailers.
//
// What it costs. Nothing while members are pickable: Pool::CreateCall looks
// at wait_for_ready only when its snapshot has no pickable member. A held
// call costs an in-process call and a forwarded one on top of the member
// call; only calls made while nothing was pickable take this path.
//
// Counting. The call is counted once, on its first leg: the holder's channel
// runs warm's load interceptor (into the channel's CallStats and per-method
// counters, on a MemberLoad of its own that is never picked) and the user's
// interceptors; the forwarded leg runs neither (src/call/forwarded_call.h).
// So the member's in-flight count does not include forwarded calls.
//
// Per-call credentials (ClientContext::set_credentials) are applied on the
// forwarded leg, over the member's connection (the in-process leg has no
// transport security and does not apply them). Not carried over: an
// explicit authority, compression and the census context.
//
// Thread safety: every method may be called from any thread. Held calls run
// on gRPC's callback threads. Locks: the holder's, then one held call's;
// never the pool's (`forward` must not take it).

#ifndef WARM_SRC_POOL_CALL_HOLDER_H_
#define WARM_SRC_POOL_CALL_HOLDER_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "src/call/member_load.h"
#include "src/call/method_stats.h"
#include "src/call/user_interceptors.h"

namespace warm {
namespace internal {

class CallHolder {
 public:
  using Reactor = grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;
  // Creates the forwarded leg of a held call to `method` on a pickable
  // member, with `context` (set up by the holder: deadline, metadata) and
  // `reactor`, without starting it; false when nothing is pickable now.
  // Called with the holder's lock held: must not block or take the pool's.
  using Forward = std::function<bool(
      const std::string& method, grpc::ClientContext* context,
      Reactor* reactor)>;

  struct State;  // shared with the held calls (call_holder.cc)

  CallHolder(
      Forward forward, std::shared_ptr<CallStats> call_stats,
      std::shared_ptr<MethodStats> method_stats,
      std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors);
  ~CallHolder();
  CallHolder(const CallHolder&) = delete;
  CallHolder& operator=(const CallHolder&) = delete;

  // The channel held calls are made on, made on first use.
  grpc::Channel& channel();

  // A member may be pickable now: every held call tries to go on. Must not
  // be called with the pool's lock held (a forwarded leg is created here).
  void Wake();

  // The warm channel shuts down: held calls fail with UNAVAILABLE, and so
  // do calls that arrive later. Calls already forwarded run on.
  void Shutdown();

  // Calls waiting now (diagnostics, tests).
  size_t waiting() const;

 private:
  const std::shared_ptr<State> state_;
  const std::shared_ptr<CallStats> call_stats_;
  const std::shared_ptr<MethodStats> method_stats_;
  const std::shared_ptr<const SharedInterceptorFactory::Factories>
      interceptors_;
  std::once_flag once_;
  std::shared_ptr<grpc::Channel> channel_;  // set once, under once_
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_CALL_HOLDER_H_
