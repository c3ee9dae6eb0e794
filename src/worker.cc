#include "src/worker.h"

#include <utility>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
// gRPC's completion queue orders Arm() before the handler, but Debian's gRPC
// is not built with ThreadSanitizer, which cannot see that. Tell it.
#define WARM_TSAN_RELEASE(addr) __tsan_release(addr)
#define WARM_TSAN_ACQUIRE(addr) __tsan_acquire(addr)
#else
#define WARM_TSAN_RELEASE(addr)
#define WARM_TSAN_ACQUIRE(addr)
#endif

namespace warm {
namespace internal {

// One armed completion. It owns itself while armed (`self`) so that a Timer
// handle can cancel it without racing its deletion.
struct Worker::Event {
  std::function<void(bool)> fn;
  grpc::Alarm alarm;
  std::shared_ptr<Event> self;
};

void Worker::Timer::Cancel() {
  if (std::shared_ptr<Event> event = event_.lock()) event->alarm.Cancel();
}

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
    std::shared_ptr<Event> keep = std::move(event->self);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    event->fn(ok);
    handled_.fetch_add(1, std::memory_order_acq_rel);
  }
}

Worker::Event* Worker::Arm(std::function<void(bool)> fn) {
  auto event = std::make_shared<Event>();
  event->fn = std::move(fn);
  event->self = event;
  pending_.fetch_add(1, std::memory_order_acq_rel);
  return event.get();
}

std::shared_ptr<Worker::Timer> Worker::RunAt(gpr_timespec deadline,
                                             std::function<void(bool)> fn) {
  Event* event = Arm(std::move(fn));
  auto timer = std::make_shared<Timer>(event->self);
  WARM_TSAN_RELEASE(event);  // last touch before gRPC owns it
  event->alarm.Set(&cq_, deadline, event);
  return timer;
}

void Worker::Post(std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  WARM_TSAN_RELEASE(event);
  event->alarm.Set(&cq_, gpr_inf_past(GPR_CLOCK_MONOTONIC), event);
}

void Worker::WatchState(grpc::Channel& channel,
                        grpc_connectivity_state last_observed,
                        gpr_timespec deadline, std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  WARM_TSAN_RELEASE(event);
  channel.NotifyOnStateChange(last_observed, deadline, &cq_, event);
}

}  // namespace internal
}  // namespace warm
