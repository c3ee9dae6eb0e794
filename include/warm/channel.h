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

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "warm/introspection.h"  // IWYU pragma: export
#include "warm/log.h"            // IWYU pragma: export
#include "warm/options.h"        // IWYU pragma: export

namespace warm {

namespace internal {
class Pool;
}  // namespace internal

class Channel;

// CreateChannel()
//
// Creates a warm channel to `target` and starts connecting its members at
// once: no call is needed to warm it up.
//
// Targets:
//   - "ipv4:ADDR:PORT[,ADDR:PORT...]", e.g. "ipv4:10.0.0.1:80,10.0.0.2:80";
//   - "ipv6:[ADDR]:PORT[,[ADDR]:PORT...]", e.g. "ipv6:[::1]:50051";
//   - "unix:PATH", "unix-abstract:NAME": one Unix socket (<= 107 bytes);
//   - "ADDR:PORT", "[ADDR]:PORT": one literal IP address;
//   - "dns:///HOST:PORT", "HOST:PORT": HOST resolved with the system's DNS
//     servers; "dns://SERVER/HOST:PORT" asks SERVER ("IP" or "IP:PORT") only.
//     A port is required (no default of 443: say which port you mean).
//     Resolution runs in the background: the channel is created at once, is
//     CONNECTING until the first answer (TRANSIENT_FAILURE once a resolution
//     failed with no answer yet), and follows the records' TTLs afterwards
//     (see ChannelOptions::dns). Before the first answer, fail-fast calls
//     fail at once with UNAVAILABLE saying why; wait_for_ready calls wait
//     (up to their deadline) as on a plain gRPC channel.
//     A name with both A and AAAA records gets members on both families.
//     The system's resolver configuration (/etc/resolv.conf) is read when
//     the channel is created.
//
// Errors: `InvalidArgument` naming every bad input (malformed target, port out
// of range, empty address list, a DNS server that is not an IP address, any
// invalid option, null credentials or interceptor, credentials and
// `options.tls` both given, unreadable or malformed TLS files);
// `FailedPrecondition` for TLS files that are well-formed but unusable now
// (see TlsOptions).
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
// keeps its member connection alive until it finishes. The destructor returns
// once warm's background work for the channel has stopped and its options
// (callbacks, interceptors) are destroyed -- except when it runs on warm's
// thread (from on_health_change), where that happens right after.
class Channel final : public grpc::ChannelInterface {
 public:
  ~Channel() override;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The aggregate state of the members: READY when any member is pickable
  // (connected, and healthy unless checking is off or the channel is
  // degraded, and not ejected); else CONNECTING when any member is
  // connecting, idle, or connected but not yet checked; else
  // TRANSIENT_FAILURE (every member failed, is unhealthy or is ejected).
  // Members are always kept connecting, so `try_to_connect` only makes an
  // IDLE member reconnect sooner.
  grpc_connectivity_state GetState(bool try_to_connect) override;

  // The label from `ChannelOptions::name` (or the target).
  const std::string& name() const;
  // The target string this channel was created with.
  const std::string& target() const;

  // A snapshot of every member, in the order they were opened.
  std::vector<MemberInfo> Members() const;

  // The channel's health now (see ChannelStatus).
  ChannelHealth Health() const;

  // The most recent pool events, oldest first (at most
  // ChannelOptions::event_log_size).
  std::vector<PoolEvent> Events() const;

  // The channel's addresses and, for DNS targets, their TTLs and the state
  // of resolution.
  ResolutionInfo Resolution() const;

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

  std::shared_ptr<internal::Pool> pool_;  // null once destroyed
};
}  // namespace warm

#endif  // WARM_CHANNEL_H_
