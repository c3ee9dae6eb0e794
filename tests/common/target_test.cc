#include "src/common/target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warm {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Targets(absl::string_view target) {
  absl::StatusOr<Target> parsed = ParseTarget(target);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  std::vector<std::string> out;
  if (parsed.ok()) {
    for (const Address& a : parsed->addresses) out.push_back(a.grpc_target);
  }
  return out;
}

absl::Status Error(absl::string_view target) {
  return ParseTarget(target).status();
}

TEST(ParseTargetTest, Ipv4List) {
  EXPECT_THAT(Targets("ipv4:127.0.0.1:50051,127.0.0.2:50052"),
              ElementsAre("ipv4:127.0.0.1:50051", "ipv4:127.0.0.2:50052"));
}

TEST(ParseTargetTest, Ipv4ListDropsDuplicates) {
  EXPECT_THAT(Targets("ipv4:127.0.0.1:1,127.0.0.2:1,127.0.0.1:1"),
              ElementsAre("ipv4:127.0.0.1:1", "ipv4:127.0.0.2:1"));
}

TEST(ParseTargetTest, Ipv6List) {
  EXPECT_THAT(Targets("ipv6:[::1]:50051,[fe80::1]:1"),
              ElementsAre("ipv6:[::1]:50051", "ipv6:[fe80::1]:1"));
}

TEST(ParseTargetTest, UnixSockets) {
  EXPECT_THAT(Targets("unix:/tmp/s.sock"), ElementsAre("unix:/tmp/s.sock"));
  EXPECT_THAT(Targets("unix:///tmp/s.sock"), ElementsAre("unix:/tmp/s.sock"));
  EXPECT_THAT(Targets("unix:relative.sock"), ElementsAre("unix:relative.sock"));
  EXPECT_THAT(Targets("unix-abstract:name"), ElementsAre("unix-abstract:name"));
}

TEST(ParseTargetTest, UnixPathMustFitASocketAddress) {
  // sun_path is 108 bytes including the terminating NUL.
  EXPECT_TRUE(ParseTarget("unix:/" + std::string(106, 'p')).ok());
  EXPECT_THAT(Error("unix:/" + std::string(107, 'p')).message(),
              HasSubstr("108 bytes; at most 107"));
  EXPECT_TRUE(ParseTarget("unix-abstract:" + std::string(107, 'p')).ok());
  EXPECT_FALSE(ParseTarget("unix-abstract:" + std::string(108, 'p')).ok());
}

TEST(ParseTargetTest, LiteralAddress) {
  EXPECT_THAT(Targets("127.0.0.1:443"), ElementsAre("ipv4:127.0.0.1:443"));
  EXPECT_THAT(Targets("[::1]:443"), ElementsAre("ipv6:[::1]:443"));
  absl::StatusOr<Target> parsed = ParseTarget("10.1.2.3:80");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->addresses[0].display, "10.1.2.3:80");
}

TEST(ParseTargetTest, DnsForms) {
  absl::StatusOr<Target> bare = ParseTarget("greeter.internal:50051");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->kind, Target::Kind::kDns);
  EXPECT_EQ(bare->host, "greeter.internal");
  EXPECT_EQ(bare->port, 50051);

  absl::StatusOr<Target> dns = ParseTarget("dns:///localhost:1");
  ASSERT_TRUE(dns.ok()) << dns.status();
  EXPECT_EQ(dns->kind, Target::Kind::kDns);
  EXPECT_EQ(dns->dns_server, "");

  absl::StatusOr<Target> server = ParseTarget("dns://127.0.0.1:53/a.b:7");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->dns_server, "127.0.0.1:53");
  EXPECT_EQ(server->host, "a.b");
  EXPECT_EQ(server->port, 7);

  // An IP literal needs no resolution even under dns:.
  absl::StatusOr<Target> literal = ParseTarget("dns:///127.0.0.1:5");
  ASSERT_TRUE(literal.ok());
  EXPECT_EQ(literal->kind, Target::Kind::kStatic);
}

TEST(ParseTargetTest, ErrorsNameTheBadInput) {
  EXPECT_THAT(Error("").message(), HasSubstr("empty"));
  EXPECT_THAT(Error("ipv4:").message(), HasSubstr("empty ipv4 address list"));
  EXPECT_THAT(Error("ipv4:127.0.0.1:70000").message(),
              HasSubstr("port \"70000\" in \"127.0.0.1:70000\""));
  EXPECT_THAT(Error("ipv4:127.0.0.1:0").message(), HasSubstr("port \"0\""));
  EXPECT_THAT(Error("ipv4:127.0.0.1").message(),
              HasSubstr("\"127.0.0.1\" has no port"));
  EXPECT_THAT(Error("ipv4:300.0.0.1:5").message(),
              HasSubstr("\"300.0.0.1\" in \"300.0.0.1:5\" is not an ipv4"));
  EXPECT_THAT(Error("ipv4:127.0.0.1:5,").message(),
              HasSubstr("empty address in list"));
  EXPECT_THAT(Error("ipv6:::1:5").message(), HasSubstr("is not [IPV6]:PORT"));
  EXPECT_THAT(Error("ipv6:[::1]:x").message(), HasSubstr("port \"x\""));
  EXPECT_THAT(Error("unix:").message(), HasSubstr("empty unix socket path"));
  EXPECT_THAT(Error("127.0.0.1").message(), HasSubstr("has no port"));
  EXPECT_THAT(Error("host:port").message(), HasSubstr("port \"port\""));
  EXPECT_THAT(Error("xds:///svc").message(),
              HasSubstr("unsupported scheme \"xds\""));
  EXPECT_THAT(Error("bad host!:5").message(),
              HasSubstr("\"bad host!\" is not a host name"));
  EXPECT_THAT(Error("dns://noslash").message(),
              HasSubstr("dns://SERVER/HOST:PORT"));
  for (absl::string_view bad : {"", "ipv4:", "ipv4:1.2.3.4:99999", "unix:"}) {
    EXPECT_EQ(Error(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// Found by tests/fuzz/target_options_fuzzer.cc: each parsed address must be a
// target that parses back to itself.
TEST(ParseTargetTest, UnixPathsOfSlashesOnlyAreEmpty) {
  for (absl::string_view bad :
       {"unix:/", "unix:///", "unix:////", "unix://///", "unix:////////"}) {
    EXPECT_THAT(Error(bad).message(), HasSubstr("empty unix socket path"))
        << bad;
  }
}

TEST(ParseTargetTest, UnixLeadingSlashesCollapseToOne) {
  // "unix://tmp/s" would be the authority "tmp", not the path "//tmp/s".
  EXPECT_THAT(Targets("unix:////tmp/s"), ElementsAre("unix:/tmp/s"));
  EXPECT_THAT(Targets("unix://///tmp/s"), ElementsAre("unix:/tmp/s"));
  EXPECT_THAT(Targets("unix:/tmp//s"), ElementsAre("unix:/tmp//s"));
}

TEST(ParseTargetTest, RefusesNul) {
  // inet_pton() would stop at the NUL and accept "127.0.0.1".
  const std::string target("ipv4:127.0.0.1\0junk:80", 22);
  EXPECT_THAT(Error(target).message(), HasSubstr("a NUL byte at offset 14"));
  EXPECT_THAT(Error(std::string("dns:///a\0b:80", 13)).message(),
              HasSubstr("a NUL byte at offset 8"));
}

TEST(ParseTargetTest, ReportsEveryProblemAtOnce) {
  absl::Status status = Error("ipv4:1.2.3.4:0,999.1.1.1:5,1.1.1.1");
  EXPECT_THAT(status.message(), HasSubstr("port \"0\""));
  EXPECT_THAT(status.message(), HasSubstr("\"999.1.1.1\""));
  EXPECT_THAT(status.message(), HasSubstr("\"1.1.1.1\" has no port"));
}

}  // namespace
}  // namespace internal
}  // namespace warm
