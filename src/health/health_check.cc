#include "src/health/health_check.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "src/call/health_method.h"
#include "src/common/events.h"
#include "src/common/tsan.h"
#include "src/common/worker.h"
#include "warm/internal/health.pb.h"

namespace warm {
namespace internal {
namespace {

const grpc::internal::RpcMethod& HealthCheckMethod() {
  static const grpc::internal::RpcMethod* const method =
      new grpc::internal::RpcMethod(kHealthCheckMethod,
                                    grpc::internal::RpcMethod::NORMAL_RPC);
  return *method;
}

std::string StatusDetail(const grpc::Status& status) {
  const int code = status.error_code();
  std::string name = code >= 0 && code < 17
                         ? std::string(StatusCodeName(code))
                         : absl::StrCat("code ", code);
  if (status.error_message().empty()) return name;
  return absl::StrCat(name, ": ", status.error_message());
}

class UnaryHealthCheck final : public HealthCheck {
 public:
  struct Call;
  explicit UnaryHealthCheck(std::shared_ptr<Call> call)
      : call_(std::move(call)) {}
  void Cancel() override;

 private:
  const std::shared_ptr<Call> call_;
};

}  // namespace

struct UnaryHealthCheck::Call {
  TsanChannelRef channel;  // src/common/tsan.h; outlives the context
  grpc::ClientContext context;
  health::v1::HealthCheckRequest request;
  health::v1::HealthCheckResponse response;
  grpc::Status status;
  std::unique_ptr<
      grpc::ClientAsyncResponseReader<health::v1::HealthCheckResponse>>
      reader;
  std::atomic<bool> cancelled{false};
};

std::shared_ptr<HealthCheck> StartUnaryHealthCheck(
    grpc::Channel& channel, const std::string& service,
    std::chrono::milliseconds timeout,
    std::function<void(HealthCheck::Result)> done) {
  auto call = std::make_shared<UnaryHealthCheck::Call>();
  call->channel = TsanRef(&channel);
  call->context.set_deadline(std::chrono::system_clock::now() + timeout);
  // Not wait_for_ready: like any fail-fast call, the check waits while the
  // member is connecting, but fails at once when its connection has failed
  // (TRANSIENT_FAILURE), so a dead backend is found in `unhealthy_threshold`
  // intervals rather than timeouts.
  call->request.set_service(service);
  Worker& worker = Worker::Get();
  call->reader.reset(
      grpc::internal::ClientAsyncResponseReaderHelper::Create<
          health::v1::HealthCheckResponse, health::v1::HealthCheckRequest,
          google::protobuf::MessageLite, google::protobuf::MessageLite>(
          &channel, worker.cq(), HealthCheckMethod(), &call->context,
          call->request));
  call->reader->StartCall();
  // The completion holds the call until `done` has run.
  void* tag = worker.Completion([call, done = std::move(done)](bool) {
    HealthCheck::Result result;
    if (call->status.ok()) {
      using Response = health::v1::HealthCheckResponse;
      const Response::ServingStatus serving = call->response.status();
      result.outcome = serving == Response::SERVING ? CheckOutcome::kServing
                                                    : CheckOutcome::kNotServing;
      result.detail = Response::ServingStatus_Name(serving);
    } else if (call->status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      result.outcome = CheckOutcome::kUnimplemented;
      result.detail = "UNIMPLEMENTED (no health service)";
    } else {
      result.outcome = CheckOutcome::kFailed;
      result.detail = StatusDetail(call->status);
    }
    result.cancelled = call->cancelled.load(std::memory_order_acquire);
    done(std::move(result));
  });
  call->reader->Finish(&call->response, &call->status, tag);
  return std::make_shared<UnaryHealthCheck>(std::move(call));
}

void UnaryHealthCheck::Cancel() {
  call_->cancelled.store(true, std::memory_order_release);
  call_->context.TryCancel();
}

}  // namespace internal
}  // namespace warm
