// Diagnostics of live channels (snapshot, metrics, JSON, pages) and the
// embedded HTTP server, against real gRPC backends on loopback.

#include "warm/diagnostics.h"

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/testing/channels.h"
#include "tests/testing/test_backend.h"
#include "tests/testing/wait.h"
#include "warm/channel.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

namespace pb = ::warm::diagnostics::v1;
using ::warm::testing::HasEvent;
using ::warm::testing::MustCreate;
using ::warm::testing::TestBackend;
using ::warm::testing::WaitFor;

// A channel name no other test in this binary uses.
std::string UniqueName(const std::string& stem) {
  static std::atomic<int> n{0};
  return absl::StrCat(stem, "-", n++);
}

pb::Snapshot JsonSnapshot() {
  const DiagnosticsResponse response =
      HandleDiagnosticsRequest("/channels.json");
  EXPECT_EQ(response.status, 200);
  pb::Snapshot snapshot;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(response.body, &snapshot)
          .ok())
      << response.body;
  return snapshot;
}

// The channel named `name` in a snapshot; an empty message when absent.
pb::Channel Find(const pb::Snapshot& snapshot, const std::string& name) {
  for (const pb::Channel& channel : snapshot.channels()) {
    if (channel.name() == name) return channel;
  }
  return pb::Channel();
}

uint64_t Count(const google::protobuf::RepeatedPtrField<pb::CodeCount>& counts,
               const std::string& code) {
  for (const pb::CodeCount& count : counts) {
    if (count.code() == code) return count.count();
  }
  return 0;
}

std::string Metrics() { return HandleDiagnosticsRequest("/metrics").body; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

grpc::Status Echo(const std::shared_ptr<Channel>& channel, bool expired) {
  auto stub = warm::testing::EchoTest::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(
      std::chrono::system_clock::now() +
      (expired ? std::chrono::seconds(-1) : std::chrono::seconds(10)));
  warm::testing::EchoRequest request;
  warm::testing::EchoResponse response;
  return stub->Echo(&context, request, &response);
}

ChannelOptions FastOptions(const std::string& name) {
  ChannelOptions options;
  options.name = name;
  options.health_check.interval = std::chrono::milliseconds(50);
  options.health_check.unhealthy_threshold = 1;
  return options;
}

class DiagnosticsTest : public ::testing::Test {
 protected:
  std::string Target() const {
    return absl::StrCat("ipv4:", a_.address(), ",", b_.address(), ",",
                        c_.address());
  }
  TestBackend a_{"127.0.0.1"};
  TestBackend b_{"127.0.0.2"};
  TestBackend c_{"127.0.0.3"};
};

TEST_F(DiagnosticsTest, LiveChannelInMetricsJsonAndPages) {
  const std::string name = UniqueName("live");
  std::shared_ptr<Channel> channel = MustCreate(Target(), FastOptions(name));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return channel->Health().healthy_members == 3; }));
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Echo(channel, false).ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Echo(channel, true).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }

  const std::string label = absl::StrCat("{channel=\"", name, "\"");
  const std::string metrics = Metrics();
  EXPECT_TRUE(Contains(
      metrics, absl::StrCat("warm_channel_healthy_members", label, "} 3\n")))
      << metrics;
  EXPECT_TRUE(Contains(metrics, absl::StrCat("warm_channel_members", label,
                                             ",state=\"healthy\"} 3\n")));
  EXPECT_TRUE(Contains(metrics, absl::StrCat("warm_channel_calls_total", label,
                                             ",code=\"OK\"} 30\n")));
  EXPECT_TRUE(
      Contains(metrics, absl::StrCat("warm_channel_calls_total", label,
                                     ",code=\"DEADLINE_EXCEEDED\"} 2\n")));
  EXPECT_TRUE(
      Contains(metrics, absl::StrCat("warm_channel_degraded", label, "} 0\n")));
  EXPECT_TRUE(
      Contains(metrics, absl::StrCat("warm_channel_call_duration_seconds_count",
                                     label, "} 32\n")));

  const pb::Channel json = Find(JsonSnapshot(), name);
  ASSERT_EQ(json.name(), name);
  EXPECT_EQ(json.target(), Target());
  EXPECT_EQ(json.status(), "healthy");
  EXPECT_EQ(json.connectivity(), "READY");
  EXPECT_EQ(json.addresses_size(), 3);
  ASSERT_EQ(json.members_size(), 3);
  uint64_t ok = 0;
  uint64_t recent = 0;
  for (const pb::Member& member : json.members()) {
    EXPECT_EQ(member.state(), "healthy");
    EXPECT_EQ(member.last_check(), "SERVING");
    EXPECT_TRUE(member.pickable());
    ok += Count(member.calls_finished(), "OK");
    recent += member.recent_calls();
  }
  EXPECT_EQ(ok, 30u);
  EXPECT_EQ(recent, 32u);  // every call so far is recent
  EXPECT_EQ(Count(json.counters().calls_finished(), "OK"), 30u);
  EXPECT_GE(json.counters().health_checks_serving(), 3u);

  const DiagnosticsResponse page =
      HandleDiagnosticsRequest(absl::StrCat("/channel/", json.id()));
  EXPECT_EQ(page.status, 200);
  for (const TestBackend* backend : {&a_, &b_, &c_}) {
    EXPECT_TRUE(Contains(page.body, backend->address())) << page.body;
  }
  const DiagnosticsResponse index = HandleDiagnosticsRequest("/");
  EXPECT_TRUE(Contains(index.body, absl::StrCat("href=\"channel/", json.id(),
                                                "\">", name, "</a>")));
}

// Calls counted on a member stay counted after the member is evicted: a
// Prometheus counter must never go down.
TEST_F(DiagnosticsTest, CountersSurviveEvictedMembers) {
  const std::string name = UniqueName("evict");
  std::shared_ptr<Channel> channel = MustCreate(Target(), FastOptions(name));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] { return channel->Health().healthy_members == 3; }));
  // Until the member on b has had calls (P2C spreads them at random).
  auto calls_on_b = [&] {
    for (const MemberInfo& member : channel->Members()) {
      if (member.address == b_.address()) return member.calls_started;
    }
    return uint64_t{0};
  };
  int calls = 0;
  while (calls_on_b() == 0 && calls < 1000) {
    ASSERT_TRUE(Echo(channel, false).ok());
    ++calls;
  }
  ASSERT_GT(calls_on_b(), 0u);

  b_.SetServing(false);
  ASSERT_TRUE(WaitFor([&] {
    return HasEvent(*channel, PoolEvent::Kind::kMemberEvicted, b_.address());
  }));
  // Its counts moved to the channel's total once its connection was gone.
  ASSERT_TRUE(WaitFor([&] {
    return Find(JsonSnapshot(), name).counters().closed_members() >= 1;
  }));
  const pb::Channel json = Find(JsonSnapshot(), name);
  EXPECT_EQ(Count(json.counters().calls_finished(), "OK"),
            static_cast<uint64_t>(calls));
  // So do the per-method counts (they belong to the channel).
  ASSERT_EQ(json.methods_size(), 1) << json.DebugString();
  EXPECT_EQ(json.methods(0).method(), "Echo");
  EXPECT_EQ(json.methods(0).started(), static_cast<uint64_t>(calls));
  EXPECT_EQ(Count(json.methods(0).handled(), "OK"),
            static_cast<uint64_t>(calls));
  EXPECT_GE(json.counters().evictions_unhealthy(), 1u);
  EXPECT_GE(json.counters().health_checks_not_serving(), 1u);
  bool error_shown = false;
  for (const pb::Address& address : json.addresses()) {
    if (address.address() == b_.address()) {
      error_shown = address.last_error() == "NOT_SERVING";
    }
  }
  EXPECT_TRUE(error_shown) << json.DebugString();
  const std::string metrics = Metrics();
  EXPECT_TRUE(
      Contains(metrics, absl::StrCat("warm_channel_calls_total{"
                                     "channel=\"",
                                     name, "\",code=\"OK\"} ", calls, "\n")))
      << metrics;
}

TEST_F(DiagnosticsTest, InvalidUtf8InNamesIsReplaced) {
  std::shared_ptr<Channel> channel =
      MustCreate(Target(), FastOptions(UniqueName("caf\xe9")));
  ASSERT_NE(channel, nullptr);
  const std::string metrics = Metrics();
  EXPECT_TRUE(Contains(metrics, "channel=\"caf\xEF\xBF\xBD-"));
  EXPECT_FALSE(Contains(metrics, "caf\xe9"));
  JsonSnapshot();  // parses
}

TEST_F(DiagnosticsTest, CallsBeforeAnyDnsAnswerAreCounted) {
  const std::string name = UniqueName("unresolved");
  ChannelOptions options;
  options.name = name;
  // Nothing answers DNS on port 9: every call fails, before any address.
  std::shared_ptr<Channel> channel =
      MustCreate("dns://127.0.0.1:9/nothing.svc.test:443", std::move(options));
  ASSERT_NE(channel, nullptr);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Echo(channel, false).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_TRUE(
      Contains(Metrics(), absl::StrCat("warm_channel_calls_total{"
                                       "channel=\"",
                                       name, "\",code=\"UNAVAILABLE\"} 3\n")));
}

TEST_F(DiagnosticsTest, SameNamesGetDistinctLabelsAndDestroyedChannelsLeave) {
  const std::string name = UniqueName("twin");
  std::shared_ptr<Channel> first = MustCreate(Target(), FastOptions(name));
  std::shared_ptr<Channel> second = MustCreate(Target(), FastOptions(name));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  pb::Snapshot snapshot = JsonSnapshot();
  std::vector<pb::Channel> twins;
  for (const pb::Channel& channel : snapshot.channels()) {
    if (channel.name() == name) twins.push_back(channel);
  }
  ASSERT_EQ(twins.size(), 2u);
  EXPECT_EQ(twins[0].metrics_label(), name);
  EXPECT_EQ(twins[1].metrics_label(), absl::StrCat(name, "#", twins[1].id()));
  // A name that looks like a made-up label gets one of its own too.
  std::shared_ptr<Channel> third =
      MustCreate(Target(), FastOptions(twins[1].metrics_label()));
  ASSERT_NE(third, nullptr);
  std::set<std::string> labels;
  snapshot = JsonSnapshot();
  for (const pb::Channel& channel : snapshot.channels()) {
    EXPECT_TRUE(labels.insert(channel.metrics_label()).second)
        << channel.metrics_label();
  }
  third.reset();

  second.reset();
  snapshot = JsonSnapshot();
  int left = 0;
  for (const pb::Channel& channel : snapshot.channels()) {
    left += channel.name() == name;
  }
  EXPECT_EQ(left, 1);
  EXPECT_EQ(
      HandleDiagnosticsRequest(absl::StrCat("/channel/", twins[1].id())).status,
      404);
  EXPECT_EQ(
      HandleDiagnosticsRequest(absl::StrCat("/channel/", twins[0].id())).status,
      200);
}

// --- the embedded server ---------------------------------------------------

std::unique_ptr<DiagnosticsServer> MustStart(
    const std::string& address, DiagnosticsServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<DiagnosticsServer>> server =
      DiagnosticsServer::Start(address, options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Sends `request` as is on a new connection; returns the status line.
std::string RawRequest(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
          0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[512];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) reply.assign(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

TEST(DiagnosticsServerTest, ServesPagesAndSurvivesBadRequests) {
  std::unique_ptr<DiagnosticsServer> server = MustStart("127.0.0.1:0");
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->url(),
            absl::StrCat("http://127.0.0.1:", server->port(), "/"));
  httplib::Client client("127.0.0.1", server->port());
  client.set_read_timeout(10, 0);

  auto get = [&](const std::string& path) {
    httplib::Result result = client.Get(path.c_str());
    EXPECT_TRUE(result) << path << ": " << httplib::to_string(result.error());
    return result ? result->status : -1;
  };
  httplib::Result index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"),
            "text/html; charset=utf-8");
  EXPECT_TRUE(Contains(index->body, "<h1>warm channels</h1>"));
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(Contains(metrics->body, "# TYPE warm_channels gauge\n"));
  EXPECT_EQ(get("/channels.json"), 200);
  EXPECT_EQ(get("/no/such/page"), 404);
  EXPECT_EQ(get("/channel/12345678"), 404);
  EXPECT_EQ(get("/?refresh=-1"), 400);
  EXPECT_EQ(get("/" + std::string(20000, 'a')), 414);
  httplib::Result head = client.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  httplib::Result post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_GE(post->status, 400);
  EXPECT_LT(post->status, 500);

  // A page elsewhere whose name points at 127.0.0.1 (DNS rebinding).
  httplib::Headers rebound = {{"Host", "attacker.example:80"}};
  httplib::Result refused = client.Get("/channels.json", rebound);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(get("/channels.json"), 200);  // Host: 127.0.0.1:PORT

  EXPECT_EQ(RawRequest(server->port(), "GARBAGE\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(RawRequest(server->port(),
                       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                       "999999999\r\n\r\n"),
            "HTTP/1.1 413 Payload Too Large");
  // Still serving.
  EXPECT_EQ(get("/"), 200);
}

TEST(DiagnosticsServerTest, OnlyLoopbackUnlessAllowed) {
  absl::StatusOr<std::unique_ptr<DiagnosticsServer>> refused =
      DiagnosticsServer::Start("0.0.0.0:0");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(std::string(refused.status().message()), "0.0.0.0:0"));
  EXPECT_TRUE(
      Contains(std::string(refused.status().message()), "allow_non_loopback"));
  DiagnosticsServerOptions options;
  options.allow_non_loopback = true;
  std::unique_ptr<DiagnosticsServer> any = MustStart("0.0.0.0:0", options);
  ASSERT_NE(any, nullptr);
  // Reachable over loopback too.
  httplib::Client client("127.0.0.1", any->port());
  httplib::Result result = client.Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST(DiagnosticsServerTest, LocalhostAndIpv6Loopback) {
  std::unique_ptr<DiagnosticsServer> local = MustStart("localhost:0");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->url(),
            absl::StrCat("http://127.0.0.1:", local->port(), "/"));
  std::unique_ptr<DiagnosticsServer> v6 = MustStart("[::1]:0");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->url(), absl::StrCat("http://[::1]:", v6->port(), "/"));
  httplib::Client client("::1", v6->port());
  httplib::Result result = client.Get("/");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST(DiagnosticsServerTest, BadAddressesAndOptionsAreNamed) {
  for (const std::string address :
       {"127.0.0.1", "127.0.0.1:99999", "127.0.0.1:http", "example.com:80",
        "[::1:80", "[::1]80", ":80", "999.0.0.1:80", "[127.0.0.1]:80"}) {
    absl::StatusOr<std::unique_ptr<DiagnosticsServer>> server =
        DiagnosticsServer::Start(address);
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
    EXPECT_TRUE(Contains(std::string(server.status().message()), address))
        << server.status();
  }
  DiagnosticsServerOptions options;
  options.threads = 0;
  absl::StatusOr<std::unique_ptr<DiagnosticsServer>> server =
      DiagnosticsServer::Start("127.0.0.1:0", options);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(Contains(std::string(server.status().message()), "threads"));
}

TEST(DiagnosticsServerTest, PortInUseIsUnavailable) {
  std::unique_ptr<DiagnosticsServer> first = MustStart("127.0.0.1:0");
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<DiagnosticsServer>> second =
      DiagnosticsServer::Start(absl::StrCat("127.0.0.1:", first->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warm
