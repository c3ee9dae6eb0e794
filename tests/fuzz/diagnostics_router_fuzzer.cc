// Fuzzes the diagnostics server's request handling in-process, without a
// socket: AnswerGet() (the Host check against DNS rebinding, then the router
// HandleDiagnosticsRequest(): paths, /channel/ID, the refresh= query) and
// ParseListenAddress() (DiagnosticsServer::Start()'s address). cpp-httplib's
// own HTTP parsing is not warm's and is not fuzzed here. No channel is live,
// so the pages render empty snapshots (diagnostics_render_fuzzer renders
// hostile ones). Checked:
//   - the status is one of 200, 400, 403, 404 and the body is valid UTF-8;
//   - on loopback, a request is answered only for a Host that is
//     "localhost", "[::1]" or a dotted 127.x.x.x, with at most a numeric
//     port (an independent statement of the rule, not LoopbackHost()'s code);
//   - a parsed listen address has a port of 0..65535 and, refused, the error
//     quotes the address.
//
// Input (FuzzedDataProvider): loopback flag, Host header, listen address,
// then the request target (the rest).

#include <arpa/inet.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/utf8.h"
#include "src/diagnostics/diagnostics.h"
#include "warm/diagnostics.h"

namespace {

void Check(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "diagnostics_router_fuzzer: %s: %s\n", what,
               detail.c_str());
  std::abort();
}

// "" too: "localhost:" has an empty port (RFC 3986).
bool AllDigits(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

// The Host headers a loopback server may answer, written out from the
// rule rather than from LoopbackHost()'s code.
bool LoopbackHostSpec(absl::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0
  absl::string_view name = host, port;
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    name = host.substr(0, close + 1);
    port = host.substr(close + 1);
  } else if (const size_t colon = host.find(':');
             colon != absl::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon);
  }
  if (!port.empty() && !(port[0] == ':' && AllDigits(port.substr(1)))) {
    return false;
  }
  if (name == "localhost" || name == "[::1]") return true;
  if (name.find('\0') != absl::string_view::npos) return false;
  unsigned char address[4];
  return inet_pton(AF_INET, std::string(name).c_str(), address) == 1 &&
         address[0] == 127;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const bool loopback = fdp.ConsumeBool();
  const std::string host = fdp.ConsumeRandomLengthString(128);
  const std::string listen = fdp.ConsumeRandomLengthString(128);
  const std::string target = fdp.ConsumeRemainingBytesAsString();

  const warm::DiagnosticsResponse answer =
      warm::internal::AnswerGet(loopback, host, target);
  Check(answer.status == 200 || answer.status == 400 || answer.status == 403 ||
            answer.status == 404,
        "unexpected status", absl::StrCat(answer.status));
  Check(warm::internal::ValidUtf8(answer.body) == answer.body,
        "body is not valid UTF-8", target);
  Check(!answer.content_type.empty(), "no content type", target);
  if (loopback) {
    Check((answer.status == 403) == !LoopbackHostSpec(host),
          answer.status == 403 ? "loopback Host refused"
                               : "non-loopback Host answered",
          host);
  }

  const absl::StatusOr<warm::internal::HostPort> parsed =
      warm::internal::ParseListenAddress(listen);
  if (parsed.ok()) {
    Check(parsed->port >= 0 && parsed->port <= 65535, "bad port", listen);
    warm::internal::IsLoopback(*parsed);
  } else {
    Check(absl::StrContains(parsed.status().message(),
                            absl::StrCat("\"", listen, "\"")),
          "error does not quote the address", parsed.status().ToString());
  }
  return 0;
}
