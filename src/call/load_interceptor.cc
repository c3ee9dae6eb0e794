#include "src/call/load_interceptor.h"

#include <chrono>

#include "src/call/forwarded_call.h"
#include "src/call/health_method.h"
#include "src/call/method_cache.h"
#include "src/common/tsan.h"

namespace warm {
namespace internal {
namespace {

using grpc::experimental::InterceptionHookPoints;

CallType CallTypeOf(grpc::experimental::ClientRpcInfo::Type type) {
  using Type = grpc::experimental::ClientRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return CallType::kUnary;
    case Type::CLIENT_STREAMING:
      return CallType::kClientStream;
    case Type::SERVER_STREAMING:
      return CallType::kServerStream;
    case Type::BIDI_STREAMING:
    case Type::UNKNOWN:
      break;
  }
  return CallType::kBidiStream;  // the most general
}

class LoadInterceptor : public grpc::experimental::Interceptor {
 public:
  // `load` outlives this interceptor: the interceptor lives in the call's
  // ClientContext (rpc_info_), which is destroyed before the context's
  // reference to the member grpc::Channel (channel_, declared earlier), which
  // owns the factory, which owns `load`.
  // `slot` (never null) is the channel's, which the factory keeps alive.
  LoadInterceptor(MemberLoad* load, MethodSlot* slot, TsanChannelRef channel,
                  bool unary)
      : load_(load),
        slot_(slot),
        channel_(std::move(channel)),
        start_(std::chrono::steady_clock::now()),
        unary_(unary) {
    load_->CallStarted();
    if (unary_) load_->UnaryStarted(SteadyMicros(start_));
    slot_->Started();
  }
  ~LoadInterceptor() override {
    if (!finished_) {
      if (unary_) {
        load_->UnaryFinished(SteadyMicros(std::chrono::steady_clock::now()),
                             /*answered=*/false);
      }
      load_->CallFinished(grpc::StatusCode::CANCELLED);
      slot_->Abandoned();
    }
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      slot_->MessageSent();
    }
    // Also reached at the end of a stream, with no message.
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      slot_->MessageReceived();
    }
    if (!finished_ && methods->QueryInterceptionHookPoint(
                          InterceptionHookPoints::POST_RECV_STATUS)) {
      finished_ = true;
      const auto now = std::chrono::steady_clock::now();
      const int64_t latency_us =
          std::chrono::duration_cast<std::chrono::microseconds>(now - start_)
              .count();
      load_->RecordLatency(latency_us);
      const int64_t now_us = SteadyMicros(now);
      const int code = methods->GetRecvStatus()->error_code();
      load_->RecordForPick(unary_, code, latency_us, now_us);
      if (unary_) {
        if (code == grpc::StatusCode::DEADLINE_EXCEEDED) {
          load_->UnaryTimedOut(now_us);
        } else {
          load_->UnaryFinished(now_us,
                               /*answered=*/code != grpc::StatusCode::CANCELLED);
        }
      }
      if (load_->stall_trigger != nullptr) {
        load_->stall_trigger->OnCallEnd(now_us);
      }
      load_->CallFinished(code);
      slot_->Handled(code, latency_us);
    }
    methods->Proceed();
  }

 private:
  MemberLoad* const load_;
  MethodSlot* const slot_;
  const TsanChannelRef channel_;  // src/common/tsan.h
  const std::chrono::steady_clock::time_point start_;
  const bool unary_;       // counted for stall detection (MemberLoad)
  bool finished_ = false;  // POST_RECV_STATUS comes once, on one thread
};

}  // namespace

grpc::experimental::Interceptor*
LoadInterceptorFactory::CreateClientInterceptor(
    grpc::experimental::ClientRpcInfo* info) {
  MethodSlot* slot = CurrentCallSlot();
  // warm's own health checks are not the application's load; a forwarded
  // leg was counted on its first leg.
  if (IsHealthCheck(info->method()) || CreatingForwardedCall()) {
    return nullptr;
  }
  if (slot == nullptr) {
    // Not handed over by the pool: a call with no registered method.
    slot = method_stats_->Find(info->method(), CallTypeOf(info->type()));
  }
  return new LoadInterceptor(
      load_.get(), slot, TsanRef(info->channel()),
      info->type() == grpc::experimental::ClientRpcInfo::Type::UNARY);
}

std::unique_ptr<LoadInterceptorFactory> SideChannelLoadFactory(
    std::shared_ptr<CallStats> call_stats,
    std::shared_ptr<MethodStats> method_stats) {
  return std::make_unique<LoadInterceptorFactory>(
      std::make_shared<MemberLoad>(std::move(call_stats)),
      std::make_shared<MethodCache>(), std::move(method_stats));
}

}  // namespace internal
}  // namespace warm
