#include "warm/channel.h"

#include <grpcpp/impl/call.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "src/dns/resolver.h"
#include "src/common/options.h"
#include "src/pool/pool.h"
#include "src/common/target.h"
#include "src/tls/tls.h"

namespace warm {

absl::StatusOr<std::shared_ptr<Channel>> CreateChannel(
    absl::string_view target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    ChannelOptions options) {
  absl::StatusOr<internal::Target> parsed = internal::ParseTarget(target);
  absl::Status valid = internal::ValidateOptions(options, credentials);
  if (!parsed.ok() && !valid.ok()) {
    // Report both at once.
    return absl::InvalidArgumentError(
        absl::StrCat(parsed.status().message(), "; ", valid.message()));
  }
  if (!parsed.ok()) return parsed.status();
  if (!valid.ok()) return valid;
  std::optional<internal::TlsMaterial> tls_material;
  if (options.tls.has_value()) {
    absl::StatusOr<internal::TlsMaterial> loaded = internal::LoadTlsMaterial(
        *options.tls, std::chrono::system_clock::now());
    if (!loaded.ok()) return loaded.status();
    tls_material = *std::move(loaded);
  }
  std::shared_ptr<internal::DnsResolver> resolver;
  if (parsed->kind == internal::Target::Kind::kDns) {
    absl::StatusOr<std::shared_ptr<internal::DnsResolver>> created =
        internal::CreateCaresResolver(parsed->dns_server,
                                      options.dns.query_timeout);
    if (!created.ok()) {
      if (created.status().code() != absl::StatusCode::kInvalidArgument) {
        return created.status();  // e.g. the DNS thread could not start
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid target \"", target, "\": ", created.status().message()));
    }
    resolver = *std::move(created);
  }

  internal::Pool::Config config;
  config.target = std::string(target);
  config.parsed = *std::move(parsed);
  config.options = std::move(options);
  config.credentials = std::move(credentials);
  config.tls_material = std::move(tls_material);
  config.resolver = std::move(resolver);
  absl::StatusOr<std::shared_ptr<internal::Pool>> pool =
      internal::Pool::Start(std::move(config));
  if (!pool.ok()) return pool.status();
  return std::shared_ptr<Channel>(new Channel(*std::move(pool)));
}

Channel::Channel(std::shared_ptr<internal::Pool> pool)
    : pool_(std::move(pool)) {}

Channel::~Channel() {
  pool_->Shutdown();
  // After Shutdown() only warm's own handlers (the scheduler's, a
  // diagnostics snapshot) hold the pool, each for as long as it runs.
  // Release() waits for them, so that the pool, and the user's callbacks in
  // its options, are gone when this returns (see Pool::Release()).
  internal::Pool::Release(std::move(pool_));
}

grpc_connectivity_state Channel::GetState(bool try_to_connect) {
  return pool_->GetState(try_to_connect);
}

const std::string& Channel::name() const { return pool_->name(); }
const std::string& Channel::target() const { return pool_->target(); }

std::vector<MemberInfo> Channel::Members() const { return pool_->Members(); }

ChannelHealth Channel::Health() const { return pool_->Health(); }

ResolutionInfo Channel::Resolution() const { return pool_->Resolution(); }

std::vector<PoolEvent> Channel::Events() const { return pool_->Events(); }

grpc::internal::Call Channel::CreateCall(
    const grpc::internal::RpcMethod& method, grpc::ClientContext* context,
    grpc::CompletionQueue* cq) {
  return pool_->CreateCall(method, context, cq);
}

void Channel::PerformOpsOnCall(grpc::internal::CallOpSetInterface* ops,
                               grpc::internal::Call* call) {
  // Calls are created on member channels, whose CallHook gRPC uses for their
  // operations; this is reached only if someone calls it directly. Forward to
  // the call's own hook (the member).
  call->PerformOps(ops);
}

void* Channel::RegisterMethod(const char* method) {
  return pool_->RegisterMethod(method);
}

void Channel::NotifyOnStateChangeImpl(grpc_connectivity_state last_observed,
                                      gpr_timespec deadline,
                                      grpc::CompletionQueue* cq, void* tag) {
  pool_->NotifyOnStateChange(last_observed, deadline, cq, tag);
}

bool Channel::WaitForStateChangeImpl(grpc_connectivity_state last_observed,
                                     gpr_timespec deadline) {
  return pool_->WaitForStateChange(last_observed, deadline);
}

grpc::CompletionQueue* Channel::CallbackCQ() {
  return pool_->callback_cq_marker();
}

}  // namespace warm
