// Golden tests of the diagnostics renderers (HTML, metrics, JSON) on a
// hand-made snapshot, and of escaping. No channel, no network.
//
// The golden files are tests/diagnostics/golden/diagnostics_*. After an intended change
// of the output, regenerate them with
//   WARM_UPDATE_GOLDEN=1 ./diagnostics_render_test
// and review the diff like code.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/utf8.h"
#include "src/diagnostics/diagnostics.h"
#include "warm/diagnostics.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1700000000000;  // 2023-11-14 22:13:20 UTC

// A channel with every kind of thing the page shows, and hostile text in
// every string a user or a backend controls.
pb::Snapshot MakeSnapshot() {
  pb::Snapshot snapshot;
  snapshot.set_time_unix_ms(kNow);

  pb::Channel& c = *snapshot.add_channels();
  c.set_id(1);
  c.set_name("<script>alert(1)</script>");
  c.set_metrics_label("<script>alert(1)</script>");
  c.set_target("dns:///greeter.svc.test:50051");
  c.set_created_unix_ms(kNow - 125000);
  c.set_connectivity("READY");
  c.set_status("degraded");
  c.set_degraded(true);
  c.set_pool_size(3);
  c.set_healthy_members(0);
  c.set_healthy_min(2);
  c.set_critical_min(1);
  c.set_health_checks(true);
  pb::Resolution& r = *c.mutable_resolution();
  r.set_dns(true);
  r.set_host("greeter.svc.test");
  r.set_port(50051);
  r.set_last_answer_unix_ms(kNow - 4000);
  r.set_last_error("DNS server 127.0.0.1:53 did not answer (\"timeout\")");
  r.set_last_error_unix_ms(kNow - 1500);
  r.set_failures_in_a_row(2);
  r.set_next_refresh_unix_ms(kNow + 26000);

  pb::Address& a1 = *c.add_addresses();
  a1.set_address("10.0.0.1:50051");
  a1.set_ttl_seconds(30);
  a1.set_expires_unix_ms(kNow + 26000);
  a1.set_members(2);
  pb::Address& a2 = *c.add_addresses();
  a2.set_address("10.0.0.2:50051");
  a2.set_ttl_seconds(30);
  a2.set_expires_unix_ms(kNow + 26000);
  a2.set_members(0);
  a2.set_evictions_in_a_row(3);
  a2.set_backoff_until_unix_ms(kNow + 2250);
  a2.set_last_error("NOT_SERVING <b>&</b>");
  a2.set_last_error_unix_ms(kNow - 800);
  pb::Address& a3 = *c.add_addresses();
  a3.set_address("10.0.0.9:50051");
  a3.set_stale(true);
  a3.set_members(1);

  pb::Member& m1 = *c.add_members();
  m1.set_id(4);
  m1.set_address("10.0.0.1:50051");
  m1.set_connectivity("READY");
  m1.set_health("unhealthy");
  m1.set_state("unhealthy");
  m1.set_pickable(true);
  m1.set_last_check("NOT_SERVING");
  m1.set_last_check_unix_ms(kNow - 300);
  m1.set_opened_unix_ms(kNow - 60000);
  m1.set_in_flight(7);
  m1.set_calls_started(1207);
  pb::CodeCount* ok = m1.add_calls_finished();
  ok->set_code("OK");
  ok->set_count(1190);
  pb::CodeCount* unavailable = m1.add_calls_finished();
  unavailable->set_code("UNAVAILABLE");
  unavailable->set_count(10);
  m1.set_latency_ewma_ms(1.375);
  m1.set_recent_p50_ms(1);
  m1.set_recent_p99_ms(25);
  m1.set_recent_calls(800);
  m1.set_recent_window_ms(61000);
  m1.set_p50_ms(1);
  m1.set_p99_ms(50);
  m1.set_old_tls_material(true);
  pb::Member& m2 = *c.add_members();
  m2.set_id(5);
  m2.set_address("10.0.0.1:50051");
  m2.set_connectivity("CONNECTING");
  m2.set_health("unknown");
  m2.set_state("ejected");
  m2.set_opened_unix_ms(kNow - 2000);
  m2.set_latency_ewma_ms(-1);
  m2.set_recent_p50_ms(-1);
  m2.set_recent_p99_ms(-1);
  m2.set_recent_window_ms(2000);
  m2.set_p50_ms(-1);
  m2.set_p99_ms(-1);
  m2.set_ejected(true);
  m2.set_ejected_until_unix_ms(kNow + 30000);
  m2.set_times_ejected(1);
  pb::Member& m3 = *c.add_members();
  m3.set_id(2);
  m3.set_address("10.0.0.9:50051");
  m3.set_connectivity("READY");
  m3.set_health("healthy");
  m3.set_state("draining");
  m3.set_last_check("SERVING");
  m3.set_last_check_unix_ms(kNow - 4100);
  m3.set_opened_unix_ms(kNow - 120000);
  m3.set_calls_started(3);
  pb::CodeCount* ok3 = m3.add_calls_finished();
  ok3->set_code("OK");
  ok3->set_count(3);
  m3.set_latency_ewma_ms(12.5);
  m3.set_recent_p50_ms(-1);
  m3.set_recent_p99_ms(-1);
  m3.set_recent_window_ms(65000);
  m3.set_p50_ms(25);
  m3.set_p99_ms(25);

  pb::Event& e1 = *c.add_events();
  e1.set_time_unix_ms(kNow - 5000);
  e1.set_kind("member evicted");
  e1.set_severity("warning");
  e1.set_member_id(3);
  e1.set_address("10.0.0.2:50051");
  e1.set_detail("unhealthy; last check: NOT_SERVING '<img src=x>'");
  pb::Event& e2 = *c.add_events();
  e2.set_time_unix_ms(kNow - 1000);
  e2.set_kind("degraded entered");
  e2.set_severity("warning");
  e2.set_detail("0 of 3 members healthy");

  pb::Counters& k = *c.mutable_counters();
  k.set_in_flight(7);
  k.set_waiting_calls(2);
  k.set_calls_started(1300);
  pb::CodeCount* kok = k.add_calls_finished();
  kok->set_code("OK");
  kok->set_count(1280);
  pb::CodeCount* kunavailable = k.add_calls_finished();
  kunavailable->set_code("UNAVAILABLE");
  kunavailable->set_count(13);
  pb::Histogram& h = *k.mutable_call_duration();
  for (double bound : {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                       0.25, 0.5, 1.0, 2.5, 5.0, 10.0}) {
    h.add_bounds_seconds(bound);
  }
  for (uint64_t count :
       {100, 900, 200, 50, 20, 10, 5, 3, 0, 0, 0, 0, 0, 0, 2}) {
    h.add_counts(count);
  }
  h.set_sum_us(2345678901);
  k.set_dns_resolutions_ok(12);
  k.set_dns_resolutions_failed(2);
  k.set_health_checks_serving(240);
  k.set_health_checks_not_serving(6);
  k.set_health_checks_failed(1);
  k.set_evictions_unhealthy(3);
  k.set_evictions_rebalanced(1);
  k.set_evictions_address_removed(2);
  k.set_ejections(1);
  k.set_evictions_recycled(2);

  pb::Tls& tls = *c.mutable_tls();
  tls.set_ca_file("/etc/warm/ca.pem");
  tls.set_cert_file("/etc/warm/<client>.pem");
  tls.set_key_file("/etc/warm/client.key");
  tls.set_subject("CN=client-v2,O=<b>example</b>");
  tls.set_issuer("CN=test CA");
  tls.set_not_before_unix_ms(kNow - 3600000);
  tls.set_not_after_unix_ms(kNow + 86400000);
  tls.set_reload_interval_ms(60000);
  tls.set_loaded_unix_ms(kNow - 30000);
  tls.set_reloads_ok(1);
  tls.set_reloads_failed(1);
  tls.set_last_error(
      "TLS files: key_file \"/etc/warm/client.key\" does not match the "
      "certificate in cert_file \"/etc/warm/<client>.pem\"");
  tls.set_last_error_unix_ms(kNow - 90000);
  tls.set_members_on_old_material(1);

  // Per method: two with series of their own (metrics_max_methods 2), then
  // the overflow entry of a third.
  c.set_metrics_max_methods(2);
  auto add_method = [&](const char* service, const char* method,
                        const char* type, bool overflow, uint64_t ok_calls,
                        uint64_t failed_calls) {
    pb::MethodCalls& m = *c.add_methods();
    m.set_service(service);
    m.set_method(method);
    m.set_type(type);
    m.set_overflow(overflow);
    m.set_started(ok_calls + failed_calls + 1);  // one in flight
    pb::CodeCount* m_ok = m.add_handled();
    m_ok->set_code("OK");
    m_ok->set_count(ok_calls);
    if (failed_calls > 0) {
      pb::CodeCount* m_failed = m.add_handled();
      m_failed->set_code("DEADLINE_EXCEEDED");
      m_failed->set_count(failed_calls);
    }
    m.set_messages_sent(ok_calls + failed_calls + 1);
    m.set_messages_received(ok_calls);
    pb::Histogram& mh = *m.mutable_duration();
    mh.mutable_bounds_seconds()->CopyFrom(h.bounds_seconds());
    for (int i = 0; i < 15; ++i) mh.add_counts(i == 1 ? ok_calls : 0);
    mh.set_counts(14, failed_calls);
    mh.set_sum_us(ok_calls * 800 + failed_calls * 10000000);
  };
  add_method("warm.example.Greeter", "SayHello", "unary", false, 1000, 3);
  add_method("warm.testing.Echo", "Chat \"<b>\"", "bidi_stream", false, 5, 0);
  add_method("other", "other", "server_stream", true, 7, 1);

  pb::Channel& s = *snapshot.add_channels();
  s.set_id(2);
  s.set_name("plain \"quoted\" \\ name\nsecond line");
  s.set_metrics_label("plain \"quoted\" \\ name\nsecond line");
  s.set_target("ipv4:127.0.0.1:50051");
  s.set_created_unix_ms(kNow - 10);
  s.set_connectivity("CONNECTING");
  s.set_status("starting");
  s.set_pool_size(1);
  s.set_healthy_min(1);
  s.set_critical_min(1);
  s.mutable_resolution();
  pb::Address& sa = *s.add_addresses();
  sa.set_address("127.0.0.1:50051");
  sa.set_members(1);
  pb::Histogram& sh = *s.mutable_counters()->mutable_call_duration();
  sh.mutable_bounds_seconds()->CopyFrom(h.bounds_seconds());
  for (int i = 0; i < 15; ++i) sh.add_counts(0);
  return snapshot;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Compares `actual` with the golden file `name`, or rewrites the file when
// WARM_UPDATE_GOLDEN is set.
void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(WARM_GOLDEN_DIR) + "/" + name;
  if (std::getenv("WARM_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual;
    return;
  }
  const std::string expected = ReadFile(path);
  ASSERT_FALSE(expected.empty()) << "missing golden file " << path;
  EXPECT_EQ(actual, expected)
      << "output differs from " << path
      << "; if the change is intended, rerun with WARM_UPDATE_GOLDEN=1";
}

TEST(DiagnosticsRenderTest, IndexHtmlMatchesGolden) {
  ExpectGolden("diagnostics_index.html", RenderIndexHtml(MakeSnapshot(), 0));
}

TEST(DiagnosticsRenderTest, ChannelHtmlMatchesGolden) {
  const pb::Snapshot snapshot = MakeSnapshot();
  ExpectGolden("diagnostics_channel.html",
               RenderChannelHtml(snapshot, snapshot.channels(0), 0));
}

TEST(DiagnosticsRenderTest, MetricsMatchGolden) {
  ExpectGolden("diagnostics_metrics.txt", RenderMetrics(MakeSnapshot()));
}

TEST(DiagnosticsRenderTest, JsonMatchesGoldenAndParsesBack) {
  const pb::Snapshot snapshot = MakeSnapshot();
  const std::string json = RenderJson(snapshot);
  ExpectGolden("diagnostics_channels.json", json);
  pb::Snapshot parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), snapshot.SerializeAsString());
}

// Hostile names render as text wherever they appear.
TEST(DiagnosticsRenderTest, HtmlEscapesEveryValue) {
  const pb::Snapshot snapshot = MakeSnapshot();
  for (const std::string& html :
       {RenderIndexHtml(snapshot, 0),
        RenderChannelHtml(snapshot, snapshot.channels(0), 0)}) {
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_EQ(html.find("<b>"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"),
              std::string::npos);
  }
  const std::string page = RenderChannelHtml(snapshot, snapshot.channels(0), 0);
  EXPECT_NE(page.find("NOT_SERVING &#39;&lt;img src=x&gt;&#39;"),
            std::string::npos);
  EXPECT_NE(page.find("NOT_SERVING &lt;b&gt;&amp;&lt;/b&gt;"),
            std::string::npos);
  EXPECT_EQ(HtmlEscape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
}

// Sets every string field of `message`, recursively, to `text`.
void FillStrings(google::protobuf::Message& message, const std::string& text) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(f);
    const int n =
        field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < n; ++i) {
      if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        if (field->is_repeated()) {
          reflection->SetRepeatedString(&message, field, i, text);
        } else {
          reflection->SetString(&message, field, text);
        }
      } else if (field->type() ==
                 google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        FillStrings(
            field->is_repeated()
                ? *reflection->MutableRepeatedMessage(&message, field, i)
                : *reflection->MutableMessage(&message, field),
            text);
      }
    }
  }
}

// Every string of the snapshot, whatever its field, is escaped on the pages.
TEST(DiagnosticsRenderTest, NoStringFieldReachesHtmlUnescaped) {
  pb::Snapshot snapshot = MakeSnapshot();
  FillStrings(snapshot, "<x'\"&>");
  for (const std::string& html :
       {RenderIndexHtml(snapshot, 0),
        RenderChannelHtml(snapshot, snapshot.channels(0), 0),
        RenderChannelHtml(snapshot, snapshot.channels(1), 0)}) {
    EXPECT_EQ(html.find("<x"), std::string::npos) << html;
    EXPECT_NE(html.find("&lt;x&#39;&quot;&amp;&gt;"), std::string::npos);
  }
}

TEST(DiagnosticsRenderTest, MetricLabelValuesAreEscaped) {
  const std::string metrics = RenderMetrics(MakeSnapshot());
  EXPECT_NE(metrics.find("warm_channel_healthy_members{channel=\"plain "
                         "\\\"quoted\\\" \\\\ name\\nsecond line\"} 0\n"),
            std::string::npos)
      << metrics;
}

TEST(DiagnosticsRenderTest, RefreshAddsMetaRefresh) {
  const pb::Snapshot snapshot = MakeSnapshot();
  EXPECT_NE(RenderIndexHtml(snapshot, 7)
                .find("<meta http-equiv=\"refresh\" content=\"7\">"),
            std::string::npos);
  EXPECT_EQ(RenderIndexHtml(snapshot, 0).find("http-equiv"), std::string::npos);
}

TEST(DiagnosticsRenderTest, HistogramIsCumulativeWithExactSum) {
  const std::string metrics = RenderMetrics(MakeSnapshot());
  EXPECT_NE(metrics.find("warm_channel_call_duration_seconds_bucket{channel="
                         "\"<script>alert(1)</script>\",le=\"0.001\"} 1000\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("le=\"+Inf\"} 1290\n"), std::string::npos);
  EXPECT_NE(metrics.find("warm_channel_call_duration_seconds_sum{channel="
                         "\"<script>alert(1)</script>\"} 2345.678901\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("warm_channel_call_duration_seconds_count{channel="
                         "\"<script>alert(1)</script>\"} 1290\n"),
            std::string::npos);
}

// The router alone (no channel needs to exist).
TEST(DiagnosticsRouterTest, UnknownPathsAndBadParametersAreRejected) {
  EXPECT_EQ(HandleDiagnosticsRequest("/nope").status, 404);
  EXPECT_EQ(HandleDiagnosticsRequest("/channel/").status, 404);
  EXPECT_EQ(HandleDiagnosticsRequest("/channel/abc").status, 404);
  EXPECT_EQ(HandleDiagnosticsRequest("/channel/99999999").status, 404);
  EXPECT_EQ(HandleDiagnosticsRequest("/channel/18446744073709551616").status,
            404);
  const DiagnosticsResponse bad = HandleDiagnosticsRequest("/?refresh=0");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("refresh"), std::string::npos);
  EXPECT_EQ(HandleDiagnosticsRequest("/?refresh=x").status, 400);
  EXPECT_EQ(HandleDiagnosticsRequest("/?refresh=2").status, 200);
  EXPECT_EQ(HandleDiagnosticsRequest("/?other=1").status, 200);
  EXPECT_EQ(HandleDiagnosticsRequest("/metrics").content_type,
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(HandleDiagnosticsRequest("/channels.json").content_type,
            "application/json");
  EXPECT_EQ(HandleDiagnosticsRequest("/").content_type,
            "text/html; charset=utf-8");
}

// Found by tests/fuzz/diagnostics_router_fuzzer.cc: the 400 body quoted the
// query's bytes as they came, in a body declared charset=utf-8.
TEST(DiagnosticsRouterTest, BadRefreshIsQuotedAsValidUtf8) {
  const DiagnosticsResponse bad =
      HandleDiagnosticsRequest("/?refresh=\xff\xfe\xe2\x82");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ValidUtf8(bad.body), bad.body);
  EXPECT_NE(bad.body.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

// Found by tests/fuzz/diagnostics_router_fuzzer.cc: anything after "[::1]"
// passed, and anything after a colon.
TEST(DiagnosticsRouterTest, LoopbackHostIsANameAndANumericPort) {
  for (const char* host :
       {"", "localhost", "localhost:8080", "localhost:", "127.0.0.1",
        "127.1.2.3:9", "[::1]", "[::1]:80", "LOCALHOST", "LocalHost:80",
        "localhost.", "localhost.:8080", "127.255.255.255:1"}) {
    EXPECT_TRUE(LoopbackHost(host)) << host;
    EXPECT_EQ(AnswerGet(/*loopback=*/true, host, "/nope").status, 404) << host;
  }
  for (const char* host :
       {"[::1]junk", "[::1].evil.example", "localhost:80x", "localhost.evil",
        "127.0.0.1:x", "[::1", "evil.example", "10.0.0.1", "localhost..",
        "localhost.evil.example", "xlocalhost", "127.0.0.256", "127.0.0",
        "127.0.0.1.", "128.0.0.1", "localhost:+80", "localhost: 80"}) {
    EXPECT_FALSE(LoopbackHost(host)) << host;
    EXPECT_EQ(AnswerGet(/*loopback=*/true, host, "/").status, 403) << host;
    EXPECT_EQ(AnswerGet(/*loopback=*/false, host, "/nope").status, 404) << host;
  }
  EXPECT_FALSE(LoopbackHost(std::string("127.0.0.1\0.evil", 15)));
}

TEST(DiagnosticsServerTest, ParseListenAddressTakesAddressAndDigitsOnly) {
  struct Good {
    const char* address;
    const char* host;
    int port;
    bool ipv6;
  };
  for (const Good& good : {Good{"127.0.0.1:80", "127.0.0.1", 80, false},
                           Good{"localhost:0", "127.0.0.1", 0, false},
                           Good{"0.0.0.0:65535", "0.0.0.0", 65535, false},
                           Good{"[::1]:8080", "::1", 8080, true},
                           Good{"10.1.2.3:080", "10.1.2.3", 80, false}}) {
    absl::StatusOr<HostPort> parsed = ParseListenAddress(good.address);
    ASSERT_TRUE(parsed.ok()) << good.address << ": " << parsed.status();
    EXPECT_EQ(parsed->host, good.host) << good.address;
    EXPECT_EQ(parsed->port, good.port) << good.address;
    EXPECT_EQ(parsed->ipv6, good.ipv6) << good.address;
  }
  for (const std::string& bad :
       {std::string("127.0.0.1\0x:80", 14), std::string("127.0.0.1:80\0", 13),
        std::string("[::1\0]:80", 10), std::string("127.0.0.1:+80"),
        std::string("127.0.0.1: 80"), std::string("127.0.0.1:80 "),
        std::string("127.0.0.1:-0"), std::string("127.0.0.1:"),
        std::string("127.0.0.1:65536"), std::string("[::1]:0x50"),
        std::string("127.0.0.1"), std::string("nohost.example:80")}) {
    absl::StatusOr<HostPort> parsed = ParseListenAddress(bad);
    ASSERT_FALSE(parsed.ok()) << absl::CEscape(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        std::string(parsed.status().message()),
        HasSubstr(absl::StrCat("invalid diagnostics address \"", bad, "\"")))
        << absl::CEscape(bad);
  }
  EXPECT_THAT(std::string(ParseListenAddress(std::string("127.0.0.1\0x:80", 14))
                              .status()
                              .message()),
              HasSubstr("holds a NUL byte (at offset 9)"));
  EXPECT_THAT(
      std::string(ParseListenAddress("127.0.0.1:+80").status().message()),
      HasSubstr("port \"+80\" is not 0..65535"));
}

}  // namespace
}  // namespace internal
}  // namespace warm
