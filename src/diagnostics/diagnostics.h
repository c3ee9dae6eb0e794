// Diagnostics: one snapshot of every live channel, rendered as HTML pages,
// JSON and Prometheus metrics (see include/warm/diagnostics.h for the paths).
//
// The renderers are pure functions of a snapshot (and its time), so golden
// tests feed them hand-made snapshots; CaptureSnapshot() is the only part
// that reads live channels.
//
// Thread safety: all functions may be called from any thread.

#ifndef WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_
#define WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_

#include <google/protobuf/message.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "warm/diagnostics.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm {
namespace internal {

// Every live channel, in creation order.
diagnostics::v1::Snapshot CaptureSnapshot();

// `refresh_seconds` > 0 makes the page reload itself that often.
std::string RenderIndexHtml(const diagnostics::v1::Snapshot& snapshot,
                            int refresh_seconds);
std::string RenderChannelHtml(const diagnostics::v1::Snapshot& snapshot,
                              const diagnostics::v1::Channel& channel,
                              int refresh_seconds);
// The metrics of the snapshot's channels (src/diagnostics/metrics.cc), for
// RenderMetrics() and warm::MetricsCollectable().
std::vector<prometheus::MetricFamily> CollectMetrics(
    const diagnostics::v1::Snapshot& snapshot);
// CollectMetrics() in Prometheus text exposition format 0.0.4
// (prometheus::TextSerializer).
std::string RenderMetrics(const diagnostics::v1::Snapshot& snapshot);
std::string RenderJson(const diagnostics::v1::Snapshot& snapshot);

// Applies ValidUtf8() (src/common/utf8.h) to every string in `message`,
// recursively: CaptureSnapshot() does it to each channel, so renderers only
// ever see valid UTF-8.
void MakeValidUtf8(google::protobuf::Message& message);

// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

// DiagnosticsServer (src/diagnostics/server.cc), kept apart from its socket
// so that tests/fuzz/diagnostics_router_fuzzer.cc can drive it in-process.

// An address DiagnosticsServer::Start() listens on.
struct HostPort {
  std::string host;  // without brackets
  int port = 0;
  bool ipv6 = false;
};
// "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT", PORT decimal digits only,
// 0..65535; an InvalidArgument naming `address` otherwise (a NUL byte too).
absl::StatusOr<HostPort> ParseListenAddress(absl::string_view address);
// 127.0.0.0/8 or ::1.
bool IsLoopback(const HostPort& address);
// Whether a Host header names this host's loopback: "localhost" (any case,
// or "localhost."), "127.x.x.x" or "[::1]", with any numeric port. No header
// (HTTP/1.0) passes.
bool LoopbackHost(absl::string_view host_header);
// The server's answer to a GET of `target` (path and query as sent, not
// decoded) with `host_header`: when it listens on a loopback address
// (`loopback`), 403 unless LoopbackHost(); else HandleDiagnosticsRequest().
DiagnosticsResponse AnswerGet(bool loopback, absl::string_view host_header,
                              absl::string_view target);

inline constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_
