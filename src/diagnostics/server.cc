// DiagnosticsServer: HandleDiagnosticsRequest() behind cpp-httplib (Debian's
// libcpp-httplib-dev), which parses HTTP; warm only routes and renders.

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/events.h"
#include "src/diagnostics/diagnostics.h"
#include "warm/diagnostics.h"

namespace warm {
namespace internal {

absl::StatusOr<HostPort> ParseListenAddress(absl::string_view address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid diagnostics address \"", address, "\": ", why));
  };
  // inet_pton() reads a C string: "127.0.0.1\0x:80" would pass as
  // 127.0.0.1.
  if (const size_t nul = address.find('\0'); nul != absl::string_view::npos) {
    return bad(absl::StrCat("holds a NUL byte (at offset ", nul, ")"));
  }
  HostPort out;
  absl::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos ||
        address.substr(close + 1, 1) != ":") {
      return bad("expected [IPV6]:PORT");
    }
    out.host = std::string(address.substr(1, close - 1));
    out.ipv6 = true;
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) return bad("has no port");
    out.host = std::string(address.substr(0, colon));
    port = address.substr(colon + 1);
  }
  // Digits only: SimpleAtoi() also takes "+80", " 80" and "80 ".
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &out.port) || out.port < 0 || out.port > 65535) {
    return bad(absl::StrCat("port \"", port, "\" is not 0..65535"));
  }
  if (out.host == "localhost") {
    out.host = "127.0.0.1";
    return out;
  }
  unsigned char buf[16];
  if (inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.host.c_str(), buf) != 1) {
    return bad(absl::StrCat("\"", out.host, "\" is not an ",
                            out.ipv6 ? "IPv6" : "IPv4",
                            " address (or localhost)"));
  }
  return out;
}

bool IsLoopback(const HostPort& address) {
  unsigned char buf[16];
  if (address.ipv6) {
    inet_pton(AF_INET6, address.host.c_str(), buf);
    static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(buf, buf + 16, kLoopback);
  }
  inet_pton(AF_INET, address.host.c_str(), buf);
  return buf[0] == 127;  // 127.0.0.0/8
}

bool LoopbackHost(absl::string_view host_header) {
  if (host_header.empty()) return true;
  absl::string_view host = host_header;
  absl::string_view port;
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.find(':');
             colon != absl::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  // What follows the name must be a port: "[::1]x" or "localhost:x" is no
  // Host header a client sends for this host.
  if (!port.empty() &&
      (port[0] != ':' ||
       !std::all_of(port.begin() + 1, port.end(), absl::ascii_isdigit))) {
    return false;
  }
  // curl and other clients send the name as typed: "LOCALHOST", or the
  // fully qualified "localhost." (RFC 6761: loopback too). A rebinding page
  // cannot make a browser send either for a name of its own.
  if (absl::EqualsIgnoreCase(host, "localhost") ||
      absl::EqualsIgnoreCase(host, "localhost.") || host == "[::1]") {
    return true;
  }
  // inet_pton() reads a C string: "127.0.0.1\0.evil" would pass as 127.0.0.1.
  if (host.find('\0') != absl::string_view::npos) return false;
  unsigned char address[4];
  return inet_pton(AF_INET, std::string(host).c_str(), address) == 1 &&
         address[0] == 127;
}

DiagnosticsResponse AnswerGet(bool loopback, absl::string_view host_header,
                              absl::string_view target) {
  // A page elsewhere could point a name of its own at 127.0.0.1 (DNS
  // rebinding) and read the diagnostics through the browser: on loopback,
  // only loopback names are answered.
  if (loopback && !LoopbackHost(host_header)) {
    return {403, "text/plain; charset=utf-8",
            "warm diagnostics on a loopback address answer only requests for "
            "localhost, 127.x.x.x or [::1]\n"};
  }
  return HandleDiagnosticsRequest(target);
}

}  // namespace internal

class DiagnosticsServer::Impl {
 public:
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> serving{false};     // Start() succeeded
  std::atomic<bool> stopping{false};    // the destructor runs
  std::atomic<bool> loop_ended{false};  // listen_after_bind() returned
  int port = 0;
  std::string url;
};

DiagnosticsServer::DiagnosticsServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

DiagnosticsServer::~DiagnosticsServer() {
  impl_->stopping = true;
  impl_->server.stop();
  impl_->thread.join();
}

int DiagnosticsServer::port() const { return impl_->port; }
const std::string& DiagnosticsServer::url() const { return impl_->url; }

absl::StatusOr<std::unique_ptr<DiagnosticsServer>> DiagnosticsServer::Start(
    absl::string_view address, DiagnosticsServerOptions options) {
  absl::StatusOr<internal::HostPort> parsed =
      internal::ParseListenAddress(address);
  if (!parsed.ok()) return parsed.status();
  if (!options.allow_non_loopback && !internal::IsLoopback(*parsed)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "diagnostics address \"", address,
        "\" is not a loopback address; the pages show backend addresses "
        "and errors, so serving other hosts needs "
        "DiagnosticsServerOptions::allow_non_loopback = true"));
  }
  if (options.threads < 1 || options.threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("DiagnosticsServerOptions::threads is ", options.threads,
                     "; it must be 1..64"));
  }

  auto impl = std::make_unique<Impl>();
  httplib::Server& server = impl->server;
  const size_t threads = static_cast<size_t>(options.threads);
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  // Only GETs with small requests are expected, and an idle connection (a
  // browser's preconnect, a scraper's keep-alive) holds a thread: let none
  // wait long, so that a few of them cannot starve a scrape, and the
  // destructor waits at most about a second for them.
  server.set_payload_max_length(64 * 1024);
  server.set_read_timeout(2, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(1);
  // SO_REUSEADDR only: cpp-httplib's default, SO_REUSEPORT, would let a
  // second server (another process) share a taken port without an error.
  server.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const bool loopback = internal::IsLoopback(*parsed);
  server.Get(".*", [loopback](const httplib::Request& request,
                              httplib::Response& response) {
    // The target as sent (path and query, not decoded).
    DiagnosticsResponse answer = internal::AnswerGet(
        loopback, request.get_header_value("Host"), request.target);
    response.status = answer.status;
    response.set_content(std::move(answer.body), answer.content_type.c_str());
    response.set_header("Cache-Control", "no-store");
  });

  const int port =
      parsed->port == 0
          ? server.bind_to_any_port(parsed->host)
          : (server.bind_to_port(parsed->host, parsed->port) ? parsed->port
                                                             : -1);
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("diagnostics server cannot listen on \"", address,
                     "\" (address in use or not on this host?)"));
  }
  impl->port = port;
  impl->url = absl::StrCat(
      "http://",
      parsed->ipv6 ? absl::StrCat("[", parsed->host, "]") : parsed->host, ":",
      port, "/");
  // The thread uses only `impl`, which the destructor (or the failure
  // below) outlives it with a join.
  Impl* self = impl.get();
  self->thread = std::thread([self] {
    self->server.listen_after_bind();
    self->loop_ended = true;
    // cpp-httplib gives up on some accept() errors (ENFILE, ENOMEM, ...):
    // say so rather than go silent.
    if (self->serving && !self->stopping) {
      internal::Log(LogSeverity::kWarning,
                    absl::StrCat("warm diagnostics server ", self->url,
                                 " stopped: accepting connections failed"));
    }
  });
  // The socket already accepts connections; wait until the loop runs, as
  // stop() does nothing before (the destructor would then never return).
  // The loop either starts at once or fails at once.
  while (!server.is_running() && !self->loop_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) {
    self->thread.join();
    return absl::UnavailableError(absl::StrCat("diagnostics server on \"",
                                               address, "\" stopped at once"));
  }
  self->serving = true;
  return std::unique_ptr<DiagnosticsServer>(
      new DiagnosticsServer(std::move(impl)));
}

}  // namespace warm
