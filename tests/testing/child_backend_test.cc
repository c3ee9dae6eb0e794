// Tests of ChildBackend and the warm_test_backend binary: a backend in a child
// process answers Echo, serves grpc.health.v1 (or not) and switches its
// status on command, hangs when stopped, recovers when continued, refuses
// calls once killed, and exits at end of stdin.

#include "tests/testing/child_backend.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/wait.h"
#include "warm/testing/echo.grpc.pb.h"

#ifndef WARM_TEST_BACKEND_PATH
#error "WARM_TEST_BACKEND_PATH must name the warm_test_backend binary"
#endif

namespace warm {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::warm::testing::ChildBackend;
using ::warm::testing::EchoRequest;
using ::warm::testing::EchoResponse;
using ::warm::testing::EchoTest;
using ::warm::testing::WaitFor;
using HealthService = ::grpc::health::v1::Health;

// Calls that should succeed get a generous deadline (a loaded CI box);
// calls to a stopped backend a short one.
constexpr std::chrono::milliseconds kCallTimeout{20000};
constexpr std::chrono::milliseconds kShortTimeout{300};

std::shared_ptr<grpc::Channel> Connect(const ChildBackend& backend) {
  return grpc::CreateChannel(backend.address(),
                             grpc::InsecureChannelCredentials());
}

grpc::Status Echo(const std::shared_ptr<grpc::Channel>& channel,
                  std::chrono::milliseconds timeout,
                  EchoResponse* response = nullptr) {
  EchoTest::Stub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  EchoRequest request;
  request.set_message("hello");
  EchoResponse ignored;
  return stub.Echo(&context, request, response ? response : &ignored);
}

// Health/Check of the overall ("") status.
grpc::Status Check(const std::shared_ptr<grpc::Channel>& channel,
                   HealthCheckResponse* response,
                   std::chrono::milliseconds timeout = kCallTimeout) {
  auto stub = HealthService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  HealthCheckRequest request;
  request.set_service("");
  return stub->Check(&context, request, response);
}

// The overall status, or UNKNOWN when Check fails.
HealthCheckResponse::ServingStatus Serving(
    const std::shared_ptr<grpc::Channel>& channel) {
  HealthCheckResponse response;
  grpc::Status status = Check(channel, &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
}

// Runs `command` in a shell; returns its exit code (-1 when it did not exit
// normally) and its stdout in `output`.
int RunShell(const std::string& command, std::string* output) {
  output->clear();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char chunk[256];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0)
    output->append(chunk, n);
  const int status = pclose(pipe);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The backend binary, quoted for the shell, bounded by timeout(1) so that a
// backend which does not exit fails the test (exit 124) instead of hanging it.
std::string Backend(const std::string& flags) {
  return std::string("timeout 20 '") + WARM_TEST_BACKEND_PATH + "' " + flags;
}

TEST(ChildBackendTest, StartsAndAnswersEcho) {
  ChildBackend backend("127.0.0.1");
  EXPECT_GT(backend.port(), 0);
  EXPECT_EQ(backend.address(), "127.0.0.1:" + std::to_string(backend.port()));
  EXPECT_GT(backend.pid(), 0);
  EXPECT_NE(backend.pid(), getpid());

  EchoResponse response;
  grpc::Status status = Echo(Connect(backend), kCallTimeout, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "hello");
  EXPECT_EQ(response.backend(), backend.address());
  EXPECT_EQ(response.peer().rfind("127.0.0.1:", 0), 0u) << response.peer();
}

TEST(ChildBackendTest, ChildrenAreSeparateProcessesOnTheirOwnAddresses) {
  ChildBackend first("127.0.0.2");
  ChildBackend second("127.0.0.3");
  EXPECT_NE(first.pid(), second.pid());
  for (const ChildBackend* backend : {&first, &second}) {
    EchoResponse response;
    grpc::Status status = Echo(Connect(*backend), kCallTimeout, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.backend(), backend->address());
  }
  EXPECT_EQ(first.address().rfind("127.0.0.2:", 0), 0u);
  EXPECT_EQ(second.address().rfind("127.0.0.3:", 0), 0u);
}

TEST(ChildBackendTest, HealthIsServingByDefault) {
  ChildBackend backend("127.0.0.1");
  EXPECT_EQ(Serving(Connect(backend)), HealthCheckResponse::SERVING);
}

TEST(ChildBackendTest, SetServingSwitchesHealth) {
  ChildBackend backend("127.0.0.1");
  auto channel = Connect(backend);
  ASSERT_EQ(Serving(channel), HealthCheckResponse::SERVING);

  backend.SetServing(false);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::NOT_SERVING);
  backend.SetServing(false);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::NOT_SERVING);
  backend.SetServing(true);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::SERVING);
  // Echo does not depend on the health status.
  backend.SetServing(false);
  EXPECT_TRUE(Echo(channel, kCallTimeout).ok());
}

TEST(ChildBackendTest, WatchSeesSetServing) {
  ChildBackend backend("127.0.0.1");
  auto stub = HealthService::NewStub(Connect(backend));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  HealthCheckRequest request;
  auto watch = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  backend.SetServing(false);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  backend.SetServing(true);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  context.TryCancel();
}

TEST(ChildBackendTest, StartsNotServing) {
  ChildBackend backend("127.0.0.1", ChildBackend::Health::kNotServing);
  auto channel = Connect(backend);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(Echo(channel, kCallTimeout).ok());
  backend.SetServing(true);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::SERVING);
}

TEST(ChildBackendTest, WithoutHealthServiceHealthIsUnimplemented) {
  ChildBackend backend("127.0.0.1", ChildBackend::Health::kNone);
  auto channel = Connect(backend);
  HealthCheckResponse response;
  EXPECT_EQ(Check(channel, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_TRUE(Echo(channel, kCallTimeout).ok());
  // Accepted, and still no health service.
  backend.SetServing(true);
  EXPECT_EQ(Check(channel, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(ChildBackendTest, StopHangsCallsUntilContinue) {
  ChildBackend backend("127.0.0.1");
  auto channel = Connect(backend);
  ASSERT_TRUE(Echo(channel, kCallTimeout).ok());

  backend.Stop();
  EXPECT_EQ(Echo(channel, kShortTimeout).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  HealthCheckResponse response;
  EXPECT_EQ(Check(channel, &response, kShortTimeout).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // A new connection hangs too: the kernel accepts it, nobody answers.
  EXPECT_EQ(Echo(Connect(backend), kShortTimeout).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  backend.Continue();
  EXPECT_TRUE(WaitFor([&] { return Echo(channel, kShortTimeout).ok(); }));
  EXPECT_TRUE(Echo(channel, kCallTimeout).ok());
  EXPECT_EQ(Serving(channel), HealthCheckResponse::SERVING);
}

TEST(ChildBackendTest, SetServingFailsInsteadOfHangingWhileStopped) {
  ChildBackend backend("127.0.0.1");
  auto channel = Connect(backend);
  backend.Stop();
  EXPECT_NONFATAL_FAILURE(backend.SetServing(false, kShortTimeout),
                          "did not answer within 300 ms (it is stopped)");

  // Once continued, the child carries out the command it missed, then later
  // ones in order.
  backend.Continue();
  HealthCheckResponse response;
  EXPECT_TRUE(WaitFor([&] {
    return Check(channel, &response).ok() &&
           response.status() == HealthCheckResponse::NOT_SERVING;
  }));
  backend.SetServing(true);
  EXPECT_EQ(Serving(channel), HealthCheckResponse::SERVING);
}

TEST(ChildBackendTest, KillMakesCallsUnavailable) {
  ChildBackend backend("127.0.0.1");
  auto channel = Connect(backend);
  ASSERT_TRUE(Echo(channel, kCallTimeout).ok());

  backend.Kill();
  EXPECT_EQ(Echo(channel, kCallTimeout).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Echo(Connect(backend), kCallTimeout).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_NONFATAL_FAILURE(backend.SetServing(true), "the child is dead");
  backend.Kill();  // again: no-op
}

TEST(ChildBackendTest, RestartsOnTheSamePortAfterKill) {
  auto backend = std::make_unique<ChildBackend>("127.0.0.1");
  const int port = backend->port();
  auto channel = Connect(*backend);
  ASSERT_TRUE(Echo(channel, kCallTimeout).ok());
  backend->Kill();
  backend = std::make_unique<ChildBackend>(
      "127.0.0.1", ChildBackend::Health::kServing, port);
  EXPECT_EQ(backend->port(), port);
  // The old channel's connection (gRPC shares subchannels by address) is
  // found closed by the first call; the next ones reconnect.
  EchoResponse response;
  grpc::Status status(grpc::StatusCode::UNKNOWN, "no call yet");
  for (int attempt = 0; attempt < 20 && !status.ok(); ++attempt) {
    status = Echo(channel, kCallTimeout, &response);
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.backend(), "127.0.0.1:" + std::to_string(port));
}

TEST(ChildBackendTest, KillWhileStopped) {
  ChildBackend backend("127.0.0.1");
  auto channel = Connect(backend);
  ASSERT_TRUE(Echo(channel, kCallTimeout).ok());
  backend.Stop();
  backend.Kill();
  EXPECT_EQ(Echo(channel, kCallTimeout).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// The binary itself.

TEST(ChildBackendBinaryTest, ExitsAtEndOfStdin) {
  std::string output;
  EXPECT_EQ(RunShell(Backend("--host 127.0.0.4 --port 0 </dev/null"), &output),
            0);
  EXPECT_EQ(output.rfind("PORT ", 0), 0u) << output;
}

TEST(ChildBackendBinaryTest, AnswersCommandsAndQuits) {
  std::string output;
  EXPECT_EQ(
      RunShell("printf 'not_serving\\nserving\\nbogus\\nquit\\nserving\\n' | " +
                   Backend("--health=none"),
               &output),
      0);
  ASSERT_EQ(output.rfind("PORT ", 0), 0u) << output;
  EXPECT_EQ(output.substr(output.find('\n') + 1),
            "OK\nOK\nERROR unknown command 'bogus'\n");
}

TEST(ChildBackendBinaryTest, RejectsBadFlags) {
  const std::pair<std::string, std::string> cases[] = {
      {"--bogus", "--bogus"},         {"--port", "--port"},
      {"--port 70000", "--port"},     {"--port=abc", "--port"},
      {"--health maybe", "--health"}, {"--host=", "--host"},
  };
  for (const auto& [flags, named] : cases) {
    std::string output;
    EXPECT_EQ(RunShell(Backend(flags + " 2>&1 </dev/null"), &output), 2)
        << flags;
    EXPECT_NE(output.find(named), std::string::npos) << flags << ": " << output;
    EXPECT_EQ(output.find("PORT"), std::string::npos)
        << flags << ": " << output;
  }
}

}  // namespace
}  // namespace warm
