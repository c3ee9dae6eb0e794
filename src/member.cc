#include "src/member.h"

#include "src/tsan.h"

namespace warm {
namespace internal {

Member::Member(uint64_t id, Address address,
               std::shared_ptr<grpc::Channel> channel,
               std::shared_ptr<MemberLoad> load,
               std::shared_ptr<MethodCache> methods)
    : id_(id),
      address_(std::move(address)),
      channel_(std::move(channel)),
      channel_interface_(channel_),
      load_(std::move(load)),
      methods_(std::move(methods)),
      opened_at_(std::chrono::system_clock::now()) {}

Member::~Member() {
  // The member's grpc::Channel may be freed later by the ClientContext of a
  // call or health check, inside libgrpc++, whose reference count
  // ThreadSanitizer cannot see. Drop our references first, then release on
  // the channel's address; ~LoadInterceptor and ~HealthCheck::Call, which run
  // just before such a ClientContext drops the channel, acquire on it.
  const grpc::ChannelInterface* channel = channel_interface_.get();
  channel_interface_.reset();
  channel_.reset();
  WARM_TSAN_RELEASE(channel);
}

grpc::internal::RpcMethod Member::MethodFor(
    const grpc::internal::RpcMethod& method, size_t registered_methods) {
  return methods_->Get(method, registered_methods, channel_interface_);
}

}  // namespace internal
}  // namespace warm
