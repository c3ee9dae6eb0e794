#include "src/common/worker.h"

#include <grpcpp/alarm.h>

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
// for RunAt() also RunAt() itself, because an alarm whose deadline has passed
// completes -- and may be run by Loop() -- before its Set() has returned.
struct Worker::Event {
  std::function<void(bool ok)> fn;
  std::unique_ptr<grpc::Alarm> alarm;  // for RunAt() only
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

void Worker::RunAt(gpr_timespec deadline, std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  event->alarm = std::make_unique<grpc::Alarm>();
  event->owners.store(2, std::memory_order_relaxed);
  WARM_TSAN_RELEASE(event);
  event->alarm->Set(&cq_, deadline, event);
  Event::Release(event);
}

void Worker::WatchState(grpc::Channel& channel,
                        grpc_connectivity_state last_observed,
                        gpr_timespec deadline, std::function<void()> fn) {
  Event* event = Arm([fn = std::move(fn)](bool) { fn(); });
  WARM_TSAN_RELEASE(event);
  channel.NotifyOnStateChange(last_observed, deadline, &cq_, event);
}

void* Worker::Completion(std::function<void(bool ok)> fn) {
  Event* event = Arm(std::move(fn));
  WARM_TSAN_RELEASE(event);
  return event;
}

}  // namespace internal
}  // namespace warm
