// Tests of the c-ares DnsResolver against a real DNS server (dnsmasq in a
// child process): A and AAAA answers with their TTL and the port, new records
// seen by the next query, NXDOMAIN and NODATA as NotFound, a refusing, dead
// or silent server as Unavailable within its bound, invalid servers, many
// resolvers at once, and resolvers destroyed with queries pending or from
// inside their own callbacks. At the end, tests of the Dnsmasq fixture itself.

#include "src/dns/resolver.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/dnsmasq.h"
#include "tests/testing/wait.h"

namespace warm {
namespace internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::warm::testing::Dnsmasq;
using ::warm::testing::kDefaultWait;
using ::warm::testing::WaitFor;

constexpr int kTtl = 37;
constexpr int kCnameTtl = 5;
constexpr int kPort = 443;

// The answers of one Resolve() call, however many times `done` runs.
class Answers {
 public:
  std::function<void(DnsAnswer)> Callback() {
    return [this](DnsAnswer answer) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_.push_back(std::move(answer));
    };
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(answers_.size());
  }
  // Waits for the first answer; fails the test when none comes in time.
  DnsAnswer Wait(milliseconds timeout = kDefaultWait) {
    if (!WaitFor([this] { return count() > 0; }, timeout)) {
      ADD_FAILURE() << "no answer within " << timeout.count() << " ms";
      return DnsAnswer{absl::DeadlineExceededError("no answer"), {}};
    }
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.front();
  }

 private:
  std::mutex mu_;
  std::vector<DnsAnswer> answers_;
};

// Answers must outlive the resolver's loop callbacks: tests keep them alive
// until the answer came, and a barrier orders the rest.
DnsAnswer ResolveAndWait(DnsResolver& resolver, const std::string& host,
                         int port = kPort,
                         milliseconds timeout = kDefaultWait) {
  auto answers = std::make_shared<Answers>();
  resolver.Resolve(host, port, [answers](DnsAnswer answer) {
    answers->Callback()(std::move(answer));
  });
  return answers->Wait(timeout);
}

// Waits until the DNS loop has run every task posted so far (tasks run in
// order; resolving an IP literal completes without the network). Its
// resolver is never destroyed: that would post a task of its own.
void DrainDnsLoop() {
  static std::shared_ptr<DnsResolver>* const barrier = [] {
    auto resolver = CreateCaresResolver("127.0.0.1:1");
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    return new std::shared_ptr<DnsResolver>(std::move(resolver).value());
  }();
  EXPECT_TRUE(ResolveAndWait(**barrier, "10.0.0.1").status.ok());
}

std::vector<std::string> Targets(const DnsAnswer& answer) {
  std::vector<std::string> targets;
  for (const ResolvedAddress& address : answer.addresses) {
    targets.push_back(address.address.grpc_target);
  }
  return targets;
}

std::vector<std::string> Displays(const DnsAnswer& answer) {
  std::vector<std::string> displays;
  for (const ResolvedAddress& address : answer.addresses) {
    displays.push_back(address.address.display);
  }
  return displays;
}

std::shared_ptr<DnsResolver> MustCreate(const std::string& server,
                                        milliseconds timeout = seconds(2),
                                        int tries = 2) {
  auto resolver = CreateCaresResolver(server, timeout, tries);
  EXPECT_TRUE(resolver.ok()) << resolver.status();
  return resolver.ok() ? *resolver : nullptr;
}

// A UDP socket on 127.0.0.1 that receives queries and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    server_ = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  ~SilentServer() { close(fd_); }
  const std::string& server() const { return server_; }
  // Whether a query arrived within `timeout` (without consuming it).
  bool QueryArrived(milliseconds timeout) {
    pollfd pfd = {fd_, POLLIN, 0};
    return poll(&pfd, 1, static_cast<int>(timeout.count())) == 1;
  }

 private:
  int fd_ = -1;
  std::string server_;
};

class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns_.SetRecords({
        {"a.svc.test", {"10.0.0.1", "10.0.0.2", "fd00::1"}},
        {"v4only.svc.test", {"10.0.0.3"}},
        {"v6only.svc.test", {"fd00::3"}},
    });
    resolver_ = MustCreate(dns_.server());
    ASSERT_NE(resolver_, nullptr);
  }

  Dnsmasq dns_{
      kTtl,
      {"--txt-record=txt-only.svc.test,no addresses here",
       "--cname=alias.svc.test,a.svc.test," + std::to_string(kCnameTtl)}};
  std::shared_ptr<DnsResolver> resolver_;
};

TEST_F(DnsResolverTest, ResolvesAAndAaaaWithTheTtlAndThePort) {
  DnsAnswer answer = ResolveAndWait(*resolver_, "a.svc.test");
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  ASSERT_EQ(answer.addresses.size(), 3u);
  // IPv4 first, then IPv6.
  const std::vector<std::string> targets = Targets(answer);
  EXPECT_THAT(std::vector<std::string>(targets.begin(), targets.begin() + 2),
              UnorderedElementsAre("ipv4:10.0.0.1:443", "ipv4:10.0.0.2:443"));
  EXPECT_EQ(targets[2], "ipv6:[fd00::1]:443");
  EXPECT_THAT(
      Displays(answer),
      UnorderedElementsAre("10.0.0.1:443", "10.0.0.2:443", "[fd00::1]:443"));
  for (const ResolvedAddress& address : answer.addresses) {
    EXPECT_EQ(address.ttl, seconds(kTtl)) << address.address.display;
  }
}

TEST_F(DnsResolverTest, NameWithOneFamilyGivesThatFamily) {
  DnsAnswer v4 = ResolveAndWait(*resolver_, "v4only.svc.test", 80);
  ASSERT_TRUE(v4.status.ok()) << v4.status;
  EXPECT_THAT(Targets(v4), ElementsAre("ipv4:10.0.0.3:80"));

  DnsAnswer v6 = ResolveAndWait(*resolver_, "v6only.svc.test", 80);
  ASSERT_TRUE(v6.status.ok()) << v6.status;
  EXPECT_THAT(Targets(v6), ElementsAre("ipv6:[fd00::3]:80"));
  EXPECT_EQ(v6.addresses[0].ttl, seconds(kTtl));
}

TEST_F(DnsResolverTest, CnameTtlLowersTheAnswerTtl) {
  DnsAnswer answer = ResolveAndWait(*resolver_, "alias.svc.test");
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_THAT(Targets(answer),
              UnorderedElementsAre("ipv4:10.0.0.1:443", "ipv4:10.0.0.2:443",
                                   "ipv6:[fd00::1]:443"));
  for (const ResolvedAddress& address : answer.addresses) {
    EXPECT_EQ(address.ttl, seconds(kCnameTtl)) << address.address.display;
  }
}

TEST_F(DnsResolverTest, NextResolveSeesNewRecords) {
  dns_.SetRecords({{"a.svc.test", {"10.0.0.9", "fd00::9"}}});
  DnsAnswer changed = ResolveAndWait(*resolver_, "a.svc.test");
  ASSERT_TRUE(changed.status.ok()) << changed.status;
  EXPECT_THAT(Targets(changed),
              ElementsAre("ipv4:10.0.0.9:443", "ipv6:[fd00::9]:443"));

  dns_.SetRecords({{"b.svc.test", {"10.0.1.1"}}});
  DnsAnswer gone = ResolveAndWait(*resolver_, "a.svc.test");
  EXPECT_EQ(gone.status.code(), absl::StatusCode::kNotFound) << gone.status;
  DnsAnswer added = ResolveAndWait(*resolver_, "b.svc.test");
  ASSERT_TRUE(added.status.ok()) << added.status;
  EXPECT_THAT(Targets(added), ElementsAre("ipv4:10.0.1.1:443"));
}

TEST_F(DnsResolverTest, NxdomainIsNotFoundNamingTheHost) {
  DnsAnswer answer = ResolveAndWait(*resolver_, "missing.svc.test");
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kNotFound) << answer.status;
  EXPECT_THAT(
      std::string(answer.status.message()),
      AllOf(HasSubstr("\"missing.svc.test\""), HasSubstr("does not exist"),
            HasSubstr("ARES_ENOTFOUND"), HasSubstr(dns_.server())));
  EXPECT_TRUE(answer.addresses.empty());
}

TEST_F(DnsResolverTest, NameWithoutAddressRecordsIsNotFound) {
  DnsAnswer answer = ResolveAndWait(*resolver_, "txt-only.svc.test");
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kNotFound) << answer.status;
  EXPECT_THAT(std::string(answer.status.message()),
              AllOf(HasSubstr("\"txt-only.svc.test\""),
                    HasSubstr("no A or AAAA records")));
}

TEST_F(DnsResolverTest, RefusedIsUnavailable) {
  // dnsmasq refuses names outside svc.test: it has no upstream servers.
  DnsAnswer answer = ResolveAndWait(*resolver_, "elsewhere.example");
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kUnavailable)
      << answer.status;
  // c-ares 1.18 reports REFUSED as ARES_ECONNREFUSED, later ones as
  // ARES_EREFUSED.
  EXPECT_THAT(
      std::string(answer.status.message()),
      AllOf(HasSubstr("\"elsewhere.example\""),
            AnyOf(HasSubstr("ARES_EREFUSED"), HasSubstr("ARES_ECONNREFUSED")),
            HasSubstr(dns_.server())));
}

TEST_F(DnsResolverTest, DeadServerIsUnavailableWithinTheTimeoutBound) {
  constexpr milliseconds kTimeout{500};
  constexpr int kTries = 2;
  auto resolver = MustCreate(dns_.server(), kTimeout, kTries);
  ASSERT_TRUE(ResolveAndWait(*resolver, "a.svc.test").status.ok());

  dns_.Kill();
  const auto start = std::chrono::steady_clock::now();
  // c-ares doubles the timeout on each try: 500 + 1000 ms at most.
  const milliseconds bound = kTimeout * ((1 << kTries) - 1) + seconds(5);
  DnsAnswer answer = ResolveAndWait(*resolver, "a.svc.test", kPort, bound);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kUnavailable)
      << answer.status;
  EXPECT_THAT(std::string(answer.status.message()),
              AllOf(HasSubstr("\"a.svc.test\""), HasSubstr(dns_.server())));
  EXPECT_LT(elapsed, bound);
}

TEST(DnsResolverTimeoutTest, SilentServerTimesOutAfterEveryTry) {
  SilentServer silent;
  constexpr milliseconds kTimeout{200};
  constexpr int kTries = 2;
  auto resolver = MustCreate(silent.server(), kTimeout, kTries);
  ASSERT_NE(resolver, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const milliseconds bound = kTimeout * ((1 << kTries) - 1) + seconds(5);
  DnsAnswer answer = ResolveAndWait(*resolver, "a.svc.test", kPort, bound);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kUnavailable)
      << answer.status;
  EXPECT_THAT(std::string(answer.status.message()),
              AllOf(HasSubstr("ARES_ETIMEOUT"), HasSubstr(silent.server()),
                    HasSubstr("\"a.svc.test\"")));
  // Both tries waited: 200 ms, then 400 ms.
  EXPECT_GE(elapsed, kTimeout * ((1 << kTries) - 1));
  EXPECT_LT(elapsed, bound);
}

TEST(DnsResolverCreateTest, InvalidServersAreInvalidArgumentNamingThem) {
  for (const std::string server :
       {"dns.example.com", "dns.example.com:53", "1.2.3.4:0", "1.2.3.4:99999",
        "1.2.3.4:", "1.2.3.4:dns", "[::1", "[::1]53", "[1.2.3.4]:53",
        "[::1]:", "999.1.1.1"}) {
    auto resolver = CreateCaresResolver(server);
    ASSERT_FALSE(resolver.ok()) << server;
    EXPECT_EQ(resolver.status().code(), absl::StatusCode::kInvalidArgument)
        << resolver.status();
    EXPECT_THAT(std::string(resolver.status().message()),
                HasSubstr("\"" + server + "\""));
  }
  auto by_name = CreateCaresResolver("dns.example.com");
  EXPECT_THAT(std::string(by_name.status().message()),
              AllOf(HasSubstr("not an IP address"),
                    HasSubstr("host name is not supported")));
}

TEST(DnsResolverCreateTest, EveryProblemIsReportedAtOnce) {
  auto resolver = CreateCaresResolver("dns.example.com", milliseconds(0), 0);
  ASSERT_FALSE(resolver.ok());
  EXPECT_EQ(resolver.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(resolver.status().message()),
              AllOf(HasSubstr("dns.example.com"), HasSubstr("query_timeout"),
                    HasSubstr("tries")));

  auto too_long = CreateCaresResolver("127.0.0.1", seconds(10), 20);
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument)
      << too_long.status();
}

TEST(DnsResolverCreateTest, AcceptsTheServerForms) {
  for (const std::string server :
       {"", "127.0.0.1", "127.0.0.1:53", "[::1]", "[::1]:5353", "::1"}) {
    auto resolver = CreateCaresResolver(server);
    EXPECT_TRUE(resolver.ok()) << server << ": " << resolver.status();
  }
}

TEST(DnsResolverIpv6ServerTest, AsksAServerOnIpv6) {
  Dnsmasq dns(kTtl, {"--listen-address=::1"});
  dns.SetRecords({{"a.svc.test", {"10.0.0.1"}}});
  auto resolver = MustCreate("[::1]:" + std::to_string(dns.port()));
  ASSERT_NE(resolver, nullptr);
  DnsAnswer answer = ResolveAndWait(*resolver, "a.svc.test");
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_THAT(Targets(answer), ElementsAre("ipv4:10.0.0.1:443"));
}

TEST_F(DnsResolverTest, IpLiteralsResolveToThemselvesWithoutTtl) {
  DnsAnswer v4 = ResolveAndWait(*resolver_, "10.1.2.3", 80);
  ASSERT_TRUE(v4.status.ok()) << v4.status;
  EXPECT_THAT(Targets(v4), ElementsAre("ipv4:10.1.2.3:80"));
  EXPECT_EQ(v4.addresses[0].ttl, seconds(0));

  DnsAnswer v6 = ResolveAndWait(*resolver_, "fd00::5", 80);
  ASSERT_TRUE(v6.status.ok()) << v6.status;
  EXPECT_THAT(Targets(v6), ElementsAre("ipv6:[fd00::5]:80"));
}

TEST_F(DnsResolverTest, BadPortOrEmptyHostIsInvalidArgument) {
  EXPECT_EQ(ResolveAndWait(*resolver_, "a.svc.test", 0).status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveAndWait(*resolver_, "a.svc.test", 65536).status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveAndWait(*resolver_, "").status.code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DnsResolverTest, LocalhostIsNeverAskedOfAnExplicitServer) {
  DnsAnswer answer = ResolveAndWait(*resolver_, "localhost");
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kUnavailable)
      << answer.status;
  EXPECT_THAT(std::string(answer.status.message()), HasSubstr("RFC 6761"));
}

TEST(DnsResolverSystemTest, SystemResolverAnswersLocalhost) {
  // From the hosts file (or c-ares' RFC 6761 fallback): no network needed.
  auto resolver = MustCreate("");
  ASSERT_NE(resolver, nullptr);
  DnsAnswer answer = ResolveAndWait(*resolver, "localhost", 8080);
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_THAT(Targets(answer), ::testing::Contains("ipv4:127.0.0.1:8080"));
}

TEST_F(DnsResolverTest, ManyResolversResolveConcurrently) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;  // 200 resolvers, each with its channel
  std::vector<std::shared_ptr<DnsResolver>> resolvers(size_t{kThreads} *
                                                      kPerThread);
  std::vector<std::shared_ptr<Answers>> answers(resolvers.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t * kPerThread; i < (t + 1) * kPerThread; ++i) {
        resolvers[i] = MustCreate(dns_.server());
        answers[i] = std::make_shared<Answers>();
        if (resolvers[i] == nullptr) continue;
        auto mine = answers[i];
        resolvers[i]->Resolve(
            i % 2 ? "a.svc.test" : "v4only.svc.test", kPort,
            [mine](DnsAnswer a) { mine->Callback()(std::move(a)); });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < answers.size(); ++i) {
    DnsAnswer answer = answers[i]->Wait();
    EXPECT_TRUE(answer.status.ok()) << i << ": " << answer.status;
    EXPECT_EQ(answer.addresses.size(), i % 2 ? 3u : 1u) << i;
  }
  resolvers.clear();
  DrainDnsLoop();
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i]->count(), 1) << i;
  }
}

TEST(DnsResolverDestroyTest, DestroyingWithAQueryInFlightCompletesIt) {
  SilentServer silent;
  auto resolver = MustCreate(silent.server(), seconds(30), 1);
  ASSERT_NE(resolver, nullptr);
  auto answers = std::make_shared<Answers>();
  resolver->Resolve("a.svc.test", kPort, [answers](DnsAnswer a) {
    answers->Callback()(std::move(a));
  });
  // c-ares sent the query: it is pending inside c-ares.
  ASSERT_TRUE(silent.QueryArrived(kDefaultWait));
  resolver.reset();
  DnsAnswer answer = answers->Wait();
  EXPECT_EQ(answer.status.code(), absl::StatusCode::kUnavailable)
      << answer.status;
  EXPECT_THAT(std::string(answer.status.message()),
              HasSubstr("resolver destroyed"));
  DrainDnsLoop();
  EXPECT_EQ(answers->count(), 1);
  EXPECT_EQ(GetDnsLoopStatsForTesting().pending, 0);
}

TEST(DnsResolverDestroyTest, DestroyingRightAfterResolveCompletesIt) {
  SilentServer silent;
  std::vector<std::shared_ptr<Answers>> answers;
  for (int i = 0; i < 20; ++i) {
    auto resolver = MustCreate(silent.server(), seconds(30), 1);
    ASSERT_NE(resolver, nullptr);
    answers.push_back(std::make_shared<Answers>());
    auto mine = answers.back();
    resolver->Resolve("a.svc.test", kPort,
                      [mine](DnsAnswer a) { mine->Callback()(std::move(a)); });
  }  // each resolver destroyed at once
  for (auto& mine : answers) {
    EXPECT_EQ(mine->Wait().status.code(), absl::StatusCode::kUnavailable);
  }
  DrainDnsLoop();
  for (auto& mine : answers) EXPECT_EQ(mine->count(), 1);
  EXPECT_EQ(GetDnsLoopStatsForTesting().pending, 0);
}

TEST_F(DnsResolverTest, DoneMayDestroyTheResolver) {
  struct Box {
    std::mutex mu;
    std::shared_ptr<DnsResolver> resolver;
    std::optional<DnsAnswer> answer;
  };
  auto box = std::make_shared<Box>();
  box->resolver = MustCreate(dns_.server());
  ASSERT_NE(box->resolver, nullptr);
  DnsResolver* raw = box->resolver.get();
  raw->Resolve("a.svc.test", kPort, [box](DnsAnswer answer) {
    std::shared_ptr<DnsResolver> last;
    std::lock_guard<std::mutex> lock(box->mu);
    last = std::move(box->resolver);
    box->answer = std::move(answer);
    last.reset();  // the resolver's last reference, inside its callback
  });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(box->mu);
    return box->answer.has_value();
  }));
  std::lock_guard<std::mutex> lock(box->mu);
  EXPECT_TRUE(box->answer->status.ok()) << box->answer->status;
  EXPECT_EQ(box->resolver, nullptr);
}

TEST_F(DnsResolverTest, DoneMayResolveAgain) {
  auto second = std::make_shared<Answers>();
  std::shared_ptr<DnsResolver> resolver = resolver_;
  resolver_->Resolve("a.svc.test", kPort, [resolver, second](DnsAnswer a) {
    EXPECT_TRUE(a.status.ok()) << a.status;
    resolver->Resolve("v4only.svc.test", kPort, [second](DnsAnswer b) {
      second->Callback()(std::move(b));
    });
  });
  DnsAnswer answer = second->Wait();
  ASSERT_TRUE(answer.status.ok()) << answer.status;
  EXPECT_THAT(Targets(answer), ElementsAre("ipv4:10.0.0.3:443"));
}

TEST_F(DnsResolverTest, IdleLoopDoesNotWakeUp) {
  // A real query opened sockets; once it completed they close, and the loop
  // sleeps in poll() without a timeout until it is given work.
  ASSERT_TRUE(ResolveAndWait(*resolver_, "a.svc.test").status.ok());
  DrainDnsLoop();
  ASSERT_TRUE(ResolveAndWait(*resolver_, "10.0.0.1").status.ok());
  const int64_t before = GetDnsLoopStatsForTesting().polls;
  // Nothing to wait for: this checks that nothing happens meanwhile.
  std::this_thread::sleep_for(milliseconds(500));
  const DnsLoopStats after = GetDnsLoopStatsForTesting();
  EXPECT_LE(after.polls - before, 1);
  EXPECT_EQ(after.pending, 0);
}

TEST(DnsResolverDestroyTest, DestroyedResolversCloseTheirChannels) {
  DrainDnsLoop();
  const int before = GetDnsLoopStatsForTesting().channels;
  {
    std::vector<std::shared_ptr<DnsResolver>> resolvers;
    for (int i = 0; i < 10; ++i) resolvers.push_back(MustCreate("127.0.0.1"));
    DrainDnsLoop();
    EXPECT_EQ(GetDnsLoopStatsForTesting().channels, before + 10);
  }
  DrainDnsLoop();
  EXPECT_EQ(GetDnsLoopStatsForTesting().channels, before);
}

// --- The Dnsmasq fixture ----------------------------------------------------

// The state letter of process `pid` in /proc ('Z': dead, not yet reaped), or
// '?' when there is no such process.
char ProcessState(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size()
             ? '?'
             : text[paren + 2];
}

TEST(DnsmasqTest, SetRecordsRejectsAddressesThatAreNotIps) {
  Dnsmasq dns(kTtl);
  EXPECT_NONFATAL_FAILURE(dns.SetRecords({{"x.svc.test", {"10.0.0.300"}}}),
                          "\"10.0.0.300\" (for x.svc.test) is not an IP");
}

TEST(DnsmasqTest, KillStopsAnswersAndSetRecordsThenFails) {
  Dnsmasq dns(kTtl);
  dns.SetRecords({{"a.svc.test", {"10.0.0.1"}}});
  dns.Kill();
  EXPECT_EQ(ProcessState(dns.pid()), '?');  // reaped
  EXPECT_NONFATAL_FAILURE(dns.SetRecords({{"a.svc.test", {"10.0.0.2"}}}),
                          "dnsmasq is dead");
  auto resolver = MustCreate(dns.server(), milliseconds(200), 1);
  ASSERT_NE(resolver, nullptr);
  EXPECT_EQ(ResolveAndWait(*resolver, "a.svc.test").status.code(),
            absl::StatusCode::kUnavailable);
}

TEST(DnsmasqTest, RestartComesBackOnTheSamePortWithTheSameRecords) {
  Dnsmasq dns(kTtl);
  dns.SetRecords({{"a.svc.test", {"10.0.0.1"}}});
  const std::string server = dns.server();
  EXPECT_TRUE(dns.Restart());  // running: nothing to do
  dns.Kill();
  ASSERT_TRUE(dns.Restart());
  EXPECT_EQ(dns.server(), server);
  auto resolver = MustCreate(dns.server(), milliseconds(500), 1);
  ASSERT_NE(resolver, nullptr);
  const auto result = ResolveAndWait(*resolver, "a.svc.test");
  ASSERT_TRUE(result.status.ok()) << result.status;
  dns.SetRecords({{"a.svc.test", {"10.0.0.2"}}});  // answers new records
}

TEST(DnsmasqTest, DiesWithTheThreadThatStartedIt) {
  std::unique_ptr<Dnsmasq> dns;
  std::thread([&dns] { dns = std::make_unique<Dnsmasq>(kTtl); }).join();
  // PR_SET_PDEATHSIG: SIGKILL when its creating thread exited. It stays a
  // zombie until the fixture reaps it.
  EXPECT_TRUE(WaitFor([&] { return ProcessState(dns->pid()) == 'Z'; }))
      << "state " << ProcessState(dns->pid());
}

}  // namespace
}  // namespace internal
}  // namespace warm
