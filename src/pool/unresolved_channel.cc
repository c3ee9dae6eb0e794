#include "src/pool/unresolved_channel.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/call/load_interceptor.h"

namespace warm {
namespace internal {
namespace {

// Nothing listens there, so fail-fast calls fail with UNAVAILABLE (rewritten
// to say why).
constexpr char kUnresolvedTarget[] = "unix:/nonexistent/warm-unresolved";

// Rewrites the status of calls on the unresolved channel to say why there
// was nowhere to send them.
class UnresolvedInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit UnresolvedInterceptor(
      std::shared_ptr<UnresolvedChannel::Reason> reason)
      : reason_(std::move(reason)) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      if (status->error_code() == grpc::StatusCode::UNAVAILABLE) {
        MutexLock lock(&reason_->mu);
        *status = grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("warm: no backend address yet: ", reason_->text));
      }
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<UnresolvedChannel::Reason> reason_;
};

class UnresolvedInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit UnresolvedInterceptorFactory(
      std::shared_ptr<UnresolvedChannel::Reason> reason)
      : reason_(std::move(reason)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    // Only fail-fast calls come here (wait_for_ready ones wait in the
    // CallHolder); should one that waits ever arrive, it must not wait on a
    // channel that never connects: it fails at once, saying why. The flags
    // are read when the call starts, after its interceptors are created.
    info->client_context()->set_wait_for_ready(false);
    return new UnresolvedInterceptor(reason_);
  }

 private:
  const std::shared_ptr<UnresolvedChannel::Reason> reason_;
};

}  // namespace

UnresolvedChannel::UnresolvedChannel(
    std::string reason, std::shared_ptr<CallStats> call_stats,
    std::shared_ptr<MethodStats> method_stats,
    std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors)
    : reason_(std::make_shared<Reason>()),
      call_stats_(std::move(call_stats)),
      method_stats_(std::move(method_stats)),
      interceptors_(std::move(interceptors)) {
  SetReason(std::move(reason));
}

void UnresolvedChannel::SetReason(std::string text) {
  MutexLock lock(&reason_->mu);
  reason_->text = std::move(text);
}

grpc::Channel& UnresolvedChannel::channel() {
  std::call_once(once_, [this] {
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        factories;
    // Its calls count as the channel's (they fail: exactly what an operator
    // looks for), on a load of their own, never picked.
    factories.push_back(SideChannelLoadFactory(call_stats_, method_stats_));
    factories.push_back(std::make_unique<UnresolvedInterceptorFactory>(reason_));
    // The user's interceptors see these calls too.
    AppendUserInterceptors(interceptors_, factories);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::experimental::CreateCustomChannelWithInterceptors(
        kUnresolvedTarget, grpc::InsecureChannelCredentials(), args,
        std::move(factories));
  });
  return *channel_;
}

}  // namespace internal
}  // namespace warm
