#include "tests/testing/tls_backend.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <utility>

#include "absl/status/status.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace testing {
namespace {

std::string StripScheme(const std::string& peer) {
  if (peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0) {
    return peer.substr(5);
  }
  return peer;
}

// The first value of auth context property `name`, or "".
std::string Property(const grpc::AuthContext& auth, const char* name) {
  std::vector<grpc::string_ref> values = auth.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

}  // namespace

class TlsBackend::Service final : public warm::testing::EchoTest::Service {
 public:
  explicit Service(TlsBackend* backend) : backend_(backend) {}

  grpc::Status Echo(grpc::ServerContext* context, const EchoRequest* request,
                    EchoResponse* response) override {
    Call call;
    call.peer = StripScheme(context->peer());
    auto authorization = context->client_metadata().find("authorization");
    if (authorization != context->client_metadata().end()) {
      call.authorization = std::string(authorization->second.data(),
                                       authorization->second.size());
    }
    std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
    if (auth != nullptr) {
      call.client_cn = Property(*auth, GRPC_X509_CN_PROPERTY_NAME);
      call.client_cert = Property(*auth, GRPC_X509_PEM_CERT_PROPERTY_NAME);
    }
    response->set_message(request->message());
    response->set_peer(call.peer);
    response->set_backend(backend_->Record(std::move(call)));
    return grpc::Status::OK;
  }

 private:
  TlsBackend* const backend_;
};

TlsBackend::TlsBackend() : service_(std::make_unique<Service>(this)) {}

absl::StatusOr<std::unique_ptr<TlsBackend>> TlsBackend::Start(
    const std::string& host, int port, Options options) {
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                : options.client_cert_request);
  ssl.pem_root_certs = options.client_ca;
  ssl.pem_key_cert_pairs.push_back({options.server.key, options.server.cert});

  std::unique_ptr<TlsBackend> backend(new TlsBackend());
  const std::string listen = host + ":" + std::to_string(port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::SslServerCredentials(ssl),
                           &backend->port_);
  builder.RegisterService(backend->service_.get());
  {
    // gRPC reads the process-wide flag in BuildAndStart().
    static std::mutex build_mu;
    std::lock_guard<std::mutex> lock(build_mu);
    grpc::EnableDefaultHealthCheckService(true);
    backend->server_ = builder.BuildAndStart();
  }
  if (backend->server_ == nullptr || backend->port_ == 0) {
    return absl::InternalError(
        "TlsBackend: cannot start a TLS server on " + listen +
        " (port taken, or gRPC rejected the certificate or key: see its log)");
  }
  {
    // Under the lock: calls (on gRPC's threads) read it in Record().
    std::lock_guard<std::mutex> lock(backend->mu_);
    backend->address_ = host + ":" + std::to_string(backend->port_);
  }
  return backend;
}

TlsBackend::~TlsBackend() { Shutdown(); }

void TlsBackend::Shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

std::string TlsBackend::Record(Call call) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(std::move(call));
  return address_;
}

std::vector<TlsBackend::Call> TlsBackend::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

std::map<std::string, int> TlsBackend::calls_by_client_cn() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int> counts;
  for (const Call& call : calls_) ++counts[call.client_cn];
  return counts;
}

std::map<std::string, std::set<std::string>>
TlsBackend::connections_by_client_cn() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::set<std::string>> connections;
  for (const Call& call : calls_) connections[call.client_cn].insert(call.peer);
  return connections;
}

void TlsBackend::ResetCounts() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
}

}  // namespace testing
}  // namespace warm
