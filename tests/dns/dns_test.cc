// Integration tests of DNS targets against a real dnsmasq on loopback:
// refresh by TTL, traffic moving when records change (while a plain gRPC
// dns:/// channel stays), the last good answer kept when the server dies,
// NXDOMAIN before any answer (fail-fast calls fail saying why, wait_for_ready
// calls wait: more of that in tests/call/wait_for_ready_test.cc), and many
// channels on the one worker.
//
// Figures are printed as "[measured] ..." lines, not asserted.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "src/dns/resolver.h"
#include "tests/testing/channels.h"
#include "tests/testing/dnsmasq.h"
#include "tests/testing/test_backend.h"
#include "tests/testing/wait.h"
#include "warm/channel.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;
using testing::HasEvent;
using testing::MustCreate;
using testing::TestBackend;
using testing::WaitFor;
using warm::testing::EchoRequest;
using warm::testing::EchoResponse;
using warm::testing::EchoTest;

constexpr char kHost[] = "api.svc.test";

ChannelOptions FastOptions(int pool_size) {
  ChannelOptions options;
  options.pool_size = pool_size;
  options.health_check.interval = milliseconds(100);
  options.health_check.timeout = milliseconds(1500);
  options.dns.query_timeout = milliseconds(300);
  options.dns.min_refresh = milliseconds(1000);  // follow the 1 s test TTLs
  return options;
}

std::string DnsTarget(const Dnsmasq& dns, const std::string& host, int port) {
  return "dns://" + dns.server() + "/" + host + ":" + std::to_string(port);
}

grpc::Status Echo(grpc::ChannelInterface& channel, std::string* backend,
                  milliseconds deadline = milliseconds(5000)) {
  // A stub per call is cheap enough here and works for any channel.
  std::shared_ptr<grpc::ChannelInterface> unowned(
      &channel, [](grpc::ChannelInterface*) {});
  auto stub = EchoTest::NewStub(unowned);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  EchoRequest request;
  request.set_message("dns");
  EchoResponse response;
  grpc::Status status = stub->Echo(&context, request, &response);
  if (backend != nullptr) *backend = response.backend();
  return status;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(DnsTest, ResolvesAndRefreshesByTtl) {
  Dnsmasq dns(/*local_ttl_seconds=*/1);
  TestBackend backend("127.0.0.1");
  dns.SetRecords({{kHost, {"127.0.0.1"}}});
  std::shared_ptr<Channel> channel =
      MustCreate(DnsTarget(dns, kHost, backend.port()), FastOptions(1));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)));
  std::string answered_by;
  ASSERT_TRUE(Echo(*channel, &answered_by).ok());
  EXPECT_EQ(answered_by, backend.address());

  ResolutionInfo info = channel->Resolution();
  EXPECT_TRUE(info.dns);
  EXPECT_EQ(info.host, kHost);
  ASSERT_EQ(info.addresses.size(), 1u);
  EXPECT_EQ(info.addresses[0].address, backend.address());
  EXPECT_EQ(info.addresses[0].ttl, std::chrono::seconds(1));
  // Refreshed at the TTL (up to 10 % early), not later, not much sooner.
  const auto ahead = info.next_refresh_at - info.last_answer_at;
  EXPECT_GE(ahead, milliseconds(890));
  EXPECT_LE(ahead, milliseconds(1010));
  // And it keeps refreshing: three more answers.
  const uint64_t first = info.resolutions_ok;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] { return channel->Resolution().resolutions_ok >= first + 3; }));
  std::cout << "[measured] 3 refreshes with TTL 1 s took "
            << SecondsSince(start) << " s\n";
}

TEST(DnsTest, RecordChangeMovesTrafficWhilePlainGrpcStays) {
  Dnsmasq dns(/*local_ttl_seconds=*/1);
  TestBackend old_backend("127.0.0.1");
  TestBackend new_backend("127.0.0.2", old_backend.port());
  const int port = old_backend.port();
  dns.SetRecords({{kHost, {"127.0.0.1"}}});
  const std::string target = DnsTarget(dns, kHost, port);
  std::shared_ptr<Channel> warm = MustCreate(target, FastOptions(2));
  ASSERT_NE(warm, nullptr);
  std::shared_ptr<grpc::Channel> plain =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  std::string backend;
  ASSERT_TRUE(WaitFor([&] {
    return Echo(*warm, &backend).ok() && backend == old_backend.address();
  }));
  ASSERT_TRUE(Echo(*plain, &backend).ok());
  ASSERT_EQ(backend, old_backend.address());

  dns.SetRecords({{kHost, {"127.0.0.2"}}});
  const auto changed = std::chrono::steady_clock::now();
  // Traffic has moved when 20 calls in a row reach the new backend.
  int in_a_row = 0;
  ASSERT_TRUE(WaitFor([&] {
    in_a_row = Echo(*warm, &backend).ok() && backend == new_backend.address()
                   ? in_a_row + 1
                   : 0;
    return in_a_row >= 20;
  }));
  const double moved = SecondsSince(changed);
  std::cout << "[measured] DNS change to all traffic on the new backend: "
            << moved << " s (TTL 1 s)\n";
  EXPECT_LT(moved, 10.0);  // TTL + a check + slack on a loaded machine
  // gRPC's own resolver does not look again while its connection works.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Echo(*plain, &backend).ok());
    EXPECT_EQ(backend, old_backend.address()) << i;
  }
  EXPECT_TRUE(HasEvent(*warm, PoolEvent::Kind::kAddressesChanged));
}

TEST(DnsTest, DeadDnsServerKeepsTheLastGoodAddresses) {
  Dnsmasq dns(/*local_ttl_seconds=*/1);
  TestBackend backend("127.0.0.1");
  dns.SetRecords({{kHost, {"127.0.0.1"}}});
  std::shared_ptr<Channel> channel =
      MustCreate(DnsTarget(dns, kHost, backend.port()), FastOptions(1));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)));
  dns.Kill();
  ASSERT_TRUE(
      WaitFor([&] { return channel->Resolution().resolutions_failed >= 2; }));
  const ResolutionInfo info = channel->Resolution();
  EXPECT_FALSE(info.last_error.empty());
  ASSERT_EQ(info.addresses.size(), 1u);  // the last good answer stays
  for (int i = 0; i < 20; ++i) {
    std::string answered_by;
    ASSERT_TRUE(Echo(*channel, &answered_by).ok()) << i;
    EXPECT_EQ(answered_by, backend.address());
  }
  EXPECT_TRUE(HasEvent(*channel, PoolEvent::Kind::kDnsFailed));
}

TEST(DnsTest, NxdomainBeforeAnyAnswerSaysWhy) {
  Dnsmasq dns(/*local_ttl_seconds=*/1);
  const std::string missing = std::string("missing.") + Dnsmasq::kDomain;
  std::shared_ptr<Channel> channel =
      MustCreate(DnsTarget(dns, missing, 443), FastOptions(1));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    return channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }));
  const ResolutionInfo info = channel->Resolution();
  EXPECT_NE(info.last_error.find(missing), std::string::npos)
      << info.last_error;
  EXPECT_TRUE(info.addresses.empty());
  const grpc::Status status = Echo(*channel, nullptr, milliseconds(2000));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find(missing), std::string::npos)
      << status.error_message();
  // wait_for_ready waits for the name to resolve, as on a plain gRPC
  // channel (issue 14): with no answer coming it waits out its deadline.
  std::shared_ptr<grpc::ChannelInterface> unowned(
      channel.get(), [](grpc::ChannelInterface*) {});
  auto stub = EchoTest::NewStub(unowned);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  const auto start = std::chrono::steady_clock::now();
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(500));
  EchoRequest request;
  EchoResponse response;
  const grpc::Status waited = stub->Echo(&context, request, &response);
  EXPECT_EQ(waited.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << waited.error_message();
  EXPECT_GE(SecondsSince(start), 0.49);  // not at once
  EXPECT_LT(SecondsSince(start), 10.0);  // and not much later
  // A name that does not resolve is a failure, not a slow start.
  EXPECT_EQ(channel->Health().status, ChannelStatus::kUnhealthy);
}

TEST(DnsTest, TwoHundredChannelsShareOneWorker) {
  Dnsmasq dns(/*local_ttl_seconds=*/30);
  TestBackend backend("127.0.0.1");
  dns.SetRecords({{kHost, {"127.0.0.1"}}});
  const std::string target = DnsTarget(dns, kHost, backend.port());
  std::vector<std::shared_ptr<Channel>> channels;
  for (int i = 0; i < 200; ++i) {
    ChannelOptions options;
    options.pool_size = 1;
    // About DNS and the shared threads: health checks (200 channels checking
    // one in-process backend) would only load the backend, which shares the
    // 2 cores, and slow sanitizer builds down.
    options.health_check.enabled = false;
    channels.push_back(MustCreate(target, std::move(options)));
    ASSERT_NE(channels.back(), nullptr);
  }
  int ready = 0;
  const auto created = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        ready = 0;
        for (const auto& channel : channels) {
          ready += channel->GetState(false) == GRPC_CHANNEL_READY;
        }
        return ready == static_cast<int>(channels.size());
      },
      std::chrono::seconds(60)))
      << ready << " of " << channels.size() << " READY";
  std::cout << "[measured] " << channels.size()
            << " DNS channels resolved and connected in "
            << SecondsSince(created) << " s\n";
  EXPECT_EQ(internal::GetDnsLoopStatsForTesting().channels >= 200, true);
  // Idle: what the process spends per second with 200 warm channels.
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a measurement
  getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  std::cout << "[measured] 200 idle DNS channels (no health checks): "
               "process CPU "
            << (cpu(after) - cpu(before)) / SecondsSince(start) * 100
            << " % of one core\n";
}

}  // namespace
}  // namespace warm
