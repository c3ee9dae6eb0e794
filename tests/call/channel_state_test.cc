// Integration tests of warm::Channel against real gRPC servers on loopback
// (see channel_test.cc): spreading, power of two choices, members per
// address, connectivity state and its watches, errors, and destruction under
// load.

#include "tests/call/channel_harness.h"

namespace warm {
namespace {

TEST_F(ChannelTest, CallsSpreadOverAllBackends) {
  // By calls in flight: the default (kLatency) sends sequential calls to the
  // members that answered fastest lately, so equal backends do not get
  // equal shares from one caller.
  ChannelOptions options;
  options.pick = PickPolicy::kInFlight;
  std::shared_ptr<Channel> channel =
      MustCreate(Ipv4Target(backends_), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(channel->WaitForConnected(Deadline()));
  stub_ = EchoTest::NewStub(channel);
  for (int i = 0; i < 300; ++i) MustEcho("spread");
  for (const auto& backend : backends_) {
    // Sequential calls see equal loads, so each pick is uniform: ~100 each.
    EXPECT_GT(backend->calls(), 50) << backend->address();
  }
}

TEST_F(ChannelTest, TheDefaultPickTriesEveryBackend) {
  for (int i = 0; i < 300; ++i) MustEcho("spread");
  for (const auto& backend : backends_) {
    // A member that has not answered yet is the cheapest while idle.
    EXPECT_GE(backend->calls(), 1) << backend->address();
  }
}

TEST_F(ChannelTest, MembersRecordLatency) {
  for (int i = 0; i < 30; ++i) MustEcho("timed");
  // One call that ends at its 400 ms deadline, held by the server.
  for (auto& backend : backends_) backend->set_hold_all(true);
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(400));
    EchoRequest request;
    EchoResponse response;
    EXPECT_EQ(stub_->Echo(&context, request, &response).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  for (auto& backend : backends_) {
    backend->set_hold_all(false);
    backend->ReleaseHeld();
  }
  uint64_t timed = 0, slow = 0;
  for (const MemberInfo& member : channel_->Members()) {
    ASSERT_EQ(member.latency_buckets.size(),
              member.latency_bucket_bounds.size() + 1);
    for (size_t i = 0; i < member.latency_buckets.size(); ++i) {
      timed += member.latency_buckets[i];
      // Buckets above 250 ms: only the held call can be there.
      if (i > 0 && member.latency_bucket_bounds[i - 1] >=
                       std::chrono::milliseconds(250)) {
        slow += member.latency_buckets[i];
      }
    }
    if (member.calls_started > 0) {
      EXPECT_GT(member.latency_ewma.count(), 0) << member.address;
      EXPECT_GT(member.latency_p50.count(), 0) << member.address;
      EXPECT_GE(member.latency_p99, member.latency_p50) << member.address;
    }
  }
  EXPECT_EQ(timed, 31u);  // every call whose status arrived
  EXPECT_EQ(slow, 1u);
}

TEST_F(ChannelTest, NewCallsAvoidABackendHoldingCalls) {
  TestBackend& slow = *backends_[0];
  // Every member pickable first: with only the slow backend's member
  // pickable (WaitForConnected needs one), calls would have nowhere else to
  // go (seen once on a loaded machine).
  ASSERT_TRUE(WaitFor([&] { return channel_->Health().healthy_members == 3; }));
  slow.set_hold_all(true);
  // Sequential calls: a call that lands on a fast backend finishes before the
  // next starts, so once one call is held on `slow`, that member has one call
  // in flight and every other member none, and P2C never picks it again.
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::ClientContext>> held_contexts;
  std::vector<std::unique_ptr<EchoResponse>> responses;
  std::vector<std::unique_ptr<grpc::Status>> statuses;
  int finished = 0;
  for (int i = 0; i < 100; ++i) {
    auto context = std::make_unique<grpc::ClientContext>();
    SetDeadline(*context);
    auto response = std::make_unique<EchoResponse>();
    auto status = std::make_unique<grpc::Status>();
    EchoRequest request;
    auto rpc = stub_->AsyncEcho(context.get(), request, &cq);
    rpc->Finish(response.get(), status.get(), reinterpret_cast<void*>(i + 1));
    // Either it completes (fast backend) or it is held on `slow`.
    void* tag;
    bool ok;
    bool completed = false;
    ASSERT_TRUE(WaitFor([&] {
      if (cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now()) ==
          grpc::CompletionQueue::GOT_EVENT) {
        completed = true;
        ++finished;
      }
      return completed ||
             slow.held() == static_cast<int>(held_contexts.size()) + 1;
    }));
    if (!completed) held_contexts.push_back(std::move(context));
    responses.push_back(std::move(response));
    statuses.push_back(std::move(status));
  }
  EXPECT_LE(held_contexts.size(), 1u);
  EXPECT_GE(finished, 99);
  // The member on the slow backend shows its call in flight.
  int64_t in_flight = 0;
  for (const MemberInfo& m : channel_->Members()) in_flight += m.in_flight;
  EXPECT_EQ(in_flight, static_cast<int64_t>(held_contexts.size()));
  slow.ReleaseHeld();
  for (size_t i = 0; i < held_contexts.size(); ++i) {
    void* tag;
    bool ok;
    ASSERT_EQ(cq.AsyncNext(&tag, &ok, Deadline()),
              grpc::CompletionQueue::GOT_EVENT);
  }
  for (const auto& status : statuses) EXPECT_TRUE(status->ok());
}

// Members per address, seen from the client (Members()) and from the servers
// (distinct client ports).
void ExpectMembersPerAddress(int addresses, int pool_size,
                             int want_addresses_used, int want_per_address) {
  SCOPED_TRACE(absl::StrCat(addresses, " addresses, pool_size ", pool_size));
  auto backends = StartBackends(addresses);
  ChannelOptions options;
  options.pool_size = pool_size;
  auto channel = MustCreate(Ipv4Target(backends), std::move(options));
  ASSERT_TRUE(WaitFor([&] {
    for (const MemberInfo& m : channel->Members()) {
      if (m.state != GRPC_CHANNEL_READY) return false;
    }
    return true;
  }));
  std::map<std::string, int> client_view;
  for (const MemberInfo& m : channel->Members()) client_view[m.address]++;
  EXPECT_EQ(static_cast<int>(client_view.size()), want_addresses_used);
  for (const auto& [address, count] : client_view) {
    EXPECT_EQ(count, want_per_address) << address;
  }
  // Enough calls that every member serves some (each pick is uniform).
  auto stub = EchoTest::NewStub(channel);
  for (int i = 0; i < 40 * pool_size; ++i) {
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest request;
    EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
  }
  int used = 0;
  for (const auto& backend : backends) {
    const size_t connections = backend->calls_by_peer().size();
    if (connections == 0) continue;
    ++used;
    EXPECT_EQ(static_cast<int>(connections), want_per_address)
        << backend->address();
  }
  EXPECT_EQ(used, want_addresses_used);
}

TEST(ChannelMembersTest, OneAddressGetsEveryMemberOnItsOwnConnection) {
  ExpectMembersPerAddress(1, 3, 1, 3);
}

TEST(ChannelMembersTest, ThreeAddressesGetOneMemberEach) {
  ExpectMembersPerAddress(3, 3, 3, 1);
}

TEST(ChannelMembersTest, FiveAddressesSpreadThreeMembersOverDistinctOnes) {
  ExpectMembersPerAddress(5, 3, 3, 1);
}

TEST(ChannelMembersTest, SixMembersOverThreeAddressesTwoEach) {
  ExpectMembersPerAddress(3, 6, 3, 2);
}

// --- connectivity state -----------------------------------------------------

TEST_F(ChannelTest, ReadyWhenMembersAreReady) {
  EXPECT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(channel_->Members().size(), 3u);
}

TEST_F(ChannelTest, NotifyOnStateChangeCompletesAtDeadlineWhenNothingChanges) {
  grpc::CompletionQueue cq;
  void* const kTag = reinterpret_cast<void*>(42);
  channel_->NotifyOnStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::milliseconds(100), &cq,
      kTag);
  void* tag;
  bool ok = true;
  ASSERT_EQ(cq.AsyncNext(&tag, &ok, Deadline()),
            grpc::CompletionQueue::GOT_EVENT);
  EXPECT_EQ(tag, kTag);
  EXPECT_FALSE(ok) << "the deadline passed with no change";
  EXPECT_FALSE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::milliseconds(50)));
}

TEST_F(ChannelTest, NotifyOnStateChangeCompletesAtOnceWhenStateDiffers) {
  grpc::CompletionQueue cq;
  void* const kTag = reinterpret_cast<void*>(43);
  channel_->NotifyOnStateChange(GRPC_CHANNEL_IDLE, Deadline(), &cq, kTag);
  ExpectNext(cq, kTag);
  EXPECT_TRUE(channel_->WaitForStateChange(GRPC_CHANNEL_IDLE, Deadline()));
}

TEST_F(ChannelTest, PendingWatchHoldsTheCompletionQueueOpenAsGrpcDoes) {
  // With a plain grpc::Channel, CompletionQueue::Shutdown() waits for a
  // pending NotifyOnStateChange: Next() delivers the watch (ok == false at
  // its deadline) before it returns false. The queue may then be destroyed,
  // and later the channel, safely.
  auto cq = std::make_unique<grpc::CompletionQueue>();
  void* const kTag = reinterpret_cast<void*>(44);
  channel_->NotifyOnStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::milliseconds(200),
      cq.get(), kTag);
  cq->Shutdown();
  void* tag = nullptr;
  bool ok = true;
  ASSERT_TRUE(cq->Next(&tag, &ok)) << "Shutdown() must wait for the watch";
  EXPECT_EQ(tag, kTag);
  EXPECT_FALSE(ok);
  EXPECT_FALSE(cq->Next(&tag, &ok));
  cq.reset();
  stub_.reset();
  channel_.reset();  // must not touch the destroyed queue
}

TEST_F(ChannelTest, PendingWatchesCompleteWhenTheChannelIsDestroyed) {
  grpc::CompletionQueue cq;
  for (intptr_t i = 1; i <= 3; ++i) {
    channel_->NotifyOnStateChange(GRPC_CHANNEL_READY, Deadline(), &cq,
                                  reinterpret_cast<void*>(i));
  }
  stub_.reset();
  channel_.reset();
  std::set<void*> seen;
  for (int i = 0; i < 3; ++i) {
    void* tag;
    bool ok = false;
    ASSERT_EQ(cq.AsyncNext(&tag, &ok, Deadline()),
              grpc::CompletionQueue::GOT_EVENT);
    EXPECT_TRUE(ok) << "SHUTDOWN is a change of state";
    seen.insert(tag);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(ChannelTest, ManyWatchersAcrossStateChanges) {
  // Watches of the current state wait; watches of another state complete at
  // once; all of them complete when the state changes.
  grpc::CompletionQueue cq;
  for (intptr_t i = 1; i <= 20; ++i) {
    channel_->NotifyOnStateChange(
        i % 2 ? GRPC_CHANNEL_READY : GRPC_CHANNEL_CONNECTING, Deadline(), &cq,
        reinterpret_cast<void*>(i));
  }
  // The ten watches of another state complete now.
  for (int i = 0; i < 10; ++i) {
    void* tag;
    bool ok = false;
    ASSERT_EQ(cq.AsyncNext(&tag, &ok, Deadline()),
              grpc::CompletionQueue::GOT_EVENT);
    EXPECT_TRUE(ok);
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag) % 2, 0);
  }
  for (auto& backend : backends_) backend->Shutdown();
  for (int i = 0; i < 10; ++i) {
    void* tag;
    bool ok = false;
    ASSERT_EQ(cq.AsyncNext(&tag, &ok, Deadline()),
              grpc::CompletionQueue::GOT_EVENT);
    EXPECT_TRUE(ok);
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag) % 2, 1);
  }
  // The READY watches may have completed on an earlier, brief change (as
  // the backends went one by one), before the pool saw the last one go.
  EXPECT_TRUE(WaitFor(
      [&] { return channel_->GetState(false) != GRPC_CHANNEL_READY; }));
}

TEST(ChannelStateTest, StateFollowsBackendsGoingAndComing) {
  auto backend = std::make_unique<TestBackend>("127.0.0.1");
  const std::string target = "ipv4:" + backend->address();
  ChannelOptions options;
  options.pool_size = 2;
  // Reconnect quickly once the backend is back.
  options.channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  options.channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  auto channel = MustCreate(target, std::move(options));
  ASSERT_TRUE(channel->WaitForConnected(Deadline()));

  // Async watch: completes with ok once the state leaves READY.
  grpc::CompletionQueue cq;
  void* const kTag = reinterpret_cast<void*>(9);
  channel->NotifyOnStateChange(GRPC_CHANNEL_READY, Deadline(), &cq, kTag);
  const int port = backend->port();
  backend.reset();  // shut down: members lose their connection
  ExpectNext(cq, kTag);
  ASSERT_TRUE(
      WaitFor([&] { return channel->GetState(false) != GRPC_CHANNEL_READY; }));

  // Calls fail fast with UNAVAILABLE while nothing is READY...
  auto stub = EchoTest::NewStub(channel);
  ASSERT_TRUE(WaitFor([&] {
    return channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }));
  {
    grpc::ClientContext context;
    SetDeadline(context);
    EchoRequest request;
    EchoResponse response;
    grpc::Status status = stub->Echo(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
  }
  // ...and a wait_for_ready call waits until a backend is back.
  grpc::ClientContext context;
  SetDeadline(context);
  context.set_wait_for_ready(true);
  EchoRequest request;
  request.set_message("waited");
  EchoResponse response;
  std::promise<grpc::Status> done;
  stub->async()->Echo(&context, &request, &response,
                      [&](grpc::Status s) { done.set_value(s); });
  // The members keep reconnecting to the same address: bring it back.
  backend = std::make_unique<TestBackend>("127.0.0.1", port);
  grpc::Status status = Await(done);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "waited");
  EXPECT_TRUE(channel->WaitForConnected(Deadline()));
}

// --- bad input --------------------------------------------------------------

TEST(CreateChannelTest, RejectsBadTargetsAndOptions) {
  auto creds = grpc::InsecureChannelCredentials();
  auto error = [&](const std::string& target, ChannelOptions options = {},
                   std::shared_ptr<grpc::ChannelCredentials> c =
                       grpc::InsecureChannelCredentials()) {
    return CreateChannel(target, c, std::move(options)).status();
  };
  EXPECT_EQ(error("ipv4:").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(error("ipv4:127.0.0.1:99999").message(),
              HasSubstr("port \"99999\""));
  ChannelOptions zero;
  zero.pool_size = 0;
  EXPECT_THAT(error("ipv4:127.0.0.1:5", std::move(zero)).message(),
              HasSubstr("pool_size is 0"));
  EXPECT_THAT(error("ipv4:127.0.0.1:5", {}, nullptr).message(),
              HasSubstr("credentials is null"));
  ChannelOptions null_interceptor;
  null_interceptor.interceptors.push_back(nullptr);
  EXPECT_THAT(error("ipv4:127.0.0.1:5", std::move(null_interceptor)).message(),
              HasSubstr("interceptors[0] is null"));
  // Target and option problems are reported together.
  ChannelOptions negative;
  negative.pool_size = -2;
  absl::Status both = error("ipv4:x:1", std::move(negative));
  EXPECT_EQ(both.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(both.message(), HasSubstr("\"x\""));
  EXPECT_THAT(both.message(), HasSubstr("pool_size is -2"));
  EXPECT_THAT(error("unix:/tmp/" + std::string(200, 'a')).message(),
              HasSubstr("at most 107 fit"));
  // A DNS server must be an IP address.
  EXPECT_THAT(error("dns://ns.example/svc.test:443").message(),
              HasSubstr("ns.example"));
  EXPECT_THAT(error("dns:///svc.test").message(), HasSubstr("has no port"));
  ChannelOptions bad_dns;
  bad_dns.dns.min_refresh = std::chrono::milliseconds(0);
  bad_dns.dns.max_refresh = std::chrono::milliseconds(-1);
  const std::string dns_problems(
      error("dns:///svc.test:443", std::move(bad_dns)).message());
  EXPECT_THAT(dns_problems, HasSubstr("dns.min_refresh is 0 ms"));
  EXPECT_THAT(dns_problems, HasSubstr("dns.max_refresh is -1 ms"));

  // Health and liveness options, all named in one error.
  ChannelOptions bad_health;
  bad_health.health_check.no_traffic_interval = std::chrono::milliseconds(10);
  bad_health.liveness.stall_timeout = std::chrono::milliseconds(5);
  bad_health.liveness.probe_timeout = std::chrono::milliseconds(0);
  bad_health.liveness.keepalive_time = std::chrono::hours(25);
  bad_health.liveness.keepalive_timeout = std::chrono::milliseconds(-1);
  const std::string health_problems(
      error("ipv4:127.0.0.1:1", std::move(bad_health)).message());
  EXPECT_THAT(health_problems,
              HasSubstr("health_check.no_traffic_interval is 10 ms; it must "
                        "be at least health_check.interval (5000 ms)"));
  EXPECT_THAT(health_problems, HasSubstr("liveness.stall_timeout is 5 ms"));
  EXPECT_THAT(health_problems, HasSubstr("liveness.probe_timeout is 0 ms"));
  EXPECT_THAT(health_problems,
              HasSubstr("liveness.keepalive_time is 90000000 ms"));
  EXPECT_THAT(health_problems,
              HasSubstr("liveness.keepalive_timeout is -1 ms"));
}

TEST(CreateChannelTest, NameDefaultsToTarget) {
  auto backends = StartBackends(1);
  const std::string target = Ipv4Target(backends);
  EXPECT_EQ(MustCreate(target)->name(), target);
  ChannelOptions named;
  named.name = "greeter";
  auto channel = MustCreate(target, std::move(named));
  EXPECT_EQ(channel->name(), "greeter");
  EXPECT_EQ(channel->target(), target);
}

// --- concurrency and destruction ---------------------------------------------

TEST_F(ChannelTest, ManyConcurrentCallers) {
  constexpr int kThreads = 8, kCallsEach = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsEach; ++i) {
        grpc::ClientContext context;
        SetDeadline(context);
        EchoRequest request;
        EchoResponse response;
        if (!stub_->Echo(&context, request, &response).ok()) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  uint64_t started = 0, ok = 0;
  int64_t in_flight = 0;
  for (const MemberInfo& m : channel_->Members()) {
    started += m.calls_started;
    ok += m.calls_finished_by_code[grpc::StatusCode::OK];
    in_flight += m.in_flight;
  }
  EXPECT_EQ(started, static_cast<uint64_t>(kThreads * kCallsEach));
  EXPECT_EQ(ok, static_cast<uint64_t>(kThreads * kCallsEach));
  EXPECT_EQ(in_flight, 0);
}

TEST(ChannelDestructionTest, DestroyWhileCallsAreInFlight) {
  auto backends = StartBackends(3);
  const int64_t pending_before = internal::Worker::Get().pending();
  for (auto& b : backends) b->set_hold_all(true);
  auto channel = MustCreate(Ipv4Target(backends));
  ASSERT_TRUE(channel->WaitForConnected(Deadline()));
  auto stub = EchoTest::NewStub(channel);

  // Held callback, async and streaming calls, plus threads still calling.
  constexpr int kHeld = 12;
  struct Call {
    grpc::ClientContext context;
    EchoRequest request;
    EchoResponse response;
    std::promise<grpc::Status> done;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kHeld; ++i) {
    auto call = std::make_unique<Call>();
    SetDeadline(call->context);
    stub->async()->Echo(
        &call->context, &call->request, &call->response,
        [c = call.get()](grpc::Status s) { c->done.set_value(s); });
    calls.push_back(std::move(call));
  }
  auto reactor = std::make_unique<BidiReactor>(stub.get(), 2);
  ASSERT_TRUE(WaitFor([&] {
    int held = 0;
    for (auto& b : backends) held += b->held();
    return held >= kHeld + 1;
  }));

  // Drop every reference to the warm channel while the calls are held.
  stub.reset();
  channel.reset();

  // The calls still complete on their member connections.
  for (auto& b : backends) {
    b->set_hold_all(false);
    b->ReleaseHeld();
  }
  for (auto& call : calls) EXPECT_TRUE(Await(call->done).ok());
  EXPECT_TRUE(reactor->Await().ok());
  calls.clear();
  reactor.reset();
  // Every member connection closed and its watch completed: nothing of the
  // channel is left on the worker.
  EXPECT_TRUE(WaitFor([&] {
    return internal::Worker::Get().pending() <= pending_before;
  })) << internal::Worker::Get().pending()
      << " worker completions pending";
}

TEST(ChannelDestructionTest, CreateAndDestroyUnderLoadRepeatedly) {
  auto backends = StartBackends(3);
  const std::string target = Ipv4Target(backends);
  const int64_t pending_before = internal::Worker::Get().pending();
  for (int round = 0; round < 10; ++round) {
    auto channel = MustCreate(target);
    auto stub = EchoTest::NewStub(channel);
    std::atomic<bool> stop{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      // Each thread holds its own reference: the last one to finish destroys
      // the channel, possibly while other calls are in flight.
      callers.emplace_back([stub_copy = std::shared_ptr<EchoTest::Stub>(
                                EchoTest::NewStub(channel)),
                            &stop] {
        for (int i = 0; i < 200 && !stop; ++i) {
          grpc::ClientContext context;
          context.set_deadline(Deadline());
          context.set_wait_for_ready(true);
          EchoRequest request;
          EchoResponse response;
          grpc::Status status = stub_copy->Echo(&context, request, &response);
          EXPECT_TRUE(status.ok()) << status.error_message();
        }
      });
    }
    channel.reset();
    stub.reset();
    stop = round % 2 == 0;  // half the rounds stop the callers early
    for (std::thread& t : callers) t.join();
  }
  EXPECT_TRUE(WaitFor([&] {
    return internal::Worker::Get().pending() <= pending_before;
  })) << internal::Worker::Get().pending()
      << " worker completions pending";
}

}  // namespace
}  // namespace warm
