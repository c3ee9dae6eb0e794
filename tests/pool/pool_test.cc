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

#include "src/pool/pool.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/common/options.h"
#include "src/common/target.h"
#include "src/diagnostics/registry.h"
#include "src/tls/tls.h"
#include "tests/testing/certs.h"
#include "tests/testing/fake_pool_parts.h"
#include "tests/testing/fake_scheduler.h"

namespace warm {
namespace internal {
namespace {

namespace wt = ::warm::testing;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using Kind = PoolEvent::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kStaticTarget[] = "ipv4:127.0.0.1:1,127.0.0.2:1,127.0.0.3:1";
constexpr char kDnsTarget[] = "dns:///svc.test:443";
constexpr auto kInterval = seconds(1);  // health checks

template <typename T>
T Must(absl::StatusOr<T> value) {
  EXPECT_TRUE(value.ok()) << value.status();
  return *std::move(value);
}

class PoolTest : public ::testing::Test {
 protected:
  // Valid options (checked in Start()): default pool of 3, checks every
  // second, health reports recorded.
  ChannelOptions Options() {
    ChannelOptions options;
    options.name = "pool-test";
    options.health_check.service = "warm.test.Backend";
    options.health_check.interval = kInterval;
    options.health_check.timeout = milliseconds(500);
    options.on_health_change = [this](const ChannelHealth& health) {
      reports_.push_back(health);
      if (on_report_) on_report_(health);
    };
    return options;
  }

  // Starts the pool on the fakes; a DNS target gets a FakeResolver.
  void Start(const std::string& target, ChannelOptions options,
             std::optional<TlsMaterial> tls_material = std::nullopt) {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (!tls_material.has_value()) {
      credentials = grpc::InsecureChannelCredentials();
    }
    ASSERT_TRUE(ValidateOptions(options, credentials).ok())
        << ValidateOptions(options, credentials);
    absl::StatusOr<Target> parsed = ParseTarget(target);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    Pool::Config config;
    config.target = target;
    config.parsed = *parsed;
    config.options = std::move(options);
    config.credentials = std::move(credentials);
    config.tls_material = std::move(tls_material);
    if (parsed->kind == Target::Kind::kDns) {
      resolver_ = std::make_shared<wt::FakeResolver>(scheduler_);
      config.resolver = resolver_;
    }
    config.scheduler = scheduler_;
    config.create_channel = channels_->CreateFn();
    config.start_health_check = checks_.StartFn();
    config.seed = 42;
    absl::StatusOr<std::shared_ptr<Pool>> pool =
        Pool::Start(std::move(config));
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    scheduler_->RunPending();
  }

  void TearDown() override {
    if (pool_ != nullptr) {
      pool_->Shutdown();
      Pool::Release(std::move(pool_));
    }
  }

  std::optional<MemberInfo> Member(uint64_t id) {
    for (MemberInfo& info : pool_->Members()) {
      if (info.id == id) return info;
    }
    return std::nullopt;
  }
  std::vector<uint64_t> MemberIds() {
    std::vector<uint64_t> ids;
    for (const MemberInfo& info : pool_->Members()) ids.push_back(info.id);
    return ids;
  }
  // Members per address.
  std::map<std::string, int> Spread() {
    std::map<std::string, int> spread;
    for (const MemberInfo& info : pool_->Members()) ++spread[info.address];
    return spread;
  }

  // Member `id`'s channel; checked against the member's address while the
  // member exists.
  std::shared_ptr<grpc::Channel> Ch(uint64_t id) {
    const wt::FakeChannels::Created created = channels_->created(id - 1);
    std::shared_ptr<grpc::Channel> channel = created.channel.lock();
    EXPECT_NE(channel, nullptr) << "no live channel for member #" << id;
    if (std::optional<MemberInfo> info = Member(id)) {
      EXPECT_EQ(created.target, "ipv4:" + info->address) << "member #" << id;
    }
    return channel;
  }
  void SetState(uint64_t id, grpc_connectivity_state state) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel != nullptr) scheduler_->SetState(*channel, state);
  }
  void Check(uint64_t id, CheckOutcome outcome) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel == nullptr) return;
    EXPECT_TRUE(checks_.Complete(*channel, outcome))
        << "no check in flight on member #" << id;
  }
  void MakeHealthy(uint64_t id) {
    SetState(id, GRPC_CHANNEL_READY);
    Check(id, CheckOutcome::kServing);
  }
  bool Pickable(uint64_t id) {
    std::optional<MemberInfo> info = Member(id);
    return info.has_value() && info->pickable;
  }

  std::vector<PoolEvent> EventsOf(Kind kind) {
    std::vector<PoolEvent> out;
    for (PoolEvent& event : pool_->Events()) {
      if (event.kind == kind) out.push_back(std::move(event));
    }
    return out;
  }

  PoolView View() {
    std::optional<PoolView> view = pool_->View();
    EXPECT_TRUE(view.has_value());
    return view.has_value() ? *std::move(view) : PoolView{};
  }
  // `view` must outlive the result (no temporaries).
  const PoolView::Address* AddressIn(const PoolView&& view,
                                     const std::string& address) = delete;
  const PoolView::Address* AddressIn(const PoolView& view,
                                     const std::string& address) {
    for (const PoolView::Address& a : view.addresses) {
      if (a.address == address) return &a;
    }
    return nullptr;
  }

  std::shared_ptr<wt::FakeScheduler> scheduler_ =
      std::make_shared<wt::FakeScheduler>();
  wt::FakeHealthChecks checks_{scheduler_};
  std::unique_ptr<wt::FakeChannels> channels_ =
      std::make_unique<wt::FakeChannels>();
  std::shared_ptr<wt::FakeResolver> resolver_;
  std::vector<ChannelHealth> reports_;
  std::function<void(const ChannelHealth&)> on_report_;
  std::shared_ptr<Pool> pool_;
};

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
std::string StringArg(const grpc::ChannelArguments& args, const char* key) {
  const grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (std::string(c_args.args[i].key) == key &&
        c_args.args[i].type == GRPC_ARG_STRING) {
      return c_args.args[i].value.string;
    }
  }
  return "";
}
int IntArg(const grpc::ChannelArguments& args, const char* key) {
  const grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (std::string(c_args.args[i].key) == key &&
        c_args.args[i].type == GRPC_ARG_INTEGER) {
      return c_args.args[i].value.integer;
    }
  }
  return -1;
}

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

// --- Outlier ejection (real calls on in-process member channels) ------------

constexpr char kOkMethod[] = "/warm.test.Fake/Ok";
constexpr char kFailMethod[] = "/warm.test.Fake/Fail";

// Echoes kOkMethod's request; fails every other call with UNAVAILABLE.
class FakeBackendService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(bool ok) {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake backend"));
          return;
        }
        StartRead(&message_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::INTERNAL, "no request"));
          return;
        }
        StartWriteAndFinish(&message_, grpc::WriteOptions(),
                            grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer message_;
    };
    return new Reactor(context->method() == kOkMethod);
  }
};

// The pool as a grpc::ChannelInterface, as warm::Channel presents it, so
// that calls go through Pool::CreateCall() and its picker.
class PoolChannel final : public grpc::ChannelInterface {
 public:
  explicit PoolChannel(Pool& pool) : pool_(pool) {}
  grpc_connectivity_state GetState(bool try_to_connect) override {
    return pool_.GetState(try_to_connect);
  }

 private:
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq) override {
    return pool_.CreateCall(method, context, cq);
  }
  void PerformOpsOnCall(grpc::internal::CallOpSetInterface* ops,
                        grpc::internal::Call* call) override {
    call->PerformOps(ops);
  }
  void* RegisterMethod(const char* method) override {
    return pool_.RegisterMethod(method);
  }
  void NotifyOnStateChangeImpl(grpc_connectivity_state last_observed,
                               gpr_timespec deadline,
                               grpc::CompletionQueue* cq, void* tag) override {
    pool_.NotifyOnStateChange(last_observed, deadline, cq, tag);
  }
  bool WaitForStateChangeImpl(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) override {
    return pool_.WaitForStateChange(last_observed, deadline);
  }
  grpc::CompletionQueue* CallbackCQ() override {
    return pool_.callback_cq_marker();
  }

  Pool& pool_;
};

// One unary call of `method` on `channel`; its status.
grpc::Status Call(grpc::ChannelInterface* channel,
                  const grpc::internal::RpcMethod& method) {
  grpc::ClientContext context;
  grpc::Slice slice(std::string("ping"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, method, &context, request, &response);
}

class PoolEjectionTest : public PoolTest {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channels_ = std::make_unique<wt::FakeChannels>(server_.get());
  }
  void TearDown() override {
    PoolTest::TearDown();  // the pool (and its channels) first
    server_->Shutdown();
  }

  ChannelOptions EjectionOptions() {
    ChannelOptions options = Options();
    options.outlier_ejection.consecutive_failures = 3;
    options.outlier_ejection.base_ejection_time = seconds(30);
    options.outlier_ejection.max_ejection_time = seconds(300);
    return options;
  }

  // `n` calls on member `id`'s own channel; each fails.
  void FailCalls(uint64_t id, int n) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    ASSERT_NE(channel, nullptr);
    const grpc::internal::RpcMethod method(
        kFailMethod, grpc::internal::RpcMethod::NORMAL_RPC);
    for (int i = 0; i < n; ++i) {
      const grpc::Status status = Call(channel.get(), method);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << status.error_message();
    }
    // The report is posted to the control thread.
    scheduler_->RunPending();
  }

  FakeBackendService service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(PoolEjectionTest, FailingCallsEjectAMemberForTheEjectionTime) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);

  FailCalls(1, 2);
  EXPECT_TRUE(Pickable(1)) << "2 failures of 3";
  EXPECT_EQ(Member(1)->calls_finished_by_code[grpc::StatusCode::UNAVAILABLE],
            2u);
  FailCalls(1, 1);
  std::optional<MemberInfo> one = Member(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(one->ejected);
  EXPECT_FALSE(one->pickable);
  EXPECT_EQ(one->times_ejected, 1);
  ASSERT_THAT(EventsOf(Kind::kMemberEjected), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberEjected)[0].detail,
              HasSubstr("ejected for 30 s (ejection 1)"));
  EXPECT_EQ(pool_->Health().healthy_members, 2) << "ejected is not healthy";
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3)) << "ejected, not closed";
  {
    const PoolView view = View();
    EXPECT_EQ(view.counters.ejections, 1u);
    EXPECT_EQ(view.members[0].state_word, "ejected");
    EXPECT_EQ(view.members[0].info.ejected_until,
              view.clocks.wall + seconds(30));
  }

  scheduler_->AdvanceBy(seconds(30) - milliseconds(1));
  EXPECT_TRUE(Member(1)->ejected);
  scheduler_->AdvanceBy(milliseconds(1));
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  ASSERT_THAT(EventsOf(Kind::kMemberReturned), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned)[0].detail,
              HasSubstr("ejection time over"));

  // The failure count started over when it returned: three more to eject
  // again, now for twice as long.
  FailCalls(1, 2);
  EXPECT_FALSE(Member(1)->ejected);
  FailCalls(1, 1);
  EXPECT_TRUE(Member(1)->ejected);
  EXPECT_THAT(EventsOf(Kind::kMemberEjected).back().detail,
              HasSubstr("ejected for 60 s (ejection 2)"));
}

TEST_F(PoolEjectionTest, EjectionNeverLeavesFewerThanCriticalMinPickable) {
  Start(kStaticTarget, EjectionOptions());
  MakeHealthy(1);  // the only pickable member
  FailCalls(1, 3);
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  ASSERT_THAT(EventsOf(Kind::kEjectionSkipped), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kEjectionSkipped)[0].detail,
              HasSubstr("only 0 other pickable members"));
}

TEST_F(PoolEjectionTest, WithEjectionOffFailingCallsEjectNothing) {
  ChannelOptions options = EjectionOptions();
  options.outlier_ejection.enabled = false;
  Start(kStaticTarget, std::move(options));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 10);
  EXPECT_FALSE(Member(1)->ejected) << "ejection is off";
  EXPECT_THAT(EventsOf(Kind::kMemberEjected), IsEmpty());
  EXPECT_EQ(Member(1)->calls_finished_by_code[grpc::StatusCode::UNAVAILABLE],
            10u);
}

TEST_F(PoolEjectionTest, EjectionEndsEarlyWhenTheOtherMembersFail) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  SetState(2, GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_TRUE(Member(1)->ejected) << "member 3 is still pickable";
  SetState(3, GRPC_CHANNEL_TRANSIENT_FAILURE);
  // None pickable but the ejected one: it returns, to keep critical_min.
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  ASSERT_THAT(EventsOf(Kind::kMemberReturned), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned)[0].detail, HasSubstr("early"));
}

TEST_F(PoolEjectionTest, HealthChecksDoNotEndAnEjectionByDefault) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kServing);
  }
  EXPECT_TRUE(Member(1)->ejected)
      << "answering checks while failing calls is what ejection is for";
  EXPECT_FALSE(Pickable(1));
}

TEST_F(PoolEjectionTest, UnejectOnHealthCheckEndsAnEjectionAfterTheThreshold) {
  ChannelOptions options = EjectionOptions();
  options.outlier_ejection.uneject_on_health_check = true;
  Start(kStaticTarget, std::move(options));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kServing);
  EXPECT_TRUE(Member(1)->ejected) << "1 of healthy_threshold 2";
  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kServing);
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned).back().detail,
              HasSubstr("2 health checks passed"));
}

// --- The data plane: calls through Pool::CreateCall() ------------------------

class PoolCallTest : public PoolEjectionTest {
 protected:
  // `n` successful calls through the pool's picker.
  void CallPool(int n) {
    auto channel = std::make_shared<PoolChannel>(*pool_);
    const grpc::internal::RpcMethod method(
        kOkMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel);
    for (int i = 0; i < n; ++i) {
      const grpc::Status status = Call(channel.get(), method);
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
  }
  uint64_t Started(uint64_t id) {
    std::optional<MemberInfo> info = Member(id);
    return info.has_value() ? info->calls_started : 0;
  }
};

TEST_F(PoolCallTest, CallsGoToPickableMembersOnly) {
  Start(kStaticTarget, EjectionOptions());
  MakeHealthy(1);
  MakeHealthy(2);
  SetState(3, GRPC_CHANNEL_READY);  // connected, not checked yet
  CallPool(40);
  EXPECT_EQ(Started(3), 0u);
  EXPECT_EQ(Started(1) + Started(2), 40u);
  EXPECT_GT(Started(1), 0u);
  EXPECT_GT(Started(2), 0u);
  EXPECT_EQ(View().calls.started, 40u) << "the pool's own totals";
}

TEST_F(PoolCallTest, AnEjectedMemberGetsNoCalls) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  const uint64_t before = Started(1);
  CallPool(30);
  EXPECT_EQ(Started(1), before);
  EXPECT_EQ(Started(2) + Started(3), 30u);
}

TEST_F(PoolCallTest, WithNoPickableMemberCallsGoToMembersThatMayBecomeOne) {
  Start(kStaticTarget, EjectionOptions());
  SetState(1, GRPC_CHANNEL_TRANSIENT_FAILURE);
  SetState(2, GRPC_CHANNEL_CONNECTING);
  SetState(3, GRPC_CHANNEL_CONNECTING);
  CallPool(20);
  EXPECT_EQ(Started(1), 0u);
  EXPECT_EQ(Started(2) + Started(3), 20u);
}

TEST_F(PoolCallTest, AfterShutdownMemberChannelsAreFreedOnceCallsEnded) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  CallPool(3);
  std::vector<std::weak_ptr<grpc::Channel>> members;
  for (size_t i = 0; i < 3; ++i) members.push_back(channels_->channel(i));
  pool_->Shutdown();
  // The picker is empty now (a call would go to the unresolved channel,
  // which connects, so this test makes none) and nothing else holds the
  // members' channels: the calls that used them have ended.
  scheduler_->RunPending();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(members[i].expired()) << "member channel " << i;
  }
}

// --- DNS --------------------------------------------------------------------

std::vector<std::pair<std::string, seconds>> Ips(
    std::vector<std::string> ips, seconds ttl = seconds(30)) {
  std::vector<std::pair<std::string, seconds>> out;
  for (std::string& ip : ips) out.emplace_back(std::move(ip), ttl);
  return out;
}

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

// --- TLS rotation -----------------------------------------------------------

class PoolTlsTest : public PoolTest {
 protected:
  void SetUp() override {
    ca_ = Must(wt::MakeCa("pool-test-ca"));
    ASSERT_TRUE(dir_.Write("ca.crt", ca_.cert).ok());
    files_ = Must(dir_.WritePem("client", ClientCert("client-v1")));
    tls_.ca_file = dir_.File("ca.crt");
    tls_.cert_file = files_.cert;
    tls_.key_file = files_.key;
    tls_.server_name_override = "backend.test";
    tls_.reload_interval = seconds(1);
  }

  wt::Pem ClientCert(const std::string& name) {
    return Must(wt::MakeClientCert(ca_, name));
  }

  void StartTls() {
    ChannelOptions options = Options();
    options.tls = tls_;
    Start(kStaticTarget, std::move(options),
          Must(LoadTlsMaterial(tls_, std::chrono::system_clock::now())));
  }

  PoolView::Tls TlsView() {
    const PoolView view = View();
    EXPECT_TRUE(view.tls.has_value());
    return view.tls.value_or(PoolView::Tls{});
  }

  wt::CertDir dir_ = Must(wt::CertDir::Create("pool-test"));
  wt::Pem ca_;
  wt::PemFiles files_;
  TlsOptions tls_;
};

TEST_F(PoolTlsTest, NewFilesAreTakenUpAndMembersRecycledOneAtATime) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  EXPECT_THAT(TlsView().subject, HasSubstr("client-v1"));
  const std::vector<std::string> addresses = {
      Member(1)->address, Member(2)->address, Member(3)->address};

  // Nothing changed: nothing happens.
  scheduler_->AdvanceBy(seconds(3));
  EXPECT_EQ(channels_->count(), 3u);
  EXPECT_EQ(TlsView().reloads_ok, 0u);
  reports_.clear();

  ASSERT_TRUE(dir_.WritePem("client", ClientCert("client-v2")).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded)[0].detail,
              AllOf(HasSubstr("client-v2"),
                    HasSubstr("recycling 3 members one at a time")));
  {
    const PoolView::Tls tls = TlsView();
    EXPECT_EQ(tls.reloads_ok, 1u);
    EXPECT_THAT(tls.subject, HasSubstr("client-v2"));
    EXPECT_EQ(tls.members_on_old_material, 3);
  }
  EXPECT_EQ(StringArg(channels_->created(0).args,
                      GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
            "backend.test");
  // One replacement, on the oldest member's address, with new credentials.
  ASSERT_EQ(channels_->count(), 4u);
  EXPECT_EQ(channels_->created(3).target, "ipv4:" + addresses[0]);
  EXPECT_NE(channels_->created(3).credentials,
            channels_->created(0).credentials);
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(View().members[3].old_tls_material);
  EXPECT_TRUE(View().members[0].old_tls_material);

  // Each replacement, once healthy, closes the member it replaces and the
  // next one opens.
  MakeHealthy(4);
  EXPECT_THAT(MemberIds(), ElementsAre(2, 3, 4, 5));
  EXPECT_EQ(TlsView().members_on_old_material, 2);
  EXPECT_EQ(channels_->created(4).target, "ipv4:" + addresses[1]);
  MakeHealthy(5);
  EXPECT_THAT(MemberIds(), ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(TlsView().members_on_old_material, 1);
  EXPECT_EQ(channels_->created(5).target, "ipv4:" + addresses[2]);
  MakeHealthy(6);
  EXPECT_THAT(MemberIds(), ElementsAre(4, 5, 6));
  EXPECT_EQ(TlsView().members_on_old_material, 0);
  EXPECT_EQ(channels_->count(), 6u);
  EXPECT_EQ(View().counters.evictions[static_cast<size_t>(
                EvictionReason::kRecycled)],
            3u);
  // Healthy members never dropped below the three.
  for (const ChannelHealth& report : reports_) {
    EXPECT_GE(report.healthy_members, 3);
  }

  // And it stays that way.
  scheduler_->AdvanceBy(seconds(5));
  EXPECT_EQ(channels_->count(), 6u);
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
}

TEST_F(PoolTlsTest, HalfWrittenFileIsReportedOnceAfterStayingBad) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const wt::Pem next = ClientCert("client-v2");
  ASSERT_TRUE(dir_.WritePartial("client.crt", next.cert, 100).ok());

  // First seen bad: maybe mid-rotation; nothing said yet.
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), IsEmpty());
  EXPECT_EQ(TlsView().reloads_failed, 0u);

  // Still bad an interval later: reported.
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed)[0].detail,
              AllOf(HasSubstr("client.crt"),
                    HasSubstr("still using the files read")));
  {
    const PoolView::Tls tls = TlsView();
    EXPECT_EQ(tls.reloads_failed, 1u);
    EXPECT_THAT(tls.last_error, HasSubstr("client.crt"));
    EXPECT_THAT(tls.subject, HasSubstr("client-v1"));
  }

  // Once only; the members stay on the working material.
  scheduler_->AdvanceBy(tls_.reload_interval * 5);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_EQ(channels_->count(), 3u);
  EXPECT_EQ(TlsView().members_on_old_material, 0);
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3));

  // The rotation completes: taken up at the next look.
  ASSERT_TRUE(dir_.WritePem("client", next).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
  EXPECT_EQ(TlsView().last_error, "");
  EXPECT_EQ(channels_->count(), 4u);
}

TEST_F(PoolTlsTest, CertificateNotValidYetIsReportedOnceAndReadAgain) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  // Well-formed but unusable for an hour (FailedPrecondition): unlike a
  // malformed file it is read again every interval, but reported once.
  ASSERT_TRUE(dir_.WritePem("client", Must(wt::MakeClientCert(
                                          ca_, "client-future",
                                          seconds(3600), seconds(7200))))
                  .ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), IsEmpty());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed)[0].detail,
              HasSubstr("client.crt"));
  scheduler_->AdvanceBy(tls_.reload_interval * 5);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_EQ(TlsView().reloads_failed, 1u);
  EXPECT_THAT(TlsView().subject, HasSubstr("client-v1"));
  EXPECT_EQ(channels_->count(), 3u);
}

TEST_F(PoolTlsTest, ReplacementNotHealthyInTimeIsClosedAndTriedAgain) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const std::string oldest = Member(1)->address;
  ASSERT_TRUE(dir_.WritePem("client", ClientCert("client-v2")).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  std::shared_ptr<grpc::Channel> four = Ch(4);
  ASSERT_EQ(checks_.InFlight(*four), 1);

  // Three checks' time: 3 x (1 s interval + 0.5 s timeout). Member 4
  // connects but never passes a check.
  SetState(4, GRPC_CHANNEL_READY);
  scheduler_->AdvanceBy(milliseconds(4400));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  scheduler_->AdvanceBy(milliseconds(100));
  EXPECT_EQ(Member(4), std::nullopt) << "replacement evicted";
  EXPECT_EQ(checks_.Cancelled(*four), 1) << "its check went with it";
  EXPECT_THAT(EventsOf(Kind::kMemberEvicted).back().detail,
              HasSubstr("replacement for #1 not healthy within 4.5 s"));
  EXPECT_TRUE(Pickable(1)) << "the old member kept serving";
  // Its address backs off; recycling goes on with the next member (one
  // extra member at a time).
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3, 5));
  EXPECT_EQ(Member(5)->address, Member(2)->address);

  // Member 1 is tried again, on its address, once that backoff is over.
  scheduler_->AdvanceBy(milliseconds(800));
  MakeHealthy(5);
  ASSERT_THAT(MemberIds(), ElementsAre(1, 3, 5, 6));
  EXPECT_EQ(Member(6)->address, oldest);
  MakeHealthy(6);
  ASSERT_THAT(MemberIds(), ElementsAre(3, 5, 6, 7));
  MakeHealthy(7);
  EXPECT_THAT(MemberIds(), ElementsAre(5, 6, 7));
  EXPECT_EQ(TlsView().members_on_old_material, 0);
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
