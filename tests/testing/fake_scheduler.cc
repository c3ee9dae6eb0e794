#include "tests/testing/fake_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

#include "src/common/mutex.h"

namespace warm {
namespace testing {
namespace {

using internal::Mutex;
using internal::MutexLock;
using internal::SteadyTime;

// The scheduler whose function this thread is running (OnControlThread()).
thread_local const FakeScheduler* running_on_this_thread = nullptr;

class ScopedRunning {
 public:
  explicit ScopedRunning(const FakeScheduler* scheduler)
      : previous_(running_on_this_thread) {
    running_on_this_thread = scheduler;
  }
  ~ScopedRunning() { running_on_this_thread = previous_; }

 private:
  const FakeScheduler* const previous_;
};

}  // namespace

struct FakeScheduler::State {
  struct Key {
    SteadyTime at;
    uint64_t seq;
    bool operator<(const Key& other) const {
      return at != other.at ? at < other.at : seq < other.seq;
    }
  };
  struct Task {
    std::function<void()> fn;  // empty for a watch's deadline
    bool timer = false;        // from RunAt()
    uint64_t watch = 0;        // a watch's deadline: the watch's id
  };
  struct ChannelRecord {
    std::weak_ptr<grpc::Channel> ref;
    bool shared = false;  // owned by a shared_ptr: `ref` tells if it lives
    grpc_connectivity_state state = GRPC_CHANNEL_IDLE;
    int connect_requests = 0;
  };
  struct Watch {
    const grpc::Channel* channel;
    grpc_connectivity_state last_observed;
    Key deadline;
    std::function<void()> fn;
  };

  mutable Mutex mu;
  SteadyTime now ABSL_GUARDED_BY(mu) = StartTime();
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  std::map<Key, Task> tasks ABSL_GUARDED_BY(mu);
  std::map<const grpc::Channel*, ChannelRecord> channels ABSL_GUARDED_BY(mu);
  std::map<uint64_t, Watch> watches ABSL_GUARDED_BY(mu);
  bool connect_on_try ABSL_GUARDED_BY(mu) = false;

  Key Add(SteadyTime at, Task task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const Key key{at < now ? now : at, next_seq++};
    tasks.emplace(key, std::move(task));
    return key;
  }
  Key PostLocked(std::function<void()> fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Task task;
    task.fn = std::move(fn);
    return Add(now, std::move(task));
  }

  // Fires (posts) the watches of `channel` that observed another state than
  // `state`; every watch of it when `all` (the channel is gone).
  void FireWatchesLocked(const grpc::Channel* channel,
                         grpc_connectivity_state state, bool all)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = watches.begin(); it != watches.end();) {
      Watch& watch = it->second;
      if (watch.channel != channel ||
          (!all && watch.last_observed == state)) {
        ++it;
        continue;
      }
      tasks.erase(watch.deadline);
      PostLocked(std::move(watch.fn));
      it = watches.erase(it);
    }
  }

  // Channels that were destroyed: their watches fire, as gRPC's do when a
  // channel shuts down, and their records go (a new channel may be
  // allocated at the same address).
  void ForgetDeadChannelsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = channels.begin(); it != channels.end();) {
      if (it->second.shared && it->second.ref.expired()) {
        FireWatchesLocked(it->first, GRPC_CHANNEL_SHUTDOWN, /*all=*/true);
        it = channels.erase(it);
      } else {
        ++it;
      }
    }
  }

  ChannelRecord& RecordLocked(grpc::Channel& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = channels.find(&channel);
    if (it != channels.end() && it->second.shared &&
        it->second.ref.expired()) {
      // A destroyed channel's record; `channel` is new at its address.
      FireWatchesLocked(&channel, GRPC_CHANNEL_SHUTDOWN, /*all=*/true);
      channels.erase(it);
      it = channels.end();
    }
    if (it == channels.end()) {
      ChannelRecord record;
      record.ref = channel.weak_from_this();
      record.shared = !record.ref.expired();
      it = channels.emplace(&channel, std::move(record)).first;
    }
    return it->second;
  }
};

// Destroying the handle removes the timer's task; one that already ran (or
// runs now) is gone from the queue already.
class FakeScheduler::TimerHandle final : public internal::Scheduler::Timer {
 public:
  TimerHandle(std::weak_ptr<State> state, State::Key key)
      : state_(std::move(state)), key_(key) {}
  ~TimerHandle() override {
    std::shared_ptr<State> state = state_.lock();
    if (state == nullptr) return;
    std::function<void()> fn;  // destroyed after the lock is released
    MutexLock lock(&state->mu);
    auto it = state->tasks.find(key_);
    if (it == state->tasks.end()) return;
    fn = std::move(it->second.fn);
    state->tasks.erase(it);
  }

 private:
  const std::weak_ptr<State> state_;
  const State::Key key_;
};

FakeScheduler::FakeScheduler() : state_(std::make_shared<State>()) {}

FakeScheduler::~FakeScheduler() {
  // Queued functions are destroyed, not run.
  std::map<State::Key, State::Task> tasks;
  std::map<uint64_t, State::Watch> watches;
  {
    MutexLock lock(&state_->mu);
    tasks.swap(state_->tasks);
    watches.swap(state_->watches);
  }
}

SteadyTime FakeScheduler::Now() const {
  MutexLock lock(&state_->mu);
  return state_->now;
}

void FakeScheduler::Post(std::function<void()> fn) {
  MutexLock lock(&state_->mu);
  state_->PostLocked(std::move(fn));
}

std::unique_ptr<internal::Scheduler::Timer> FakeScheduler::RunAt(
    SteadyTime at, std::function<void()> fn) {
  MutexLock lock(&state_->mu);
  State::Task task;
  task.fn = std::move(fn);
  task.timer = true;
  const State::Key key = state_->Add(at, std::move(task));
  return std::make_unique<TimerHandle>(state_, key);
}

grpc_connectivity_state FakeScheduler::GetState(grpc::Channel& channel,
                                                bool try_to_connect) {
  MutexLock lock(&state_->mu);
  State::ChannelRecord& record = state_->RecordLocked(channel);
  if (try_to_connect) {
    ++record.connect_requests;
    if (state_->connect_on_try && record.state == GRPC_CHANNEL_IDLE) {
      record.state = GRPC_CHANNEL_CONNECTING;
      state_->FireWatchesLocked(&channel, record.state, /*all=*/false);
    }
  }
  return record.state;
}

void FakeScheduler::WatchState(grpc::Channel& channel,
                               grpc_connectivity_state last_observed,
                               SteadyTime deadline, std::function<void()> fn) {
  MutexLock lock(&state_->mu);
  const State::ChannelRecord& record = state_->RecordLocked(channel);
  if (record.state != last_observed) {
    state_->PostLocked(std::move(fn));
    return;
  }
  const uint64_t id = state_->next_seq;  // unique: Add() takes it next
  State::Task task;
  task.watch = id;
  const State::Key key = state_->Add(deadline, std::move(task));
  state_->watches.emplace(
      id, State::Watch{&channel, last_observed, key, std::move(fn)});
}

bool FakeScheduler::OnControlThread() const {
  return running_on_this_thread == this;
}

bool FakeScheduler::RunOne(SteadyTime limit) {
  std::function<void()> fn;
  {
    MutexLock lock(&state_->mu);
    state_->ForgetDeadChannelsLocked();
    if (state_->tasks.empty()) return false;
    auto it = state_->tasks.begin();
    if (limit < it->first.at) return false;
    if (state_->now < it->first.at) state_->now = it->first.at;
    State::Task task = std::move(it->second);
    state_->tasks.erase(it);
    if (task.watch != 0) {
      // A watch's deadline: the watch fires.
      auto watch = state_->watches.find(task.watch);
      if (watch != state_->watches.end()) {
        fn = std::move(watch->second.fn);
        state_->watches.erase(watch);
      }
    } else {
      fn = std::move(task.fn);
    }
  }
  ScopedRunning running(this);
  if (fn) fn();
  fn = nullptr;  // its captures go while "on the control thread" too
  return true;
}

int FakeScheduler::RunUntil(SteadyTime limit, const char* caller) {
  if (OnControlThread()) {
    ADD_FAILURE() << "FakeScheduler::" << caller
                  << " called from a function the scheduler runs";
    return 0;
  }
  int ran = 0;
  while (RunOne(limit)) ++ran;
  return ran;
}

int FakeScheduler::AdvanceBy(internal::Nanos d) { return AdvanceTo(Now() + d); }

int FakeScheduler::AdvanceTo(SteadyTime t) {
  const int ran = RunUntil(t, "AdvanceTo");
  if (OnControlThread()) return ran;
  MutexLock lock(&state_->mu);
  if (state_->now < t) state_->now = t;
  return ran;
}

int FakeScheduler::RunPending() { return RunUntil(Now(), "RunPending"); }

std::optional<SteadyTime> FakeScheduler::NextDue() const {
  MutexLock lock(&state_->mu);
  if (state_->tasks.empty()) return std::nullopt;
  return state_->tasks.begin()->first.at;
}

size_t FakeScheduler::live_timers() const {
  MutexLock lock(&state_->mu);
  size_t n = 0;
  for (const auto& [key, task] : state_->tasks) n += task.timer;
  return n;
}

size_t FakeScheduler::live_watches() const {
  MutexLock lock(&state_->mu);
  return state_->watches.size();
}

void FakeScheduler::SetState(grpc::Channel& channel,
                             grpc_connectivity_state state, bool run_due) {
  {
    MutexLock lock(&state_->mu);
    State::ChannelRecord& record = state_->RecordLocked(channel);
    record.state = state;
    state_->FireWatchesLocked(&channel, state, /*all=*/false);
  }
  if (run_due && !OnControlThread()) RunPending();
}

grpc_connectivity_state FakeScheduler::StateOf(grpc::Channel& channel) const {
  MutexLock lock(&state_->mu);
  return state_->RecordLocked(channel).state;
}

int FakeScheduler::ConnectRequests(grpc::Channel& channel) const {
  MutexLock lock(&state_->mu);
  return state_->RecordLocked(channel).connect_requests;
}

void FakeScheduler::set_connect_on_try(bool connect) {
  MutexLock lock(&state_->mu);
  state_->connect_on_try = connect;
}

}  // namespace testing
}  // namespace warm
