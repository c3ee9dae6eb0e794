#include "tests/testing/test_backend.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <cstdlib>
#include <iostream>

namespace warm {
namespace testing {
namespace {

// How often a held call checks whether it was cancelled.
constexpr auto kHeldPollInterval = std::chrono::milliseconds(20);

std::string StripScheme(const std::string& peer) {
  size_t colon = peer.find(':');
  if (peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0) {
    return peer.substr(colon + 1);
  }
  return peer;
}

}  // namespace

class TestBackend::Service final : public warm::testing::EchoTest::Service {
 public:
  explicit Service(TestBackend* backend) : backend_(backend) {}

  grpc::Status Echo(grpc::ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    EchoMetadata(context);
    if (!backend_->OnCall(context, request->hold())) return Cancelled();
    Fill(context, request->message(), response);
    return grpc::Status::OK;
  }

  grpc::Status ClientStream(grpc::ServerContext* context,
                            grpc::ServerReader<EchoRequest>* reader,
                            EchoResponse* response) override {
    EchoMetadata(context);
    EchoRequest request;
    std::string joined;
    bool hold = false;
    while (reader->Read(&request)) {
      joined += request.message();
      hold = hold || request.hold();
    }
    if (!backend_->OnCall(context, hold)) return Cancelled();
    Fill(context, joined, response);
    return grpc::Status::OK;
  }

  grpc::Status ServerStream(grpc::ServerContext* context,
                            const EchoRequest* request,
                            grpc::ServerWriter<EchoResponse>* writer) override {
    EchoMetadata(context);
    if (!backend_->OnCall(context, request->hold())) return Cancelled();
    for (uint32_t i = 0; i < request->count(); ++i) {
      EchoResponse response;
      Fill(context, request->message() + std::to_string(i), &response);
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Bidi(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<EchoResponse, EchoRequest>* stream) override {
    EchoMetadata(context);
    EchoRequest request;
    bool counted = false;
    while (stream->Read(&request)) {
      if (!counted) {
        counted = true;
        if (!backend_->OnCall(context, request.hold())) return Cancelled();
      }
      EchoResponse response;
      Fill(context, request.message(), &response);
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

 private:
  // Before anything is written: initial metadata goes with the first
  // message or the status.
  static void EchoMetadata(grpc::ServerContext* context) {
    const auto& client = context->client_metadata();
    auto it = client.find(kEchoMetadataKey);
    if (it == client.end()) return;
    const std::string value(it->second.data(), it->second.size());
    context->AddInitialMetadata(kEchoMetadataKey, value);
    context->AddTrailingMetadata(kEchoTrailerKey, value);
  }
  static grpc::Status Cancelled() {
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while held");
  }
  void Fill(grpc::ServerContext* context, const std::string& message,
            EchoResponse* response) {
    response->set_message(message);
    response->set_backend(backend_->address());
    response->set_peer(StripScheme(context->peer()));
  }

  TestBackend* const backend_;
};

TestBackend::TestBackend(const std::string& host, int port)
    : TestBackend(host, port, Options()) {}

TestBackend::TestBackend(const std::string& host, int port, Options options)
    : service_(std::make_unique<Service>(this)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  {
    // gRPC reads the process-wide flag in BuildAndStart().
    static std::mutex build_mu;
    std::lock_guard<std::mutex> lock(build_mu);
    grpc::EnableDefaultHealthCheckService(options.health_service);
    server_ = builder.BuildAndStart();
  }
  if (server_ == nullptr || port_ == 0) {
    std::cerr << "TestBackend: cannot listen on " << host << ":" << port
              << "\n";
    std::abort();
  }
  address_ = host + ":" + std::to_string(port_);
}

TestBackend::~TestBackend() { Shutdown(); }

void TestBackend::SetServing(bool serving) {
  if (server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  // Every registered service, "" (registered by gRPC at start) included. Each
  // call notifies Watch streams, so this is the only one: a separate
  // SetServingStatus("", serving) would send them the new status twice.
  health->SetServingStatus(serving);
}

void TestBackend::Shutdown(std::chrono::milliseconds grace) {
  if (server_ == nullptr) return;
  ReleaseHeld();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

bool TestBackend::OnCall(grpc::ServerContext* context, bool hold) {
  std::unique_lock<std::mutex> lock(mu_);
  ++calls_;
  ++calls_by_peer_[StripScheme(context->peer())];
  if (!hold && !hold_all_) return true;
  ++held_;
  const uint64_t generation = release_generation_;
  bool cancelled = false;
  while (release_generation_ == generation) {
    if (context->IsCancelled()) {
      cancelled = true;
      break;
    }
    released_cv_.wait_for(lock, kHeldPollInterval);
  }
  --held_;
  return !cancelled;
}

void TestBackend::set_hold_all(bool hold_all) {
  std::lock_guard<std::mutex> lock(mu_);
  hold_all_ = hold_all;
}

void TestBackend::ReleaseHeld() {
  std::lock_guard<std::mutex> lock(mu_);
  ++release_generation_;
  released_cv_.notify_all();
}

int TestBackend::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

int TestBackend::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::map<std::string, int> TestBackend::calls_by_peer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_by_peer_;
}

}  // namespace testing
}  // namespace warm
