// warm/diagnostics.h: what every warm channel in the process is doing, as
// HTML pages, JSON and Prometheus metrics.
//
// Every live warm::Channel is listed (channels register themselves when
// created and leave when destroyed). Each request takes one snapshot of
// them all and renders it:
//
//   GET /               HTML: every channel, its state and health at a glance
//   GET /channel/ID     HTML: one channel: resolved addresses with TTLs,
//                       stale marks, backoffs and last errors; members with
//                       connectivity, health and last check, calls in flight,
//                       latency (EWMA, recent and lifetime percentiles),
//                       calls by status code, age, ejection; recent events
//   GET /channels.json  the snapshot as JSON (protobuf's JSON mapping of
//                       warm.diagnostics.v1.Snapshot, documented in
//                       proto/warm/diagnostics/v1/diagnostics.proto)
//   GET /metrics        Prometheus text format 0.0.4 (the metrics are listed
//                       in README.md; warm/prometheus.h gives the same
//                       families to a prometheus-cpp Exposer)
//
// Links in the pages are relative, so the pages work under a prefix of a
// server of your own that ends in "/" ("/warm/" serves "/", "/warm/metrics"
// serves "/metrics"): strip the prefix but its last "/" and pass the rest to
// HandleDiagnosticsRequest(). Every value shown is HTML-escaped (and made
// valid UTF-8); no secret or key material is ever part of a snapshot.
//
// Serving them:
//
//   // Warm's own small HTTP server (loopback only unless asked otherwise):
//   absl::StatusOr<std::unique_ptr<warm::DiagnosticsServer>> server =
//       warm::DiagnosticsServer::Start("127.0.0.1:0");
//   if (!server.ok()) return server.status();
//   std::cout << "diagnostics at " << (*server)->url() << "\n";
//
//   // Or from a server you already run (here for paths under /warm/):
//   warm::DiagnosticsResponse response =
//       warm::HandleDiagnosticsRequest(path.substr(strlen("/warm")));

#ifndef WARM_DIAGNOSTICS_H_
#define WARM_DIAGNOSTICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warm {

// An HTTP response: status code, Content-Type and body.
struct DiagnosticsResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// Answers a GET of `path_and_query` (e.g. "/", "/channel/3?refresh=2",
// "/metrics"; see above). Unknown paths get 404 with a short text body.
// Thread-safe; takes each channel's lock briefly, never blocks on I/O.
DiagnosticsResponse HandleDiagnosticsRequest(absl::string_view path_and_query);

struct DiagnosticsServerOptions {
  // Serve addresses that are not loopback (e.g. "0.0.0.0:8080"). The pages
  // show backend addresses and errors, so by default only this host may
  // look. Default: false.
  bool allow_non_loopback = false;
  // Threads answering requests. Must be 1..64. Default: 2.
  int threads = 2;
};

// DiagnosticsServer
//
// A small HTTP server (cpp-httplib) answering HandleDiagnosticsRequest() for
// GET and HEAD. Requests whose line exceeds 8 KiB get 414, malformed ones
// 400, bodies over 64 KiB 413, other methods 404 (or 400 for methods HTTP
// does not know); none of them stops the server. Bound to a loopback
// address, it answers only requests whose Host is localhost, 127.x.x.x or
// [::1] (403 otherwise), so that a web page cannot read it through DNS
// rebinding. Idle connections are closed after 1 s (2 s while a request is
// being read), so that a few of them cannot hold every thread. Should
// accepting connections fail for good (cpp-httplib gives up on errors such
// as ENFILE), a warning goes to the log sink (warm::SetLogSink).
class DiagnosticsServer {
 public:
  // Listens on `address`, "HOST:PORT": an IPv4 or bracketed IPv6 address or
  // "localhost", and a port (0: any free port, see port()). Fails with
  // InvalidArgument naming the address when it is malformed, not loopback
  // (unless allowed) or an option is out of range, and with Unavailable when
  // it cannot listen (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<DiagnosticsServer>> Start(
      absl::string_view address, DiagnosticsServerOptions options = {});

  // Stops listening and waits for requests being answered and for idle
  // connections to time out (at most about 1 s).
  ~DiagnosticsServer();
  DiagnosticsServer(const DiagnosticsServer&) = delete;
  DiagnosticsServer& operator=(const DiagnosticsServer&) = delete;

  // The port listened on.
  int port() const;
  // "http://127.0.0.1:PORT/": the address listened on ("localhost" is
  // 127.0.0.1), IPv6 in brackets.
  const std::string& url() const;

 private:
  class Impl;
  explicit DiagnosticsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace warm

#endif  // WARM_DIAGNOSTICS_H_
