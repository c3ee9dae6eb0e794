// HealthCheck: one grpc.health.v1.Health/Check call on a member's connection.
//
// The call is asynchronous on the worker's completion queue: no thread waits
// for it, so a hung backend costs one pending call until `timeout`, and other
// members and channels are unaffected. The check is fail-fast: it waits
// (within `timeout`) while the member's connection is being established, and
// fails at once with UNAVAILABLE when the connection has failed.
//
// Health checks are warm's own calls, not the application's: interceptors
// (warm's load counting and the user's) are not run on them; see
// IsHealthCheck().
//
// Thread safety: Start() and Cancel() may be called from any thread; `done`
// runs on the worker thread.

#ifndef WARM_SRC_HEALTH_HEALTH_CHECK_H_
#define WARM_SRC_HEALTH_HEALTH_CHECK_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "src/pool/pool_state.h"

namespace warm {
namespace internal {

class HealthCheck {
 public:
  struct Result {
    CheckOutcome outcome;
    // "SERVING", "NOT_SERVING", "UNIMPLEMENTED", "DEADLINE_EXCEEDED: ...".
    std::string detail;
    // Cancel() was called: the result says nothing about the backend.
    bool cancelled = false;
  };

  // Starts a check. The returned object may be dropped: the call keeps what
  // it needs until `done` has run.
  static std::shared_ptr<HealthCheck> Start(grpc::Channel& channel,
                                            const std::string& service,
                                            std::chrono::milliseconds timeout,
                                            std::function<void(Result)> done);

  // Ends the check early; `done` then gets a result with `cancelled`.
  void Cancel();

  struct Call;  // the RPC's state, in health_check.cc

 private:
  explicit HealthCheck(std::shared_ptr<Call> call) : call_(std::move(call)) {}
  std::shared_ptr<Call> call_;
};

// Whether an interceptor factory is being asked about a health check (which
// it should not intercept). `method` is ClientRpcInfo::method(); the
// comparison is of the pointer, so it costs nothing on ordinary calls.
bool IsHealthCheck(const char* method);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_HEALTH_CHECK_H_
