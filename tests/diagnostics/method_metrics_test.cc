// Integration tests of the per-method client metrics (grpc_client_*) as
// warm::MetricsCollectable() gives them, on real gRPC servers: the counts
// equal the calls made for every call kind (sync, async and callback unary
// and streaming calls, grpc::GenericStub), methods beyond
// ChannelOptions::metrics_max_methods are counted under "other", and the
// option is validated.

#include <grpcpp/generic/generic_stub.h>

#include <map>
#include <string>

#include "tests/call/channel_harness.h"
#include "warm/prometheus.h"

namespace warm {
namespace {

using Labels = std::map<std::string, std::string>;

// The sum, over the series of `family` whose labels include `labels`, of
// their values (histograms: their sample counts); and how many there were.
struct Found {
  double value = 0;
  int series = 0;
};
Found Collect(const std::string& family, const Labels& labels) {
  Found found;
  for (const prometheus::MetricFamily& f : MetricsCollectable()->Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& metric : f.metric) {
      int matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched != static_cast<int>(labels.size())) continue;
      ++found.series;
      found.value += f.type == prometheus::MetricType::Histogram
                         ? static_cast<double>(metric.histogram.sample_count)
                         : metric.counter.value;
    }
  }
  return found;
}

grpc::ByteBuffer Serialized(const EchoRequest& request) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  EXPECT_TRUE(grpc::SerializationTraits<EchoRequest>::Serialize(
                  request, &buffer, &own_buffer)
                  .ok());
  return buffer;
}

grpc::Status GenericUnary(grpc::GenericStub& generic,
                          const std::string& method) {
  EchoRequest request;
  request.set_message("generic");
  grpc::ByteBuffer send = Serialized(request);
  grpc::ByteBuffer received;
  grpc::ClientContext context;
  SetDeadline(context);
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &send, &received,
                    [&](grpc::Status s) { done.set_value(s); });
  return Await(done);
}

class MethodMetricsTest : public ::testing::Test {
 protected:
  void Start(const std::string& name, int max_methods = 100) {
    backends_ = StartBackends(2);
    ChannelOptions options;
    options.name = name;
    options.metrics_max_methods = max_methods;
    channel_ = MustCreate(Ipv4Target(backends_), std::move(options));
    ASSERT_NE(channel_, nullptr);
    ASSERT_TRUE(channel_->WaitForConnected(Deadline()));
    stub_ = EchoTest::NewStub(channel_);
  }

  Labels Method(const std::string& method, const std::string& type) const {
    return {{"channel", channel_->name()},
            {"grpc_service", "warm.testing.EchoTest"},
            {"grpc_method", method},
            {"grpc_type", type}};
  }

  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::shared_ptr<Channel> channel_;
  std::unique_ptr<EchoTest::Stub> stub_;
};

TEST_F(MethodMetricsTest, CountsEqualTheCallsMadeForEveryCallKind) {
  Start("method-metrics-kinds");
  EchoRequest request;
  EchoResponse response;

  // Unary Echo: 3 sync, 2 async, 2 callback, 2 generic (by name: the same
  // series as the stub's).
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    ASSERT_TRUE(stub_->Echo(&context, request, &response).ok());
  }
  for (int i = 0; i < 2; ++i) {
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status;
    auto rpc = stub_->AsyncEcho(&context, request, &cq);
    rpc->Finish(&response, &status, reinterpret_cast<void*>(1));
    ExpectNext(cq, reinterpret_cast<void*>(1));
    ASSERT_TRUE(status.ok());
  }
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    std::promise<grpc::Status> done;
    stub_->async()->Echo(&context, &request, &response,
                         [&](grpc::Status s) { done.set_value(s); });
    ASSERT_TRUE(Await(done).ok());
  }
  grpc::GenericStub generic(channel_);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(GenericUnary(generic, "/warm.testing.EchoTest/Echo").ok());
  }

  // Client streaming: 2 calls of 3 messages each.
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    auto writer = stub_->ClientStream(&context, &response);
    for (int m = 0; m < 3; ++m) ASSERT_TRUE(writer->Write(request));
    ASSERT_TRUE(writer->WritesDone());
    ASSERT_TRUE(writer->Finish().ok());
  }

  // Server streaming: one sync call of 4 responses, one async of 2.
  {
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest four;
    four.set_count(4);
    auto reader = stub_->ServerStream(&context, four);
    int got = 0;
    while (reader->Read(&response)) ++got;
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_EQ(got, 4);
  }
  {
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest two;
    two.set_count(2);
    void* const kTag = reinterpret_cast<void*>(2);
    auto reader = stub_->AsyncServerStream(&context, two, &cq, kTag);
    ExpectNext(cq, kTag);
    for (int m = 0; m < 2; ++m) {
      reader->Read(&response, kTag);
      ExpectNext(cq, kTag);
    }
    grpc::Status status;
    reader->Finish(&status, kTag);
    ExpectNext(cq, kTag);
    ASSERT_TRUE(status.ok());
  }

  // Bidi: sync with 2 messages each way, async with 1, callback with 3.
  {
    grpc::ClientContext context;
    SetDeadline(context);
    auto stream = stub_->Bidi(&context);
    for (int m = 0; m < 2; ++m) {
      ASSERT_TRUE(stream->Write(request));
      ASSERT_TRUE(stream->Read(&response));
    }
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_FALSE(stream->Read(&response));
    ASSERT_TRUE(stream->Finish().ok());
  }
  {
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    SetDeadline(context);
    void* const kTag = reinterpret_cast<void*>(3);
    auto stream = stub_->AsyncBidi(&context, &cq, kTag);
    ExpectNext(cq, kTag);
    stream->Write(request, kTag);
    ExpectNext(cq, kTag);
    stream->Read(&response, kTag);
    ExpectNext(cq, kTag);
    stream->WritesDone(kTag);
    ExpectNext(cq, kTag);
    grpc::Status status;
    stream->Finish(&status, kTag);
    ExpectNext(cq, kTag);
    ASSERT_TRUE(status.ok());
  }
  {
    BidiReactor reactor(stub_.get(), 3);
    ASSERT_TRUE(reactor.Await().ok());
    ASSERT_EQ(reactor.received().size(), 3u);
  }

  // A method the server does not have, by GenericStub.
  ASSERT_EQ(GenericUnary(generic, "/warm.testing.EchoTest/Nope").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  struct Expected {
    const char* method;
    const char* type;
    double calls, sent, received;
  };
  for (const Expected& e : {Expected{"Echo", "unary", 9, 9, 9},
                            Expected{"ClientStream", "client_stream", 2, 6, 2},
                            Expected{"ServerStream", "server_stream", 2, 2, 6},
                            Expected{"Bidi", "bidi_stream", 3, 6, 6}}) {
    SCOPED_TRACE(e.method);
    const Labels labels = Method(e.method, e.type);
    EXPECT_EQ(Collect("grpc_client_started_total", labels).value, e.calls);
    Labels ok = labels;
    ok["grpc_code"] = "OK";
    EXPECT_EQ(Collect("grpc_client_handled_total", ok).value, e.calls);
    EXPECT_EQ(Collect("grpc_client_handled_total", labels).series, 1);
    EXPECT_EQ(Collect("grpc_client_handling_seconds", labels).value, e.calls);
    EXPECT_EQ(Collect("grpc_client_msg_sent_total", labels).value, e.sent);
    EXPECT_EQ(Collect("grpc_client_msg_received_total", labels).value,
              e.received);
  }
  Labels nope = Method("Nope", "unary");
  EXPECT_EQ(Collect("grpc_client_started_total", nope).value, 1);
  nope["grpc_code"] = "Unimplemented";
  EXPECT_EQ(Collect("grpc_client_handled_total", nope).value, 1);
  // The channel's totals agree: 9 + 2 + 2 + 3 + 1 calls.
  const Labels channel = {{"channel", channel_->name()}};
  EXPECT_EQ(Collect("grpc_client_started_total", channel).value, 17);
  EXPECT_EQ(Collect("grpc_client_started_total", channel).series, 5);
  EXPECT_EQ(Collect("warm_channel_method_overflow_calls_total", channel).value,
            0);
}

TEST_F(MethodMetricsTest, MethodsBeyondTheBoundAreCountedAsOther) {
  Start("method-metrics-overflow", /*max_methods=*/2);
  EchoRequest request;
  EchoResponse response;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    ASSERT_TRUE(stub_->Echo(&context, request, &response).ok());
  }
  // 50 generic calls of 50 names: one more gets a series, 49 are "other".
  grpc::GenericStub generic(channel_);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(
        GenericUnary(generic, absl::StrCat("/x.Random/M", i)).error_code(),
        grpc::StatusCode::UNIMPLEMENTED);
  }
  // A stub method after the bound is full: "other" too.
  {
    grpc::ClientContext context;
    SetDeadline(context);
    auto writer = stub_->ClientStream(&context, &response);
    ASSERT_TRUE(writer->WritesDone());
    ASSERT_TRUE(writer->Finish().ok());
  }

  const Labels channel = {{"channel", channel_->name()}};
  const Found started = Collect("grpc_client_started_total", channel);
  EXPECT_EQ(started.value, 52);  // every call counted, none dropped
  EXPECT_EQ(started.series, 4);  // Echo, M0, other unary, other client_stream
  EXPECT_EQ(Collect("grpc_client_started_total", {{"channel", channel_->name()},
                                                  {"grpc_service", "x.Random"},
                                                  {"grpc_method", "M0"}})
                .value,
            1);
  EXPECT_EQ(Collect("grpc_client_started_total", {{"channel", channel_->name()},
                                                  {"grpc_service", "other"},
                                                  {"grpc_method", "other"},
                                                  {"grpc_type", "unary"}})
                .value,
            49);
  EXPECT_EQ(
      Collect("grpc_client_handled_total", {{"channel", channel_->name()},
                                            {"grpc_method", "other"},
                                            {"grpc_code", "Unimplemented"}})
          .value,
      49);
  EXPECT_EQ(
      Collect("grpc_client_started_total", {{"channel", channel_->name()},
                                            {"grpc_method", "other"},
                                            {"grpc_type", "client_stream"}})
          .value,
      1);
  EXPECT_EQ(Collect("warm_channel_method_overflow_calls_total", channel).value,
            50);
}

TEST(MethodMetricsOptionsTest, MetricsMaxMethodsIsValidated) {
  for (int bad : {-1, 4097}) {
    ChannelOptions options;
    options.metrics_max_methods = bad;
    absl::StatusOr<std::shared_ptr<Channel>> channel =
        CreateChannel("ipv4:127.0.0.1:1", grpc::InsecureChannelCredentials(),
                      std::move(options));
    ASSERT_FALSE(channel.ok());
    EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(channel.status().message()),
                HasSubstr(absl::StrCat("metrics_max_methods is ", bad)));
  }
  ChannelOptions zero;
  zero.metrics_max_methods = 0;
  EXPECT_TRUE(CreateChannel("ipv4:127.0.0.1:1",
                            grpc::InsecureChannelCredentials(), std::move(zero))
                  .ok());
}

}  // namespace
}  // namespace warm
