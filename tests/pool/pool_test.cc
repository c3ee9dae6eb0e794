// Unit tests of a real Pool (src/pool/pool.h) on fakes: fake time and member
// connectivity (FakeScheduler), fake health checks and DNS, and member
// channels that are real grpc::Channels never asked to connect
// (tests/testing/fake_pool_parts.h). No sockets, no sleeps, no real time
// waits: every step is an input the test gives (a state change, a check
// result, a DNS answer, time moving) and the pool's answer is read through
// its public API (View(), Members(), Events(), Resolution(), Health(),
// GetState()).
//
// Member ids are 1, 2, ... in opening order, and the n-th member channel
// made is member n's (each is checked against the member's address).
//
// Outlier ejection needs calls that fail: those tests make their members
// in-process channels to a grpc::Server of the test's that fails every call
// with UNAVAILABLE (still no sockets), and call the member channel directly,
// so that warm's load interceptor on it counts the failures and reports the
// outlier as it does in production.
//
// This file: opening members, connectivity and health, the health callback
// and shutdown. Outlier ejection and calls: pool_calls_test.cc; DNS:
// pool_dns_test.cc; TLS rotation: pool_tls_test.cc.

#include "tests/pool/pool_harness.h"

namespace warm {
namespace internal {
namespace {

// --- Opening ----------------------------------------------------------------

TEST_F(PoolTest, MembersOpenOnDistinctAddresses) {
  Start(kStaticTarget, Options());
  ASSERT_EQ(channels_->count(), 3u);
  const std::vector<std::string> targets = channels_->targets();
  EXPECT_THAT(targets, UnorderedElementsAre("ipv4:127.0.0.1:1",
                                            "ipv4:127.0.0.2:1",
                                            "ipv4:127.0.0.3:1"));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3));
  EXPECT_THAT(Spread(), UnorderedElementsAre(Pair("127.0.0.1:1", 1),
                                             Pair("127.0.0.2:1", 1),
                                             Pair("127.0.0.3:1", 1)));
  for (uint64_t id : {1, 2, 3}) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    ASSERT_NE(channel, nullptr);
    // Connecting at once: the pool is warm before the first call.
    EXPECT_GE(scheduler_->ConnectRequests(*channel), 1) << "member #" << id;
    // Its first health check started at once, as configured.
    EXPECT_EQ(checks_.InFlight(*channel), 1) << "member #" << id;
    const std::optional<MemberInfo> info = Member(id);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->state, GRPC_CHANNEL_IDLE);
    EXPECT_FALSE(info->pickable);
    EXPECT_EQ(info->health, MemberHealth::kUnknown);
  }
  for (const wt::FakeHealthChecks::Check& check : checks_.checks()) {
    EXPECT_EQ(check.service, "warm.test.Backend");
    EXPECT_EQ(check.timeout, milliseconds(500));
  }
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_CONNECTING);
  const ChannelHealth health = pool_->Health();
  EXPECT_EQ(health.status, ChannelStatus::kStarting);
  EXPECT_EQ(health.members, 3);
  EXPECT_EQ(health.healthy_members, 0);
  EXPECT_THAT(EventsOf(Kind::kMemberOpened), SizeIs(3));
  EXPECT_THAT(reports_, IsEmpty()) << "creation is not a change";
  EXPECT_EQ(pool_->Resolution().dns, false);
  EXPECT_THAT(pool_->Resolution().addresses, SizeIs(3));
}

TEST_F(PoolTest, MoreMembersThanAddressesShareAddressesEvenly) {
  ChannelOptions options = Options();
  options.pool_size = 5;
  Start(kStaticTarget, std::move(options));
  ASSERT_EQ(channels_->count(), 5u);
  std::map<std::string, int> spread = Spread();
  ASSERT_THAT(spread, SizeIs(3));
  for (const auto& [address, members] : spread) {
    EXPECT_GE(members, 1) << address;
    EXPECT_LE(members, 2) << address;
  }
}

TEST_F(PoolTest, ConnectOnTryMakesNewMembersConnecting) {
  scheduler_->set_connect_on_try(true);
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(Member(id)->state, GRPC_CHANNEL_CONNECTING) << "member #" << id;
  }
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_CONNECTING);
}

TEST_F(PoolTest, StartFailsWhenGrpcRejectsAnAddress) {
  // gRPC makes a "lame" channel of a target it cannot use: SHUTDOWN from the
  // start. The pool must refuse, not keep a member that never connects.
  ChannelOptions options = Options();
  absl::StatusOr<Target> parsed = ParseTarget(kStaticTarget);
  ASSERT_TRUE(parsed.ok());
  Pool::Config config;
  config.target = kStaticTarget;
  config.parsed = *parsed;
  config.options = std::move(options);
  config.credentials = grpc::InsecureChannelCredentials();
  config.scheduler = scheduler_;
  config.create_channel =
      [this, create = channels_->CreateFn()](
          const std::string& target,
          const std::shared_ptr<grpc::ChannelCredentials>& credentials,
          const grpc::ChannelArguments& args, auto interceptors) {
        std::shared_ptr<grpc::Channel> channel =
            create(target, credentials, args, std::move(interceptors));
        if (target == "ipv4:127.0.0.2:1") {
          scheduler_->SetState(*channel, GRPC_CHANNEL_SHUTDOWN,
                               /*run_due=*/false);
        }
        return channel;
      };
  config.start_health_check = checks_.StartFn();
  config.seed = 42;
  absl::StatusOr<std::shared_ptr<Pool>> pool = Pool::Start(std::move(config));
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pool.status().message(),
              HasSubstr("gRPC rejected address \"ipv4:127.0.0.2:1\""));
  scheduler_->RunPending();
  EXPECT_EQ(checks_.InFlight(), 0) << "the failed pool's checks cancelled";
  for (size_t i = 0; i < channels_->count(); ++i) {
    EXPECT_EQ(channels_->channel(i), nullptr) << "channel " << i;
  }
}

TEST_F(PoolTest, MemberWatchesAreRenewedWhileNothingChanges) {
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  EXPECT_EQ(scheduler_->live_watches(), 3u);
  // Past the watches' deadline (5 min): each is renewed, not dropped.
  scheduler_->AdvanceBy(std::chrono::minutes(11));
  EXPECT_EQ(scheduler_->live_watches(), 3u);
  for (uint64_t id : {1, 2, 3}) EXPECT_TRUE(Pickable(id)) << id;
  SetState(2, GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_FALSE(Pickable(2)) << "still watched";
}

TEST_F(PoolTest, TheLastMemberStaysWhenNoOtherAddressCanTakeIt) {
  ChannelOptions options = Options();
  options.pool_size = 1;
  Start("ipv4:127.0.0.1:1", std::move(options));
  SetState(1, GRPC_CHANNEL_READY);
  for (int i = 0; i < 2; ++i) {
    if (i > 0) scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kNotServing);
  }
  // Unhealthy, never healthy (so not degraded), but the only member and
  // the only address: it stays, and its checks go on.
  EXPECT_EQ(Member(1)->health, MemberHealth::kUnhealthy);
  EXPECT_THAT(MemberIds(), ElementsAre(1));
  EXPECT_FALSE(Pickable(1));
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kUnhealthy);
  // Healthy again after healthy_threshold (2) successes.
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kServing);
  }
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(Member(1)->health, MemberHealth::kHealthy);
}

TEST_F(PoolTest, AnUnhealthyOnlyMemberIsReplacedOnAnotherAddress) {
  ChannelOptions options = Options();
  options.pool_size = 1;
  Start("ipv4:127.0.0.1:1,127.0.0.2:1", std::move(options));
  const std::string first = Member(1)->address;
  SetState(1, GRPC_CHANNEL_READY);
  for (int i = 0; i < 2; ++i) {
    if (i > 0) scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kNotServing);
  }
  EXPECT_THAT(MemberIds(), ElementsAre(2));
  EXPECT_NE(Member(2)->address, first);
}

// A channel argument's value ("" / -1 when not set).

TEST_F(PoolTest, MembersOwnTheirConnectionsAndKeepTheUsersArguments) {
  ChannelOptions options = Options();
  options.channel_args.SetUserAgentPrefix("pool-test-agent");
  options.channel_args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 12345);
  Start(kStaticTarget, std::move(options));
  ASSERT_EQ(channels_->count(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const grpc::ChannelArguments& args = channels_->created(i).args;
    EXPECT_EQ(IntArg(args, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL), 1);
    EXPECT_EQ(IntArg(args, GRPC_ARG_KEEPALIVE_TIME_MS), 12345);
    EXPECT_THAT(StringArg(args, GRPC_ARG_PRIMARY_USER_AGENT_STRING),
                HasSubstr("pool-test-agent"));
    EXPECT_EQ(StringArg(args, GRPC_ARG_DEFAULT_AUTHORITY), "")
        << "an address list has no name to send";
  }
}

TEST_F(PoolTest, DnsMembersSendTheNameAsAuthority) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(
      wt::FakeResolver::Addresses({{"10.0.0.1", seconds(30)}}, 443)));
  ASSERT_GE(channels_->count(), 1u);
  EXPECT_EQ(StringArg(channels_->created(0).args, GRPC_ARG_DEFAULT_AUTHORITY),
            "svc.test:443");
}

TEST_F(PoolTest, AnAuthorityTheUserSetIsKept) {
  ChannelOptions options = Options();
  options.channel_args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "other.test");
  Start(kDnsTarget, std::move(options));
  ASSERT_TRUE(resolver_->Answer(
      wt::FakeResolver::Addresses({{"10.0.0.1", seconds(30)}}, 443)));
  ASSERT_GE(channels_->count(), 1u);
  EXPECT_EQ(StringArg(channels_->created(0).args, GRPC_ARG_DEFAULT_AUTHORITY),
            "other.test");
}

TEST_F(PoolTest, StartRegistersForDiagnosticsAndShutdownLeaves) {
  Start(kStaticTarget, Options());
  const uint64_t id = pool_->registry_id();
  ASSERT_NE(id, 0u);
  auto registered = [id] {
    for (const ChannelRegistry::Entry& entry :
         ChannelRegistry::Get().Channels()) {
      if (entry.id == id) return true;
    }
    return false;
  };
  EXPECT_TRUE(registered());
  pool_->Shutdown();
  EXPECT_FALSE(registered());
}

// --- Connectivity and health ------------------------------------------------

TEST_F(PoolTest, ReadyAndFirstServingCheckMakeAMemberPickable) {
  Start(kStaticTarget, Options());

  SetState(1, GRPC_CHANNEL_CONNECTING);
  EXPECT_EQ(Member(1)->state, GRPC_CHANNEL_CONNECTING);
  EXPECT_FALSE(Pickable(1));

  SetState(1, GRPC_CHANNEL_READY);
  EXPECT_EQ(Member(1)->state, GRPC_CHANNEL_READY);
  EXPECT_FALSE(Pickable(1)) << "connected but not checked yet";
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_CONNECTING);

  Check(1, CheckOutcome::kServing);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(Member(1)->health, MemberHealth::kHealthy);
  EXPECT_EQ(Member(1)->last_check, "SERVING");
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(pool_->Health().healthy_members, 1);
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kStarting)
      << "healthy_min is 2";
  ASSERT_THAT(EventsOf(Kind::kMemberHealthy), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kMemberHealthy)[0].member_id, 1u);

  // SERVING before READY: healthy, but pickable only once connected.
  Check(2, CheckOutcome::kServing);
  EXPECT_FALSE(Pickable(2));
  EXPECT_EQ(Member(2)->health, MemberHealth::kHealthy);
  SetState(2, GRPC_CHANNEL_READY);
  EXPECT_TRUE(Pickable(2));
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kHealthy);
  EXPECT_EQ(pool_->Health().healthy_members, 2);

  const PoolView view = View();
  EXPECT_EQ(view.connectivity, GRPC_CHANNEL_READY);
  ASSERT_THAT(view.members, SizeIs(3));
  EXPECT_EQ(view.members[0].state_word, "healthy");
  EXPECT_EQ(view.members[1].state_word, "healthy");
  EXPECT_EQ(view.members[2].state_word, "starting");
}

TEST_F(PoolTest, UnimplementedHealthServiceCountsAsHealthy) {
  Start(kStaticTarget, Options());
  SetState(1, GRPC_CHANNEL_READY);
  Check(1, CheckOutcome::kUnimplemented);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(Member(1)->health, MemberHealth::kNoHealthService);
}

TEST_F(PoolTest, WithoutHealthChecksReadyIsPickable) {
  ChannelOptions options = Options();
  options.health_check.enabled = false;
  Start(kStaticTarget, std::move(options));
  EXPECT_THAT(checks_.checks(), IsEmpty());
  SetState(1, GRPC_CHANNEL_READY);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(Member(1)->health, MemberHealth::kNotChecked);
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
}

TEST_F(PoolTest, ChecksRunOneAtATimeAnIntervalAfterTheLastEnded) {
  Start(kStaticTarget, Options());
  std::shared_ptr<grpc::Channel> one = Ch(1);
  std::shared_ptr<grpc::Channel> two = Ch(2);
  MakeHealthy(1);
  EXPECT_EQ(checks_.Started(*one), 1);
  scheduler_->AdvanceBy(kInterval - milliseconds(1));
  EXPECT_EQ(checks_.Started(*one), 1);
  scheduler_->AdvanceBy(milliseconds(1));
  EXPECT_EQ(checks_.Started(*one), 2);
  EXPECT_EQ(checks_.InFlight(*one), 1);
  // Member 2's first check never ended: no second one, however long.
  scheduler_->AdvanceBy(kInterval * 10);
  EXPECT_EQ(checks_.Started(*two), 1);
  EXPECT_EQ(checks_.Started(*one), 2) << "member 1's second check is open";
}

TEST_F(PoolTest, LostConnectionLeavesThePickerAtOnceAndIdleReconnects) {
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  SetState(1, GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_FALSE(Pickable(1));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3)) << "not evicted for that";
  EXPECT_EQ(pool_->Health().healthy_members, 2);
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  SetState(1, GRPC_CHANNEL_READY);
  EXPECT_TRUE(Pickable(1)) << "still healthy by its checks";

  // An IDLE member (idle timeout, GOAWAY) is asked to connect again.
  std::shared_ptr<grpc::Channel> one = Ch(1);
  const int asked = scheduler_->ConnectRequests(*one);
  SetState(1, GRPC_CHANNEL_IDLE);
  EXPECT_GT(scheduler_->ConnectRequests(*one), asked);
  EXPECT_FALSE(Pickable(1));
}

TEST_F(PoolTest, GetStateTryToConnectAsksOnlyIdleMembers) {
  Start(kStaticTarget, Options());
  MakeHealthy(1);
  std::shared_ptr<grpc::Channel> one = Ch(1);
  std::shared_ptr<grpc::Channel> two = Ch(2);
  const int one_asked = scheduler_->ConnectRequests(*one);
  const int two_asked = scheduler_->ConnectRequests(*two);
  EXPECT_EQ(pool_->GetState(true), GRPC_CHANNEL_READY);
  EXPECT_EQ(scheduler_->ConnectRequests(*one), one_asked) << "READY";
  EXPECT_EQ(scheduler_->ConnectRequests(*two), two_asked + 1) << "IDLE";
}

TEST_F(PoolTest, NotServingTwiceEvictsAndTheAddressBacksOff) {
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const std::string evicted_address = Member(1)->address;
  std::shared_ptr<grpc::Channel> one = Ch(1);

  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kNotServing);
  EXPECT_TRUE(Pickable(1)) << "one failure is not enough";
  EXPECT_EQ(Member(1)->health, MemberHealth::kHealthy);
  EXPECT_EQ(Member(1)->last_check, "NOT_SERVING");
  {
    const PoolView view = View();
    ASSERT_NE(AddressIn(view, evicted_address), nullptr);
    EXPECT_EQ(AddressIn(view, evicted_address)->last_error, "NOT_SERVING");
  }

  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kNotServing);
  EXPECT_EQ(Member(1), std::nullopt) << "evicted";
  ASSERT_THAT(EventsOf(Kind::kMemberUnhealthy), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberUnhealthy)[0].detail,
              HasSubstr("2 checks failed in a row"));
  ASSERT_THAT(EventsOf(Kind::kMemberEvicted), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kMemberEvicted)[0].member_id, 1u);
  ASSERT_THAT(EventsOf(Kind::kAddressBackoff), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kAddressBackoff)[0].address, evicted_address);
  EXPECT_EQ(View().counters.evictions[static_cast<size_t>(
                EvictionReason::kUnhealthy)],
            1u);

  // Replaced at once, on another address: this one backs off.
  ASSERT_EQ(channels_->count(), 4u);
  EXPECT_NE(channels_->created(3).target, "ipv4:" + evicted_address);
  EXPECT_THAT(MemberIds(), ElementsAre(2, 3, 4));
  {
    const PoolView view = View();
    const PoolView::Address* address = AddressIn(view, evicted_address);
    ASSERT_NE(address, nullptr);
    EXPECT_EQ(address->members, 0);
    EXPECT_EQ(address->evictions_in_a_row, 1);
    EXPECT_GT(address->backoff_until, view.clocks.wall);
    // 500 ms +-50 %.
    EXPECT_LE(address->backoff_until, view.clocks.wall + milliseconds(750));
  }
  // The evicted member's next check was cancelled with it.
  scheduler_->AdvanceBy(milliseconds(200));
  EXPECT_EQ(checks_.Started(*one), 3);
  EXPECT_EQ(channels_->count(), 4u) << "backoff is at least 250 ms";
}

TEST_F(PoolTest, AfterTheBackoffTheFreedAddressGetsAMemberAgain) {
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const std::string evicted_address = Member(1)->address;
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kNotServing);
  }
  ASSERT_EQ(channels_->count(), 4u);
  ASSERT_EQ(Member(1), std::nullopt);

  // The backoff (at most 750 ms) runs out: a member opens on the free
  // address, to spread the pool again.
  scheduler_->AdvanceBy(milliseconds(800));
  ASSERT_EQ(channels_->count(), 5u);
  EXPECT_EQ(channels_->created(4).target, "ipv4:" + evicted_address);
  ASSERT_TRUE(Member(5).has_value());
  EXPECT_EQ(Member(5)->address, evicted_address);
  EXPECT_THAT(EventsOf(Kind::kMemberOpened).back().detail,
              HasSubstr("to spread members over more backends"));

  // Once healthy, a member of the crowded address is retired.
  MakeHealthy(4);
  MakeHealthy(5);
  EXPECT_THAT(MemberIds(), SizeIs(3));
  EXPECT_THAT(Spread(), SizeIs(3)) << "one member per address again";
  EXPECT_EQ(View().counters.evictions[static_cast<size_t>(
                EvictionReason::kRebalanced)],
            1u);
  const PoolView view = View();
  const PoolView::Address* address = AddressIn(view, evicted_address);
  ASSERT_NE(address, nullptr);
  EXPECT_EQ(address->evictions_in_a_row, 0) << "healthy again";
  EXPECT_EQ(address->backoff_until, WallTime{});
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kHealthy);
  EXPECT_EQ(pool_->Health().healthy_members, 3);
}

TEST_F(PoolTest, ClosedMembersChannelIsReleased) {
  Start(kStaticTarget, Options());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  std::weak_ptr<grpc::Channel> one = Ch(1);
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kNotServing);
  }
  ASSERT_EQ(Member(1), std::nullopt);
  // Picker snapshots a reader might still hold are freed a little later.
  scheduler_->AdvanceBy(milliseconds(100));
  EXPECT_TRUE(one.expired()) << "the pool still holds an evicted member";
}

TEST_F(PoolTest, DegradedKeepsConnectedUnhealthyMembersServing) {
  Start(kStaticTarget, Options());
  MakeHealthy(1);
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kNotServing);
  }
  // The only healthy member failed: below critical_min (1), so it stays and
  // takes calls rather than leave none.
  ASSERT_TRUE(Member(1).has_value());
  EXPECT_EQ(Member(1)->health, MemberHealth::kUnhealthy);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(pool_->Health().status, ChannelStatus::kDegraded);
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_THAT(EventsOf(Kind::kDegradedEntered), SizeIs(1));

  // Another member becomes healthy: degraded mode ends, and the unhealthy
  // member goes.
  MakeHealthy(2);
  EXPECT_EQ(Member(1), std::nullopt);
  EXPECT_THAT(EventsOf(Kind::kDegradedLeft), SizeIs(1));
  EXPECT_NE(pool_->Health().status, ChannelStatus::kDegraded);
}

// --- Health callback --------------------------------------------------------

TEST_F(PoolTest, HealthCallbackReportsEachChangeOnTheControlThread) {
  std::vector<bool> on_control_thread;
  std::vector<ChannelHealth> read_in_callback;
  on_report_ = [&](const ChannelHealth&) {
    on_control_thread.push_back(scheduler_->OnControlThread());
    // Outside the pool's lock: the callback may call the channel.
    read_in_callback.push_back(pool_->Health());
  };
  Start(kStaticTarget, Options());
  EXPECT_THAT(reports_, IsEmpty());

  SetState(1, GRPC_CHANNEL_READY);
  EXPECT_THAT(reports_, IsEmpty()) << "nothing changed for the channel";
  Check(1, CheckOutcome::kServing);
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].status, ChannelStatus::kStarting);
  EXPECT_EQ(reports_[0].healthy_members, 1);
  EXPECT_EQ(reports_[0].members, 3);
  EXPECT_EQ(reports_[0].healthy_min, 2);
  EXPECT_EQ(reports_[0].critical_min, 1);

  MakeHealthy(2);
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[1].status, ChannelStatus::kHealthy);
  EXPECT_EQ(reports_[1].healthy_members, 2);

  // A check that changes nothing reports nothing.
  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kServing);
  EXPECT_THAT(reports_, SizeIs(2));

  SetState(2, GRPC_CHANNEL_TRANSIENT_FAILURE);
  ASSERT_THAT(reports_, SizeIs(3));
  EXPECT_EQ(reports_[2].status, ChannelStatus::kUnhealthy);
  EXPECT_EQ(reports_[2].healthy_members, 1);

  EXPECT_THAT(on_control_thread, Each(true));
  ASSERT_EQ(read_in_callback.size(), reports_.size());
  for (size_t i = 0; i < reports_.size(); ++i) {
    EXPECT_EQ(read_in_callback[i].status, reports_[i].status) << i;
    EXPECT_EQ(read_in_callback[i].healthy_members,
              reports_[i].healthy_members)
        << i;
  }
}

TEST_F(PoolTest, ReleasedFromItsOwnHealthCallbackThePoolGoesAfterIt) {
  std::weak_ptr<Pool> weak;
  bool released_on_control_thread = false;
  on_report_ = [&](const ChannelHealth& health) {
    if (health.status != ChannelStatus::kHealthy || pool_ == nullptr) return;
    released_on_control_thread = scheduler_->OnControlThread();
    // What ~Channel does; on the control thread neither call waits.
    pool_->Shutdown();
    Pool::Release(std::move(pool_));
  };
  Start(kStaticTarget, Options());
  weak = pool_;
  MakeHealthy(1);
  MakeHealthy(2);
  EXPECT_EQ(pool_, nullptr);
  EXPECT_TRUE(released_on_control_thread);
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(checks_.InFlight(), 0);
  EXPECT_GE(checks_.Cancelled(), 1) << "member 3's check";
  EXPECT_EQ(scheduler_->live_timers(), 0u);
}


// --- Shutdown ---------------------------------------------------------------

TEST_F(PoolTest, ShutdownCancelsChecksStopsTimersAndReleaseDestroysThePool) {
  Start(kDnsTarget, Options());
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), 443)));
  MakeHealthy(1);
  scheduler_->AdvanceBy(seconds(30));
  ASSERT_EQ(resolver_->pending(), 1);  // a refresh is asked for
  // Member 1's next check waits on a timer; 2 and 3 are in flight.
  Check(1, CheckOutcome::kServing);
  ASSERT_EQ(checks_.InFlight(), 2);
  ASSERT_EQ(scheduler_->live_timers(), 1u);
  const size_t checks_started = checks_.checks().size();

  pool_->Shutdown();
  EXPECT_EQ(checks_.InFlight(), 0);
  EXPECT_EQ(checks_.Cancelled(), 2);
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_SHUTDOWN);
  EXPECT_EQ(pool_->GetState(true), GRPC_CHANNEL_SHUTDOWN);
  EXPECT_EQ(pool_->View(), std::nullopt);
  EXPECT_THAT(pool_->Members(), IsEmpty());
  EXPECT_THAT(pool_->Events(), IsEmpty());
  EXPECT_EQ(scheduler_->live_timers(), 0u) << "every timer cancelled";

  // Nothing fires any more, and a late DNS answer changes nothing.
  ASSERT_TRUE(resolver_->Answer(wt::FakeResolver::Addresses(
      Ips({"10.0.1.1", "10.0.1.2", "10.0.1.3"}), 443)));
  scheduler_->AdvanceBy(std::chrono::minutes(10));
  EXPECT_EQ(checks_.checks().size(), checks_started);
  EXPECT_THAT(resolver_->requests(), SizeIs(2));
  EXPECT_EQ(channels_->count(), 3u);

  std::weak_ptr<Pool> weak = pool_;
  const auto before = std::chrono::steady_clock::now();
  Pool::Release(std::move(pool_));
  EXPECT_TRUE(weak.expired());
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(1))
      << "Release() waited for a holder";
  // Its member channels went with it.
  scheduler_->RunPending();
  for (size_t i = 0; i < channels_->count(); ++i) {
    EXPECT_EQ(channels_->channel(i), nullptr) << "channel " << i;
  }
}

TEST_F(PoolTest, StateWatchesCompleteWhenTheAggregateStateChanges) {
  Start(kStaticTarget, Options());
  grpc::CompletionQueue cq;
  int tag_ready = 1;
  int tag_shutdown = 2;
  auto next = [&cq](void** tag, bool* ok) {
    // Completed at once when the state changes; the deadline only bounds a
    // failure.
    return cq.AsyncNext(tag, ok,
                        std::chrono::system_clock::now() + seconds(5));
  };
  pool_->NotifyOnStateChange(GRPC_CHANNEL_CONNECTING,
                             gpr_inf_future(GPR_CLOCK_REALTIME), &cq,
                             &tag_ready);
  void* tag = nullptr;
  bool ok = false;
  EXPECT_EQ(cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now()),
            grpc::CompletionQueue::TIMEOUT)
      << "nothing changed yet";
  MakeHealthy(1);
  ASSERT_EQ(next(&tag, &ok), grpc::CompletionQueue::GOT_EVENT);
  EXPECT_EQ(tag, &tag_ready);
  EXPECT_TRUE(ok);
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);

  pool_->NotifyOnStateChange(GRPC_CHANNEL_READY,
                             gpr_inf_future(GPR_CLOCK_REALTIME), &cq,
                             &tag_shutdown);
  pool_->Shutdown();
  ASSERT_EQ(next(&tag, &ok), grpc::CompletionQueue::GOT_EVENT);
  EXPECT_EQ(tag, &tag_shutdown);
  EXPECT_TRUE(ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(PoolTest, ShutdownCompletesStateWatches) {
  Start(kStaticTarget, Options());
  EXPECT_FALSE(pool_->WaitForStateChange(
      GRPC_CHANNEL_CONNECTING, gpr_inf_past(GPR_CLOCK_MONOTONIC)));
  pool_->Shutdown();
  EXPECT_TRUE(pool_->WaitForStateChange(
      GRPC_CHANNEL_CONNECTING, gpr_inf_past(GPR_CLOCK_MONOTONIC)));
}


}  // namespace
}  // namespace internal
}  // namespace warm
