// Unit tests of a real Pool on fakes (see pool_test.cc): TLS rotation from
// files in a temporary directory, with certificates made by the test.

#include "tests/pool/pool_harness.h"

namespace warm {
namespace internal {
namespace {

// --- TLS rotation -----------------------------------------------------------

class PoolTlsTest : public PoolTest {
 protected:
  void SetUp() override {
    ca_ = Must(wt::MakeCa("pool-test-ca"));
    ASSERT_TRUE(dir_.Write("ca.crt", ca_.cert).ok());
    files_ = Must(dir_.WritePem("client", ClientCert("client-v1")));
    tls_.ca_file = dir_.File("ca.crt");
    tls_.cert_file = files_.cert;
    tls_.key_file = files_.key;
    tls_.server_name_override = "backend.test";
    tls_.reload_interval = seconds(1);
  }

  wt::Pem ClientCert(const std::string& name) {
    return Must(wt::MakeClientCert(ca_, name));
  }

  void StartTls() {
    ChannelOptions options = Options();
    options.tls = tls_;
    Start(kStaticTarget, std::move(options),
          Must(LoadTlsMaterial(tls_, std::chrono::system_clock::now())));
  }

  PoolView::Tls TlsView() {
    const PoolView view = View();
    EXPECT_TRUE(view.tls.has_value());
    return view.tls.value_or(PoolView::Tls{});
  }

  wt::CertDir dir_ = Must(wt::CertDir::Create("pool-test"));
  wt::Pem ca_;
  wt::PemFiles files_;
  TlsOptions tls_;
};

TEST_F(PoolTlsTest, NewFilesAreTakenUpAndMembersRecycledOneAtATime) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  EXPECT_THAT(TlsView().subject, HasSubstr("client-v1"));
  const std::vector<std::string> addresses = {
      Member(1)->address, Member(2)->address, Member(3)->address};

  // Nothing changed: nothing happens.
  scheduler_->AdvanceBy(seconds(3));
  EXPECT_EQ(channels_->count(), 3u);
  EXPECT_EQ(TlsView().reloads_ok, 0u);
  reports_.clear();

  ASSERT_TRUE(dir_.WritePem("client", ClientCert("client-v2")).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded)[0].detail,
              AllOf(HasSubstr("client-v2"),
                    HasSubstr("recycling 3 members one at a time")));
  {
    const PoolView::Tls tls = TlsView();
    EXPECT_EQ(tls.reloads_ok, 1u);
    EXPECT_THAT(tls.subject, HasSubstr("client-v2"));
    EXPECT_EQ(tls.members_on_old_material, 3);
  }
  EXPECT_EQ(StringArg(channels_->created(0).args,
                      GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
            "backend.test");
  // One replacement, on the oldest member's address, with new credentials.
  ASSERT_EQ(channels_->count(), 4u);
  EXPECT_EQ(channels_->created(3).target, "ipv4:" + addresses[0]);
  EXPECT_NE(channels_->created(3).credentials,
            channels_->created(0).credentials);
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(View().members[3].old_tls_material);
  EXPECT_TRUE(View().members[0].old_tls_material);

  // Each replacement, once healthy, closes the member it replaces and the
  // next one opens.
  MakeHealthy(4);
  EXPECT_THAT(MemberIds(), ElementsAre(2, 3, 4, 5));
  EXPECT_EQ(TlsView().members_on_old_material, 2);
  EXPECT_EQ(channels_->created(4).target, "ipv4:" + addresses[1]);
  MakeHealthy(5);
  EXPECT_THAT(MemberIds(), ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(TlsView().members_on_old_material, 1);
  EXPECT_EQ(channels_->created(5).target, "ipv4:" + addresses[2]);
  MakeHealthy(6);
  EXPECT_THAT(MemberIds(), ElementsAre(4, 5, 6));
  EXPECT_EQ(TlsView().members_on_old_material, 0);
  EXPECT_EQ(channels_->count(), 6u);
  EXPECT_EQ(View().counters.evictions[static_cast<size_t>(
                EvictionReason::kRecycled)],
            3u);
  // Healthy members never dropped below the three.
  for (const ChannelHealth& report : reports_) {
    EXPECT_GE(report.healthy_members, 3);
  }

  // And it stays that way.
  scheduler_->AdvanceBy(seconds(5));
  EXPECT_EQ(channels_->count(), 6u);
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
}

TEST_F(PoolTlsTest, HalfWrittenFileIsReportedOnceAfterStayingBad) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const wt::Pem next = ClientCert("client-v2");
  ASSERT_TRUE(dir_.WritePartial("client.crt", next.cert, 100).ok());

  // First seen bad: maybe mid-rotation; nothing said yet.
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), IsEmpty());
  EXPECT_EQ(TlsView().reloads_failed, 0u);

  // Still bad an interval later: reported.
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed)[0].detail,
              AllOf(HasSubstr("client.crt"),
                    HasSubstr("still using the files read")));
  {
    const PoolView::Tls tls = TlsView();
    EXPECT_EQ(tls.reloads_failed, 1u);
    EXPECT_THAT(tls.last_error, HasSubstr("client.crt"));
    EXPECT_THAT(tls.subject, HasSubstr("client-v1"));
  }

  // Once only; the members stay on the working material.
  scheduler_->AdvanceBy(tls_.reload_interval * 5);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_EQ(channels_->count(), 3u);
  EXPECT_EQ(TlsView().members_on_old_material, 0);
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3));

  // The rotation completes: taken up at the next look.
  ASSERT_TRUE(dir_.WritePem("client", next).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloaded), SizeIs(1));
  EXPECT_EQ(TlsView().last_error, "");
  EXPECT_EQ(channels_->count(), 4u);
}

TEST_F(PoolTlsTest, CertificateNotValidYetIsReportedOnceAndReadAgain) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  // Well-formed but unusable for an hour (FailedPrecondition): unlike a
  // malformed file it is read again every interval, but reported once.
  ASSERT_TRUE(dir_.WritePem("client", Must(wt::MakeClientCert(
                                          ca_, "client-future",
                                          seconds(3600), seconds(7200))))
                  .ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), IsEmpty());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed)[0].detail,
              HasSubstr("client.crt"));
  scheduler_->AdvanceBy(tls_.reload_interval * 5);
  EXPECT_THAT(EventsOf(Kind::kTlsReloadFailed), SizeIs(1));
  EXPECT_EQ(TlsView().reloads_failed, 1u);
  EXPECT_THAT(TlsView().subject, HasSubstr("client-v1"));
  EXPECT_EQ(channels_->count(), 3u);
}

TEST_F(PoolTlsTest, ReplacementNotHealthyInTimeIsClosedAndTriedAgain) {
  StartTls();
  for (uint64_t id : {1, 2, 3}) MakeHealthy(id);
  const std::string oldest = Member(1)->address;
  ASSERT_TRUE(dir_.WritePem("client", ClientCert("client-v2")).ok());
  scheduler_->AdvanceBy(tls_.reload_interval);
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  std::shared_ptr<grpc::Channel> four = Ch(4);
  ASSERT_EQ(checks_.InFlight(*four), 1);

  // Three checks' time: 3 x (1 s interval + 0.5 s timeout). Member 4
  // connects but never passes a check.
  SetState(4, GRPC_CHANNEL_READY);
  scheduler_->AdvanceBy(milliseconds(4400));
  EXPECT_THAT(MemberIds(), ElementsAre(1, 2, 3, 4));
  scheduler_->AdvanceBy(milliseconds(100));
  EXPECT_EQ(Member(4), std::nullopt) << "replacement evicted";
  EXPECT_EQ(checks_.Cancelled(*four), 1) << "its check went with it";
  EXPECT_THAT(EventsOf(Kind::kMemberEvicted).back().detail,
              HasSubstr("replacement for #1 not healthy within 4.5 s"));
  EXPECT_TRUE(Pickable(1)) << "the old member kept serving";
  // Its address backs off; recycling goes on with the next member (one
  // extra member at a time).
  ASSERT_THAT(MemberIds(), ElementsAre(1, 2, 3, 5));
  EXPECT_EQ(Member(5)->address, Member(2)->address);

  // Member 1 is tried again, on its address, once that backoff is over.
  scheduler_->AdvanceBy(milliseconds(800));
  MakeHealthy(5);
  ASSERT_THAT(MemberIds(), ElementsAre(1, 3, 5, 6));
  EXPECT_EQ(Member(6)->address, oldest);
  MakeHealthy(6);
  ASSERT_THAT(MemberIds(), ElementsAre(3, 5, 6, 7));
  MakeHealthy(7);
  EXPECT_THAT(MemberIds(), ElementsAre(5, 6, 7));
  EXPECT_EQ(TlsView().members_on_old_material, 0);
}


}  // namespace
}  // namespace internal
}  // namespace warm
