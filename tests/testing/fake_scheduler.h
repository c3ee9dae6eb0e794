// FakeScheduler: a Scheduler (src/common/scheduler.h) on fake time, with fake
// member connectivity, so that a real Pool runs in a unit test without
// threads, sockets or sleeps.
//
// Time: Now() starts at a fixed steady time (not the zero SteadyTime, which
// the pool reads as "never") and moves only when the test calls AdvanceBy()
// or AdvanceTo(). Those run, on the calling thread and in time order (ties
// in the order they were scheduled), every posted function, every RunAt()
// timer and every watch deadline that falls due up to the new time,
// including ones scheduled by the functions they run; Now() reads each
// function's own due time while it runs. RunPending() does the same without
// moving time: it runs what is due now (posted functions first of all).
// A timer whose handle was destroyed before its turn never runs.
//
// The control thread: OnControlThread() is true exactly while the caller
// runs inside a function this scheduler is running (on that thread). So the
// test thread itself is *not* the control thread: Pool::Shutdown() called by
// the test waits for running sections (there are none: everything runs
// inside the test's own calls), and Pool::Release() waits for the pool to be
// destroyed, as with the real Worker. Called from a pool callback that the
// fake runs (e.g. on_health_change), both take their control-thread paths.
//
// Connectivity: every grpc::Channel has a fake state, IDLE until SetState()
// changes it; GetState() never touches the real channel (which therefore
// never connects). GetState(channel, true) is counted (ConnectRequests());
// with set_connect_on_try(true) it also moves an IDLE channel to CONNECTING.
// WatchState() fires (as a posted function) once the fake state differs
// from last_observed, or at its deadline. A channel is known by its address
// and, for channels owned by a shared_ptr, checked by a weak reference, so a
// new channel allocated where a destroyed one was starts IDLE again.
//
// Test-facing inputs (SetState(), and the fakes in fake_pool_parts.h) run
// what they make due before returning (RunPending()), unless called from
// inside a function this scheduler runs, where they only queue it (it runs
// right after the current function, in the same AdvanceBy()/RunPending()).
//
// Thread safety: every method may be called from any thread (a mutex guards
// the queues; functions run outside it). Tests drive time from one thread;
// AdvanceBy(), AdvanceTo() and RunPending() must not be called from inside a
// function the scheduler runs (they fail the test and return).

#ifndef WARM_TESTS_TESTING_FAKE_SCHEDULER_H_
#define WARM_TESTS_TESTING_FAKE_SCHEDULER_H_

#include <grpc/grpc.h>
#include <grpcpp/channel.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "src/common/scheduler.h"
#include "src/common/time.h"

namespace warm {
namespace testing {

class FakeScheduler final : public internal::Scheduler {
 public:
  // The time the fake starts at.
  static internal::SteadyTime StartTime() {
    return internal::SteadyTime{} + std::chrono::hours(1000);
  }

  FakeScheduler();
  ~FakeScheduler() override;
  FakeScheduler(const FakeScheduler&) = delete;
  FakeScheduler& operator=(const FakeScheduler&) = delete;

  // --- Scheduler ---
  internal::SteadyTime Now() const override;
  void Post(std::function<void()> fn) override;
  std::unique_ptr<Timer> RunAt(internal::SteadyTime at,
                               std::function<void()> fn) override;
  grpc_connectivity_state GetState(grpc::Channel& channel,
                                   bool try_to_connect) override;
  void WatchState(grpc::Channel& channel,
                  grpc_connectivity_state last_observed,
                  internal::SteadyTime deadline,
                  std::function<void()> fn) override;
  bool OnControlThread() const override;

  // --- Time (see the file comment) ---
  // Returns how many functions ran.
  int AdvanceBy(internal::Nanos d);
  int AdvanceTo(internal::SteadyTime t);
  int RunPending();
  // The due time of the earliest queued function (posted, timer or watch
  // deadline); nullopt when nothing is queued.
  std::optional<internal::SteadyTime> NextDue() const;
  // RunAt() timers armed and neither run nor cancelled.
  size_t live_timers() const;
  // Watches neither fired nor expired.
  size_t live_watches() const;

  // --- Connectivity ---
  // Sets `channel`'s fake state and fires its watches that observed another
  // state; then, with `run_due` and unless on the control thread, runs what
  // is due. (Without: e.g. from a channel factory, which the pool calls
  // under its lock.)
  void SetState(grpc::Channel& channel, grpc_connectivity_state state,
                bool run_due = true);
  // The fake state, without counting a call.
  grpc_connectivity_state StateOf(grpc::Channel& channel) const;
  // How often GetState(channel, try_to_connect = true) was called.
  int ConnectRequests(grpc::Channel& channel) const;
  // Whether GetState(channel, true) moves an IDLE channel to CONNECTING.
  void set_connect_on_try(bool connect);

 private:
  class TimerHandle;
  struct State;
  // Runs the earliest function due at or before `limit`; false when none.
  bool RunOne(internal::SteadyTime limit);
  int RunUntil(internal::SteadyTime limit, const char* caller);

  // Shared with the timer handles, which may outlive the scheduler.
  const std::shared_ptr<State> state_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_FAKE_SCHEDULER_H_
