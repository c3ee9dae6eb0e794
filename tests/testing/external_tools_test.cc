// Self-test of the fixtures that run external tools: Subprocess, Promtool,
// Prometheus and Chromium (tests/testing/). The tools are Debian's packages
// prometheus and chromium; a test fails, naming the package, when its tool is
// missing.
//
// The pages and metrics come from an httplib::Server on 127.0.0.1 in the
// test itself, so these tests check the fixtures, not warm.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "tests/testing/chromium.h"
#include "tests/testing/prometheus.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

#ifndef WARM_SCREENSHOT_DIR
#error "WARM_SCREENSHOT_DIR must name a directory for screenshots"
#endif

namespace warm {
namespace testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGoodExposition[] =
    "# HELP warm_test_requests_total Requests served.\n"
    "# TYPE warm_test_requests_total counter\n"
    "warm_test_requests_total{method=\"Echo\"} 7\n"
    "# HELP warm_test_ready_members Members ready to serve.\n"
    "# TYPE warm_test_ready_members gauge\n"
    "warm_test_ready_members 42\n";

// A counter without the _total suffix: promtool's lint rejects it.
constexpr char kCounterWithoutTotal[] =
    "# HELP warm_test_requests Requests served.\n"
    "# TYPE warm_test_requests counter\n"
    "warm_test_requests 7\n";

// Line 3 has an unterminated label set.
constexpr char kMalformedExposition[] =
    "# HELP warm_test_ready_members Members ready to serve.\n"
    "# TYPE warm_test_ready_members gauge\n"
    "warm_test_ready_members{pool=\"a\" 1\n";

// Markup in text, escaped as a server must escape it, and a script that
// counts the page's script elements: a browser that took the text for markup
// would count two.
constexpr char kPage[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>warm test page</title></head>"
    "<body><h1>warm channels</h1>"
    "<p id=\"target\">&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    "<p id=\"scripts\"></p>"
    "<script>document.getElementById('scripts').textContent = 'scripts: ' + "
    "document.getElementsByTagName('script').length;</script>"
    "</body></html>\n";

constexpr std::chrono::seconds kPrometheusWait{60};

// An httplib::Server on 127.0.0.1 and a free port, serving kGoodExposition
// at /metrics and kPage at /page.html, until destroyed.
class TestHttpServer {
 public:
  TestHttpServer() {
    server_.set_keep_alive_timeout(1);
    server_.Get("/metrics",
                [](const httplib::Request&, httplib::Response& res) {
                  res.set_content(kGoodExposition,
                                  "text/plain; version=0.0.4; charset=utf-8");
                });
    server_.Get("/page.html",
                [](const httplib::Request&, httplib::Response& res) {
                  res.set_content(kPage, "text/html; charset=utf-8");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return;
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      ended_ = true;
    });
    running_ = WaitFor([this] { return server_.is_running(); });
  }

  ~TestHttpServer() {
    if (!thread_.joinable()) return;
    // stop() before listen_after_bind() runs would be lost: repeat it until
    // the loop has ended.
    while (!ended_) {
      server_.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    thread_.join();
  }

  // Whether it listens; tests ASSERT this first.
  bool ok() const { return port_ > 0 && running_; }
  // "127.0.0.1:41234".
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Url(const std::string& path) const {
    return "http://" + address() + path;
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  bool running_ = false;
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

// --- Subprocess ------------------------------------------------------------

TEST(SubprocessTest, RunCommandReturnsExitCodeAndOutput) {
  absl::StatusOr<CommandResult> result = RunCommand(
      {"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"},
      std::chrono::seconds(20));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_THAT(result->output, HasSubstr("to-stdout"));
  EXPECT_THAT(result->output, HasSubstr("to-stderr"));
  EXPECT_EQ(result->error_output, "");
}

TEST(SubprocessTest, SeparatesStderrAndReadsStdinFile) {
  absl::StatusOr<TempDir> dir = TempDir::Create("subprocess-test");
  ASSERT_TRUE(dir.ok()) << dir.status();
  SubprocessOptions options;
  options.stdin_path = dir->File("input");
  options.separate_stderr = true;
  options.environment = {"WARM_SUBPROCESS_TEST=from-environment"};
  ASSERT_TRUE(WriteFile(options.stdin_path, "from-stdin\n").ok());
  absl::StatusOr<CommandResult> result =
      RunCommand({"/bin/sh", "-c", "cat; echo \"$WARM_SUBPROCESS_TEST\" >&2"},
                 std::chrono::seconds(20), options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->output, "from-stdin\n");
  EXPECT_EQ(result->error_output, "from-environment\n");
}

TEST(SubprocessTest, TimeoutKillsTheProcessGroup) {
  // The shell's child, sleep, is in its process group: it dies too.
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start({"/bin/sh", "-c", "/bin/sleep 60 & echo $!; wait"});
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_TRUE(WaitFor([&] { return !(*process)->output().empty(); }))
      << (*process)->Describe();
  const pid_t sleep_pid = std::stoi((*process)->output());

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<int> exit_code =
      (*process)->Wait(start + std::chrono::milliseconds(300));
  EXPECT_EQ(exit_code.status().code(), absl::StatusCode::kDeadlineExceeded)
      << exit_code.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_THAT((*process)->Describe(), HasSubstr("killed by signal 9"));
  // Gone, or a zombie until init reaps it.
  EXPECT_TRUE(WaitFor([&] {
    std::ifstream stat("/proc/" + std::to_string(sleep_pid) + "/stat");
    std::string pid, name, state;
    return !(stat >> pid >> name >> state) || state == "Z";
  })) << "sleep (pid "
      << sleep_pid << ") outlived its killed process group";
}

TEST(SubprocessTest, MissingBinaryIsAnErrorNamingThePackage) {
  absl::StatusOr<CommandResult> result =
      RunCommand({"/nonexistent/warm-tool"}, std::chrono::seconds(20));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound)
      << result.status();
  const absl::Status status =
      CheckExecutable("/nonexistent/warm-tool", "warm-tool-package");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("install Debian's package warm-tool-package"));
}

// --- Promtool --------------------------------------------------------------

TEST(PromtoolTest, AcceptsAGoodExposition) {
  absl::StatusOr<MetricsCheck> check = Promtool::CheckMetrics(kGoodExposition);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok) << "exit code " << check->exit_code << ":\n"
                         << check->output;
}

TEST(PromtoolTest, RejectsACounterWithoutTotal) {
  absl::StatusOr<MetricsCheck> check =
      Promtool::CheckMetrics(kCounterWithoutTotal);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->ok);
  EXPECT_NE(check->exit_code, 0);
  EXPECT_THAT(check->output, HasSubstr("warm_test_requests"));
  EXPECT_THAT(check->output, HasSubstr("_total"));
}

TEST(PromtoolTest, RejectsAMalformedLine) {
  absl::StatusOr<MetricsCheck> check =
      Promtool::CheckMetrics(kMalformedExposition);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->ok);
  EXPECT_THAT(check->output, HasSubstr("line 3"));
}

// --- Prometheus ------------------------------------------------------------

TEST(PrometheusTest, ScrapesAGaugeFromTheTestServer) {
  TestHttpServer server;
  ASSERT_TRUE(server.ok());
  absl::StatusOr<std::unique_ptr<Prometheus>> prometheus =
      Prometheus::Start(server.address());
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  const auto deadline = std::chrono::steady_clock::now() + kPrometheusWait;
  absl::StatusOr<Sample> ready =
      (*prometheus)
          ->WaitForValue(
              "warm_test_ready_members",
              [](double value) { return value == 42; }, deadline);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->labels["__name__"], "warm_test_ready_members");
  EXPECT_EQ(ready->labels["job"], Prometheus::kJob);
  EXPECT_EQ(ready->labels["instance"], server.address());

  absl::StatusOr<std::vector<Sample>> requests =
      (*prometheus)->Query("warm_test_requests_total{method=\"Echo\"}");
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].value, 7);

  // A scalar, and a query Prometheus rejects.
  absl::StatusOr<std::vector<Sample>> scalar = (*prometheus)->Query("1 + 2");
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  ASSERT_EQ(scalar->size(), 1u);
  EXPECT_EQ((*scalar)[0].value, 3);
  EXPECT_TRUE((*scalar)[0].labels.empty());
  // A label value that the API's JSON escapes (quotes, backslash, <>&) and
  // UTF-8.
  absl::StatusOr<std::vector<Sample>> text =
      (*prometheus)
          ->Query(
              "label_replace(vector(1), \"text\", "
              "\"<a href=\\\"x\\\">\\\\ & \u00e9</a>\", \"\", \"\")");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_EQ(text->size(), 1u);
  EXPECT_EQ((*text)[0].labels["text"], "<a href=\"x\">\\ & \u00e9</a>");
  absl::StatusOr<std::vector<Sample>> bad = (*prometheus)->Query("sum(");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bad_data"));

  absl::StatusOr<std::vector<ScrapeTarget>> targets =
      (*prometheus)->TargetHealth();
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ((*targets)[0].scrape_url, server.Url("/metrics"));
  EXPECT_EQ((*targets)[0].health, "up") << (*prometheus)->Describe();
}

TEST(PrometheusTest, TargetHealthReportsAFailingScrape) {
  TestHttpServer server;
  ASSERT_TRUE(server.ok());
  PrometheusOptions options;
  options.metrics_path = "/no-such-path";
  absl::StatusOr<std::unique_ptr<Prometheus>> prometheus =
      Prometheus::Start(server.address(), options);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  // up is 0 once a scrape failed.
  const auto deadline = std::chrono::steady_clock::now() + kPrometheusWait;
  absl::StatusOr<Sample> up =
      (*prometheus)
          ->WaitForValue(
              "up", [](double value) { return value == 0; }, deadline);
  ASSERT_TRUE(up.ok()) << up.status();
  absl::StatusOr<std::vector<ScrapeTarget>> targets =
      (*prometheus)->TargetHealth();
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ((*targets)[0].health, "down");
  EXPECT_THAT((*targets)[0].last_error, HasSubstr("404"));
  EXPECT_THAT((*prometheus)->Describe(), HasSubstr("404"));

  // A wait that cannot succeed reports the failing scrape.
  absl::StatusOr<Sample> never =
      (*prometheus)
          ->WaitForValue(
              "up", [](double value) { return value == 1; },
              std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(300));
  EXPECT_EQ(never.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(never.status().message()), HasSubstr("404"));
}

// --- Chromium --------------------------------------------------------------

TEST(ChromiumTest, DumpDomKeepsEscapedMarkupAsText) {
  TestHttpServer server;
  ASSERT_TRUE(server.ok());
  absl::StatusOr<std::string> dom = Chromium::DumpDom(server.Url("/page.html"));
  ASSERT_TRUE(dom.ok()) << dom.status();
  EXPECT_THAT(*dom, HasSubstr("<h1>warm channels</h1>"));
  // Text, serialized escaped again; never an element.
  EXPECT_THAT(*dom, HasSubstr("<p id=\"target\">&lt;script&gt;alert(1)"
                              "&lt;/script&gt;</p>"));
  EXPECT_THAT(*dom, Not(HasSubstr("<script>alert(1)")));
  // The page's own script ran and found itself the only script element.
  EXPECT_THAT(*dom, HasSubstr("<p id=\"scripts\">scripts: 1</p>"));
}

TEST(ChromiumTest, DumpDomOfAnUnreachablePageIsAnError) {
  // A port bound but not listening refuses connections, and stays ours.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";

  absl::StatusOr<std::string> dom = Chromium::DumpDom(url);
  close(fd);
  EXPECT_FALSE(dom.ok());
  EXPECT_THAT(std::string(dom.status().message()),
              HasSubstr("ERR_CONNECTION_REFUSED"));
}

TEST(ChromiumTest, ScreenshotIsAPng) {
  TestHttpServer server;
  ASSERT_TRUE(server.ok());
  const std::string path =
      std::string(WARM_SCREENSHOT_DIR) + "/external_tools_test.png";
  constexpr int kWidth = 640;
  constexpr int kHeight = 400;
  const absl::Status status =
      Chromium::Screenshot(server.Url("/page.html"), path, kWidth, kHeight);
  ASSERT_TRUE(status.ok()) << status;

  absl::StatusOr<std::string> png = ReadFile(path);
  ASSERT_TRUE(png.ok()) << png.status();
  ASSERT_GT(png->size(), 24u) << path;
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  // IHDR: width and height, big-endian, at bytes 16 and 20.
  auto be32 = [&](size_t at) {
    uint32_t value = 0;
    for (size_t i = 0; i < 4; ++i) {
      value = value << 8 | static_cast<unsigned char>((*png)[at + i]);
    }
    return value;
  };
  EXPECT_EQ(png->substr(12, 4), "IHDR") << path;
  EXPECT_EQ(be32(16), static_cast<uint32_t>(kWidth)) << path;
  EXPECT_EQ(be32(20), static_cast<uint32_t>(kHeight)) << path;
}

}  // namespace
}  // namespace testing
}  // namespace warm
