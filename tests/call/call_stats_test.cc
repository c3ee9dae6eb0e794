// Unit tests of CallStats: a channel's call totals, which must never go down
// while members come and go. No gRPC, so ThreadSanitizer sees every access
// (in the integration tests MemberLoads die inside uninstrumented gRPC).

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "src/call/load_interceptor.h"

namespace warm {
namespace internal {
namespace {

constexpr int kThreads = 4;
constexpr int kCallsPerThread = 20000;

uint64_t Finished(const CallCounts& counts) {
  uint64_t n = 0;
  for (uint64_t count : counts.finished) n += count;
  return n;
}

// Members count calls on their own threads and are destroyed there, while
// a reader takes totals: every total is at least the one before, and the
// last one holds every call exactly once.
TEST(CallStatsTest, TotalsNeverGoDownAndCountEveryCallOnce) {
  auto stats = std::make_shared<CallStats>();
  std::atomic<int> running{kThreads};
  // The members start counting once the reader has read once, so that on a
  // loaded machine they cannot all be done before the first read.
  std::atomic<bool> go{false};
  std::vector<std::thread> members;
  for (int t = 0; t < kThreads; ++t) {
    members.emplace_back([&, t] {
      auto load = std::make_shared<MemberLoad>(stats);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kCallsPerThread; ++i) {
        load->CallStarted();
        load->RecordLatency(100 * (t + 1));
        load->CallFinished(i % 10 == 0 ? 14 : 0);  // UNAVAILABLE, OK
      }
      load.reset();  // retires into the total, on this thread
      --running;
    });
  }
  uint64_t last = 0;
  int reads = 0;
  do {
    const CallCounts total = stats->Total();
    const uint64_t finished = Finished(total);
    go = true;
    EXPECT_GE(finished, last) << "after " << reads << " reads";
    EXPECT_LE(total.in_flight, kThreads);
    last = finished;
    ++reads;
  } while (running > 0);
  for (std::thread& member : members) member.join();
  const CallCounts total = stats->Total();
  constexpr uint64_t kCalls = uint64_t{kThreads} * kCallsPerThread;
  EXPECT_EQ(total.started, kCalls);
  EXPECT_EQ(Finished(total), kCalls);
  EXPECT_EQ(total.finished[14], kCalls / 10);
  EXPECT_EQ(total.latency_count(), kCalls);
  EXPECT_EQ(total.in_flight, 0);
  EXPECT_EQ(total.retired, uint64_t{kThreads});
  EXPECT_GT(reads, 0);
}

TEST(CallStatsTest, LiveAndRetiredLoadsAddUp) {
  auto stats = std::make_shared<CallStats>();
  auto live = std::make_shared<MemberLoad>(stats);
  auto leaving = std::make_shared<MemberLoad>(stats);
  live->CallStarted();  // still in flight
  leaving->CallStarted();
  leaving->CallFinished(0);
  EXPECT_EQ(stats->Total().started, 2u);
  EXPECT_EQ(stats->Total().in_flight, 1);
  leaving.reset();
  const CallCounts total = stats->Total();
  EXPECT_EQ(total.started, 2u);
  EXPECT_EQ(total.finished[0], 1u);
  EXPECT_EQ(total.in_flight, 1);
  EXPECT_EQ(total.retired, 1u);
}

TEST(CallStatsTest, LatencyQuantiles) {
  std::array<uint64_t, MemberLoad::kLatencyBuckets> buckets{};
  EXPECT_EQ(LatencyQuantileUs(buckets, 0.5), -1);
  buckets[1] = 98;  // <= 1 ms
  buckets[5] = 2;   // <= 25 ms
  EXPECT_EQ(LatencyQuantileUs(buckets, 0.5), 1000);
  EXPECT_EQ(LatencyQuantileUs(buckets, 0.99), 25000);
  buckets[MemberLoad::kLatencyBuckets - 1] = 1000;  // above every bound
  EXPECT_EQ(LatencyQuantileUs(buckets, 0.99), 10000000);
}

}  // namespace
}  // namespace internal
}  // namespace warm
