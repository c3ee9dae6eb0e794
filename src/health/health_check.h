// HealthCheck: one health check of a member, and the real ones:
// StartUnaryHealthCheck(), a grpc.health.v1.Health/Check call on the member's
// connection, and StartHealthWatch(), a Health/Watch stream on it (gRFC A17)
// that reports each status the server pushes.
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
// Thread safety: StartUnaryHealthCheck(), StartHealthWatch() and Cancel() may
// be called from any thread; their callbacks run on the Worker's thread
// (src/common/worker.h), so a pool using them must have the Worker as its
// Scheduler.

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

// One check (or Watch stream) in flight.
class HealthCheck {
 public:
  struct Result {
    CheckOutcome outcome;
    // "SERVING", "NOT_SERVING", "UNIMPLEMENTED", "DEADLINE_EXCEEDED: ...".
    std::string detail;
    // Cancel() was called: the result says nothing about the backend.
    bool cancelled = false;
    // kFailed with a status the server itself sent (NOT_FOUND,
    // UNAUTHENTICATED, ...: not a timeout, UNAVAILABLE or another status a
    // client makes up): the server is alive, whatever it thinks of the check.
    bool answered_error = false;
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

// Opens a Health/Watch stream about `service` on `channel`, with no
// deadline: `on_message` runs for every status the server sends (outcome
// kServing or kNotServing), then `on_end` once, when the stream has ended:
// kUnimplemented (the server has no Watch), kFailed with the status, or
// `cancelled` after Cancel(). Both run on the control thread; the returned
// object may be dropped, as with StartHealthCheckFn.
using StartHealthWatchFn = std::function<std::shared_ptr<HealthCheck>(
    grpc::Channel& channel, const std::string& service,
    std::function<void(HealthCheck::Result)> on_message,
    std::function<void(HealthCheck::Result)> on_end)>;

// The real stream, on the worker's queue. Like the check it is fail-fast: it
// waits while the member is connecting and ends with UNAVAILABLE when the
// connection has failed or is lost.
std::shared_ptr<HealthCheck> StartHealthWatch(
    grpc::Channel& channel, const std::string& service,
    std::function<void(HealthCheck::Result)> on_message,
    std::function<void(HealthCheck::Result)> on_end);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_HEALTH_CHECK_H_
