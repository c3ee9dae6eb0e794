// Fuzzes the diagnostics server's request handling in-process, without a
// socket: AnswerGet() (the Host check against DNS rebinding, then the router
// HandleDiagnosticsRequest(): paths, /channel/ID, the refresh= query) and
// ParseListenAddress() (DiagnosticsServer::Start()'s address). cpp-httplib's
// own HTTP parsing is not warm's and is not fuzzed here. No channel is live,
// so the pages render empty snapshots (diagnostics_render_fuzzer renders
// hostile ones). Checked:
//   - the status is one of 200, 400, 403, 404 and the body is valid UTF-8;
//   - on loopback, a request is answered only for a Host that is
//     "localhost" (any case, "localhost." too), "[::1]" or a dotted
//     127.x.x.x, with at most a numeric port: LoopbackHostSpec() below, a
//     grammar matched by hand, not a copy of LoopbackHost()'s steps;
//   - a parsed listen address has a port of 0..65535 and, refused, the error
//     quotes the address.
//
// Input (FuzzedDataProvider): loopback flag, Host header, listen address,
// then the request target (the rest).

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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

// --- The Host rule, stated on its own ---
//
//   host-header = "" / name [ ":" *DIGIT ]        ("localhost:" is RFC 3986)
//   name        = "localhost" / "localhost."      (any case)
//               / "127." octet "." octet "." octet
//               / "[::1]"
//   octet       = "0" / %x31-39 0*2DIGIT, at most 255 (no leading zero: what
//                 inet_pton(AF_INET) reads)
//
// A hand-written matcher over the whole header, character by character: it
// shares no code and no splitting step with LoopbackHost(), so a mistake
// there (a prefix match, a name cut at the wrong colon, a NUL read as the end)
// shows as a disagreement.

bool AllDigits(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

// Whether `text` from `at` starts with one octet; moves `at` past it.
bool Octet(absl::string_view text, size_t& at) {
  size_t end = at;
  int value = 0;
  while (end < text.size() && end - at < 3 && text[end] >= '0' &&
         text[end] <= '9') {
    value = value * 10 + (text[end] - '0');
    ++end;
  }
  if (end == at) return false;                        // no digit
  if (end - at > 1 && text[at] == '0') return false;  // "01"
  if (value > 255) return false;
  at = end;
  return true;
}

// Whether text[at..] is "" or ":" followed by digits only.
bool PortRest(absl::string_view text, size_t at) {
  if (at == text.size()) return true;
  if (text[at] != ':') return false;
  for (size_t i = at + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

bool DottedLoopback(absl::string_view text, size_t& at) {
  if (text.substr(0, 4) != "127.") return false;
  at = 4;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (at >= text.size() || text[at] != '.') return false;
      ++at;
    }
    if (!Octet(text, at)) return false;
  }
  return true;
}

bool LoopbackHostSpec(absl::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0
  for (absl::string_view name : {"localhost.", "localhost"}) {
    if (host.size() >= name.size() &&
        absl::EqualsIgnoreCase(host.substr(0, name.size()), name) &&
        PortRest(host, name.size())) {
      return true;
    }
  }
  if (absl::StartsWith(host, "[::1]") && PortRest(host, 5)) return true;
  size_t at = 0;
  return DottedLoopback(host, at) && PortRest(host, at);
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
    Check(listen.find('\0') == std::string::npos, "NUL byte accepted",
          absl::CEscape(listen));
    const std::string digits = listen.substr(listen.rfind(':') + 1);
    Check(!digits.empty() && AllDigits(digits), "port not all digits",
          absl::CEscape(listen));
    warm::internal::IsLoopback(*parsed);
  } else {
    Check(absl::StrContains(parsed.status().message(),
                            absl::StrCat("\"", listen, "\"")),
          "error does not quote the address", parsed.status().ToString());
  }
  return 0;
}
