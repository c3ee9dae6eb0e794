// Unit tests of MethodStats: one slot per (method, call type), the bound of
// ChannelOptions::metrics_max_methods with its overflow slots, and the names
// split as go-grpc-prometheus splits them.

#include "src/call/method_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace warm {
namespace internal {
namespace {

TEST(MethodStatsTest, OneSlotPerMethodAndType) {
  MethodStats stats(10);
  MethodSlot* echo = stats.Find("/pkg.Svc/Echo", CallType::kUnary);
  EXPECT_EQ(stats.Find("/pkg.Svc/Echo", CallType::kUnary), echo);
  EXPECT_NE(stats.Find("/pkg.Svc/Echo", CallType::kBidiStream), echo);
  EXPECT_NE(stats.Find("/pkg.Svc/Other", CallType::kUnary), echo);
  EXPECT_EQ(echo->service, "pkg.Svc");
  EXPECT_EQ(echo->method, "Echo");
  EXPECT_FALSE(echo->overflow);
  MethodSlot* odd = stats.Find("no-slash", CallType::kUnary);
  EXPECT_EQ(odd->service, "unknown");
  EXPECT_EQ(odd->method, "unknown");
}

TEST(MethodStatsTest, CountsInFirstCallOrderWithEveryCounter) {
  MethodStats stats(10);
  MethodSlot* b = stats.Find("/s/B", CallType::kServerStream);
  MethodSlot* a = stats.Find("/s/A", CallType::kUnary);
  b->Started();
  b->MessageSent();
  b->MessageReceived();
  b->MessageReceived();
  b->Handled(0, 700);  // OK, in the 1 ms bucket
  a->Started();
  a->Abandoned();  // CANCELLED, no latency
  a->Started();
  a->Handled(99, 20000000);  // out of range: UNKNOWN; above every bound
  const std::vector<MethodCounts> counts = stats.Counts();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].method, "B");
  EXPECT_EQ(counts[0].type, CallType::kServerStream);
  EXPECT_EQ(counts[0].started, 1u);
  EXPECT_EQ(counts[0].handled[0], 1u);
  EXPECT_EQ(counts[0].msg_sent, 1u);
  EXPECT_EQ(counts[0].msg_received, 2u);
  EXPECT_EQ(counts[0].latency_buckets[1], 1u);
  EXPECT_EQ(counts[0].latency_sum_us, 700u);
  EXPECT_EQ(counts[1].method, "A");
  EXPECT_EQ(counts[1].started, 2u);
  EXPECT_EQ(counts[1].handled[1], 1u);  // CANCELLED
  EXPECT_EQ(counts[1].handled[2], 1u);  // UNKNOWN
  EXPECT_EQ(counts[1].latency_buckets.back(), 1u);
  EXPECT_EQ(counts[1].latency_sum_us, 20000000u);
}

TEST(MethodStatsTest, MethodsBeyondTheBoundShareTheOverflowSlotOfTheirType) {
  MethodStats stats(2);
  MethodSlot* first = stats.Find("/s/M0", CallType::kUnary);
  MethodSlot* second = stats.Find("/s/M1", CallType::kBidiStream);
  MethodSlot* overflow = stats.Find("/s/M2", CallType::kUnary);
  EXPECT_TRUE(overflow->overflow);
  EXPECT_EQ(overflow->service, "other");
  EXPECT_EQ(overflow->method, "other");
  EXPECT_EQ(overflow->type, CallType::kUnary);
  EXPECT_EQ(stats.Find("/s/M3", CallType::kUnary), overflow);
  MethodSlot* bidi_overflow = stats.Find("/s/M3", CallType::kBidiStream);
  EXPECT_TRUE(bidi_overflow->overflow);
  EXPECT_NE(bidi_overflow, overflow);
  // Methods that had a slot keep it.
  EXPECT_EQ(stats.Find("/s/M0", CallType::kUnary), first);
  EXPECT_EQ(stats.Find("/s/M1", CallType::kBidiStream), second);

  // Only overflow slots that counted a call are listed.
  overflow->Started();
  overflow->Started();
  const std::vector<MethodCounts> counts = stats.Counts();
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_TRUE(counts[2].overflow);
  EXPECT_EQ(counts[2].started, 2u);
}

TEST(MethodStatsTest, ZeroCountsEveryCallAsOverflow) {
  MethodStats stats(0);
  MethodSlot* slot = stats.Find("/s/M", CallType::kClientStream);
  EXPECT_TRUE(slot->overflow);
  EXPECT_EQ(slot->type, CallType::kClientStream);
}

TEST(MethodStatsTest, ArbitraryNamesFromManyThreadsStayBounded) {
  MethodStats stats(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&stats, t] {
      for (int i = 0; i < 5000; ++i) {
        stats
            .Find(absl::StrCat("/generic/", t, "-", i).c_str(),
                  CallType::kUnary)
            ->Started();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<MethodCounts> counts = stats.Counts();
  ASSERT_EQ(counts.size(), 17u);  // 16 methods and the unary overflow
  uint64_t total = 0;
  for (const MethodCounts& method : counts) total += method.started;
  EXPECT_EQ(total, 20000u);  // every call counted once
  EXPECT_TRUE(counts.back().overflow);
  EXPECT_EQ(counts.back().started, 20000u - 16u);
}

// Names that come out as the same labels share one slot, so that no two
// series carry the same labels (Prometheus would drop one of them).
TEST(MethodStatsTest, NamesWithTheSameLabelsShareASlot) {
  MethodStats stats(8);
  MethodSlot* foo = stats.Find("foo", CallType::kUnary);
  EXPECT_EQ(stats.Find("bar", CallType::kUnary), foo);  // unknown/unknown
  EXPECT_EQ(foo->service, "unknown");
  MethodSlot* ab = stats.Find("/a/b", CallType::kUnary);
  EXPECT_EQ(stats.Find("a/b", CallType::kUnary), ab);
  EXPECT_NE(stats.Find("/a/b", CallType::kBidiStream), ab);  // another type
  // Two invalid UTF-8 names that read the same once made valid.
  MethodSlot* bad = stats.Find("/s/\xff", CallType::kUnary);
  EXPECT_EQ(stats.Find("/s/\xfe", CallType::kUnary), bad);
  EXPECT_EQ(bad->method, "\xEF\xBF\xBD");
  // A method really named like the overflow series is counted there.
  MethodSlot* other = stats.Find("/other/other", CallType::kUnary);
  EXPECT_TRUE(other->overflow);
  other->Started();
  std::set<std::pair<std::string, std::string>> labels;
  for (const MethodCounts& counts : stats.Counts()) {
    EXPECT_TRUE(labels.emplace(counts.service + "/" + counts.method,
                               std::string(CallTypeName(counts.type)))
                    .second)
        << counts.service << "/" << counts.method;
  }
  EXPECT_EQ(labels.size(), 5u);  // unknown, a/b twice (types), s/?, other
}

// A scrape never shows more calls handled than started.
TEST(MethodStatsTest, CountsNeverShowMoreHandledThanStarted) {
  MethodStats stats(2);
  MethodSlot* slot = stats.Find("/s/M", CallType::kUnary);
  std::atomic<bool> done{false};
  std::thread calls([&] {
    for (int i = 0; i < 200000; ++i) {
      slot->Started();
      slot->Handled(0, 10);
    }
    done = true;
  });
  int scrapes = 0;
  int violations = 0;
  do {
    for (const MethodCounts& counts : stats.Counts()) {
      uint64_t handled = 0;
      for (uint64_t n : counts.handled) handled += n;
      violations += handled > counts.started;
    }
    ++scrapes;
  } while (!done.load());
  calls.join();
  EXPECT_EQ(violations, 0) << "in " << scrapes << " scrapes";
  EXPECT_GT(scrapes, 0);
}

TEST(CallSlotScopeTest, NestsAndRestores) {
  MethodStats stats(4);
  MethodSlot* outer = stats.Find("/s/Outer", CallType::kUnary);
  MethodSlot* inner = stats.Find("/s/Inner", CallType::kUnary);
  EXPECT_EQ(CurrentCallSlot(), nullptr);
  {
    const CallSlotScope a(outer);
    EXPECT_EQ(CurrentCallSlot(), outer);
    {
      const CallSlotScope b(inner);
      EXPECT_EQ(CurrentCallSlot(), inner);
    }
    EXPECT_EQ(CurrentCallSlot(), outer);
  }
  EXPECT_EQ(CurrentCallSlot(), nullptr);
}

}  // namespace
}  // namespace internal
}  // namespace warm
