// What the warm::Channel integration tests share: loopback backends, a
// fixture with a warm channel over three of them, deadlines. Included by
// channel_test.cc and channel_state_test.cc.

#ifndef WARM_TESTS_CALL_CHANNEL_HARNESS_H_
#define WARM_TESTS_CALL_CHANNEL_HARNESS_H_

#include "warm/channel.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/worker.h"
#include "tests/testing/channels.h"
#include "tests/testing/test_backend.h"
#include "tests/testing/wait.h"
#include "warm/example/greeter.grpc.pb.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace {

using ::testing::HasSubstr;
using ::warm::testing::EchoRequest;
using ::warm::testing::EchoResponse;
using ::warm::testing::EchoTest;
using ::warm::testing::MustCreate;
using ::warm::testing::TestBackend;
using ::warm::testing::WaitFor;

constexpr auto kCallTimeout = std::chrono::seconds(20);

std::chrono::system_clock::time_point Deadline(
    std::chrono::milliseconds timeout = kCallTimeout) {
  return std::chrono::system_clock::now() + timeout;
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(Deadline());
}

// The status a callback call delivers through `done`, or DEADLINE_EXCEEDED
// when it does not arrive within kCallTimeout.
grpc::Status Await(std::promise<grpc::Status>& done) {
  auto future = done.get_future();
  if (future.wait_for(kCallTimeout) != std::future_status::ready) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "test timeout");
  }
  return future.get();
}

// Backends on 127.0.0.1 .. 127.0.0.N.
std::vector<std::unique_ptr<TestBackend>> StartBackends(int n) {
  std::vector<std::unique_ptr<TestBackend>> backends;
  for (int i = 1; i <= n; ++i) {
    backends.push_back(
        std::make_unique<TestBackend>(absl::StrCat("127.0.0.", i)));
  }
  return backends;
}

std::string Ipv4Target(const std::vector<std::unique_ptr<TestBackend>>& bs) {
  std::vector<std::string> addresses;
  for (const auto& b : bs) addresses.push_back(b->address());
  return "ipv4:" + absl::StrJoin(addresses, ",");
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backends_ = StartBackends(3);
    channel_ = MustCreate(Ipv4Target(backends_));
    ASSERT_NE(channel_, nullptr);
    ASSERT_TRUE(channel_->WaitForConnected(Deadline()));
    stub_ = EchoTest::NewStub(channel_);
  }

  EchoResponse MustEcho(const std::string& message) {
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest request;
    request.set_message(message);
    EchoResponse response;
    grpc::Status status = stub_->Echo(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.message(), message);
    return response;
  }

  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::shared_ptr<Channel> channel_;
  std::unique_ptr<EchoTest::Stub> stub_;
};

// --- every call kind --------------------------------------------------------

// Drains one event from `cq` and checks it is `tag` with ok == true.
void ExpectNext(grpc::CompletionQueue& cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  ASSERT_EQ(cq.AsyncNext(&got, &ok, Deadline()),
            grpc::CompletionQueue::GOT_EVENT);
  EXPECT_EQ(got, tag);
  EXPECT_TRUE(ok);
}

// A callback bidi stream that sends `n` messages and reads the echoes.
class BidiReactor : public grpc::ClientBidiReactor<EchoRequest, EchoResponse> {
 public:
  BidiReactor(EchoTest::Stub* stub, int n) : remaining_(n) {
    SetDeadline(context_);
    stub->async()->Bidi(&context_, this);
    StartRead(&response_);
    Next();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) Next();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    received_.push_back(response_.message());
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

  grpc::Status Await() { return warm::Await(done_); }
  const std::vector<std::string>& received() const { return received_; }

 private:
  void Next() {
    if (remaining_ == 0) {
      StartWritesDone();
      return;
    }
    request_.set_message(std::to_string(remaining_--));
    StartWrite(&request_);
  }

  grpc::ClientContext context_;
  EchoRequest request_;
  EchoResponse response_;
  int remaining_;
  std::vector<std::string> received_;
  std::promise<grpc::Status> done_;
};

}  // namespace
}  // namespace warm

#endif  // WARM_TESTS_CALL_CHANNEL_HARNESS_H_
