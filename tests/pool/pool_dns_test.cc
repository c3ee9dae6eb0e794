// Unit tests of a real Pool on fakes (see pool_test.cc): DNS answers, refresh
// at the TTL, moved addresses, errors and rebalancing, with a FakeResolver.

#include "tests/pool/pool_harness.h"

namespace warm {
namespace internal {
namespace {

TEST_F(PoolTest, DnsFirstAnswerOpensMembersAndRefreshesAtTheTtl) {
  Start(kDnsTarget, Options());
  ASSERT_THAT(resolver_->requests(), SizeIs(1));
  EXPECT_EQ(resolver_->requests()[0].host, "svc.test");
  EXPECT_EQ(resolver_->requests()[0].port, 443);
  EXPECT_EQ(channels_->count(), 0u);
  EXPECT_THAT(pool_->Members(), IsEmpty());
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_CONNECTING)
      << "waiting for the first answer";
  EXPECT_TRUE(pool_->Resolution().dns);
  EXPECT_EQ(pool_->Resolution().host, "svc.test");

  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      {{"10.0.0.1", seconds(30)},
       {"10.0.0.2", seconds(60)},
       {"10.0.0.3", seconds(30)}},
      443)));
  ASSERT_EQ(channels_->count(), 3u);
  EXPECT_THAT(channels_->targets(),
              UnorderedElementsAre("ipv4:10.0.0.1:443", "ipv4:10.0.0.2:443",
                                   "ipv4:10.0.0.3:443"));
  EXPECT_THAT(Spread(), SizeIs(3));
  ASSERT_THAT(EventsOf(Kind::kAddressesChanged), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kAddressesChanged)[0].detail,
            "+10.0.0.1:443 +10.0.0.2:443 +10.0.0.3:443");

  const PoolView view = View();
  const ResolutionInfo& resolution = view.resolution;
  EXPECT_EQ(resolution.resolutions_ok, 1u);
  EXPECT_EQ(resolution.last_error, "");
  EXPECT_EQ(resolution.last_answer_at, view.clocks.wall);
  ASSERT_THAT(resolution.addresses, SizeIs(3));
  EXPECT_EQ(resolution.addresses[1].address, "10.0.0.2:443");
  EXPECT_EQ(resolution.addresses[1].ttl, seconds(60));
  EXPECT_EQ(resolution.addresses[1].expires_at,
            view.clocks.wall + seconds(60));
  // The smallest TTL, up to 10 % early.
  EXPECT_GE(resolution.next_refresh_at, view.clocks.wall + seconds(27));
  EXPECT_LE(resolution.next_refresh_at, view.clocks.wall + seconds(30));

  scheduler_->AdvanceBy(milliseconds(26900));
  EXPECT_THAT(resolver_->requests(), SizeIs(1));
  scheduler_->AdvanceBy(milliseconds(3100));
  ASSERT_THAT(resolver_->requests(), SizeIs(2));
  EXPECT_EQ(resolver_->pending(), 1);

  // The same answer again changes nothing.
  ASSERT_TRUE(resolver_->Answer(
      wt::FakeResolver::Addresses(Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}),
                                  443)));
  EXPECT_EQ(channels_->count(), 3u);
  EXPECT_THAT(EventsOf(Kind::kAddressesChanged), SizeIs(1));
  EXPECT_EQ(pool_->Resolution().resolutions_ok, 2u);
}

TEST_F(PoolTest, DnsMovedAddressesDrainStaleMembersAsReplacementsBecomePickable) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), 443)));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  reports_.clear();

  scheduler_->AdvanceBy(seconds(30));
  ASSERT_EQ(resolver_->pending(), 1);
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.1.1", "10.0.1.2", "10.0.1.3"}), 443)));

  // New members on the new addresses; the old ones serve meanwhile.
  ASSERT_EQ(channels_->count(), 6u);
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4, 5, 6));
  for (uint64_t id : {1, 2, 3}) EXPECT_TRUE(Pickable(id)) << id;
  ASSERT_THAT(EventsOf(Kind::kAddressesChanged), SizeIs(2));
  EXPECT_THAT(EventsOf(Kind::kAddressesChanged)[1].detail,
              AllOf(HasSubstr("+10.0.1.1:443"), HasSubstr("-10.0.0.1:443")));
  {
    const PoolView view = View();
    EXPECT_EQ(view.members[0].state_word, "draining");
    int stale = 0;
    for (const ResolvedAddressInfo& a : view.resolution.addresses) {
      stale += a.stale;
    }
    EXPECT_EQ(stale, 3);
    EXPECT_THAT(view.resolution.addresses, SizeIs(6));
  }

  // One stale member goes for each new one that becomes pickable.
  MakeHealthy(4);
  EXPECT_THAT(MemberIds(), ElementsAre(2, 3, 4, 5, 6));
  MakeHealthy(5);
  EXPECT_THAT(MemberIds(), ElementsAre(3, 4, 5, 6));
  MakeHealthy(6);
  EXPECT_THAT(MemberIds(), ElementsAre(4, 5, 6));
  EXPECT_THAT(Spread(), UnorderedElementsAre(Pair("10.0.1.1:443", 1),
                                             Pair("10.0.1.2:443", 1),
                                             Pair("10.0.1.3:443", 1)));
  EXPECT_EQ(View().counters.evictions[static_cast<size_t>(
                EvictionReason::kAddressRemoved)],
            3u);
  EXPECT_THAT(View().addresses, SizeIs(3)) << "stale addresses forgotten";
  // Capacity never dropped.
  for (const ChannelHealth& report : reports_) {
    EXPECT_GE(report.healthy_members, 3);
    EXPECT_EQ(report.status, ChannelStatus::kHealthy);
  }
}

TEST_F(PoolTest, DnsErrorKeepsTheLastGoodAddresses) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), 443)));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  scheduler_->AdvanceBy(seconds(30));
  ASSERT_EQ(resolver_->pending(), 1);

  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Error(
      absl::UnavailableError("svc.test: timeout (server 10.0.0.53)"))));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3));
  for (uint64_t id : {1, 2, 3}) EXPECT_TRUE(Pickable(id)) << id;
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kHealthy);
  ASSERT_THAT(EventsOf(Kind::kDnsFailed), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kDnsFailed)[0].detail,
              AllOf(HasSubstr("timeout"),
                    HasSubstr("keeping the last good addresses"),
                    HasSubstr("retrying in")));
  const PoolView view = View();
  const ResolutionInfo& resolution = view.resolution;
  EXPECT_THAT(resolution.last_error, HasSubstr("svc.test: timeout"));
  EXPECT_EQ(resolution.last_error_at, view.clocks.wall);
  EXPECT_EQ(resolution.failures_in_a_row, 1);
  EXPECT_EQ(resolution.resolutions_failed, 1u);
  EXPECT_EQ(resolution.resolutions_ok, 1u);
  ASSERT_THAT(resolution.addresses, SizeIs(3));
  for (const ResolvedAddressInfo& a : resolution.addresses) {
    EXPECT_FALSE(a.stale) << a.address;
  }
  // Retried after 1 s +-20 %.
  EXPECT_GE(resolution.next_refresh_at, view.clocks.wall + milliseconds(800));
  EXPECT_LE(resolution.next_refresh_at, view.clocks.wall + milliseconds(1200));
  scheduler_->AdvanceBy(milliseconds(1200));
  ASSERT_EQ(resolver_->pending(), 1);
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), 443)));
  EXPECT_EQ(pool_->Resolution().last_error, "");
  EXPECT_EQ(pool_->Resolution().failures_in_a_row, 0);
  EXPECT_EQ(channels_->count(), 3u);
}

TEST_F(PoolTest, DnsErrorBeforeAnyAnswerIsAFailure) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Error(
      absl::NotFoundError("svc.test: no such name (NXDOMAIN)"))));
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kUnhealthy);
  EXPECT_THAT(pool_->Resolution().last_error, HasSubstr("NXDOMAIN"));
  EXPECT_THAT(EventsOf(Kind::kDnsFailed)[0].detail,
              Not(HasSubstr("keeping")));
  EXPECT_EQ(channels_->count(), 0u);

  scheduler_->AdvanceBy(milliseconds(1200));
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2"}), 443)));
  EXPECT_EQ(channels_->count(), 3u) << "3 members on 2 addresses";
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_CONNECTING);
}

TEST_F(PoolTest, DnsNewAddressGetsAMemberByRebalancing) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(
      wt::FakeResolver::Addresses(Ips({"10.0.0.1", "10.0.0.2"}), 443)));
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  std::map<std::string, int> spread = Spread();
  ASSERT_THAT(spread, SizeIs(2));

  scheduler_->AdvanceBy(seconds(30));
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), 443)));
  // A fourth member, on the new address; once it is healthy one of the
  // crowded address's members retires.
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(Member(4)->address, "10.0.0.3:443");
  MakeHealthy(4);
  EXPECT_THAT(MemberIds(), SizeIs(3));
  EXPECT_THAT(Spread(), UnorderedElementsAre(Pair("10.0.0.1:443", 1),
                                             Pair("10.0.0.2:443", 1),
                                             Pair("10.0.0.3:443", 1)));
}


}  // namespace
}  // namespace internal
}  // namespace warm
