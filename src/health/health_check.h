// HealthCheck: one health check of a member, and the real one:
// StartUnaryHealthCheck(), a grpc.health.v1.Health/Check call on the member's
// connection.
//
// The call is asynchronous on the worker's completion queue: no thread waits
// for it, so a hung backend costs one pending call until `timeout`, and other
// members and channels are unaffected. The check is fail-fast: it waits
// (within `timeout`) while the member's connection is being established, and
// fails at once with UNAVAILABLE when the connection has failed.
//
// Health checks are warm's own calls, not the application's: interceptors
// (warm's load counting and the user's) are not run on them; see
// src/call/health_method.h.
//
// HealthCheck is also the interface a pool starts checks through
// (StartHealthCheckFn), so that unit tests give results of their own.
//
// Thread safety: StartUnaryHealthCheck() and Cancel() may be called from any
// thread; its `done` runs on the Worker's thread (src/common/worker.h), so a
// pool using it must have the Worker as its Scheduler.

#ifndef WARM_SRC_HEALTH_HEALTH_CHECK_H_
#define WARM_SRC_HEALTH_HEALTH_CHECK_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "src/health/check_outcome.h"

namespace warm {
namespace internal {

// One check in flight.
class HealthCheck {
 public:
  struct Result {
    CheckOutcome outcome;
    // "SERVING", "NOT_SERVING", "UNIMPLEMENTED", "DEADLINE_EXCEEDED: ...".
    std::string detail;
    // Cancel() was called: the result says nothing about the backend.
    bool cancelled = false;
  };

  virtual ~HealthCheck() = default;

  // Ends the check early; `done` then gets a result with `cancelled`.
  virtual void Cancel() = 0;
};

// Starts a check of the backend behind `channel` that asks about `service`
// and gives up after `timeout`; `done` runs once, on the control thread. The
// returned object may be dropped: the call keeps what it needs until `done`
// has run.
using StartHealthCheckFn = std::function<std::shared_ptr<HealthCheck>(
    grpc::Channel& channel, const std::string& service,
    std::chrono::milliseconds timeout,
    std::function<void(HealthCheck::Result)> done)>;

// The real check: grpc.health.v1.Health/Check on the worker's queue.
std::shared_ptr<HealthCheck> StartUnaryHealthCheck(
    grpc::Channel& channel, const std::string& service,
    std::chrono::milliseconds timeout,
    std::function<void(HealthCheck::Result)> done);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_HEALTH_CHECK_H_
