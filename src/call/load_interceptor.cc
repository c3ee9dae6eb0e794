#include "src/call/load_interceptor.h"

#include <chrono>

#include "src/call/health_method.h"
#include "src/common/tsan.h"

namespace warm {
namespace internal {
namespace {

using grpc::experimental::InterceptionHookPoints;

class LoadInterceptor : public grpc::experimental::Interceptor {
 public:
  // `load` outlives this interceptor: the interceptor lives in the call's
  // ClientContext (rpc_info_), which is destroyed before the context's
  // reference to the member grpc::Channel (channel_, declared earlier), which
  // owns the factory, which owns `load`.
  LoadInterceptor(MemberLoad* load, TsanChannelRef channel)
      : load_(load),
        channel_(std::move(channel)),
        start_(std::chrono::steady_clock::now()) {
    load_->CallStarted();
  }
  ~LoadInterceptor() override {
    if (!finished_) load_->CallFinished(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!finished_ && methods->QueryInterceptionHookPoint(
                          InterceptionHookPoints::POST_RECV_STATUS)) {
      finished_ = true;
      const auto now = std::chrono::steady_clock::now();
      const int64_t latency_us =
          std::chrono::duration_cast<std::chrono::microseconds>(now - start_)
              .count();
      load_->RecordLatency(latency_us);
      if (load_->peak_ewma) {
        load_->RecordPeakEwma(latency_us, SteadyMicros(now));
      }
      load_->CallFinished(methods->GetRecvStatus()->error_code());
    }
    methods->Proceed();
  }

 private:
  MemberLoad* const load_;
  const TsanChannelRef channel_;  // src/common/tsan.h
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;  // POST_RECV_STATUS comes once, on one thread
};

}  // namespace

grpc::experimental::Interceptor*
LoadInterceptorFactory::CreateClientInterceptor(
    grpc::experimental::ClientRpcInfo* info) {
  // warm's own health checks are not the application's load.
  if (IsHealthCheck(info->method())) return nullptr;
  return new LoadInterceptor(load_.get(), TsanRef(info->channel()));
}

}  // namespace internal
}  // namespace warm
