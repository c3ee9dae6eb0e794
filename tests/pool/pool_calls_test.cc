// Unit tests of a real Pool on fakes (see pool_test.cc): outlier ejection
// and calls through Pool::CreateCall(), on in-process member channels to a
// grpc::Server of the test's (no sockets).

#include "tests/pool/pool_harness.h"

namespace warm {
namespace internal {
namespace {

// --- Outlier ejection (real calls on in-process member channels) ------------

// The pool as a grpc::ChannelInterface, as warm::Channel presents it, so
// that calls go through Pool::CreateCall() and its picker.
class PoolChannel final : public grpc::ChannelInterface {
 public:
  explicit PoolChannel(Pool& pool) : pool_(pool) {}
  grpc_connectivity_state GetState(bool try_to_connect) override {
    return pool_.GetState(try_to_connect);
  }

 private:
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq) override {
    return pool_.CreateCall(method, context, cq);
  }
  void PerformOpsOnCall(grpc::internal::CallOpSetInterface* ops,
                        grpc::internal::Call* call) override {
    call->PerformOps(ops);
  }
  void* RegisterMethod(const char* method) override {
    return pool_.RegisterMethod(method);
  }
  void NotifyOnStateChangeImpl(grpc_connectivity_state last_observed,
                               gpr_timespec deadline,
                               grpc::CompletionQueue* cq, void* tag) override {
    pool_.NotifyOnStateChange(last_observed, deadline, cq, tag);
  }
  bool WaitForStateChangeImpl(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) override {
    return pool_.WaitForStateChange(last_observed, deadline);
  }
  grpc::CompletionQueue* CallbackCQ() override {
    return pool_.callback_cq_marker();
  }

  Pool& pool_;
};

// One unary call of `method` on `channel`; its status.
grpc::Status Call(grpc::ChannelInterface* channel,
                  const grpc::internal::RpcMethod& method) {
  grpc::ClientContext context;
  grpc::Slice slice(std::string("ping"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, method, &context, request, &response);
}

class PoolEjectionTest : public PoolTest {
 protected:
  void SetUp() override { UseInProcessMembers(); }

  ChannelOptions EjectionOptions() {
    ChannelOptions options = Options();
    options.outlier_ejection.consecutive_failures = 3;
    options.outlier_ejection.base_ejection_time = seconds(30);
    options.outlier_ejection.max_ejection_time = seconds(300);
    return options;
  }

  // `n` calls on member `id`'s own channel; each fails.
  void FailCalls(uint64_t id, int n) {
    std::shared_ptr<grpc::Channel> channel = Ch(id);
    ASSERT_NE(channel, nullptr);
    const grpc::internal::RpcMethod method(
        kFailMethod, grpc::internal::RpcMethod::NORMAL_RPC);
    for (int i = 0; i < n; ++i) {
      const grpc::Status status = Call(channel.get(), method);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << status.error_message();
    }
    // The report is posted to the control thread.
    scheduler_->RunPending();
  }
};

TEST_F(PoolEjectionTest, FailingCallsEjectAMemberForTheEjectionTime) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);

  FailCalls(1, 2);
  EXPECT_TRUE(Pickable(1)) << "2 failures of 3";
  EXPECT_EQ(Member(1)->calls_finished_by_code[grpc::StatusCode::UNAVAILABLE],
            2u);
  FailCalls(1, 1);
  std::optional<MemberInfo> one = Member(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(one->ejected);
  EXPECT_FALSE(one->pickable);
  EXPECT_EQ(one->times_ejected, 1);
  ASSERT_THAT(EventsOf(Kind::kMemberEjected), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberEjected)[0].detail,
              HasSubstr("ejected for 30 s (ejection 1)"));
  EXPECT_EQ(pool_->Health().healthy_members, 2) << "ejected is not healthy";
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3)) << "ejected, not closed";
  {
    const PoolView view = View();
    EXPECT_EQ(view.counters.ejections, 1u);
    EXPECT_EQ(view.members[0].state_word, "ejected");
    EXPECT_EQ(view.members[0].info.ejected_until,
              view.clocks.wall + seconds(30));
  }

  scheduler_->AdvanceBy(seconds(30) - milliseconds(1));
  EXPECT_TRUE(Member(1)->ejected);
  scheduler_->AdvanceBy(milliseconds(1));
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  ASSERT_THAT(EventsOf(Kind::kMemberReturned), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned)[0].detail,
              HasSubstr("ejection time over"));

  // The failure count started over when it returned: three more to eject
  // again, now for twice as long.
  FailCalls(1, 2);
  EXPECT_FALSE(Member(1)->ejected);
  FailCalls(1, 1);
  EXPECT_TRUE(Member(1)->ejected);
  EXPECT_THAT(EventsOf(Kind::kMemberEjected).back().detail,
              HasSubstr("ejected for 60 s (ejection 2)"));
}

TEST_F(PoolEjectionTest, EjectionNeverLeavesFewerThanCriticalMinPickable) {
  Start(kStaticTarget, EjectionOptions());
  MakeHealthy(1);  // the only pickable member
  FailCalls(1, 3);
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  ASSERT_THAT(EventsOf(Kind::kEjectionSkipped), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kEjectionSkipped)[0].detail,
              HasSubstr("only 0 other pickable members"));
}

TEST_F(PoolEjectionTest, WithEjectionOffFailingCallsEjectNothing) {
  ChannelOptions options = EjectionOptions();
  options.outlier_ejection.enabled = false;
  Start(kStaticTarget, std::move(options));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 10);
  EXPECT_FALSE(Member(1)->ejected) << "ejection is off";
  EXPECT_THAT(EventsOf(Kind::kMemberEjected), IsEmpty());
  EXPECT_EQ(Member(1)->calls_finished_by_code[grpc::StatusCode::UNAVAILABLE],
            10u);
}

TEST_F(PoolEjectionTest, EjectionEndsEarlyWhenTheOtherMembersFail) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  SetState(2, GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_TRUE(Member(1)->ejected) << "member 3 is still pickable";
  SetState(3, GRPC_CHANNEL_TRANSIENT_FAILURE);
  // None pickable but the ejected one: it returns, to keep critical_min.
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_EQ(pool_->GetState(false), GRPC_CHANNEL_READY);
  ASSERT_THAT(EventsOf(Kind::kMemberReturned), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned)[0].detail, HasSubstr("early"));
}

TEST_F(PoolEjectionTest, HealthChecksDoNotEndAnEjectionByDefault) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  for (int i = 0; i < 2; ++i) {
    scheduler_->AdvanceBy(kInterval);
    Check(1, CheckOutcome::kServing);
  }
  EXPECT_TRUE(Member(1)->ejected)
      << "answering checks while failing calls is what ejection is for";
  EXPECT_FALSE(Pickable(1));
}

TEST_F(PoolEjectionTest, UnejectOnHealthCheckEndsAnEjectionAfterTheThreshold) {
  ChannelOptions options = EjectionOptions();
  options.outlier_ejection.uneject_on_health_check = true;
  Start(kStaticTarget, std::move(options));
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kServing);
  EXPECT_TRUE(Member(1)->ejected) << "1 of healthy_threshold 2";
  scheduler_->AdvanceBy(kInterval);
  Check(1, CheckOutcome::kServing);
  EXPECT_FALSE(Member(1)->ejected);
  EXPECT_TRUE(Pickable(1));
  EXPECT_THAT(EventsOf(Kind::kMemberReturned).back().detail,
              HasSubstr("2 health checks passed"));
}

// --- The data plane: calls through Pool::CreateCall() ------------------------

class PoolCallTest : public PoolEjectionTest {
 protected:
  // `n` successful calls through the pool's picker.
  void CallPool(int n) {
    auto channel = std::make_shared<PoolChannel>(*pool_);
    const grpc::internal::RpcMethod method(
        kOkMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel);
    for (int i = 0; i < n; ++i) {
      const grpc::Status status = Call(channel.get(), method);
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
  }
  uint64_t Started(uint64_t id) {
    std::optional<MemberInfo> info = Member(id);
    return info.has_value() ? info->calls_started : 0;
  }
};

TEST_F(PoolCallTest, CallsGoToPickableMembersOnly) {
  Start(kStaticTarget, EjectionOptions());
  MakeHealthy(1);
  MakeHealthy(2);
  SetState(3, GRPC_CHANNEL_READY);  // connected, not checked yet
  CallPool(40);
  EXPECT_EQ(Started(3), 0u);
  EXPECT_EQ(Started(1) + Started(2), 40u);
  EXPECT_GT(Started(1), 0u);
  EXPECT_GT(Started(2), 0u);
  EXPECT_EQ(View().calls.started, 40u) << "the pool's own totals";
}

TEST_F(PoolCallTest, AnEjectedMemberGetsNoCalls) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  FailCalls(1, 3);
  ASSERT_TRUE(Member(1)->ejected);
  const uint64_t before = Started(1);
  CallPool(30);
  EXPECT_EQ(Started(1), before);
  EXPECT_EQ(Started(2) + Started(3), 30u);
}

TEST_F(PoolCallTest, WithNoPickableMemberCallsGoToMembersThatMayBecomeOne) {
  Start(kStaticTarget, EjectionOptions());
  SetState(1, GRPC_CHANNEL_TRANSIENT_FAILURE);
  SetState(2, GRPC_CHANNEL_CONNECTING);
  SetState(3, GRPC_CHANNEL_CONNECTING);
  CallPool(20);
  EXPECT_EQ(Started(1), 0u);
  EXPECT_EQ(Started(2) + Started(3), 20u);
}

TEST_F(PoolCallTest, AfterShutdownMemberChannelsAreFreedOnceCallsEnded) {
  Start(kStaticTarget, EjectionOptions());
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  CallPool(3);
  std::vector<std::weak_ptr<grpc::Channel>> members;
  for (size_t i = 0; i < 3; ++i) members.push_back(channels_->channel(i));
  pool_->Shutdown();
  // The picker is empty now (a call would go to the unresolved channel,
  // which connects, so this test makes none) and nothing else holds the
  // members' channels: the calls that used them have ended.
  scheduler_->RunPending();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(members[i].expired()) << "member channel " << i;
  }
}


}  // namespace
}  // namespace internal
}  // namespace warm
