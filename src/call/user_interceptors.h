// SharedInterceptorFactory: the user's interceptors on every member channel.
//
// ChannelOptions::interceptors are factories the user hands to one warm
// channel; each member channel needs factories of its own, so each gets a
// SharedInterceptorFactory per user factory, all sharing the user's.
//
// Thread safety: CreateClientInterceptor() runs on the thread creating a call.

#ifndef WARM_SRC_CALL_USER_INTERCEPTORS_H_
#define WARM_SRC_CALL_USER_INTERCEPTORS_H_

#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <vector>

#include "src/call/forwarded_call.h"
#include "src/call/health_method.h"

namespace warm {
namespace internal {

// Runs one of the user's interceptor factories (shared by all members) on a
// member channel.
class SharedInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  using Factories = std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>;
  SharedInterceptorFactory(std::shared_ptr<const Factories> factories,
                           size_t index)
      : factories_(std::move(factories)), index_(index) {}

  // Not for warm's own health checks (src/health/health_check.h) nor the
  // second leg of a call that waited (forwarded_call.h).
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    if (IsHealthCheck(info->method()) || CreatingForwardedCall()) {
      return nullptr;
    }
    return (*factories_)[index_]->CreateClientInterceptor(info);
  }

 private:
  const std::shared_ptr<const Factories> factories_;
  const size_t index_;
};

// Appends a SharedInterceptorFactory for each of the user's factories, in
// their order, to a channel's interceptor factories.
inline void AppendUserInterceptors(
    const std::shared_ptr<const SharedInterceptorFactory::Factories>& user,
    SharedInterceptorFactory::Factories& factories) {
  for (size_t i = 0; i < user->size(); ++i) {
    factories.push_back(std::make_unique<SharedInterceptorFactory>(user, i));
  }
}

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_USER_INTERCEPTORS_H_
