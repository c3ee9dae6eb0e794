// TestBackend: a real gRPC server for tests, on a loopback address.
//
// Serves warm.testing.EchoTest (every call kind) and, unless
// Options::health_service is off, the standard grpc.health.v1 service. Records
// which client addresses (peer ip:port, i.e. which TCP connection and so which
// warm member) called it, and can hold calls until the test releases them, to
// make a backend look loaded.
//
// Metadata: a call whose client metadata holds kEchoMetadataKey gets that
// value back in the server's initial metadata (same key) and in its trailing
// metadata (kEchoTrailerKey), on every method, so a test can see that its
// metadata reached the backend and that both kinds of server metadata
// reached the client.
//
// Thread safety: all methods may be called from any thread, except that
// SetServing() must not race with Shutdown() or destruction. Constructors
// serialize with each other (see Options::health_service).

#ifndef WARM_TESTS_TESTING_TEST_BACKEND_H_
#define WARM_TESTS_TESTING_TEST_BACKEND_H_

#include <grpcpp/server.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace testing {

class TestBackend {
 public:
  static constexpr char kEchoMetadataKey[] = "x-warm-echo";
  static constexpr char kEchoTrailerKey[] = "x-warm-echo-trailer";

  struct Options {
    // Register grpc.health.v1 (the default health check service, SERVING).
    // Off: Health/Check and Health/Watch answer UNIMPLEMENTED. gRPC reads
    // this from a process-wide flag when a server is built; TestBackend sets
    // it right before building, under a lock shared by all TestBackends, so
    // backends with different settings may be built from any threads (another
    // ServerBuilder in the process built meanwhile may see either setting).
    bool health_service = true;
  };

  // Starts a server on `host` ("127.0.0.2") and `port` (0: a free one).
  // Aborts the test binary when the port cannot be bound.
  explicit TestBackend(const std::string& host, int port = 0);
  TestBackend(const std::string& host, int port, Options options);
  ~TestBackend();

  // "127.0.0.2:41234".
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // When on, every call that asks to be held (EchoRequest.hold) and, with
  // `hold_all`, every call at all, waits in the server until ReleaseHeld() or
  // its deadline.
  void set_hold_all(bool hold_all);
  void ReleaseHeld();
  // Calls waiting in the server now.
  int held() const;

  // Calls received in all.
  int calls() const;
  // Calls received per client address (peer without the "ipv4:" prefix).
  std::map<std::string, int> calls_by_peer() const;

  // Health: sets the overall ("") status and every named service's status to
  // SERVING or NOT_SERVING; Watch streams see the change. No-op without the
  // health service or after Shutdown(). Must not race with Shutdown().
  void SetServing(bool serving);

  // Stops the server: in-flight calls are cancelled after `grace`.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

 private:
  class Service;
  friend class Service;
  // Records a call and, when it should be held, waits. Returns false when the
  // call was cancelled while held.
  bool OnCall(grpc::ServerContext* context, bool hold);

  std::string address_;
  int port_ = 0;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable released_cv_;
  bool hold_all_ = false;
  uint64_t release_generation_ = 0;
  int held_ = 0;
  int calls_ = 0;
  std::map<std::string, int> calls_by_peer_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_TEST_BACKEND_H_
