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
//
// The same way, ContextAccess reads whether a call asked for wait_for_ready:
// grpc::ClientContext has a setter but no getter, and befriends the class
// template grpc::ClientReader<R>. (gRPC 1.51: include/grpcpp/client_context.h.)

#ifndef WARM_SRC_CALL_PRIVATE_ACCESS_H_
#define WARM_SRC_CALL_PRIVATE_ACCESS_H_

#include <grpc/impl/codegen/grpc_types.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/channel_interface.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/sync_stream.h>

namespace warm {
namespace internal {
struct ChannelAccessTag {};
struct ContextAccessTag {};
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

template <>
class ClientReader<warm::internal::ContextAccessTag> {
 public:
  static bool WaitForReady(const ClientContext& context) {
    return (context.initial_metadata_flags() &
            GRPC_INITIAL_METADATA_WAIT_FOR_READY) != 0;
  }
};

}  // namespace grpc

namespace warm {
namespace internal {
using ChannelAccess =
    grpc::internal::ClientAsyncReaderFactory<ChannelAccessTag>;
using ContextAccess = grpc::ClientReader<ContextAccessTag>;
}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_PRIVATE_ACCESS_H_
