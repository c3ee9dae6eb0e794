#include "src/call/member.h"

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
      methods_(std::move(methods)) {}

grpc::internal::RpcMethod Member::MethodFor(
    const grpc::internal::RpcMethod& method, size_t registered_methods,
    MethodSlot** slot) {
  return methods_->Get(method, registered_methods, channel_interface_, slot);
}

}  // namespace internal
}  // namespace warm
