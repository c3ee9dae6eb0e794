// What the Pool unit tests share: the fakes, a PoolTest fixture that starts a
// real Pool on them, and helpers. See pool_test.cc for how the tests work.

#ifndef WARM_TESTS_POOL_POOL_HARNESS_H_
#define WARM_TESTS_POOL_POOL_HARNESS_H_

#include "src/pool/pool.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
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

// In-process member backends, for tests that make real calls through
// members (no sockets): a grpc::Server with a generic callback service.
// kOkMethod echoes the request; kHangMethod never answers (until the call is
// cancelled or times out); any other method fails with UNAVAILABLE.
inline constexpr char kOkMethod[] = "/warm.test.Fake/Ok";
inline constexpr char kFailMethod[] = "/warm.test.Fake/Fail";
inline constexpr char kHangMethod[] = "/warm.test.Fake/Hang";

class FakeBackendService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& method)
          : hang_(method == kHangMethod) {
        if (method != kOkMethod && !hang_) {
          FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "fake backend"));
          return;
        }
        StartRead(&message_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          return FinishOnce(
              grpc::Status(grpc::StatusCode::INTERNAL, "no request"));
        }
        if (hang_) return;  // until cancelled
        if (!finished_.exchange(true)) {
          StartWriteAndFinish(&message_, grpc::WriteOptions(),
                              grpc::Status::OK);
        }
      }
      void OnCancel() override {
        FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "gave up"));
      }
      void OnDone() override { delete this; }

     private:
      void FinishOnce(grpc::Status status) {
        if (!finished_.exchange(true)) Finish(std::move(status));
      }
      const bool hang_;
      std::atomic<bool> finished_{false};
      grpc::ByteBuffer message_;
    };
    return new Reactor(context->method());
  }
};

class PoolTest : public ::testing::Test {
 protected:
  // Valid options (checked in Start()): default pool of 3, checks every
  // second, health reports recorded.
  ChannelOptions Options() {
    ChannelOptions options;
    options.name = "pool-test";
    options.health_check.service = "warm.test.Backend";
    // Polling: what these tests drive through FakeHealthChecks. Watch
    // streams have tests of their own.
    options.health_check.watch = false;
    options.health_check.interval = kInterval;
    // With or without calls (the no-traffic interval has a test of its own).
    options.health_check.no_traffic_interval = kInterval;
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
    config.start_health_watch = watches_.StartFn();
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
    // After the pool and its channels.
    if (backend_ != nullptr) backend_->Shutdown();
  }

  // Member channels go to an in-process FakeBackendService (call from
  // SetUp, before Start()).
  void UseInProcessMembers() {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&backend_service_);
    backend_ = builder.BuildAndStart();
    ASSERT_NE(backend_, nullptr);
    channels_ = std::make_unique<wt::FakeChannels>(backend_.get());
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
  // Watch streams, for tests that set health_check.watch (pool_watch_test).
  wt::FakeHealthWatches watches_{scheduler_};
  std::unique_ptr<wt::FakeChannels> channels_ =
      std::make_unique<wt::FakeChannels>();
  std::shared_ptr<wt::FakeResolver> resolver_;
  std::vector<ChannelHealth> reports_;
  std::function<void(const ChannelHealth&)> on_report_;
  std::shared_ptr<Pool> pool_;
  FakeBackendService backend_service_;
  std::unique_ptr<grpc::Server> backend_;  // UseInProcessMembers()
};

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

// DNS answers: each IP with the same TTL.
std::vector<std::pair<std::string, seconds>> Ips(
    std::vector<std::string> ips, seconds ttl = seconds(30)) {
  std::vector<std::pair<std::string, seconds>> out;
  for (std::string& ip : ips) out.emplace_back(std::move(ip), ttl);
  return out;
}

}  // namespace
}  // namespace internal
}  // namespace warm

#endif  // WARM_TESTS_POOL_POOL_HARNESS_H_
