// Unit tests of TlsRotation (src/tls/rotation.h), the pure rules of when a
// channel takes new TLS files into use: hand-made FileStamps and load
// results, wall times passed in. No files, no OpenSSL, no gRPC.

#include "src/tls/rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warm {
namespace internal {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = TlsRotation::Decision::Kind;
using std::chrono::seconds;

const WallTime kT0 = WallTime{} + std::chrono::hours(24 * 365 * 50);

// The stamps of a (ca, cert, key) set; `version` changes every file.
std::vector<FileStamp> Stamps(int version) {
  std::vector<FileStamp> stamps;
  for (int file = 0; file < 3; ++file) {
    FileStamp stamp;
    stamp.exists = true;
    stamp.device = 7;
    stamp.inode = static_cast<uint64_t>(1000 * version + file);
    stamp.size = 600 + file;
    stamp.mtime_ns = int64_t{1'000'000'000} * version;
    stamp.ctime_ns = stamp.mtime_ns;
    stamps.push_back(stamp);
  }
  return stamps;
}

TlsMaterial Material(const std::vector<FileStamp>& stamps,
                     const std::string& subject, bool chains_to_ca = true) {
  TlsMaterial material;
  material.root_pem = "root " + subject;
  material.cert_pem = "cert " + subject;
  material.key_pem = "key " + subject;
  material.subject = subject;
  material.issuer = "CN=test-ca";
  material.chains_to_ca = chains_to_ca;
  material.stamps = stamps;
  return material;
}

TEST(TlsRotationTest, SameStampsNeedNoRead) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  EXPECT_FALSE(rotation.NeedsRead(Stamps(1)));
  EXPECT_TRUE(rotation.NeedsRead(Stamps(2)));
  EXPECT_EQ(rotation.generation(), 0u);
  EXPECT_EQ(rotation.last_reload_at(), kT0);
  EXPECT_TRUE(rotation.must_chain_to_ca());
  EXPECT_FALSE(
      TlsRotation(Material(Stamps(1), "CN=v1", false), kT0).must_chain_to_ca());
}

TEST(TlsRotationTest, AnyChangedFieldOfOneFileNeedsARead) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  for (int field = 0; field < 6; ++field) {
    std::vector<FileStamp> stamps = Stamps(1);
    FileStamp& key = stamps[2];
    switch (field) {
      case 0: key.exists = false; break;
      case 1: ++key.device; break;
      case 2: ++key.inode; break;
      case 3: ++key.size; break;
      case 4: ++key.mtime_ns; break;
      case 5: ++key.ctime_ns; break;
    }
    EXPECT_TRUE(rotation.NeedsRead(stamps)) << "field " << field;
  }
  // A file fewer (or more) is a change too.
  std::vector<FileStamp> two = Stamps(1);
  two.pop_back();
  EXPECT_TRUE(rotation.NeedsRead(two));
}

TEST(TlsRotationTest, GoodNewSetIsReloadedAsANewGeneration) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const WallTime t1 = kT0 + seconds(60);
  const TlsRotation::Decision decision =
      rotation.OnRead(Stamps(2), Material(Stamps(2), "CN=v2"), t1);
  EXPECT_EQ(decision.kind, Kind::kReloaded);
  EXPECT_THAT(decision.detail, HasSubstr("new TLS files in use"));
  EXPECT_THAT(decision.detail, HasSubstr("(certificate CN=v2)"));
  EXPECT_EQ(rotation.generation(), 1u);
  EXPECT_EQ(rotation.reloads_ok(), 1u);
  EXPECT_EQ(rotation.reloads_failed(), 0u);
  EXPECT_EQ(rotation.material().subject, "CN=v2");
  EXPECT_EQ(rotation.material().cert_pem, "cert CN=v2");
  EXPECT_EQ(rotation.last_reload_at(), t1);
  EXPECT_FALSE(rotation.NeedsRead(Stamps(2)));
  EXPECT_TRUE(rotation.NeedsRead(Stamps(1)));

  // And again: every good new set is one more generation.
  EXPECT_EQ(rotation.OnRead(Stamps(3), Material(Stamps(3), "CN=v3"),
                            t1 + seconds(60))
                .kind,
            Kind::kReloaded);
  EXPECT_EQ(rotation.generation(), 2u);
  EXPECT_EQ(rotation.reloads_ok(), 2u);
}

TEST(TlsRotationTest, ReloadWithoutASubjectSaysNoCertificate) {
  TlsRotation rotation(Material(Stamps(1), ""), kT0);
  const TlsRotation::Decision decision =
      rotation.OnRead(Stamps(2), Material(Stamps(2), ""), kT0 + seconds(1));
  EXPECT_EQ(decision.kind, Kind::kReloaded);
  EXPECT_EQ(decision.detail, "new TLS files in use");
}

TEST(TlsRotationTest, StampsOfTheFilesAsLoadedAreTheOnesSeen) {
  // The files changed again between stamping and loading: what was loaded
  // is what counts, so the newer stamps need no second read.
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  ASSERT_EQ(rotation.OnRead(Stamps(2), Material(Stamps(3), "CN=v3"),
                            kT0 + seconds(1))
                .kind,
            Kind::kReloaded);
  EXPECT_FALSE(rotation.NeedsRead(Stamps(3)));
  EXPECT_TRUE(rotation.NeedsRead(Stamps(2)));
}

TEST(TlsRotationTest, BadSetIsReportedOnceAfterStayingBadForAnInterval) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const absl::Status bad = absl::InvalidArgumentError(
      "cert_file /certs/client.crt: no PEM certificate");
  const WallTime t1 = kT0 + seconds(60);
  const WallTime t2 = kT0 + seconds(120);

  // First seen bad: perhaps caught mid-rotation; nothing yet.
  TlsRotation::Decision first = rotation.OnRead(Stamps(2), bad, t1);
  EXPECT_EQ(first.kind, Kind::kNone);
  EXPECT_THAT(first.detail, IsEmpty());
  EXPECT_EQ(rotation.reloads_failed(), 0u);
  EXPECT_THAT(rotation.last_error(), IsEmpty());
  EXPECT_TRUE(rotation.NeedsRead(Stamps(2))) << "must be read again";

  // Still bad, unchanged, an interval later: reported.
  TlsRotation::Decision second = rotation.OnRead(Stamps(2), bad, t2);
  EXPECT_EQ(second.kind, Kind::kReportFailure);
  EXPECT_THAT(second.detail,
              HasSubstr("cert_file /certs/client.crt: no PEM certificate"));
  EXPECT_THAT(second.detail, HasSubstr("still using the files read 120 s ago"));
  EXPECT_EQ(rotation.reloads_failed(), 1u);
  EXPECT_EQ(rotation.last_error(),
            "cert_file /certs/client.crt: no PEM certificate");
  EXPECT_EQ(rotation.last_error_at(), t2);

  // Once only.
  EXPECT_EQ(rotation.OnRead(Stamps(2), bad, t2 + seconds(60)).kind,
            Kind::kNone);
  EXPECT_EQ(rotation.reloads_failed(), 1u);
  EXPECT_EQ(rotation.last_error_at(), t2);

  // The material in use never changed.
  EXPECT_EQ(rotation.generation(), 0u);
  EXPECT_EQ(rotation.material().subject, "CN=v1");
  EXPECT_EQ(rotation.last_reload_at(), kT0);
}

TEST(TlsRotationTest, InvalidArgumentMarksTheStampsSeen) {
  // Malformed files wait for a change.
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const absl::Status bad = absl::InvalidArgumentError("key does not match");
  rotation.OnRead(Stamps(2), bad, kT0 + seconds(60));
  ASSERT_EQ(rotation.OnRead(Stamps(2), bad, kT0 + seconds(120)).kind,
            Kind::kReportFailure);
  EXPECT_FALSE(rotation.NeedsRead(Stamps(2)));
  // A change is read again.
  EXPECT_TRUE(rotation.NeedsRead(Stamps(3)));
}

TEST(TlsRotationTest, FailedPreconditionIsReadAgainEveryInterval) {
  // A certificate not valid yet: read every interval, used once valid.
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const absl::Status early =
      absl::FailedPreconditionError("certificate is not valid yet");
  EXPECT_EQ(rotation.OnRead(Stamps(2), early, kT0 + seconds(60)).kind,
            Kind::kNone);
  EXPECT_TRUE(rotation.NeedsRead(Stamps(2)));
  EXPECT_EQ(rotation.OnRead(Stamps(2), early, kT0 + seconds(120)).kind,
            Kind::kReportFailure);
  EXPECT_TRUE(rotation.NeedsRead(Stamps(2))) << "not seen: read again";
  EXPECT_EQ(rotation.OnRead(Stamps(2), early, kT0 + seconds(180)).kind,
            Kind::kNone)
      << "reported once";
  EXPECT_EQ(rotation.reloads_failed(), 1u);

  const WallTime valid_at = kT0 + seconds(240);
  EXPECT_EQ(
      rotation.OnRead(Stamps(2), Material(Stamps(2), "CN=v2"), valid_at).kind,
      Kind::kReloaded);
  EXPECT_EQ(rotation.generation(), 1u);
  EXPECT_THAT(rotation.last_error(), IsEmpty());
  EXPECT_FALSE(rotation.NeedsRead(Stamps(2)));
}

TEST(TlsRotationTest, FilesChangingWhileBadStartTheWaitAgain) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const absl::Status bad = absl::InvalidArgumentError("truncated");
  // Bad, then bad in another way before the interval settled it: the wait
  // starts again with the new files.
  EXPECT_EQ(rotation.OnRead(Stamps(2), bad, kT0 + seconds(1)).kind,
            Kind::kNone);
  EXPECT_EQ(rotation.OnRead(Stamps(3), bad, kT0 + seconds(2)).kind,
            Kind::kNone);
  EXPECT_EQ(rotation.OnRead(Stamps(3), bad, kT0 + seconds(3)).kind,
            Kind::kReportFailure);
  // A further bad change is a new failure, reported once in its turn.
  EXPECT_EQ(rotation.OnRead(Stamps(4), bad, kT0 + seconds(4)).kind,
            Kind::kNone);
  EXPECT_EQ(rotation.OnRead(Stamps(4), bad, kT0 + seconds(5)).kind,
            Kind::kReportFailure);
  EXPECT_EQ(rotation.reloads_failed(), 2u);
}

TEST(TlsRotationTest, FailureDetailCountsFromTheLastGoodReload) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const WallTime reloaded_at = kT0 + seconds(1000);
  ASSERT_EQ(
      rotation.OnRead(Stamps(2), Material(Stamps(2), "CN=v2"), reloaded_at)
          .kind,
      Kind::kReloaded);
  const absl::Status bad = absl::InvalidArgumentError("garbage in key_file");
  rotation.OnRead(Stamps(3), bad, reloaded_at + seconds(30));
  const TlsRotation::Decision decision =
      rotation.OnRead(Stamps(3), bad, reloaded_at + seconds(90));
  ASSERT_EQ(decision.kind, Kind::kReportFailure);
  EXPECT_EQ(decision.detail,
            "garbage in key_file; still using the files read 90 s ago");
}

TEST(TlsRotationTest, GoodReloadAfterAReportedFailureClearsIt) {
  TlsRotation rotation(Material(Stamps(1), "CN=v1"), kT0);
  const absl::Status bad = absl::InvalidArgumentError("truncated");
  rotation.OnRead(Stamps(2), bad, kT0 + seconds(1));
  ASSERT_EQ(rotation.OnRead(Stamps(2), bad, kT0 + seconds(2)).kind,
            Kind::kReportFailure);
  ASSERT_EQ(rotation.OnRead(Stamps(3), Material(Stamps(3), "CN=v3"),
                            kT0 + seconds(3))
                .kind,
            Kind::kReloaded);
  EXPECT_THAT(rotation.last_error(), IsEmpty());
  EXPECT_EQ(rotation.reloads_failed(), 1u) << "a count: never goes down";
  // A later bad set is reported again (after its own interval).
  EXPECT_EQ(rotation.OnRead(Stamps(4), bad, kT0 + seconds(4)).kind,
            Kind::kNone);
  EXPECT_EQ(rotation.OnRead(Stamps(4), bad, kT0 + seconds(5)).kind,
            Kind::kReportFailure);
  EXPECT_EQ(rotation.reloads_failed(), 2u);
}

}  // namespace
}  // namespace internal
}  // namespace warm
