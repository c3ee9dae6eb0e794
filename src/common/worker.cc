#include "src/common/worker.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "src/common/tsan.h"

// gRPC's completion queue orders the handoff of an event before its handler;
// the worker tells TSan at the last touch before gRPC owns the event.

namespace warm {
namespace internal {

// One armed completion: owned by gRPC until it completes, then by Loop(),
// which runs it. Whoever drops the last of `owners` deletes it: Loop(), and
// for Post() also Post() itself, because an alarm whose deadline has passed
// completes -- and may be run by Loop() -- before its Set() has returned.
struct Worker::Event {
  std::function<void(bool ok)> fn;
  std::unique_ptr<grpc::Alarm> alarm;  // for Post() only
  std::atomic<int> owners{1};

  static void Release(Event* event) {
    if (event->owners.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete event;
    }
  }
};

Worker& Worker::Get() {
  // Deliberately never destroyed: the thread may still be handling the last
  // completions of channels destroyed during exit.
  static Worker* const worker = new Worker();
  return *worker;
}

Worker::Worker() {
  std::thread thread([this] { Loop(); });
  thread_id_ = thread.get_id();
  thread.detach();
}

void Worker::Loop() {
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
    Event* event = static_cast<Event*>(tag);
    WARM_TSAN_ACQUIRE(event);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    event->fn(ok);
    Event::Release(event);
  }
}

Worker::Event* Worker::Arm(std::function<void(bool ok)> fn) {
  pending_.fetch_add(1, std::memory_order_acq_rel);
  Event* event = new Event();
  event->fn = std::move(fn);
  return event;
}

namespace {

gpr_timespec ToGpr(SteadyTime t) {
  const auto from_now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      t - std::chrono::steady_clock::now());
  return gpr_time_add(
      gpr_now(GPR_CLOCK_MONOTONIC),
      gpr_time_from_nanos(std::max<int64_t>(0, from_now.count()),
                          GPR_TIMESPAN));
}

// A RunAt() handle: destroying the alarm cancels it (its completion then
// comes with ok == false), and `cancelled` covers an alarm that fired but
// whose completion the worker has not run yet.
class AlarmTimer final : public Scheduler::Timer {
 public:
  AlarmTimer() : cancelled_(std::make_shared<std::atomic<bool>>(false)) {}
  ~AlarmTimer() override {
    cancelled_->store(true, std::memory_order_release);
    alarm.reset();
  }
  const std::shared_ptr<std::atomic<bool>>& cancelled() const {
    return cancelled_;
  }
  std::unique_ptr<grpc::Alarm> alarm = std::make_unique<grpc::Alarm>();

 private:
  const std::shared_ptr<std::atomic<bool>> cancelled_;
};

}  // namespace

std::shared_ptr<Scheduler> Worker::Shared() {
  static const std::shared_ptr<Scheduler> shared(&Get(), [](Scheduler*) {});
  return shared;
}

void Worker::Post(std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  event->alarm = std::make_unique<grpc::Alarm>();
  event->owners.store(2, std::memory_order_relaxed);
  WARM_TSAN_RELEASE(event);
  event->alarm->Set(&cq_, gpr_now(GPR_CLOCK_MONOTONIC), event);
  Event::Release(event);
}

std::unique_ptr<Scheduler::Timer> Worker::RunAt(SteadyTime at,
                                                std::function<void()> fn) {
  auto timer = std::make_unique<AlarmTimer>();
  void* tag = Completion(
      [cancelled = timer->cancelled(), fn = std::move(fn)](bool ok) {
        if (ok && !cancelled->load(std::memory_order_acquire)) fn();
      });
  timer->alarm->Set(&cq_, ToGpr(at), tag);
  return timer;
}

void Worker::WatchState(grpc::Channel& channel,
                        grpc_connectivity_state last_observed,
                        SteadyTime deadline, std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  WARM_TSAN_RELEASE(event);
  channel.NotifyOnStateChange(last_observed, ToGpr(deadline), &cq_, event);
}

void* Worker::Completion(std::function<void(bool ok)> fn) {
  Event* event = Arm(std::move(fn));
  WARM_TSAN_RELEASE(event);
  return event;
}

}  // namespace internal
}  // namespace warm
