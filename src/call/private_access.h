// Access to grpc::ChannelInterface's private virtuals.
//
// A warm channel forwards each call to a member grpc::Channel, which means
// calling ChannelInterface::CreateCall() (and CallbackCQ()) on the member. gRPC
// keeps that private and befriends a fixed set of classes, among them the class
// template grpc::internal::ClientAsyncReaderFactory<R>. Befriending a template
// befriends every specialization, so an explicit specialization for a tag type
// of ours is a friend too. It is used only here. If a gRPC release drops that
// friend declaration, this file stops compiling: loud, not silent.
// (gRPC 1.51: include/grpcpp/impl/channel_interface.h.)

#ifndef WARM_SRC_CALL_PRIVATE_ACCESS_H_
#define WARM_SRC_CALL_PRIVATE_ACCESS_H_

#include <grpcpp/impl/channel_interface.h>
#include <grpcpp/support/async_stream.h>

namespace warm {
namespace internal {
struct ChannelAccessTag {};
}  // namespace internal
}  // namespace warm

namespace grpc {
namespace internal {

template <>
class ClientAsyncReaderFactory<warm::internal::ChannelAccessTag> {
 public:
  static Call CreateCall(ChannelInterface& channel, const RpcMethod& method,
                         ClientContext* context, CompletionQueue* cq) {
    return channel.CreateCall(method, context, cq);
  }
  static CompletionQueue* CallbackCQ(ChannelInterface& channel) {
    return channel.CallbackCQ();
  }
};

}  // namespace internal
}  // namespace grpc

namespace warm {
namespace internal {
using ChannelAccess =
    grpc::internal::ClientAsyncReaderFactory<ChannelAccessTag>;
}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_PRIVATE_ACCESS_H_
