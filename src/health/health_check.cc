#include "src/health/health_check.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/async_stream.h>
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

const grpc::internal::RpcMethod& HealthWatchMethod() {
  static const grpc::internal::RpcMethod* const method =
      new grpc::internal::RpcMethod(kHealthWatchMethod,
                                    grpc::internal::RpcMethod::SERVER_STREAMING);
  return *method;
}

using Response = health::v1::HealthCheckResponse;

// What a status message says.
HealthCheck::Result FromResponse(const Response& response) {
  HealthCheck::Result result;
  const Response::ServingStatus serving = response.status();
  result.outcome = serving == Response::SERVING ? CheckOutcome::kServing
                                                : CheckOutcome::kNotServing;
  result.detail = Response::ServingStatus_Name(serving);
  return result;
}

std::string StatusDetail(const grpc::Status& status) {
  const int code = status.error_code();
  std::string name = code >= 0 && code < 17
                         ? std::string(StatusCodeName(code))
                         : absl::StrCat("code ", code);
  if (status.error_message().empty()) return name;
  return absl::StrCat(name, ": ", status.error_message());
}

// What a call that ended without a message says.
HealthCheck::Result FromStatus(const grpc::Status& status) {
  HealthCheck::Result result;
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    result.outcome = CheckOutcome::kUnimplemented;
    result.detail = "UNIMPLEMENTED (no health service)";
  } else {
    result.outcome = CheckOutcome::kFailed;
    result.detail = StatusDetail(status);
    using grpc::StatusCode;
    const StatusCode code = status.error_code();
    result.answered_error =
        code != StatusCode::DEADLINE_EXCEEDED &&
        code != StatusCode::UNAVAILABLE && code != StatusCode::CANCELLED &&
        code != StatusCode::UNKNOWN && code != StatusCode::INTERNAL;
  }
  return result;
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

class HealthWatch final : public HealthCheck {
 public:
  struct Stream;
  explicit HealthWatch(std::shared_ptr<Stream> stream)
      : stream_(std::move(stream)) {}
  void Cancel() override;

 private:
  const std::shared_ptr<Stream> stream_;
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
    HealthCheck::Result result = call->status.ok() ? FromResponse(call->response)
                                                   : FromStatus(call->status);
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

// A Watch stream: StartCall, then Read after Read until one fails, then
// Finish. Each step's completion holds the stream and arms the next, so the
// stream lives until `on_end` has run. Only one operation is pending at a
// time (besides Cancel), as gRPC requires of a reader.
struct HealthWatch::Stream {
  TsanChannelRef channel;  // src/common/tsan.h; outlives the context
  grpc::ClientContext context;
  health::v1::HealthCheckRequest request;
  Response response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReader<Response>> reader;
  std::function<void(HealthCheck::Result)> on_message;
  std::function<void(HealthCheck::Result)> on_end;
  std::atomic<bool> cancelled{false};

  static void Read(const std::shared_ptr<Stream>& stream);
  static void Finish(const std::shared_ptr<Stream>& stream);
};

void HealthWatch::Stream::Read(const std::shared_ptr<Stream>& stream) {
  void* tag = Worker::Get().Completion([stream](bool ok) {
    if (!ok) return Finish(stream);
    HealthCheck::Result result = FromResponse(stream->response);
    result.cancelled = stream->cancelled.load(std::memory_order_acquire);
    stream->on_message(std::move(result));
    Read(stream);
  });
  stream->reader->Read(&stream->response, tag);
}

void HealthWatch::Stream::Finish(const std::shared_ptr<Stream>& stream) {
  void* tag = Worker::Get().Completion([stream](bool) {
    // A stream that ends OK without UNIMPLEMENTED is a server that closed
    // it: as good as broken, for the caller's purposes.
    HealthCheck::Result result =
        stream->status.ok()
            ? HealthCheck::Result{CheckOutcome::kFailed,
                                  "Watch stream ended by the server"}
            : FromStatus(stream->status);
    result.cancelled = stream->cancelled.load(std::memory_order_acquire);
    // The callbacks may hold what holds this stream's channel: drop them
    // here, on the control thread, not wherever the last reference goes.
    auto on_end = std::move(stream->on_end);
    stream->on_message = nullptr;
    on_end(std::move(result));
  });
  stream->reader->Finish(&stream->status, tag);
}

std::shared_ptr<HealthCheck> StartHealthWatch(
    grpc::Channel& channel, const std::string& service,
    std::function<void(HealthCheck::Result)> on_message,
    std::function<void(HealthCheck::Result)> on_end) {
  auto stream = std::make_shared<HealthWatch::Stream>();
  stream->channel = TsanRef(&channel);
  stream->request.set_service(service);
  stream->on_message = std::move(on_message);
  stream->on_end = std::move(on_end);
  Worker& worker = Worker::Get();
  stream->reader.reset(grpc::internal::ClientAsyncReaderFactory<Response>::Create(
      &channel, worker.cq(), HealthWatchMethod(), &stream->context,
      stream->request, /*start=*/false, /*tag=*/nullptr));
  void* started = worker.Completion([stream](bool ok) {
    if (ok) {
      HealthWatch::Stream::Read(stream);
    } else {
      HealthWatch::Stream::Finish(stream);
    }
  });
  stream->reader->StartCall(started);
  return std::make_shared<HealthWatch>(std::move(stream));
}

void HealthWatch::Cancel() {
  stream_->cancelled.store(true, std::memory_order_release);
  stream_->context.TryCancel();
}

}  // namespace internal
}  // namespace warm
