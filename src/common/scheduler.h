// Scheduler: where and when the control plane runs.
//
// A pool never reads the clock, starts a thread or arms a gRPC alarm itself:
// it asks its Scheduler. In the library that is the process-wide Worker
// (src/common/worker.h), whose one thread runs every channel's control plane;
// in unit tests it is a FakeScheduler (tests/testing/fake_scheduler.h) whose
// time moves only when the test says, so a whole pool runs on fake time in
// the test's thread.
//
// Everything a Scheduler runs runs on its thread ("the control thread"), one
// thing at a time, and must not block. A Scheduler never runs a function
// from inside the call that hands it over (Post, RunAt, WatchState): callers
// hand work over while holding their own locks.
//
// Thread safety: every method may be called from any thread.

#ifndef WARM_SRC_COMMON_SCHEDULER_H_
#define WARM_SRC_COMMON_SCHEDULER_H_

#include <grpc/grpc.h>
#include <grpcpp/channel.h>

#include <functional>
#include <memory>

#include "src/common/time.h"

namespace warm {
namespace internal {

class Scheduler {
 public:
  // A pending RunAt(). Destroying it cancels it: cancelled on the control
  // thread, the function does not run; cancelled on another thread, it may
  // still run once if it was already due (callers look at their own state,
  // e.g. "shut down", before acting).
  class Timer {
   public:
    virtual ~Timer() = default;
  };

  virtual ~Scheduler() = default;

  // The current time on the steady clock.
  virtual SteadyTime Now() const = 0;

  // Runs `fn()` on the control thread, soon.
  virtual void Post(std::function<void()> fn) = 0;

  // Runs `fn()` on the control thread at `at` (soon, if it has passed),
  // unless the returned Timer is destroyed first.
  virtual std::unique_ptr<Timer> RunAt(SteadyTime at,
                                       std::function<void()> fn) = 0;

  // The connectivity state of `channel`; with `try_to_connect`, an IDLE
  // channel starts connecting.
  virtual grpc_connectivity_state GetState(grpc::Channel& channel,
                                           bool try_to_connect) = 0;

  // Runs `fn()` on the control thread once `channel`'s state differs from
  // `last_observed` (including when it shuts down), or at `deadline`,
  // whichever comes first. Read the new state with GetState().
  virtual void WatchState(grpc::Channel& channel,
                          grpc_connectivity_state last_observed,
                          SteadyTime deadline, std::function<void()> fn) = 0;

  // Whether the caller runs on the control thread.
  virtual bool OnControlThread() const = 0;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_SCHEDULER_H_
