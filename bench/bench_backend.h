// BenchBackend: an in-process gRPC backend for benchmarks, on a loopback
// address.
//
// Serves warm.testing.EchoTest/Echo (the reply names the backend) with
// gRPC's callback API, so no thread is held per call, even while a call waits
// out the backend's added delay; and the standard grpc.health.v1 service,
// SERVING, so that warm's health checks and gRPC's client health checking
// (round_robin with healthCheckConfig) both see a healthy backend. The other
// EchoTest methods answer UNIMPLEMENTED: benchmarks send unary calls only.
//
// With a capacity (BenchBackend::Capacity), a backend models a server of
// finite capacity: each Echo call holds one of `slots` slots for
// `service_time` (a timer, not CPU), and calls that find every slot taken
// wait in a FIFO queue; a queued call whose client gives up (deadline,
// cancellation) leaves the queue. Without one (the default), every call is
// answered after its delay, however many are in flight.
//
// Tests' TestBackend records every call under a lock and serves on gRPC's
// synchronous thread pool; that suits assertions, not throughput figures.
//
// Thread safety: address() may be called from any thread.

#ifndef WARM_BENCH_BENCH_BACKEND_H_
#define WARM_BENCH_BENCH_BACKEND_H_

#include <grpcpp/server.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace warm {
namespace bench {

class BenchBackend {
 public:
  // A server of fixed capacity: `slots` calls served at once, each taking
  // `service_time`; slots 0: unlimited (the default behaviour).
  struct Capacity {
    int slots = 0;
    std::chrono::milliseconds service_time{0};
  };

  // Starts a server on `host` ("127.0.0.2") and `port` (0: a free one) that
  // answers each Echo call after `delay` (0: at once).
  static absl::StatusOr<std::unique_ptr<BenchBackend>> Start(
      const std::string& host, int port = 0,
      std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Starts a server on `host` and `port` with `capacity` (slots > 0).
  static absl::StatusOr<std::unique_ptr<BenchBackend>> StartWithCapacity(
      const std::string& host, int port, Capacity capacity);
  // Shuts the server down; calls still waiting out the delay are cancelled.
  ~BenchBackend();

  BenchBackend(const BenchBackend&) = delete;
  BenchBackend& operator=(const BenchBackend&) = delete;

  // "127.0.0.2:41234".
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  class Service;
  class Slots;
  BenchBackend() = default;
  static absl::StatusOr<std::unique_ptr<BenchBackend>> StartImpl(
      const std::string& host, int port, std::chrono::milliseconds delay,
      Capacity capacity);

  std::string address_;
  int port_ = 0;
  std::unique_ptr<Slots> slots_;  // with a capacity only
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

// `count` backends on 127.0.0.1, 127.0.0.2, ... (each its own free port);
// backend i answers after delays[i] (missing entries: no delay).
absl::StatusOr<std::vector<std::unique_ptr<BenchBackend>>> StartBackends(
    int count, const std::vector<std::chrono::milliseconds>& delays = {});

// "ipv4:ADDR:PORT,ADDR:PORT,..." for the given addresses.
std::string Ipv4Target(const std::vector<std::string>& addresses);
// The addresses of `backends`.
std::vector<std::string> AddressesOf(
    const std::vector<std::unique_ptr<BenchBackend>>& backends);

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_BENCH_BACKEND_H_
