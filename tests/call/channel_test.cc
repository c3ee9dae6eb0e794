// Integration tests of warm::Channel against real gRPC servers on 127.0.0.1,
// 127.0.0.2 and 127.0.0.3: every call kind, registered methods and user
// interceptors. Spreading, members, state and destruction:
// channel_state_test.cc.

#include "tests/call/channel_harness.h"

namespace warm {
namespace {

TEST_F(ChannelTest, SyncUnary) {
  EchoResponse response = MustEcho("hello");
  EXPECT_FALSE(response.backend().empty());
}

TEST_F(ChannelTest, SyncClientStreaming) {
  grpc::ClientContext context;
  SetDeadline(context);
  EchoResponse response;
  auto writer = stub_->ClientStream(&context, &response);
  EchoRequest request;
  for (const char* part : {"a", "b", "c"}) {
    request.set_message(part);
    ASSERT_TRUE(writer->Write(request));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "abc");
}

TEST_F(ChannelTest, SyncServerStreaming) {
  grpc::ClientContext context;
  SetDeadline(context);
  EchoRequest request;
  request.set_message("m");
  request.set_count(4);
  auto reader = stub_->ServerStream(&context, request);
  EchoResponse response;
  std::vector<std::string> got;
  while (reader->Read(&response)) got.push_back(response.message());
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(got, ::testing::ElementsAre("m0", "m1", "m2", "m3"));
}

TEST_F(ChannelTest, SyncBidiStreaming) {
  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = stub_->Bidi(&context);
  EchoRequest request;
  EchoResponse response;
  for (const char* part : {"x", "y"}) {
    request.set_message(part);
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.message(), part);
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ChannelTest, AsyncUnary) {
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  SetDeadline(context);
  EchoRequest request;
  request.set_message("async");
  EchoResponse response;
  grpc::Status status;
  auto rpc = stub_->AsyncEcho(&context, request, &cq);
  rpc->Finish(&response, &status, reinterpret_cast<void*>(1));
  ExpectNext(cq, reinterpret_cast<void*>(1));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "async");
}

TEST_F(ChannelTest, AsyncServerStreaming) {
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  SetDeadline(context);
  EchoRequest request;
  request.set_message("s");
  request.set_count(2);
  void* const kStart = reinterpret_cast<void*>(1);
  void* const kRead = reinterpret_cast<void*>(2);
  void* const kFinish = reinterpret_cast<void*>(3);
  auto reader = stub_->AsyncServerStream(&context, request, &cq, kStart);
  ExpectNext(cq, kStart);
  EchoResponse response;
  for (const char* want : {"s0", "s1"}) {
    reader->Read(&response, kRead);
    ExpectNext(cq, kRead);
    EXPECT_EQ(response.message(), want);
  }
  grpc::Status status;
  reader->Finish(&status, kFinish);
  ExpectNext(cq, kFinish);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ChannelTest, AsyncBidiStreaming) {
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  SetDeadline(context);
  void* const kTag = reinterpret_cast<void*>(7);
  auto stream = stub_->AsyncBidi(&context, &cq, kTag);
  ExpectNext(cq, kTag);
  EchoRequest request;
  request.set_message("ab");
  stream->Write(request, kTag);
  ExpectNext(cq, kTag);
  EchoResponse response;
  stream->Read(&response, kTag);
  ExpectNext(cq, kTag);
  EXPECT_EQ(response.message(), "ab");
  stream->WritesDone(kTag);
  ExpectNext(cq, kTag);
  grpc::Status status;
  stream->Finish(&status, kTag);
  ExpectNext(cq, kTag);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ChannelTest, CallbackUnary) {
  grpc::ClientContext context;
  SetDeadline(context);
  EchoRequest request;
  request.set_message("cb");
  EchoResponse response;
  std::promise<grpc::Status> done;
  std::atomic<bool> on_worker{false};
  stub_->async()->Echo(&context, &request, &response, [&](grpc::Status s) {
    on_worker = internal::Worker::Get().OnWorkerThread();
    done.set_value(s);
  });
  grpc::Status status = Await(done);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "cb");
  // User callbacks run where gRPC runs them for a plain channel, never on
  // warm's control-plane thread.
  EXPECT_FALSE(on_worker);
}

TEST_F(ChannelTest, CallbackBidiStreaming) {
  BidiReactor reactor(stub_.get(), 3);
  grpc::Status status = reactor.Await();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(reactor.received(), ::testing::ElementsAre("3", "2", "1"));
}

TEST_F(ChannelTest, GenericStub) {
  grpc::GenericStub generic(channel_);
  EchoRequest request;
  request.set_message("generic");
  grpc::ByteBuffer send;
  bool own_buffer = false;
  ASSERT_TRUE(grpc::SerializationTraits<EchoRequest>::Serialize(request, &send,
                                                                &own_buffer)
                  .ok());
  grpc::ByteBuffer received;
  grpc::ClientContext context;
  SetDeadline(context);
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/warm.testing.EchoTest/Echo",
                    grpc::StubOptions(), &send, &received,
                    [&](grpc::Status s) { done.set_value(s); });
  ASSERT_TRUE(Await(done).ok());
  EchoResponse response;
  ASSERT_TRUE(
      grpc::SerializationTraits<EchoResponse>::Deserialize(&received, &response)
          .ok());
  EXPECT_EQ(response.message(), "generic");
}

TEST_F(ChannelTest, StubsShareRegisteredMethodsAcrossInstances) {
  // Users often build a stub per request; every stub registers its methods
  // again, which must reuse the ids.
  for (int i = 0; i < 50; ++i) {
    stub_ = EchoTest::NewStub(channel_);
    MustEcho("again");
  }
}

TEST(ChannelMethodTest, AMethodTagFromAnotherWarmChannelIsNotMistaken) {
  // Warm channels hand out small method ids, so a method registered on
  // channel A carries an id that channel B may have given another method.
  // B must not send B's own method to A's method name after seeing A's.
  auto backends = StartBackends(1);
  const std::string target = Ipv4Target(backends);
  auto a = MustCreate(target);
  auto b = MustCreate(target);
  ASSERT_TRUE(b->WaitForConnected(Deadline()));
  // B: id 0 is Greeter/SayHello, which the backend does not serve.
  auto greeter = warm::example::Greeter::NewStub(b);
  // A: id 0 is EchoTest/Echo. Call it through B.
  grpc::internal::RpcMethod echo_on_a("/warm.testing.EchoTest/Echo",
                                      grpc::internal::RpcMethod::NORMAL_RPC, a);
  for (int i = 0; i < 6; ++i) {  // enough to reach all of B's members
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest request;
    EchoResponse response;
    grpc::Status status = grpc::internal::BlockingUnaryCall(
        b.get(), echo_on_a, &context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  for (int i = 0; i < 6; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    warm::example::HelloRequest request;
    warm::example::HelloReply reply;
    EXPECT_EQ(greeter->SayHello(&context, request, &reply).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
}

// --- interceptors -----------------------------------------------------------

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(std::atomic<int>* statuses)
      : statuses_(statuses) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"x-warm-test", "1"});
    }
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      (*statuses_)++;
    }
    methods->Proceed();
  }

 private:
  std::atomic<int>* statuses_;
};

class CountingFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  CountingFactory(std::atomic<int>* created, std::atomic<int>* statuses)
      : created_(created), statuses_(statuses) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    (*created_)++;
    EXPECT_STREQ(info->method(), "/warm.testing.EchoTest/Echo");
    return new CountingInterceptor(statuses_);
  }

 private:
  std::atomic<int>* created_;
  std::atomic<int>* statuses_;
};

TEST(ChannelInterceptorTest, UserInterceptorsRunOnEveryCall) {
  auto backends = StartBackends(3);
  std::atomic<int> created{0}, statuses{0};
  ChannelOptions options;
  options.interceptors.push_back(
      std::make_unique<CountingFactory>(&created, &statuses));
  auto channel = MustCreate(Ipv4Target(backends), std::move(options));
  ASSERT_TRUE(channel->WaitForConnected(Deadline()));
  auto stub = EchoTest::NewStub(channel);
  constexpr int kCalls = 30;
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest request;
    EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
  }
  EXPECT_EQ(created.load(), kCalls);
  EXPECT_EQ(statuses.load(), kCalls);
}

// --- balancing ---------------------------------------------------------------

}  // namespace
}  // namespace warm
