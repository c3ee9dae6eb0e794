// TlsBackend: a real gRPC server with TLS (optionally mutual TLS) for tests,
// on a loopback address.
//
// Serves warm.testing.EchoTest's Echo (the other methods answer
// UNIMPLEMENTED) and the standard grpc.health.v1 service (SERVING), with
// grpc::SslServerCredentials. For every Echo call it records the client's
// certificate as gRPC's auth context gives it (the subject CN, property
// "x509_common_name", and the leaf PEM, "x509_pem_cert"; both empty when the
// client sent none) and the client address (context->peer() without
// "ipv4:", which identifies the TCP connection and so the warm member).
// Health checks are not recorded.
//
// Thread safety: all methods may be called from any thread.

#ifndef WARM_TESTS_TESTING_TLS_BACKEND_H_
#define WARM_TESTS_TESTING_TLS_BACKEND_H_

#include <grpc/grpc_security_constants.h>
#include <grpcpp/server.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/testing/certs.h"

namespace warm {
namespace testing {

class TlsBackend {
 public:
  struct Options {
    // The server's certificate (or chain, leaf first) and key, PEM.
    Pem server;
    // PEM of the CAs that client certificates must chain to. Empty: plain
    // TLS, no client certificate asked for. Set: mutual TLS, per
    // `client_cert_request`.
    std::string client_ca;
    // With `client_ca`: what the handshake demands of the client. The
    // default rejects clients without a certificate signed by `client_ca`;
    // GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY lets clients without one
    // in (their calls record CN "").
    grpc_ssl_client_certificate_request_type client_cert_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  };

  // One Echo call as the server saw it.
  struct Call {
    std::string client_cn;    // "" without a client certificate
    std::string client_cert;  // the client's leaf, PEM; "" without one
    std::string peer;         // "127.0.0.1:53422"
    // The call's "authorization" header (per-call credentials); "" if none.
    std::string authorization;
  };

  // Starts a server on `host` ("127.0.0.2") and `port` (0: a free one). An
  // error when gRPC cannot listen there or rejects the certificate or key
  // (gRPC logs why).
  //
  // The health service: gRPC reads grpc::EnableDefaultHealthCheckService()'s
  // process-wide flag when a server is built; Start() sets it to true right
  // before building, under a lock of its own (TestBackend has another), so
  // build TlsBackends and TestBackends with health_service off from one
  // thread, as tests do.
  static absl::StatusOr<std::unique_ptr<TlsBackend>> Start(
      const std::string& host, int port, Options options);

  TlsBackend(const TlsBackend&) = delete;
  TlsBackend& operator=(const TlsBackend&) = delete;
  // Shutdown().
  ~TlsBackend();

  // "127.0.0.2:41234".
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // Echo calls received since the start or ResetCounts(), in order.
  std::vector<Call> calls() const;
  // Their number per client CN ("" for clients without a certificate).
  std::map<std::string, int> calls_by_client_cn() const;
  // Per client CN, the client addresses (TCP connections) its calls came on.
  std::map<std::string, std::set<std::string>> connections_by_client_cn() const;
  // Forgets the calls received so far.
  void ResetCounts();

  // Stops the server: in-flight calls are cancelled after `grace`.
  // Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

 private:
  class Service;

  TlsBackend();
  // Records an Echo call; returns address_.
  std::string Record(Call call);

  int port_ = 0;
  std::unique_ptr<Service> service_;
  std::mutex shutdown_mu_;  // serializes Shutdown()
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  // Set once in Start() (under mu_, as calls read it), then constant.
  std::string address_;
  std::vector<Call> calls_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_TLS_BACKEND_H_
