// Unit tests of FakeScheduler (tests/testing/fake_scheduler.h), which the
// pool's unit tests stand on: time order, cancellation, the control thread,
// fake connectivity and watches. Member channels are real grpc::Channels
// never asked to connect.

#include "tests/testing/fake_scheduler.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest-spi.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace warm {
namespace testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using internal::SteadyTime;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::shared_ptr<grpc::Channel> NewChannel() {
  return grpc::CreateChannel("ipv4:127.0.0.1:1",
                             grpc::InsecureChannelCredentials());
}

TEST(FakeSchedulerTest, TimeMovesOnlyWhenAdvanced) {
  FakeScheduler scheduler;
  const SteadyTime start = scheduler.Now();
  EXPECT_EQ(start, FakeScheduler::StartTime());
  EXPECT_NE(start, SteadyTime{}) << "the zero time means never";
  EXPECT_EQ(scheduler.Now(), start);
  scheduler.AdvanceBy(seconds(3));
  EXPECT_EQ(scheduler.Now(), start + seconds(3));
  scheduler.AdvanceTo(start + seconds(1));  // never backwards
  EXPECT_EQ(scheduler.Now(), start + seconds(3));
}

TEST(FakeSchedulerTest, RunsEverythingDueInTimeOrderAtItsOwnTime) {
  FakeScheduler scheduler;
  const SteadyTime start = scheduler.Now();
  std::vector<std::string> ran;
  std::vector<SteadyTime> at;
  auto record = [&](std::string name) {
    return [&, name] {
      ran.push_back(name);
      at.push_back(scheduler.Now());
    };
  };
  auto t2 = scheduler.RunAt(start + seconds(2), record("t2"));
  auto t1 = scheduler.RunAt(start + seconds(1), record("t1"));
  auto t1b = scheduler.RunAt(start + seconds(1), record("t1b"));  // tie
  auto t9 = scheduler.RunAt(start + seconds(9), record("t9"));
  scheduler.Post(record("posted"));
  EXPECT_THAT(ran, IsEmpty()) << "nothing runs inside Post() or RunAt()";
  EXPECT_EQ(scheduler.NextDue(), start);
  EXPECT_EQ(scheduler.live_timers(), 4u);

  EXPECT_EQ(scheduler.AdvanceBy(seconds(5)), 4);
  EXPECT_THAT(ran, ElementsAre("posted", "t1", "t1b", "t2"));
  EXPECT_THAT(at, ElementsAre(start, start + seconds(1), start + seconds(1),
                              start + seconds(2)));
  EXPECT_EQ(scheduler.Now(), start + seconds(5));
  EXPECT_EQ(scheduler.live_timers(), 1u);
  EXPECT_EQ(scheduler.NextDue(), start + seconds(9));
}

TEST(FakeSchedulerTest, RunsWhatItsFunctionsScheduleWhenDue) {
  FakeScheduler scheduler;
  const SteadyTime start = scheduler.Now();
  std::vector<std::string> ran;
  std::unique_ptr<internal::Scheduler::Timer> later;
  std::unique_ptr<internal::Scheduler::Timer> past;
  scheduler.Post([&] {
    ran.push_back("first");
    scheduler.Post([&] { ran.push_back("posted inside"); });
    later = scheduler.RunAt(start + seconds(1),
                            [&] { ran.push_back("timer inside"); });
    // A time already past runs at once, i.e. now.
    past = scheduler.RunAt(start - seconds(1), [&] { ran.push_back("past"); });
  });
  EXPECT_EQ(scheduler.RunPending(), 3);
  EXPECT_THAT(ran, ElementsAre("first", "posted inside", "past"));
  scheduler.AdvanceBy(seconds(1));
  EXPECT_THAT(ran, ElementsAre("first", "posted inside", "past",
                               "timer inside"));
}

TEST(FakeSchedulerTest, CancelledTimersNeverRun) {
  FakeScheduler scheduler;
  const SteadyTime start = scheduler.Now();
  int ran = 0;
  auto kept = scheduler.RunAt(start + seconds(1), [&] { ++ran; });
  auto cancelled = scheduler.RunAt(start + seconds(1), [&] { ran += 100; });
  cancelled.reset();
  EXPECT_EQ(scheduler.live_timers(), 1u);
  // Cancelled by a function that runs first, at the same time.
  std::unique_ptr<internal::Scheduler::Timer> victim;
  auto canceller = scheduler.RunAt(start + seconds(2), [&] { victim.reset(); });
  victim = scheduler.RunAt(start + seconds(2), [&] { ran += 1000; });
  scheduler.AdvanceBy(seconds(5));
  EXPECT_EQ(ran, 1);
  // Destroying the handle of a timer that ran is harmless.
  kept.reset();
}

TEST(FakeSchedulerTest, ControlThreadIsInsideItsFunctionsOnly) {
  FakeScheduler scheduler;
  FakeScheduler other;
  EXPECT_FALSE(scheduler.OnControlThread());
  bool inside = false;
  bool other_inside = true;
  bool from_another_thread = true;
  scheduler.Post([&] {
    inside = scheduler.OnControlThread();
    other_inside = other.OnControlThread();
    std::thread([&] { from_another_thread = scheduler.OnControlThread(); })
        .join();
  });
  scheduler.RunPending();
  EXPECT_TRUE(inside);
  EXPECT_FALSE(other_inside);
  EXPECT_FALSE(from_another_thread);
  EXPECT_FALSE(scheduler.OnControlThread());
}

TEST(FakeSchedulerTest, PostFromAnotherThreadRunsOnTheTestThread) {
  FakeScheduler scheduler;
  std::thread::id ran_on;
  std::thread([&] {
    scheduler.Post([&] { ran_on = std::this_thread::get_id(); });
  }).join();
  scheduler.RunPending();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(FakeSchedulerTest, AdvancingFromInsideAFunctionFails) {
  FakeScheduler scheduler;
  scheduler.Post([&] {
    EXPECT_NONFATAL_FAILURE(scheduler.AdvanceBy(seconds(1)),
                            "called from a function the scheduler runs");
  });
  scheduler.RunPending();
}

TEST(FakeSchedulerTest, ChannelsStartIdleAndCountConnectRequests) {
  FakeScheduler scheduler;
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  EXPECT_EQ(scheduler.GetState(*channel, false), GRPC_CHANNEL_IDLE);
  EXPECT_EQ(scheduler.ConnectRequests(*channel), 0);
  EXPECT_EQ(scheduler.GetState(*channel, true), GRPC_CHANNEL_IDLE);
  EXPECT_EQ(scheduler.ConnectRequests(*channel), 1);
  scheduler.set_connect_on_try(true);
  EXPECT_EQ(scheduler.GetState(*channel, true), GRPC_CHANNEL_CONNECTING);
  EXPECT_EQ(scheduler.StateOf(*channel), GRPC_CHANNEL_CONNECTING);
  // The real channel was never asked.
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_IDLE);
}

TEST(FakeSchedulerTest, WatchesFireOnAChangeOrAtTheirDeadline) {
  FakeScheduler scheduler;
  const SteadyTime start = scheduler.Now();
  std::shared_ptr<grpc::Channel> a = NewChannel();
  std::shared_ptr<grpc::Channel> b = NewChannel();
  std::vector<std::string> fired;
  scheduler.WatchState(*a, GRPC_CHANNEL_IDLE, start + seconds(60),
                       [&] { fired.push_back("a idle"); });
  scheduler.WatchState(*a, GRPC_CHANNEL_CONNECTING, start + seconds(60),
                       [&] { fired.push_back("a connecting"); });
  scheduler.WatchState(*b, GRPC_CHANNEL_IDLE, start + seconds(10),
                       [&] { fired.push_back("b deadline"); });
  scheduler.RunPending();
  // Watching a state other than the current one fires at once.
  EXPECT_THAT(fired, ElementsAre("a connecting"));
  EXPECT_EQ(scheduler.live_watches(), 2u);

  scheduler.SetState(*a, GRPC_CHANNEL_CONNECTING);  // runs what is due
  EXPECT_THAT(fired, ElementsAre("a connecting", "a idle"));
  scheduler.SetState(*a, GRPC_CHANNEL_READY);
  EXPECT_THAT(fired, ElementsAre("a connecting", "a idle")) << "fired once";

  scheduler.AdvanceBy(seconds(9));
  EXPECT_EQ(fired.size(), 2u);
  scheduler.AdvanceBy(seconds(1));
  EXPECT_THAT(fired, ElementsAre("a connecting", "a idle", "b deadline"));
  EXPECT_EQ(scheduler.live_watches(), 0u);
}

TEST(FakeSchedulerTest, SetStateFromInsideAFunctionOnlyQueues) {
  FakeScheduler scheduler;
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  std::vector<std::string> ran;
  scheduler.WatchState(*channel, GRPC_CHANNEL_IDLE,
                       scheduler.Now() + seconds(60),
                       [&] { ran.push_back("watch"); });
  scheduler.Post([&] {
    scheduler.SetState(*channel, GRPC_CHANNEL_READY);
    ran.push_back("after SetState");
  });
  scheduler.RunPending();
  EXPECT_THAT(ran, ElementsAre("after SetState", "watch"));
}

TEST(FakeSchedulerTest, ADestroyedChannelsWatchesFireAndItsStateGoes) {
  FakeScheduler scheduler;
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  scheduler.SetState(*channel, GRPC_CHANNEL_READY);
  int fired = 0;
  scheduler.WatchState(*channel, GRPC_CHANNEL_READY,
                       scheduler.Now() + seconds(60), [&] { ++fired; });
  channel.reset();
  scheduler.RunPending();
  EXPECT_EQ(fired, 1) << "as gRPC's, when a channel shuts down";
  // A new channel (perhaps at the same address) starts IDLE.
  std::shared_ptr<grpc::Channel> fresh = NewChannel();
  EXPECT_EQ(scheduler.GetState(*fresh, false), GRPC_CHANNEL_IDLE);
}

TEST(FakeSchedulerTest, QueuedFunctionsAreDestroyedNotRunWithTheScheduler) {
  auto held = std::make_shared<int>(0);
  std::weak_ptr<int> weak = held;
  std::unique_ptr<internal::Scheduler::Timer> timer;
  {
    FakeScheduler scheduler;
    scheduler.Post([held] { ++*held; });
    timer = scheduler.RunAt(scheduler.Now(), [held] { ++*held; });
    held.reset();
  }
  EXPECT_TRUE(weak.expired());
  timer.reset();  // outliving the scheduler is harmless
}

}  // namespace
}  // namespace testing
}  // namespace warm
