// warm's metrics in an application's own prometheus-cpp Exposer
// (warm::MetricsCollectable(), next to the application's Registry), scraped
// by a real Prometheus and linted by promtool; the README's PromQL for the
// per-method error rate and p99 evaluated on what Prometheus stored.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/testing/channels.h"
#include "tests/testing/prometheus.h"
#include "tests/testing/test_backend.h"
#include "warm/channel.h"
#include "warm/prometheus.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

using ::warm::testing::MustCreate;
using ::warm::testing::Prometheus;
using ::warm::testing::Promtool;
using ::warm::testing::TestBackend;

// The README's queries (section "Metrics in your own prometheus-cpp
// exposer"), for this test's channel and over 1 minute instead of 5.
constexpr char kErrorRate[] =
    "sum by (grpc_service, grpc_method) "
    "(rate(grpc_client_handled_total{channel=\"exposer-e2e\","
    "grpc_code!=\"OK\"}[1m]))"
    " / sum by (grpc_service, grpc_method) "
    "(rate(grpc_client_started_total{channel=\"exposer-e2e\"}[1m]))";
constexpr char kP99[] =
    "histogram_quantile(0.99, sum by (grpc_service, grpc_method, le) "
    "(rate(grpc_client_handling_seconds_bucket{channel=\"exposer-e2e\"}"
    "[1m])))";

// Calls `channel` on a thread of its own until Stop(): per round 3 OK Echo
// calls and one that fails (an expired deadline), then a 10 ms pause.
class Caller {
 public:
  explicit Caller(const std::shared_ptr<Channel>& channel)
      : stub_(warm::testing::EchoTest::NewStub(channel)),
        thread_([this] { Run(); }) {}
  ~Caller() { Stop(); }

  // Stops the calls; returns the rounds made.
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return rounds_;
  }

 private:
  void Run() {
    while (!stop_) {
      for (int i = 0; i < 4; ++i) {
        grpc::ClientContext context;
        context.set_deadline(
            std::chrono::system_clock::now() +
            (i == 3 ? std::chrono::seconds(-1) : std::chrono::seconds(10)));
        warm::testing::EchoRequest request;
        warm::testing::EchoResponse response;
        stub_->Echo(&context, request, &response).ok();
      }
      ++rounds_;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  const std::unique_ptr<warm::testing::EchoTest::Stub> stub_;
  std::atomic<bool> stop_{false};
  std::atomic<int> rounds_{0};
  std::thread thread_;  // last: starts after the members above
};

TEST(ExposerE2eTest, PrometheusScrapesWarmThroughAnExposer) {
  TestBackend backend("127.0.0.1");
  ChannelOptions options;
  options.name = "exposer-e2e";
  options.pool_size = 2;
  std::shared_ptr<Channel> channel =
      MustCreate("ipv4:" + backend.address(), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)));

  // The application's own metrics and warm's, on one exposer.
  prometheus::Exposer exposer("127.0.0.1:0", 1);
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("app_requests_total")
      .Help("The application's own counter.")
      .Register(*registry)
      .Add({})
      .Increment(3);
  exposer.RegisterCollectable(registry);
  exposer.RegisterCollectable(MetricsCollectable());
  ASSERT_FALSE(exposer.GetListeningPorts().empty());
  const int port = exposer.GetListeningPorts().front();

  // Calls while Prometheus scrapes: 3 OK Echo calls and one that fails
  // (expired deadline) per round, so the error rate is 0.25.
  // One call first, so that the first fetch below has per-method series.
  {
    auto stub = warm::testing::EchoTest::NewStub(channel);
    grpc::ClientContext context;
    warm::testing::EchoRequest request;
    warm::testing::EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
  }
  Caller caller(channel);

  // What the exposer serves passes promtool.
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  httplib::Result page = client.Get("/metrics");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(
      page->body.find("grpc_client_started_total{channel=\"exposer-e2e\""),
      std::string::npos)
      << page->body;
  EXPECT_NE(page->body.find("app_requests_total 3"), std::string::npos);
  absl::StatusOr<warm::testing::MetricsCheck> check =
      Promtool::CheckMetrics(page->body);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok) << check->output << "\n--- metrics:\n" << page->body;
  EXPECT_EQ(check->output, "");

  absl::StatusOr<std::unique_ptr<Prometheus>> prometheus =
      Prometheus::Start(absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  absl::StatusOr<warm::testing::Sample> app =
      (*prometheus)
          ->WaitForValue(
              "app_requests_total", [](double v) { return v == 3; }, deadline);
  ASSERT_TRUE(app.ok()) << app.status();
  absl::StatusOr<warm::testing::Sample> started =
      (*prometheus)
          ->WaitForValue(
              "grpc_client_started_total{channel=\"exposer-e2e\","
              "grpc_service=\"warm.testing.EchoTest\",grpc_method=\"Echo\","
              "grpc_type=\"unary\"}",
              [](double v) { return v > 0; }, deadline);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->labels.at("job"), Prometheus::kJob);
  absl::StatusOr<warm::testing::Sample> error_rate =
      (*prometheus)
          ->WaitForValue(
              kErrorRate, [](double v) { return v > 0.15 && v < 0.35; },
              deadline);
  ASSERT_TRUE(error_rate.ok()) << error_rate.status();
  EXPECT_EQ(error_rate->labels.at("grpc_method"), "Echo");
  absl::StatusOr<warm::testing::Sample> p99 =
      (*prometheus)
          ->WaitForValue(
              kP99, [](double v) { return v > 0 && v <= 10; }, deadline);
  ASSERT_TRUE(p99.ok()) << p99.status();

  // Once the calls stop, Prometheus's count is exactly the calls made.
  const int rounds = caller.Stop();
  const double calls = 4.0 * rounds + 1;
  absl::StatusOr<warm::testing::Sample> all =
      (*prometheus)
          ->WaitForValue(
              "sum(grpc_client_started_total{channel=\"exposer-e2e\"})",
              [calls](double v) { return v == calls; }, deadline);
  ASSERT_TRUE(all.ok()) << all.status() << " want " << calls;
  absl::StatusOr<warm::testing::Sample> failed =
      (*prometheus)
          ->WaitForValue(
              "grpc_client_handled_total{channel=\"exposer-e2e\","
              "grpc_code=\"DeadlineExceeded\"}",
              [rounds](double v) { return v == rounds; }, deadline);
  ASSERT_TRUE(failed.ok()) << failed.status();
}

}  // namespace
}  // namespace warm
