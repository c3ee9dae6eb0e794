#include "bench/bench_backend.h"

#include <grpcpp/alarm.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace bench {
namespace {

// Finishes its call once an alarm set `delay` ahead fires; deletes itself
// when gRPC is done with the call.
class DelayedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit DelayedReactor(std::chrono::milliseconds delay) {
    alarm_.Set(
        std::chrono::system_clock::now() + delay,
        [this](bool /*fired or cancelled*/) { Finish(grpc::Status::OK); });
  }
  void OnDone() override { delete this; }

 private:
  grpc::Alarm alarm_;
};

}  // namespace

class BenchBackend::Service final
    : public warm::testing::EchoTest::CallbackService {
 public:
  Service(const BenchBackend* backend, std::chrono::milliseconds delay)
      : backend_(backend), delay_(delay) {}

  grpc::ServerUnaryReactor* Echo(
      grpc::CallbackServerContext* context,
      const warm::testing::EchoRequest* request,
      warm::testing::EchoResponse* response) override {
    response->set_message(request->message());
    response->set_backend(backend_->address());
    if (delay_.count() > 0) return new DelayedReactor(delay_);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const BenchBackend* const backend_;
  const std::chrono::milliseconds delay_;
};

absl::StatusOr<std::unique_ptr<BenchBackend>> BenchBackend::Start(
    const std::string& host, int port, std::chrono::milliseconds delay) {
  std::unique_ptr<BenchBackend> backend(new BenchBackend());
  backend->service_ = std::make_unique<Service>(backend.get(), delay);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &backend->port_);
  builder.RegisterService(backend->service_.get());
  // Read by BuildAndStart(); every backend in warm_bench serves health.
  grpc::EnableDefaultHealthCheckService(true);
  backend->server_ = builder.BuildAndStart();
  if (backend->server_ == nullptr || backend->port_ == 0) {
    return absl::UnavailableError("cannot listen on " + host + ":" +
                                  std::to_string(port));
  }
  backend->address_ = host + ":" + std::to_string(backend->port_);
  return backend;
}

BenchBackend::~BenchBackend() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

absl::StatusOr<std::vector<std::unique_ptr<BenchBackend>>> StartBackends(
    int count, const std::vector<std::chrono::milliseconds>& delays) {
  std::vector<std::unique_ptr<BenchBackend>> backends;
  for (int i = 0; i < count; ++i) {
    const auto delay = i < static_cast<int>(delays.size())
                           ? delays[i]
                           : std::chrono::milliseconds(0);
    absl::StatusOr<std::unique_ptr<BenchBackend>> backend =
        BenchBackend::Start("127.0.0." + std::to_string(i + 1), 0, delay);
    if (!backend.ok()) return backend.status();
    backends.push_back(*std::move(backend));
  }
  return backends;
}

std::string Ipv4Target(const std::vector<std::string>& addresses) {
  std::string target = "ipv4:";
  for (size_t i = 0; i < addresses.size(); ++i) {
    target += (i ? "," : "") + addresses[i];
  }
  return target;
}

std::vector<std::string> AddressesOf(
    const std::vector<std::unique_ptr<BenchBackend>>& backends) {
  std::vector<std::string> addresses;
  for (const auto& backend : backends) addresses.push_back(backend->address());
  return addresses;
}

}  // namespace bench
}  // namespace warm
