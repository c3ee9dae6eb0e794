// Unit tests of a real Pool on fakes (see pool_test.cc) with Health/Watch
// streams (health_check.watch = true, the default): FakeHealthWatches
// stands in for the streams, FakeHealthChecks for the polled Checks and
// liveness probes. And liveness through the pool: a member whose unary call
// timed out after it answered nothing for stall_timeout, or whose calls
// stall while another member's complete, is suspected and probed. Those
// tests make real unary calls on in-process member channels (no sockets),
// to a backend that never answers one method: they wait for a call's
// deadline (tens of milliseconds), never sleep.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <thread>

#include "tests/pool/pool_harness.h"

namespace warm {
namespace internal {
namespace {

class PoolWatchTest : public PoolTest {
 protected:
  ChannelOptions WatchOptions() {
    ChannelOptions options = Options();
    options.health_check.watch = true;
    return options;
  }
  // A message on member `id`'s open stream.
  void Send(uint64_t id, CheckOutcome outcome) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel == nullptr) return;
    EXPECT_TRUE(watches_.Send(*channel, outcome))
        << "no stream open on member #" << id;
  }
  void End(uint64_t id, CheckOutcome outcome) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel == nullptr) return;
    EXPECT_TRUE(watches_.End(*channel, outcome))
        << "no stream open on member #" << id;
  }
  void WatchHealthy(uint64_t id) {
    SetState(id, GRPC_CHANNEL_READY);
    Send(id, CheckOutcome::kServing);
  }
};

TEST_F(PoolWatchTest, EachMemberWatchesOnOneStreamAndIsNotPolled) {
  Start(kStaticTarget, WatchOptions());
  for (uint64_t id : {1, 2, 3}) {
    SCOPED_TRACE(id);
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    ASSERT_NE(channel, nullptr);
    EXPECT_EQ(watches_.Started(*channel), 1);
    EXPECT_EQ(watches_.Open(*channel), 1);
    EXPECT_EQ(Member(id)->health_mode, "watch");
    EXPECT_FALSE(Member(id)->suspected);
  }
  ASSERT_THAT(watches_.streams(), SizeIs(3));
  EXPECT_EQ(watches_.streams()[0].service, "warm.test.Backend");
  EXPECT_THAT(checks_.checks(), IsEmpty());
}

TEST_F(PoolWatchTest, AMemberBecomesPickableOnItsFirstServingMessage) {
  Start(kStaticTarget, WatchOptions());
  SetState(1, GRPC_CHANNEL_READY);
  EXPECT_FALSE(Pickable(1)) << "connected, nothing heard yet";
  Send(1, CheckOutcome::kServing);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(Member(1)->health, MemberHealth::kHealthy);
  EXPECT_EQ(Member(1)->last_check, "SERVING");
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_EQ(pool_->Health().healthy_members, 1);
  ASSERT_THAT(EventsOf(Kind::kMemberHealthy), SizeIs(1));

  // A quiet stream keeps it so: no checks, no new streams.
  WatchHealthy(2);
  WatchHealthy(3);
  scheduler_->AdvanceBy(std::chrono::minutes(10));
  EXPECT_TRUE(Pickable(1));
  EXPECT_THAT(checks_.checks(), IsEmpty());
  EXPECT_THAT(watches_.streams(), SizeIs(3));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3));
}

TEST_F(PoolWatchTest, ANotServingMessageTakesTheMemberOutAtOnce) {
  Start(kStaticTarget, WatchOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  std::shared_ptr<grpc::Channel> one = Ch(1);
  ASSERT_TRUE(Pickable(1));

  Send(1, CheckOutcome::kNotServing);
  EXPECT_FALSE(Pickable(1));
  EXPECT_THAT(MemberIds(), Not(Contains(1u))) << "unhealthy: evicted";
  EXPECT_EQ(watches_.Cancelled(*one), 1) << "its stream went with it";
  ASSERT_THAT(EventsOf(Kind::kMemberUnhealthy), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kMemberUnhealthy)[0].member_id, 1u);
  EXPECT_THAT(EventsOf(Kind::kMemberUnhealthy)[0].detail,
              HasSubstr("NOT_SERVING"));
  // Its replacement watches too.
  EXPECT_THAT(MemberIds(), ElementsAre(2, 3, 4));
  EXPECT_EQ(watches_.Started(*Ch(4)), 1);
  EXPECT_EQ(Member(4)->health_mode, "watch");
}

TEST_F(PoolWatchTest, AnUnimplementedStreamMakesThePoolPollThatMember) {
  Start(kStaticTarget, WatchOptions());
  std::shared_ptr<grpc::Channel> one = Ch(1);
  End(1, CheckOutcome::kUnimplemented);
  EXPECT_EQ(checks_.InFlight(*one), 1) << "a polled Check, at once";
  EXPECT_EQ(checks_.checks()[0].timeout, milliseconds(500));
  EXPECT_EQ(checks_.checks()[0].service, "warm.test.Backend");
  EXPECT_EQ(Member(1)->health_mode, "poll");
  EXPECT_EQ(Member(2)->health_mode, "watch");
  EXPECT_EQ(Member(1)->health, MemberHealth::kUnknown) << "nothing said yet";

  SetState(1, GRPC_CHANNEL_READY);
  Check(1, CheckOutcome::kServing);
  EXPECT_TRUE(Pickable(1));
  scheduler_->AdvanceBy(kInterval);
  EXPECT_EQ(checks_.Started(*one), 2) << "polled every interval";
  EXPECT_EQ(watches_.Started(*one), 1) << "never watched again";
}

TEST_F(PoolWatchTest, ABrokenStreamIsAFailedCheckAndIsOpenedAgain) {
  Start(kStaticTarget, WatchOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  std::shared_ptr<grpc::Channel> one = Ch(1);
  End(1, CheckOutcome::kFailed);
  EXPECT_TRUE(Pickable(1)) << "one failure of unhealthy_threshold 2";
  EXPECT_THAT(Member(1)->last_check, HasSubstr("Watch stream ended"));

  scheduler_->AdvanceBy(milliseconds(1200));  // the backoff: 1 s +-20 %
  ASSERT_EQ(watches_.Started(*one), 2);
  // The new stream says nothing within the timeout (500 ms): the second
  // failure in a row, and the member goes.
  scheduler_->AdvanceBy(milliseconds(500));
  EXPECT_THAT(MemberIds(), Not(Contains(1u)));
  ASSERT_THAT(EventsOf(Kind::kMemberUnhealthy), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberUnhealthy)[0].detail,
              HasSubstr("2 checks failed in a row"));
}

TEST_F(PoolWatchTest, HealthModeIsEmptyWithChecksOff) {
  ChannelOptions options = WatchOptions();
  options.health_check.enabled = false;
  Start(kStaticTarget, std::move(options));
  EXPECT_EQ(Member(1)->health_mode, "");
  EXPECT_THAT(watches_.streams(), IsEmpty());
  EXPECT_THAT(checks_.checks(), IsEmpty());
}

TEST_F(PoolWatchTest, WatchFalsePolls) {
  Start(kStaticTarget, Options());  // the harness' default: watch = false
  EXPECT_EQ(Member(1)->health_mode, "poll");
  EXPECT_THAT(watches_.streams(), IsEmpty());
  EXPECT_EQ(checks_.InFlight(), 3);
}

// --- Liveness: real calls on in-process members ------------------------------

class PoolLivenessTest : public PoolWatchTest {
 protected:
  void SetUp() override { UseInProcessMembers(); }

  ChannelOptions LivenessOptions() {
    ChannelOptions options = WatchOptions();
    options.liveness.stall_timeout = milliseconds(10);  // the minimum
    options.liveness.probe_timeout = milliseconds(700);
    options.outlier_ejection.enabled = false;
    return options;
  }

  // One unary call of `method` on member `id`'s own channel (so that it
  // goes to that member, through its load interceptor).
  grpc::Status Call(uint64_t id, const char* method, milliseconds deadline,
                    grpc::ClientContext* context = nullptr) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel == nullptr) return grpc::Status::CANCELLED;
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    context->set_deadline(std::chrono::system_clock::now() + deadline);
    grpc::Slice slice(std::string("ping"));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer,
                                             grpc::ByteBuffer>(
        channel.get(),
        grpc::internal::RpcMethod(method,
                                  grpc::internal::RpcMethod::NORMAL_RPC),
        context, request, &response);
  }

  // Waits (on real time, bounded) until member `id` has `n` calls in
  // flight.
  bool WaitInFlight(uint64_t id, int64_t n) {
    const auto give_up = std::chrono::steady_clock::now() + seconds(5);
    while (std::chrono::steady_clock::now() < give_up) {
      std::optional<MemberInfo> info = Member(id);
      if (info.has_value() && info->in_flight == n) return true;
      std::this_thread::yield();
    }
    return false;
  }

  // A bidi stream on member `id` that hangs until `deadline`: its end
  // starts a stall scan (StallTrigger), but a stream is not a unary call,
  // so it moves no member's progress stamp.
  grpc::Status HangStream(uint64_t id, milliseconds deadline) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    if (channel == nullptr) return grpc::Status::CANCELLED;
    grpc::GenericStub stub(channel);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&context, kHangMethod, &cq);
    grpc::Status status;
    call->StartCall(reinterpret_cast<void*>(1));
    call->Finish(&status, reinterpret_cast<void*>(2));
    void* tag;
    bool ok;
    for (int done = 0; done < 2 && cq.Next(&tag, &ok);) ++done;
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }
};

TEST_F(PoolLivenessTest,
       ACallTimingOutOnAQuietMemberSuspectsItUntilAProbePasses) {
  Start(kStaticTarget, LivenessOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  std::shared_ptr<grpc::Channel> one = Ch(1);

  const grpc::Status status = Call(1, kHangMethod, milliseconds(40));
  ASSERT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  // Another member answers meanwhile: this one alone is quiet.
  ASSERT_TRUE(Call(2, kOkMethod, milliseconds(5000)).ok());
  scheduler_->RunPending();  // the report is posted to the control thread

  std::optional<MemberInfo> info = Member(1);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->suspected);
  EXPECT_FALSE(info->pickable) << "out of the picker at once";
  EXPECT_EQ(View().members[0].state_word, "suspected");
  ASSERT_THAT(EventsOf(Kind::kMemberSuspected), SizeIs(1));
  EXPECT_EQ(EventsOf(Kind::kMemberSuspected)[0].member_id, 1u);
  EXPECT_THAT(EventsOf(Kind::kMemberSuspected)[0].detail,
              HasSubstr("timed out"));
  ASSERT_EQ(checks_.InFlight(*one), 1) << "probed";
  EXPECT_EQ(checks_.checks()[0].timeout, milliseconds(700));
  EXPECT_EQ(watches_.Open(*one), 1) << "the stream stays";
  EXPECT_TRUE(Pickable(2));
  EXPECT_TRUE(Pickable(3));

  Check(1, CheckOutcome::kServing);  // the probe passes
  EXPECT_FALSE(Member(1)->suspected);
  EXPECT_TRUE(Pickable(1));
  ASSERT_THAT(EventsOf(Kind::kMemberReturned), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned)[0].detail,
              HasSubstr("no longer suspected"));
}

// No other member answered around the time this one went quiet (every
// backend slow, or no traffic elsewhere): a timed-out call suspects nobody.
// Every other member is stalled too (every backend slow, or this client):
// a timed-out call suspects nobody.
TEST_F(PoolLivenessTest, ACallTimingOutWhileEveryOtherMemberIsStalledSuspectsNothing) {
  Start(kStaticTarget, LivenessOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  grpc::ClientContext second, third;
  std::thread two([&] { Call(2, kHangMethod, milliseconds(5000), &second); });
  std::thread three([&] { Call(3, kHangMethod, milliseconds(5000), &third); });
  ASSERT_TRUE(WaitInFlight(2, 1));
  ASSERT_TRUE(WaitInFlight(3, 1));
  // Takes 40 ms: members 2 and 3 are then quiet beyond stall_timeout.
  const grpc::Status status = Call(1, kHangMethod, milliseconds(40));
  ASSERT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  scheduler_->RunPending();
  EXPECT_FALSE(Member(1)->suspected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_THAT(EventsOf(Kind::kMemberSuspected), IsEmpty());
  second.TryCancel();
  third.TryCancel();
  two.join();
  three.join();
}

TEST_F(PoolLivenessTest, FailedProbesRepeatUntilTheMemberIsEvicted) {
  Start(kStaticTarget, LivenessOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  std::shared_ptr<grpc::Channel> one = Ch(1);
  Call(1, kHangMethod, milliseconds(40));
  ASSERT_TRUE(Call(2, kOkMethod, milliseconds(5000)).ok());
  scheduler_->RunPending();
  ASSERT_TRUE(Member(1)->suspected);

  Check(1, CheckOutcome::kFailed);
  ASSERT_TRUE(Member(1).has_value());
  EXPECT_TRUE(Member(1)->suspected);
  EXPECT_EQ(checks_.Started(*one), 1) << "not at once: probes are spaced";
  scheduler_->AdvanceBy(milliseconds(699));
  EXPECT_EQ(checks_.Started(*one), 1);
  scheduler_->AdvanceBy(milliseconds(1));  // probe_timeout after the last
  EXPECT_EQ(checks_.Started(*one), 2) << "probed again";
  EXPECT_EQ(checks_.InFlight(*one), 1);
  Check(1, CheckOutcome::kFailed);
  EXPECT_THAT(MemberIds(), Not(Contains(1u))) << "unhealthy_threshold 2";
  EXPECT_EQ(checks_.InFlight(*one), 0) << "nothing left running on it";
  EXPECT_EQ(watches_.Open(*one), 0);
}

TEST_F(PoolLivenessTest, ACallTimingOutOnTheOnlyPickableMemberSuspectsNothing) {
  Start(kStaticTarget, LivenessOptions());
  WatchHealthy(1);
  Call(1, kHangMethod, milliseconds(40));
  scheduler_->RunPending();
  EXPECT_FALSE(Member(1)->suspected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_THAT(EventsOf(Kind::kMemberSuspected), IsEmpty());
  EXPECT_THAT(checks_.checks(), IsEmpty()) << "no probe";
}

TEST_F(PoolLivenessTest, CallsStalledWhileOthersCompleteSuspectTheMember) {
  Start(kStaticTarget, LivenessOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  // A call hangs on member 1 (deadline far off) ...
  grpc::ClientContext hanging;
  std::atomic<bool> hang_done{false};
  std::thread caller([&] {
    Call(1, kHangMethod, milliseconds(5000), &hanging);
    hang_done = true;
  });
  // ... while calls on member 2 complete: their ends start the stall scan
  // (at most every stall_timeout / 4), which finds member 1 quiet for
  // longer than stall_timeout (10 ms).
  bool suspected = false;
  const auto give_up = std::chrono::steady_clock::now() + seconds(4);
  while (!suspected && !hang_done &&
         std::chrono::steady_clock::now() < give_up) {
    EXPECT_TRUE(Call(2, kOkMethod, milliseconds(2000)).ok());
    scheduler_->RunPending();
    suspected = Member(1)->suspected;
  }
  hanging.TryCancel();
  caller.join();
  ASSERT_TRUE(suspected);
  EXPECT_FALSE(Member(2)->suspected);
  EXPECT_FALSE(Member(3)->suspected) << "no calls is not a stall";
  ASSERT_THAT(EventsOf(Kind::kMemberSuspected), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberSuspected)[0].detail,
              HasSubstr("while other members' calls did"));
  EXPECT_EQ(checks_.InFlight(*Ch(1)), 1) << "probed";
}

// LivenessOptions: a stalled member is suspected "while calls on other
// members of the channel complete". A call that merely started on another
// member is not such progress: here no call completes anywhere (member 1's
// call hangs, member 2's call hangs too but started just before the scan,
// which a stream's end on member 3 starts), so nobody is suspected.
TEST_F(PoolLivenessTest, NoCallCompletedAnywhereSuspectsNobody) {
  Start(kStaticTarget, LivenessOptions());
  for (uint64_t id : {1, 2, 3}) WatchHealthy(id);
  grpc::ClientContext first;
  grpc::ClientContext second;
  std::thread one([&] { Call(1, kHangMethod, milliseconds(5000), &first); });
  ASSERT_TRUE(WaitInFlight(1, 1));
  // Quiet for longer than stall_timeout (10 ms); the stream's end posts a
  // scan, which runs at RunPending() below.
  EXPECT_EQ(HangStream(3, milliseconds(30)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  std::thread two([&] { Call(2, kHangMethod, milliseconds(5000), &second); });
  const bool two_in_flight = WaitInFlight(2, 1);
  scheduler_->RunPending();
  const bool suspected = Member(1)->suspected;
  const std::vector<PoolEvent> events = EventsOf(Kind::kMemberSuspected);
  first.TryCancel();
  second.TryCancel();
  one.join();
  two.join();
  ASSERT_TRUE(two_in_flight);
  EXPECT_FALSE(suspected) << "no call completed on any member";
  for (const PoolEvent& event : events) {
    ADD_FAILURE() << "#" << event.member_id << ": " << event.detail;
  }
}

}  // namespace
}  // namespace internal
}  // namespace warm
