// UnresolvedChannel: where a DNS channel's calls go before it has an address.
//
// Until the first good DNS answer there is no member to send a call to.
// Fail-fast calls then go to a channel that never connects (nothing listens
// at its target), so they fail at once with UNAVAILABLE, and an interceptor
// rewrites the status to say why ("warm: no backend address yet: ...").
// (wait_for_ready calls wait in the CallHolder, src/pool/call_holder.h.) The
// channel is made on first use: most channels never need it.
//
// Its calls are counted like any member's, into the channel's CallStats, and
// the user's interceptors see them too.
//
// Thread safety: every method may be called from any thread.

#ifndef WARM_SRC_POOL_UNRESOLVED_CHANNEL_H_
#define WARM_SRC_POOL_UNRESOLVED_CHANNEL_H_

#include <grpcpp/channel.h>

#include <memory>
#include <mutex>
#include <string>

#include "src/call/member_load.h"
#include "src/call/method_stats.h"
#include "src/call/user_interceptors.h"
#include "src/common/mutex.h"

namespace warm {
namespace internal {

class UnresolvedChannel {
 public:
  // Why calls cannot be sent anywhere yet, shared with the interceptor.
  struct Reason {
    Mutex mu;
    std::string text ABSL_GUARDED_BY(mu);
  };

  UnresolvedChannel(
      std::string reason, std::shared_ptr<CallStats> call_stats,
      std::shared_ptr<MethodStats> method_stats,
      std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors);

  // Says why there is no address (the last DNS error).
  void SetReason(std::string text);

  // The channel, made on the first call.
  grpc::Channel& channel();

 private:
  const std::shared_ptr<Reason> reason_;
  const std::shared_ptr<CallStats> call_stats_;
  const std::shared_ptr<MethodStats> method_stats_;
  const std::shared_ptr<const SharedInterceptorFactory::Factories>
      interceptors_;
  std::once_flag once_;
  std::shared_ptr<grpc::Channel> channel_;  // set once, under once_
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_UNRESOLVED_CHANNEL_H_
