// NetHost: a real gRPC server (warm_test_backend) in a network namespace,
// called over the veth pair from the test's namespace, under each fault.
// Skipped where namespaces cannot be made (not root, no ip or nft).

#include "tests/testing/net_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/wait.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace testing {
namespace {

using std::chrono::milliseconds;

// A call to a partitioned backend must time out at this deadline, not fail
// sooner.
constexpr milliseconds kShortDeadline{300};
// A call that should succeed or fail fast gets this much: far longer than
// it needs, so a loaded machine does not turn a pass into a failure.
constexpr milliseconds kLongDeadline{10000};
// "Quickly": a reset call fails in milliseconds; this is the bound asserted.
constexpr milliseconds kFailFast{3000};

struct CallResult {
  grpc::Status status;
  milliseconds elapsed{0};
  std::string peer;  // the client address the server saw
};

CallResult Call(EchoTest::Stub& stub, milliseconds deadline,
                bool wait_for_ready = false) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  context.set_wait_for_ready(wait_for_ready);
  EchoRequest request;
  request.set_message("hello");
  EchoResponse response;
  const auto start = std::chrono::steady_clock::now();
  CallResult result;
  result.status = stub.Echo(&context, request, &response);
  result.elapsed = std::chrono::duration_cast<milliseconds>(
      std::chrono::steady_clock::now() - start);
  result.peer = response.peer();
  return result;
}

// A plain channel that reconnects within 0.5 s, so that recovery after a
// fault is not hidden behind gRPC's reconnect backoff (up to 120 s).
std::unique_ptr<EchoTest::Stub> NewStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return EchoTest::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

// Whether a call succeeds within kDefaultWait. Each try waits for the
// channel to be ready (up to 2 s): a call that fails fast polls nothing, and
// with no call waiting, gRPC reads a new connection's first bytes only at its
// backup poll, every 5 s.
bool CallsSucceedAgain(EchoTest::Stub& stub) {
  return WaitFor([&] {
    return Call(stub, milliseconds(2000), /*wait_for_ready=*/true).status.ok();
  });
}

std::string IpOutput(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/sbin/ip"};
  if (access(argv[0].c_str(), X_OK) != 0) argv[0] = "/sbin/ip";
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(argv, kLongDeadline);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->output : "";
}

class NetHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = NetHost::SkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    host_ = MustCreateHost();
    ASSERT_NE(host_, nullptr);
    server_ = MustStartServer(*host_);
    ASSERT_NE(server_, nullptr);
    stub_ = NewStub(server_->address());
  }

  static std::unique_ptr<NetHost> MustCreateHost() {
    absl::StatusOr<std::unique_ptr<NetHost>> host = NetHost::Create();
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? *std::move(host) : nullptr;
  }

  static std::unique_ptr<NetHost::Server> MustStartServer(NetHost& host) {
    absl::StatusOr<std::unique_ptr<NetHost::Server>> server =
        host.StartServer({WARM_TEST_BACKEND_PATH, "--host", host.address()});
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // Members in destruction order: the channel, the server, the host.
  std::unique_ptr<NetHost> host_;
  std::unique_ptr<NetHost::Server> server_;
  std::unique_ptr<EchoTest::Stub> stub_;
};

TEST_F(NetHostTest, CallsCrossTheVethPair) {
  EXPECT_TRUE(
      absl::StartsWith(host_->name(), "warm-" + std::to_string(getpid()) + "-"))
      << host_->name();
  EXPECT_TRUE(absl::StartsWith(host_->address(), "10.213."))
      << host_->address();
  const CallResult result = Call(*stub_, kLongDeadline);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  // The server saw the root side of the veth pair: the call came from the
  // test's namespace, not over the namespace's own loopback.
  EXPECT_TRUE(absl::StartsWith(result.peer, host_->host_address() + ":"))
      << result.peer;
}

TEST_F(NetHostTest, PartitionTimesCallsOutAndClearEndsIt) {
  ASSERT_TRUE(Call(*stub_, kLongDeadline).status.ok());
  ASSERT_TRUE(host_->Partition().ok());
  const CallResult partitioned = Call(*stub_, kShortDeadline);
  EXPECT_EQ(partitioned.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED)
      << partitioned.status.error_message();
  ASSERT_TRUE(host_->Clear().ok());
  EXPECT_TRUE(CallsSucceedAgain(*stub_));
}

TEST_F(NetHostTest, ResetFailsCallsFastUntilCleared) {
  ASSERT_TRUE(Call(*stub_, kLongDeadline).status.ok());
  ASSERT_TRUE(host_->Reset().ok());
  // The established connection is reset, then reconnections are refused.
  for (int i = 0; i < 2; ++i) {
    const CallResult reset = Call(*stub_, kLongDeadline);
    EXPECT_EQ(reset.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "call " << i << ": " << reset.status.error_message();
    EXPECT_LT(reset.elapsed, kFailFast) << "call " << i;
  }
  ASSERT_TRUE(host_->Clear().ok());
  EXPECT_TRUE(CallsSucceedAgain(*stub_));
}

TEST_F(NetHostTest, FullLossIsAPartitionForNewCallsAndConnections) {
  ASSERT_TRUE(Call(*stub_, kLongDeadline).status.ok());
  const absl::Status loss = host_->Loss(100);
  ASSERT_TRUE(loss.ok()) << loss;
  const CallResult lost = Call(*stub_, kShortDeadline);
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << lost.status.error_message();
  // A new channel cannot connect either: its first call waits out its
  // deadline.
  auto fresh = NewStub(server_->address());
  const CallResult unconnected = Call(*fresh, kShortDeadline);
  EXPECT_EQ(unconnected.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED)
      << unconnected.status.error_message();
  ASSERT_TRUE(host_->Clear().ok());
  EXPECT_TRUE(CallsSucceedAgain(*stub_));
  EXPECT_TRUE(CallsSucceedAgain(*fresh));
}

TEST_F(NetHostTest, AFaultReplacesTheOneBefore) {
  ASSERT_TRUE(host_->Partition().ok());
  ASSERT_TRUE(host_->Loss(0).ok());  // drops nothing, and no partition left
  EXPECT_TRUE(CallsSucceedAgain(*stub_));
  ASSERT_TRUE(host_->Clear().ok());
  ASSERT_TRUE(host_->Clear().ok());  // clearing nothing is fine
  EXPECT_EQ(host_->Loss(101).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_->Loss(-1).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NetHostTest, TwoHostsAtOnceGetTheirOwnSubnets) {
  std::unique_ptr<NetHost> other = MustCreateHost();
  ASSERT_NE(other, nullptr);
  EXPECT_NE(other->name(), host_->name());
  EXPECT_NE(other->address(), host_->address());
  EXPECT_NE(other->host_address(), host_->host_address());
  std::unique_ptr<NetHost::Server> other_server = MustStartServer(*other);
  ASSERT_NE(other_server, nullptr);
  auto other_stub = NewStub(other_server->address());
  // A fault on one host leaves the other alone.
  ASSERT_TRUE(host_->Partition().ok());
  const CallResult result = Call(*other_stub, kLongDeadline);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_TRUE(absl::StartsWith(result.peer, other->host_address() + ":"))
      << result.peer;
}

TEST_F(NetHostTest, DestructionRemovesTheNamespaceAndItsVeth) {
  std::unique_ptr<NetHost> host = MustCreateHost();
  ASSERT_NE(host, nullptr);
  const std::string name = host->name();
  const std::string veth = ": " + host->host_veth() + "@";
  ASSERT_TRUE(host->Partition().ok());
  ASSERT_TRUE(absl::StrContains(IpOutput({"netns", "list"}), name));
  ASSERT_TRUE(absl::StrContains(IpOutput({"-o", "link", "show"}), veth));
  host.reset();
  EXPECT_FALSE(absl::StrContains(IpOutput({"netns", "list"}), name));
  // Its veth is gone, and with it its address (which another test process
  // may take at once: not checked).
  EXPECT_FALSE(absl::StrContains(IpOutput({"-o", "link", "show"}), veth));
}

TEST_F(NetHostTest, RunJoinsTheNamespace) {
  auto bind_to_host_address = [&] {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, host_->address().c_str(), &address.sin_addr);
    const int result =
        bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    const int error = errno;
    close(fd);
    return result == 0 ? 0 : error;
  };
  int inside = -1;
  ASSERT_TRUE(host_->Run([&] { inside = bind_to_host_address(); }).ok());
  EXPECT_EQ(inside, 0);
  // Not an address of the test's own namespace.
  EXPECT_EQ(bind_to_host_address(), EADDRNOTAVAIL);
}

TEST_F(NetHostTest, AServerThatCannotStartIsReported) {
  absl::StatusOr<std::unique_ptr<NetHost::Server>> server =
      host_->StartServer({"/nonexistent/warm-server"}, milliseconds(5000));
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(
      absl::StrContains(server.status().message(), "/nonexistent/warm-server"))
      << server.status();
}

}  // namespace
}  // namespace testing
}  // namespace warm
