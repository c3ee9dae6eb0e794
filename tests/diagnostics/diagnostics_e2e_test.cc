// The diagnostics endpoints checked by real tools: `promtool check metrics`
// on /metrics, a real Prometheus scraping the demo client (examples/) and
// read back through its HTTP API, and headless Chromium rendering the pages
// (the DOM must show hostile names as text; screenshots are kept under the
// build tree in tests/screenshots/ for a person to look at).

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/testing/channels.h"
#include "tests/testing/chromium.h"
#include "tests/testing/prometheus.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_backend.h"
#include "tests/testing/wait.h"
#include "warm/channel.h"
#include "warm/diagnostics.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

namespace pb = ::warm::diagnostics::v1;
using ::warm::testing::Chromium;
using ::warm::testing::MustCreate;
using ::warm::testing::Prometheus;
using ::warm::testing::Promtool;
using ::warm::testing::Subprocess;
using ::warm::testing::TestBackend;
using ::warm::testing::WaitFor;

// A channel name that is also an attack on the page and on label escaping.
constexpr char kHostileName[] = "<script>alert(1)</script> \"q\" \\ end";

std::string Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  httplib::Result result = client.Get(path.c_str());
  EXPECT_TRUE(result) << path;
  if (!result) return "";
  EXPECT_EQ(result->status, 200) << path;
  return result->body;
}

uint64_t ChannelId(const std::string& name) {
  pb::Snapshot snapshot;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  HandleDiagnosticsRequest("/channels.json").body, &snapshot)
                  .ok());
  for (const pb::Channel& channel : snapshot.channels()) {
    if (channel.name() == name) return channel.id();
  }
  ADD_FAILURE() << "no channel named " << name;
  return 0;
}

// Two channels (one static and healthy with calls, one whose DNS name does
// not resolve) and the embedded server.
class DiagnosticsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChannelOptions options;
    options.name = kHostileName;
    options.pool_size = 2;
    options.health_check.interval = std::chrono::milliseconds(100);
    channel_ =
        MustCreate(absl::StrCat("ipv4:", a_.address(), ",", b_.address()),
                   std::move(options));
    ASSERT_NE(channel_, nullptr);
    ASSERT_TRUE(
        WaitFor([&] { return channel_->Health().healthy_members == 2; }));
    auto stub = warm::testing::EchoTest::NewStub(channel_);
    for (int i = 0; i < 20; ++i) {
      grpc::ClientContext context;
      warm::testing::EchoRequest request;
      warm::testing::EchoResponse response;
      ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
    }
    ChannelOptions dns_options;
    dns_options.name = "unresolvable";
    // Port 9 of 127.0.0.1 runs no DNS server: resolution fails at once.
    dns_channel_ = MustCreate("dns://127.0.0.1:9/nothing.svc.test:443",
                              std::move(dns_options));
    ASSERT_NE(dns_channel_, nullptr);
    absl::StatusOr<std::unique_ptr<DiagnosticsServer>> server =
        DiagnosticsServer::Start("127.0.0.1:0");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  TestBackend a_{"127.0.0.1"};
  TestBackend b_{"127.0.0.2"};
  std::shared_ptr<Channel> channel_;
  std::shared_ptr<Channel> dns_channel_;
  std::unique_ptr<DiagnosticsServer> server_;
};

TEST_F(DiagnosticsE2eTest, MetricsPassPromtool) {
  const std::string metrics = Get(server_->port(), "/metrics");
  ASSERT_NE(metrics.find("warm_channel_calls_total"), std::string::npos);
  absl::StatusOr<warm::testing::MetricsCheck> check =
      Promtool::CheckMetrics(metrics);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok) << "promtool exit " << check->exit_code << ":\n"
                         << check->output << "\n--- metrics:\n"
                         << metrics;
  EXPECT_EQ(check->output, "");
}

TEST_F(DiagnosticsE2eTest, ChromiumShowsHostileNamesAsText) {
  const uint64_t id = ChannelId(kHostileName);
  const std::string url = absl::StrCat(server_->url(), "channel/", id);
  absl::StatusOr<std::string> dom = Chromium::DumpDom(url);
  ASSERT_TRUE(dom.ok()) << dom.status();
  // The name is text: escaped in the serialized DOM, never an element.
  EXPECT_NE(dom->find("&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos)
      << *dom;
  EXPECT_EQ(dom->find("<script"), std::string::npos) << *dom;
  EXPECT_NE(dom->find(a_.address()), std::string::npos);
  EXPECT_NE(dom->find(b_.address()), std::string::npos);

  const std::string dir = WARM_SCREENSHOT_DIR;
  std::filesystem::create_directories(dir);
  for (const auto& [page, file] :
       {std::pair<std::string, std::string>{url, "diagnostics_channel.png"},
        {server_->url(), "diagnostics_index.png"},
        {absl::StrCat(server_->url(), "channel/", ChannelId("unresolvable")),
         "diagnostics_dns_failing.png"}}) {
    const std::string path = dir + "/" + file;
    absl::Status shot = Chromium::Screenshot(page, path, 1400, 1000);
    ASSERT_TRUE(shot.ok()) << shot;
    std::ifstream png(path, std::ios::binary);
    char magic[8] = {};
    png.read(magic, sizeof(magic));
    EXPECT_EQ(std::string(magic, sizeof(magic)),
              std::string("\x89PNG\r\n\x1a\n", 8))
        << path;
  }
}

// --- the demo client scraped by a real Prometheus ---------------------------

// The "HOST:PORT" a child printed after `prefix` ("... listening on "),
// once it has; "" if it has not within 20 s.
std::string PrintedAddress(const Subprocess& process,
                           const std::string& prefix) {
  std::string address;
  WaitFor(
      [&] {
        const std::string output = process.output();
        const size_t at = output.find(prefix);
        if (at == std::string::npos) return false;
        const size_t start = at + prefix.size();
        const size_t end = output.find_first_of(" \n/", start);
        if (end == std::string::npos) return false;
        address = output.substr(start, end - start);
        return true;
      },
      std::chrono::seconds(20));
  return address;
}

std::unique_ptr<Subprocess> MustRun(const std::vector<std::string>& argv) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(argv);
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

TEST(DemoScrapeTest, PrometheusReadsTheDemoClientsMetrics) {
#ifndef WARM_GREETER_CLIENT
  GTEST_SKIP() << "the examples are not built (WARM_BUILD_EXAMPLES=OFF)";
#else
  // The demo's processes: two greeter servers and the client, which serves
  // diagnostics; each on a port the kernel picks, read from its output.
  std::vector<std::unique_ptr<Subprocess>> processes;
  std::vector<std::string> backends;
  for (const char* host : {"127.0.0.1", "127.0.0.2"}) {
    processes.push_back(
        MustRun({WARM_GREETER_SERVER, absl::StrCat(host, ":0")}));
    ASSERT_NE(processes.back(), nullptr);
    backends.push_back(
        PrintedAddress(*processes.back(), "greeter_server listening on "));
    ASSERT_FALSE(backends.back().empty()) << processes.back()->Describe();
  }
  processes.push_back(MustRun(
      {WARM_GREETER_CLIENT, "--target",
       absl::StrCat("ipv4:", backends[0], ",", backends[1]), "--pool_size", "2",
       "--threads", "2", "--seconds", "100", "--diagnostics", "127.0.0.1:0"}));
  ASSERT_NE(processes.back(), nullptr);
  const std::string diagnostics =
      PrintedAddress(*processes.back(), "diagnostics page: http://");
  ASSERT_FALSE(diagnostics.empty()) << processes.back()->Describe();

  absl::StatusOr<std::unique_ptr<Prometheus>> prometheus =
      Prometheus::Start(diagnostics);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  absl::StatusOr<warm::testing::Sample> healthy =
      (*prometheus)
          ->WaitForValue(
              "warm_channel_healthy_members{channel=\"greeter\"}",
              [](double v) { return v == 2; }, deadline);
  ASSERT_TRUE(healthy.ok()) << healthy.status() << "\nclient output:\n"
                            << processes.back()->Describe();
  absl::StatusOr<warm::testing::Sample> calls =
      (*prometheus)
          ->WaitForValue(
              "warm_channel_calls_total{channel=\"greeter\",code=\"OK\"}",
              [](double v) { return v > 0; }, deadline);
  ASSERT_TRUE(calls.ok()) << calls.status();
  EXPECT_EQ(calls->labels.at("job"), Prometheus::kJob);
#endif
}

}  // namespace
}  // namespace warm
