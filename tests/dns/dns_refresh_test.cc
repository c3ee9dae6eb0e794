// Unit tests of DnsRefresh: refresh times from TTLs, bounds, backoff after
// errors, and keeping the last good answer. A fake clock; no DNS.

#include "src/dns/refresh.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace warm {
namespace internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const SteadyTime kNow = SteadyTime{} + std::chrono::hours(1);

DnsAnswer Good(std::vector<std::pair<std::string, int>> ip_ttl) {
  DnsAnswer answer;
  for (const auto& [ip, ttl] : ip_ttl) {
    ResolvedAddress resolved;
    resolved.address = Address{"ipv4:" + ip + ":443", ip + ":443"};
    resolved.ttl = seconds(ttl);
    answer.addresses.push_back(resolved);
  }
  return answer;
}

DnsAnswer Failed(absl::Status status) {
  DnsAnswer answer;
  answer.status = std::move(status);
  return answer;
}

Nanos Ahead(const DnsRefresh& refresh, SteadyTime now) {
  return refresh.next_refresh() - now;
}

TEST(DnsRefreshTest, RefreshesAtTheSmallestTtlUpToTenPercentEarly) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    DnsRefresh refresh(DnsRefreshPolicy{}, seed);
    ASSERT_TRUE(
        refresh.OnAnswer(Good({{"10.0.0.1", 60}, {"10.0.0.2", 30}}), kNow));
    EXPECT_GE(Ahead(refresh, kNow), seconds(27));
    EXPECT_LE(Ahead(refresh, kNow), seconds(30));
    ASSERT_EQ(refresh.known().size(), 2u);
    EXPECT_EQ(refresh.known()[1].expires_at, kNow + seconds(30));
  }
}

TEST(DnsRefreshTest, TtlIsClampedToTheBounds) {
  DnsRefreshPolicy policy;
  policy.min_refresh = seconds(5);
  policy.max_refresh = seconds(100);
  DnsRefresh refresh(policy, 1);
  refresh.OnAnswer(Good({{"10.0.0.1", 0}}), kNow);
  EXPECT_GE(Ahead(refresh, kNow), milliseconds(4500));
  EXPECT_LE(Ahead(refresh, kNow), seconds(5));
  refresh.OnAnswer(Good({{"10.0.0.1", 86400}}), kNow);
  EXPECT_GE(Ahead(refresh, kNow), seconds(90));
  EXPECT_LE(Ahead(refresh, kNow), seconds(100));
}

TEST(DnsRefreshTest, ErrorsBackOffAndKeepTheLastGoodAnswer) {
  DnsRefresh refresh(DnsRefreshPolicy{}, 3);
  ASSERT_TRUE(refresh.OnAnswer(Good({{"10.0.0.1", 30}}), kNow));
  SteadyTime now = kNow;
  const std::vector<int> expected_seconds = {1, 2, 4, 8, 16, 32, 60, 60};
  for (size_t i = 0; i < expected_seconds.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(
        refresh.OnAnswer(Failed(absl::UnavailableError("timeout")), now));
    const Nanos expected = seconds(expected_seconds[i]);
    EXPECT_GE(Ahead(refresh, now), expected * 0.8);
    EXPECT_LE(Ahead(refresh, now), expected * 1.2);
    EXPECT_EQ(refresh.failures(), static_cast<int>(i + 1));
    // The last good answer stays.
    ASSERT_EQ(refresh.addresses().size(), 1u);
    EXPECT_EQ(refresh.addresses()[0].display, "10.0.0.1:443");
    EXPECT_TRUE(refresh.has_answer());
    now = refresh.next_refresh();
  }
  EXPECT_EQ(refresh.last_error().code(), absl::StatusCode::kUnavailable);
  // A good answer ends the backoff.
  ASSERT_TRUE(refresh.OnAnswer(Good({{"10.0.0.9", 10}}), now));
  EXPECT_EQ(refresh.failures(), 0);
  EXPECT_TRUE(refresh.last_error().ok());
  EXPECT_LE(Ahead(refresh, now), seconds(10));
  EXPECT_EQ(refresh.resolutions_ok(), 2u);
  EXPECT_EQ(refresh.resolutions_failed(), 8u);
}

TEST(DnsRefreshTest, BackoffNeverExceedsMaxRefresh) {
  DnsRefreshPolicy policy;
  policy.max_refresh = seconds(3);
  DnsRefresh refresh(policy, 4);
  for (int i = 0; i < 10; ++i) {
    refresh.OnAnswer(Failed(absl::UnavailableError("down")), kNow);
  }
  EXPECT_LE(Ahead(refresh, kNow), seconds(3) * 1.2);
}

TEST(DnsRefreshTest, NxdomainBeforeAnyAnswerLeavesNoAddresses) {
  DnsRefresh refresh(DnsRefreshPolicy{}, 5);
  EXPECT_FALSE(refresh.OnAnswer(
      Failed(absl::NotFoundError("\"x.svc.test\" does not exist")), kNow));
  EXPECT_FALSE(refresh.has_answer());
  EXPECT_TRUE(refresh.addresses().empty());
  EXPECT_EQ(refresh.last_error().code(), absl::StatusCode::kNotFound);
  // An OK answer without addresses is an error too.
  EXPECT_FALSE(refresh.OnAnswer(DnsAnswer{}, kNow));
  EXPECT_EQ(refresh.last_error().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace internal
}  // namespace warm
