// Integration tests of health checking, eviction, degraded mode and outlier
// ejection, against real gRPC backends in child processes (so that a test can
// hang one with SIGSTOP or kill it) on 127.0.0.1-127.0.0.3.
//
// Detection times are printed as "[measured] ..." lines; they are figures for
// the README, not assertions (the machine may be loaded). What is asserted is
// that detection happens within a generous bound derived from the options.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/channels.h"
#include "tests/testing/child_backend.h"
#include "tests/testing/wait.h"
#include "warm/channel.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

using std::chrono::milliseconds;
using testing::ChildBackend;
using testing::HasEvent;
using testing::MustCreate;
using testing::WaitFor;
using warm::testing::EchoRequest;
using warm::testing::EchoResponse;
using warm::testing::EchoTest;

// Fast checks, so tests take seconds. The timeout is generous because
// sanitizer builds on a loaded 2-core machine are slow; the SIGSTOP test sets
// its own.
ChannelOptions FastHealthOptions(int pool_size) {
  ChannelOptions options;
  options.pool_size = pool_size;
  options.health_check.interval = milliseconds(100);
  options.health_check.timeout = milliseconds(1500);
  options.health_check.unhealthy_threshold = 2;
  options.health_check.healthy_threshold = 1;
  return options;
}

std::string Ipv4Target(const std::vector<const ChildBackend*>& backends) {
  std::string target = "ipv4:";
  for (size_t i = 0; i < backends.size(); ++i) {
    if (i > 0) target += ",";
    target += backends[i]->address();
  }
  return target;
}

int PickableOn(const Channel& channel, const std::string& address) {
  int n = 0;
  for (const MemberInfo& member : channel.Members()) {
    n += member.pickable && member.address == address;
  }
  return n;
}

int Pickable(const Channel& channel) {
  int n = 0;
  for (const MemberInfo& member : channel.Members()) n += member.pickable;
  return n;
}

// One Echo call; returns its status and which backend answered.
grpc::Status Echo(EchoTest::Stub& stub, std::string* backend = nullptr,
                  milliseconds deadline = milliseconds(5000)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  EchoRequest request;
  request.set_message("health");
  EchoResponse response;
  grpc::Status status = stub.Echo(&context, request, &response);
  if (backend != nullptr) *backend = response.backend();
  return status;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Collects what warm logs, for the duration of a test.
class LogCapture {
 public:
  LogCapture() {
    SetLogSink([this](LogSeverity, absl::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { SetLogSink(nullptr); }
  bool Contains(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(lines_.begin(), lines_.end(), [&](const auto& line) {
      return line.find(text) != std::string::npos;
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST(HealthTest, NewMembersArePickableAfterTheirFirstCheck) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2");
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b}), FastHealthOptions(2));
  ASSERT_NE(channel, nullptr);
  // Starting until the first checks pass, which on loopback may already
  // have happened; never unhealthy on the way.
  const ChannelStatus first = channel->Health().status;
  EXPECT_TRUE(first == ChannelStatus::kStarting ||
              first == ChannelStatus::kHealthy)
      << ChannelStatusName(first);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 2; }));
  for (const MemberInfo& member : channel->Members()) {
    EXPECT_EQ(member.health, MemberHealth::kHealthy) << member.address;
    EXPECT_EQ(member.last_check, "SERVING");
    EXPECT_GT(member.last_check_at.time_since_epoch().count(), 0);
  }
  EXPECT_EQ(channel->Health().status, ChannelStatus::kHealthy);
  EXPECT_EQ(channel->Health().healthy_members, 2);
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
}

TEST(HealthTest, HealthChecksAreNotCallsOfTheApplication) {
  ChildBackend a("127.0.0.1");
  ChannelOptions options = FastHealthOptions(1);
  options.health_check.interval = milliseconds(10);
  std::shared_ptr<Channel> channel =
      MustCreate(a.address(), std::move(options));
  ASSERT_NE(channel, nullptr);
  // Several checks pass...
  ASSERT_TRUE(WaitFor(
      [&] { return HasEvent(*channel, PoolEvent::Kind::kMemberHealthy); }));
  auto stub = EchoTest::NewStub(channel);
  ASSERT_TRUE(Echo(*stub).ok());
  // ...but the member counts only the application's one call.
  const MemberInfo member = channel->Members().at(0);
  EXPECT_EQ(member.calls_started, 1u);
  EXPECT_EQ(member.calls_finished_by_code[0], 1u);
}

TEST(HealthTest, NotServingBackendStopsReceivingCallsAndComesBack) {
  LogCapture log;
  ChildBackend a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  std::mutex statuses_mu;
  std::vector<ChannelStatus> statuses;
  ChannelOptions options = FastHealthOptions(3);
  options.name = "not-serving";
  options.on_health_change = [&](const ChannelHealth& health) {
    std::lock_guard<std::mutex> lock(statuses_mu);
    statuses.push_back(health.status);
  };
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b, &c}), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 3; }));
  auto stub = EchoTest::NewStub(channel);

  const auto start = std::chrono::steady_clock::now();
  b.SetServing(false);
  ASSERT_TRUE(WaitFor([&] { return PickableOn(*channel, b.address()) == 0; }));
  const double detected = SecondsSince(start);
  std::cout << "[measured] NOT_SERVING out of the picker after " << detected
            << " s (interval 100 ms, unhealthy_threshold 2)\n";
  // Two checks at most ~100 ms apart, each answered at once; the bound is
  // loose for loaded machines.
  EXPECT_LT(detected, 10.0);
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kMemberEvicted, b.address()));
  // Logged once the pool's lock is released, so possibly a moment later.
  EXPECT_TRUE(WaitFor([&] {
    return log.Contains("warm channel not-serving: member unhealthy");
  }));

  // The pool refills to three pickable members on the healthy backends, and
  // no call reaches the NOT_SERVING one.
  ASSERT_TRUE(WaitFor([&] {
    return PickableOn(*channel, a.address()) +
               PickableOn(*channel, c.address()) ==
           3;
  }));
  for (int i = 0; i < 100; ++i) {
    std::string backend;
    ASSERT_TRUE(Echo(*stub, &backend).ok());
    EXPECT_NE(backend, b.address());
  }

  // Serving again: a member returns to b (its backoff runs out and the pool
  // rebalances) and calls reach it without any user action.
  b.SetServing(true);
  ASSERT_TRUE(WaitFor([&] { return PickableOn(*channel, b.address()) == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    std::string backend;
    return Echo(*stub, &backend).ok() && backend == b.address();
  }));
  // Members are spread one per backend again.
  ASSERT_TRUE(WaitFor([&] {
    return PickableOn(*channel, a.address()) == 1 &&
           PickableOn(*channel, c.address()) == 1;
  }));
  std::lock_guard<std::mutex> lock(statuses_mu);
  EXPECT_NE(
      std::find(statuses.begin(), statuses.end(), ChannelStatus::kHealthy),
      statuses.end());
}

TEST(HealthTest, AllBackendsNotServingIsDegradedButCallsSucceed) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2");
  ChannelOptions options = FastHealthOptions(2);
  options.healthy_min = 2;
  options.critical_min = 1;
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b}), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 2; }));
  auto stub = EchoTest::NewStub(channel);

  const auto start = std::chrono::steady_clock::now();
  a.SetServing(false);
  b.SetServing(false);
  ASSERT_TRUE(WaitFor(
      [&] { return channel->Health().status == ChannelStatus::kDegraded; }));
  std::cout << "[measured] all NOT_SERVING -> degraded after "
            << SecondsSince(start) << " s\n";
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kDegradedEntered));
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // Connected but unhealthy members take the calls.
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) >= 1; }));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Echo(*stub).ok()) << i;
  EXPECT_EQ(channel->Health().healthy_members, 0);

  a.SetServing(true);
  b.SetServing(true);
  ASSERT_TRUE(WaitFor(
      [&] { return channel->Health().status == ChannelStatus::kHealthy; }));
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kDegradedLeft));
  for (const MemberInfo& member : channel->Members()) {
    if (member.pickable) EXPECT_EQ(member.health, MemberHealth::kHealthy);
  }
}

// Hangs `hung` (SIGSTOP) while one caller sends calls with 1 s deadlines
// through `channel`, and waits (bounded) until `hung`'s member is out of the
// picker. One caller: while its call hangs no other call completes.
struct HangOutcome {
  bool detected = false;
  double seconds = 0;
  int calls = 0;
  int failed = 0;
};
HangOutcome HangUnderOneCaller(Channel& channel, EchoTest::Stub& stub,
                               ChildBackend& hung) {
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failed{0};
  std::thread caller([&] {
    while (!stop.load()) {
      ++calls;
      if (!Echo(stub, nullptr, milliseconds(1000)).ok()) ++failed;
    }
  });
  const auto start = std::chrono::steady_clock::now();
  hung.Stop();
  HangOutcome outcome;
  outcome.detected =
      WaitFor([&] { return PickableOn(channel, hung.address()) == 0; });
  outcome.seconds = SecondsSince(start);
  stop = true;
  caller.join();
  outcome.calls = calls;
  outcome.failed = failed;
  return outcome;
}

// 100 calls through `stub` all succeed, none answered by `address`.
void ExpectCallsAvoid(EchoTest::Stub& stub, const std::string& address) {
  for (int i = 0; i < 100; ++i) {
    std::string backend;
    ASSERT_TRUE(Echo(stub, &backend).ok()) << i;
    EXPECT_NE(backend, address);
  }
}

// Whether `channel` logged a member unhealthy for a DEADLINE_EXCEEDED check.
bool UnhealthyByTimeout(Channel& channel) {
  for (const PoolEvent& event : channel.Events()) {
    if (event.kind == PoolEvent::Kind::kMemberUnhealthy &&
        event.detail.find("DEADLINE_EXCEEDED") != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(HealthTest, HungBackendIsDetectedByPolledCheckTimeouts) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  ChannelOptions options = FastHealthOptions(3);
  // Polling alone, without liveness probes.
  options.health_check.watch = false;
  options.liveness.stall_detection = false;
  options.health_check.timeout = milliseconds(500);
  options.outlier_ejection.enabled = false;  // the health checks must see it
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b, &c}), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 3; }));
  auto stub = EchoTest::NewStub(channel);

  // A call that went to the hung backend before detection waits for its
  // deadline; while it waits, the hung member has a call in flight and P2C
  // sends the next ones elsewhere.
  const HangOutcome hang = HangUnderOneCaller(*channel, *stub, b);
  ASSERT_TRUE(hang.detected);
  std::cout << "[measured] SIGSTOP out of the picker after " << hang.seconds
            << " s (interval 100 ms, timeout 500 ms, unhealthy_threshold 2); "
            << hang.failed << " of " << hang.calls
            << " calls failed meanwhile\n";
  EXPECT_LT(hang.seconds, 15.0);
  // Each failed call waited 1 s for its deadline, so only a few fit in the
  // detection time.
  EXPECT_LE(hang.failed, 4);
  ExpectCallsAvoid(*stub, b.address());
  EXPECT_TRUE(UnhealthyByTimeout(*channel));
  b.Continue();
}

TEST(HealthTest, HungBackendLeavesThePickerWhenItsCallTimesOut) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  // Default health checks (Watch streams, which a hung backend leaves
  // quiet) and liveness.
  ChannelOptions options;
  options.pool_size = 3;
  options.outlier_ejection.enabled = false;  // liveness must see it
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b, &c}), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 3; }));
  auto stub = EchoTest::NewStub(channel);

  // One caller: when its call hangs on b, no other call completes, so only
  // the call's own timeout can tell (a stall scan needs other calls).
  const HangOutcome hang = HangUnderOneCaller(*channel, *stub, b);
  ASSERT_TRUE(hang.detected);
  std::cout << "[measured] SIGSTOP, one caller: out of the picker after "
            << hang.seconds << " s; " << hang.failed << " of " << hang.calls
            << " calls failed meanwhile\n";
  // The first call that went to b timed out (1 s) and b was suspected.
  EXPECT_LE(hang.failed, 2);
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kMemberSuspected));
  ExpectCallsAvoid(*stub, b.address());
  // Its probes time out, so it is found unhealthy and replaced.
  EXPECT_TRUE(WaitFor([&] { return UnhealthyByTimeout(*channel); }));
  b.Continue();
}

TEST(HealthTest, KilledBackendIsReplaced) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b, &c}), FastHealthOptions(3));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 3; }));
  auto stub = EchoTest::NewStub(channel);

  const auto start = std::chrono::steady_clock::now();
  b.Kill();
  ASSERT_TRUE(WaitFor([&] { return PickableOn(*channel, b.address()) == 0; }));
  const double unpickable = SecondsSince(start);
  // Replaced: three pickable members again, on the two live backends.
  ASSERT_TRUE(WaitFor([&] {
    return PickableOn(*channel, a.address()) +
               PickableOn(*channel, c.address()) ==
           3;
  }));
  std::cout << "[measured] SIGKILL out of the picker after " << unpickable
            << " s, replaced after " << SecondsSince(start) << " s\n";
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kMemberEvicted, b.address()));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Echo(*stub).ok()) << i;
}

TEST(HealthTest, BackendWithoutHealthServiceIsUsed) {
  ChildBackend a("127.0.0.1", ChildBackend::Health::kNone);
  std::shared_ptr<Channel> channel =
      MustCreate(a.address(), FastHealthOptions(1));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 1; }));
  const MemberInfo member = channel->Members().at(0);
  EXPECT_EQ(member.health, MemberHealth::kNoHealthService);
  EXPECT_NE(member.last_check.find("UNIMPLEMENTED"), std::string::npos);
  auto stub = EchoTest::NewStub(channel);
  std::string backend;
  ASSERT_TRUE(Echo(*stub, &backend).ok());
  EXPECT_EQ(backend, a.address());
}

TEST(HealthTest, NamedServiceIsChecked) {
  ChildBackend a("127.0.0.1");
  ChannelOptions options = FastHealthOptions(1);
  // gRPC's default health service knows only "" until a service is set:
  // Watch answers SERVICE_UNKNOWN (Check would answer NOT_FOUND).
  options.health_check.service = "no.such.Service";
  std::shared_ptr<Channel> channel =
      MustCreate(a.address(), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] { return HasEvent(*channel, PoolEvent::Kind::kMemberUnhealthy); }));
  EXPECT_TRUE(WaitFor([&] {
    for (const PoolEvent& event : channel->Events()) {
      if (event.detail.find("SERVICE_UNKNOWN") != std::string::npos) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_EQ(Pickable(*channel), 0);
}

TEST(HealthTest, OnlyBackendDeadCallsFailCleanly) {
  std::string address;
  {
    ChildBackend gone("127.0.0.1");
    address = gone.address();
    gone.Kill();
  }
  ChannelOptions options = FastHealthOptions(1);
  std::shared_ptr<Channel> channel = MustCreate(address, std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor(
      [&] { return HasEvent(*channel, PoolEvent::Kind::kMemberUnhealthy); }));
  // The last member stays (nothing could replace it), so calls still have a
  // member to fail on, as on a plain channel.
  auto stub = EchoTest::NewStub(channel);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Echo(*stub).error_code(), grpc::StatusCode::UNAVAILABLE) << i;
    EXPECT_EQ(channel->Members().size(), 1u);
  }
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
}

TEST(HealthTest, DestructionWaitsForARunningHealthCallback) {
  ChildBackend a("127.0.0.1");
  std::atomic<bool> entered{false}, finished{false};
  ChannelOptions options = FastHealthOptions(1);
  options.on_health_change = [&](const ChannelHealth&) {
    if (entered.exchange(true)) return;
    std::this_thread::sleep_for(milliseconds(200));  // a slow callback
    finished = true;
  };
  std::shared_ptr<Channel> channel =
      MustCreate(a.address(), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return entered.load(); }));
  channel.reset();
  EXPECT_TRUE(finished.load());  // ~Channel returned after the callback did
}

TEST(HealthTest, ChecksOffMeansReadyIsPickable) {
  ChildBackend a("127.0.0.1", ChildBackend::Health::kNotServing);
  ChannelOptions options;
  options.pool_size = 1;
  options.health_check.enabled = false;
  std::shared_ptr<Channel> channel =
      MustCreate(a.address(), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 1; }));
  EXPECT_EQ(channel->Members().at(0).health, MemberHealth::kNotChecked);
}

TEST(OutlierEjectionTest, MemberFailingCallsIsEjectedAndReturns) {
  ChildBackend a("127.0.0.1"), b("127.0.0.2"), c("127.0.0.3");
  ChannelOptions options;
  options.pool_size = 3;
  options.health_check.enabled = false;  // ejection alone must find it
  options.outlier_ejection.consecutive_failures = 2;
  options.outlier_ejection.failure_codes = {
      grpc::StatusCode::DEADLINE_EXCEEDED};
  options.outlier_ejection.base_ejection_time = milliseconds(1000);
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target({&a, &b, &c}), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Pickable(*channel) == 3; }));
  auto stub = EchoTest::NewStub(channel);

  b.Stop();  // its calls now end in DEADLINE_EXCEEDED
  int failed = 0;
  ASSERT_TRUE(WaitFor([&] {
    if (!Echo(*stub, nullptr, milliseconds(200)).ok()) ++failed;
    for (const MemberInfo& member : channel->Members()) {
      if (member.address == b.address() && member.ejected) return true;
    }
    return false;
  }));
  EXPECT_GE(failed, 2);
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kMemberEjected, b.address()));
  for (int i = 0; i < 50; ++i) {
    std::string backend;
    ASSERT_TRUE(Echo(*stub, &backend, milliseconds(2000)).ok()) << i;
    EXPECT_NE(backend, b.address());
  }
  // After the ejection time it returns (its connection was kept).
  b.Continue();
  ASSERT_TRUE(WaitFor([&] { return PickableOn(*channel, b.address()) == 1; }));
  EXPECT_TRUE(
      HasEvent(*channel, PoolEvent::Kind::kMemberReturned, b.address()));
}

TEST(HealthOptionsTest, BadHealthOptionsAreNamed) {
  ChannelOptions options;
  options.health_check.interval = milliseconds(0);
  options.health_check.unhealthy_threshold = 0;
  options.healthy_min = 1;
  options.critical_min = 2;
  options.outlier_ejection.max_ejection_time = milliseconds(1);
  absl::StatusOr<std::shared_ptr<Channel>> channel = CreateChannel(
      "127.0.0.1:1", grpc::InsecureChannelCredentials(), std::move(options));
  ASSERT_FALSE(channel.ok());
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(channel.status().message());
  EXPECT_NE(message.find("health_check.interval is 0 ms"), std::string::npos);
  EXPECT_NE(message.find("health_check.unhealthy_threshold is 0"),
            std::string::npos);
  EXPECT_NE(message.find("healthy_min is 1; it must be at least critical_min"),
            std::string::npos);
  EXPECT_NE(message.find("outlier_ejection.max_ejection_time is 1 ms"),
            std::string::npos);
}

}  // namespace
}  // namespace warm
