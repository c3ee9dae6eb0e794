// warm/channel.h: always-warm, load-balanced gRPC client channels.
//
// A `warm::Channel` is a `grpc::ChannelInterface`: hand it to any generated
// stub instead of the channel `grpc::CreateChannel()` returns, and sync, async
// (completion queue), callback and streaming calls work unchanged.
//
// Behind it a pool of member connections is opened at creation and kept
// connected, each member its own TCP connection to one backend address
// (distinct addresses first). Every call goes to the less loaded of two
// distinct, randomly chosen READY members ("power of two choices"), where load
// is the number of calls in flight on a member, counted from call creation
// until the call's status arrives or the call is destroyed.
//
// Glossary:
//   member   one gRPC channel to one backend address, with its own connection
//   pool     the set of members a warm channel keeps open (`pool_size`)
//   picker   an immutable snapshot of the members a call may go to; replaced
//            (never changed) when a member's state changes
//   in flight  calls created on a member whose status has not yet arrived
//
// Example:
//
//   warm::ChannelOptions options;
//   options.name = "greeter";
//   options.pool_size = 3;
//   absl::StatusOr<std::shared_ptr<warm::Channel>> channel =
//       warm::CreateChannel("ipv4:10.0.0.1:50051,10.0.0.2:50051",
//                           grpc::InsecureChannelCredentials(),
//                           std::move(options));
//   if (!channel.ok()) return channel.status();
//   auto stub = helloworld::Greeter::NewStub(*channel);

#ifndef WARM_CHANNEL_H_
#define WARM_CHANNEL_H_

#include <grpc/grpc.h>
#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warm {

namespace internal {
class Pool;
}  // namespace internal

// ChannelOptions
//
// Everything that configures one warm channel. Each default is written beside
// its field; `CreateChannel()` validates all fields and reports every problem
// at once.
struct ChannelOptions {
  // Label for this channel in diagnostics and metrics.
  // Default (empty): the target string.
  std::string name;

  // Member connections kept warm. Members go to distinct addresses first; when
  // the target has fewer addresses than `pool_size`, addresses get more than
  // one member, each its own TCP connection. Must be >= 1. Default: 3.
  int pool_size = 3;

  // gRPC channel arguments applied to every member connection (keepalive,
  // message sizes, user agent, ...). The warm channel adds
  // GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL = 1 so that every member owns its
  // connection; do not set it to 0 here (gRPC takes the first value, and
  // members on one address would share a connection). Default: none.
  grpc::ChannelArguments channel_args;

  // Client interceptors run on every call, in this order, whichever member the
  // call goes to. Entries must not be null. Default: none.
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
};

// MemberInfo
//
// A read-only view of one member at the time `Channel::Members()` was called.
struct MemberInfo {
  // Identifies the member within its channel; never reused by that channel.
  uint64_t id = 0;
  // The backend address, e.g. "127.0.0.1:50051", "[::1]:50051", "unix:/s".
  std::string address;
  // The member connection's connectivity state.
  grpc_connectivity_state state = GRPC_CHANNEL_IDLE;
  // Whether new calls may be sent to this member now.
  bool pickable = false;
  // Calls created on this member whose status has not arrived yet.
  int64_t in_flight = 0;
  // Calls created on this member since it was opened.
  uint64_t calls_started = 0;
  // Calls finished on this member, by status code (index = grpc::StatusCode,
  // 0..16). A call destroyed before its status arrived counts as CANCELLED.
  std::vector<uint64_t> calls_finished_by_code;
  // When the member was opened.
  std::chrono::system_clock::time_point opened_at;
};

class Channel;

// CreateChannel()
//
// Creates a warm channel to `target` and starts connecting its members at
// once: no call is needed to warm it up.
//
// Targets:
//   ipv4:ADDR:PORT[,ADDR:PORT...]      e.g.
//   "ipv4:127.0.0.1:50051,127.0.0.2:50051" ipv6:[ADDR]:PORT[,[ADDR]:PORT...]
//   e.g. "ipv6:[::1]:50051" unix:PATH, unix-abstract:NAME      one Unix domain
//   socket (<= 107 bytes) ADDR:PORT, [ADDR]:PORT             one literal IP
//   address dns:[//SERVER/]HOST:PORT, HOST:PORT
//                                      recognised; DNS resolution is not
//                                      implemented yet: `Unimplemented`
//
// Errors: `InvalidArgument` naming every bad input (malformed target, port out
// of range, empty address list, `pool_size < 1`, null credentials or
// interceptor); `Unimplemented` for DNS targets.
absl::StatusOr<std::shared_ptr<Channel>> CreateChannel(
    absl::string_view target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    ChannelOptions options = {});

// Channel
//
// A `grpc::ChannelInterface` backed by a pool of warm member connections.
// Create one with `warm::CreateChannel()`.
//
// This class is thread-safe. Destroying it (dropping the last shared_ptr,
// which generated stubs also hold) while calls are in flight is safe: each call
// keeps its member connection alive until it finishes.
class Channel final : public grpc::ChannelInterface {
 public:
  ~Channel() override;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The aggregate connectivity state of the members: READY when any member is
  // READY, else CONNECTING when any is, else IDLE when any is, else
  // TRANSIENT_FAILURE. Members are always kept connecting, so
  // `try_to_connect` only makes an IDLE member reconnect sooner.
  grpc_connectivity_state GetState(bool try_to_connect) override;

  // The label from `ChannelOptions::name` (or the target).
  const std::string& name() const;
  // The target string this channel was created with.
  const std::string& target() const;

  // A snapshot of every member, in the order they were opened.
  std::vector<MemberInfo> Members() const;

 private:
  friend absl::StatusOr<std::shared_ptr<Channel>> CreateChannel(
      absl::string_view, std::shared_ptr<grpc::ChannelCredentials>,
      ChannelOptions);
  explicit Channel(std::shared_ptr<internal::Pool> pool);

  // grpc::ChannelInterface's private interface, used by generated code.
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq) override;
  void PerformOpsOnCall(grpc::internal::CallOpSetInterface* ops,
                        grpc::internal::Call* call) override;
  void* RegisterMethod(const char* method) override;
  void NotifyOnStateChangeImpl(grpc_connectivity_state last_observed,
                               gpr_timespec deadline, grpc::CompletionQueue* cq,
                               void* tag) override;
  bool WaitForStateChangeImpl(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) override;
  grpc::CompletionQueue* CallbackCQ() override;

  const std::shared_ptr<internal::Pool> pool_;
};
}  // namespace warm

#endif  // WARM_CHANNEL_H_
