#include "src/common/target.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace warm {
namespace internal {
namespace {

constexpr absl::string_view kPortHelp = "a port from 1 to 65535";
// sockaddr_un.sun_path holds 108 bytes with the terminating NUL (an abstract
// name: with its leading NUL).
constexpr size_t kMaxUnixPath = 107;

// Collects every problem found in one target, so that one error names all.
class Problems {
 public:
  explicit Problems(absl::string_view target) : target_(target) {}
  void Add(std::string problem) { problems_.push_back(std::move(problem)); }
  bool empty() const { return problems_.empty(); }
  absl::Status ToStatus() const {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid target \"", target_, "\": ", absl::StrJoin(problems_, "; ")));
  }

 private:
  absl::string_view target_;
  std::vector<std::string> problems_;
};

bool IsIpv4(absl::string_view host) {
  in_addr addr;
  return inet_pton(AF_INET, std::string(host).c_str(), &addr) == 1;
}

bool IsIpv6(absl::string_view host) {
  in6_addr addr;
  return inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
}

// Splits "host:port" or "[v6]:port". `bracketed` says whether the host was in
// brackets. Returns false when the shape is wrong.
bool SplitHostPort(absl::string_view hostport, absl::string_view* host,
                   absl::string_view* port, bool* bracketed) {
  *bracketed = false;
  if (absl::StartsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return false;
    *host = hostport.substr(1, close - 1);
    absl::string_view rest = hostport.substr(close + 1);
    *bracketed = true;
    if (rest.empty()) {
      *port = absl::string_view();
      return true;
    }
    if (rest[0] != ':') return false;
    *port = rest.substr(1);
    return true;
  }
  size_t colon = hostport.find(':');
  if (colon == absl::string_view::npos) {
    *host = hostport;
    *port = absl::string_view();
    return true;
  }
  if (hostport.find(':', colon + 1) != absl::string_view::npos) {
    return false;  // an IPv6 literal must be in brackets
  }
  *host = hostport.substr(0, colon);
  *port = hostport.substr(colon + 1);
  return true;
}

void AddUnique(std::vector<Address>& out, Address address) {
  if (std::find(out.begin(), out.end(), address) == out.end()) {
    out.push_back(std::move(address));
  }
}

// Parses the comma-separated list after "ipv4:" or "ipv6:".
void ParseIpList(absl::string_view list, bool v6, Problems& problems,
                 std::vector<Address>& out) {
  const absl::string_view family = v6 ? "ipv6" : "ipv4";
  if (list.empty()) {
    problems.Add(absl::StrCat("empty ", family, " address list"));
    return;
  }
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    absl::string_view host, port_text;
    bool bracketed = false;
    int port = 0;
    if (item.empty()) {
      problems.Add("empty address in list");
      continue;
    }
    if (!SplitHostPort(item, &host, &port_text, &bracketed) ||
        bracketed != v6) {
      problems.Add(absl::StrCat("\"", item, "\" is not ",
                                v6 ? "[IPV6]:PORT" : "IPV4:PORT"));
      continue;
    }
    const bool host_ok = v6 ? IsIpv6(host) : IsIpv4(host);
    if (!host_ok) {
      problems.Add(absl::StrCat("\"", host, "\" in \"", item, "\" is not an ",
                                family, " address"));
    }
    if (port_text.empty()) {
      problems.Add(absl::StrCat("\"", item, "\" has no port"));
    } else if (!ParsePort(port_text, &port)) {
      problems.Add(absl::StrCat("port \"", port_text, "\" in \"", item,
                                "\" is not ", kPortHelp));
    }
    if (!host_ok || port == 0) continue;
    std::string display = v6 ? absl::StrCat("[", host, "]:", port)
                             : absl::StrCat(host, ":", port);
    AddUnique(out, Address{absl::StrCat(family, ":", display), display});
  }
}

// Parses a bare HOST:PORT: a literal IP gives a static address, a name a DNS
// target.
void ParseHostPort(absl::string_view hostport, Problems& problems,
                   Target& out) {
  absl::string_view host, port_text;
  bool bracketed = false;
  if (!SplitHostPort(hostport, &host, &port_text, &bracketed) || host.empty()) {
    problems.Add(absl::StrCat("\"", hostport, "\" is not HOST:PORT"));
    return;
  }
  int port = 0;
  if (port_text.empty()) {
    problems.Add(absl::StrCat("\"", hostport, "\" has no port"));
  } else if (!ParsePort(port_text, &port)) {
    problems.Add(absl::StrCat("port \"", port_text, "\" is not ", kPortHelp));
  }
  if (bracketed && !IsIpv6(host)) {
    problems.Add(absl::StrCat("\"", host, "\" is not an ipv6 address"));
  }
  if (port == 0 || !problems.empty()) return;
  if (bracketed || IsIpv6(host)) {
    std::string display = absl::StrCat("[", host, "]:", port);
    AddUnique(out.addresses, Address{absl::StrCat("ipv6:", display), display});
  } else if (IsIpv4(host)) {
    std::string display = absl::StrCat(host, ":", port);
    AddUnique(out.addresses, Address{absl::StrCat("ipv4:", display), display});
  } else {
    const bool valid_name = std::all_of(host.begin(), host.end(), [](char c) {
      return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
    });
    if (!valid_name) {
      problems.Add(absl::StrCat("\"", host, "\" is not a host name"));
      return;
    }
    out.kind = Target::Kind::kDns;
    out.host = std::string(host);
    out.port = port;
  }
}

}  // namespace

bool ParsePort(absl::string_view text, int* port) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    return false;
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 1 || value > 65535) {
    return false;
  }
  *port = value;
  return true;
}

absl::StatusOr<Target> ParseTarget(absl::string_view target) {
  Problems problems(target);
  Target out;
  if (target.empty()) {
    return absl::InvalidArgumentError("invalid target \"\": empty");
  }
  size_t colon = target.find(':');
  absl::string_view scheme =
      colon == absl::string_view::npos ? "" : target.substr(0, colon);
  absl::string_view rest =
      colon == absl::string_view::npos ? "" : target.substr(colon + 1);

  // Every address is handed to gRPC as a C string, and inet_pton() reads only
  // up to a NUL: "ipv4:10.0.0.1\0junk:80" would otherwise pass as an address
  // that gRPC then reads as something else.
  if (size_t nul = target.find('\0'); nul != absl::string_view::npos) {
    problems.Add(absl::StrCat("a NUL byte at offset ", nul));
    return problems.ToStatus();
  }
  if (scheme == "ipv4" || scheme == "ipv6") {
    ParseIpList(rest, scheme == "ipv6", problems, out.addresses);
  } else if (scheme == "unix" || scheme == "unix-abstract") {
    // gRPC accepts "unix:path" and "unix:///absolute/path".
    absl::string_view path = rest;
    if (scheme == "unix") {
      if (absl::StartsWith(path, "//")) path.remove_prefix(2);
      // "unix:////s" is the path "//s", the same file as "/s" for the
      // kernel; written back as "unix://s" it would be the authority "s".
      // One leading slash keeps the address's target meaning what was given.
      if (size_t first = path.find_first_not_of('/');
          first != absl::string_view::npos && first > 1) {
        path.remove_prefix(first - 1);
      }
    }
    // A unix path of slashes only is the root directory, never a socket.
    const bool empty =
        scheme == "unix"
            ? path.find_first_not_of('/') == absl::string_view::npos
            : rest.empty() || rest == "//" || rest == "///";
    if (empty) {
      problems.Add(absl::StrCat("empty ", scheme, " socket path"));
    } else {
      if (path.size() > kMaxUnixPath) {
        problems.Add(absl::StrCat(scheme, " socket path is ", path.size(),
                                  " bytes; at most ", kMaxUnixPath,
                                  " fit in a socket address"));
        return problems.ToStatus();
      }
      AddUnique(out.addresses, Address{absl::StrCat(scheme, ":", path),
                                       absl::StrCat(scheme, ":", path)});
    }
  } else if (scheme == "dns") {
    absl::string_view body = rest;
    if (absl::StartsWith(body, "//")) {
      body.remove_prefix(2);
      size_t slash = body.find('/');
      if (slash == absl::string_view::npos) {
        problems.Add(
            "dns target needs \"dns:///HOST:PORT\" or "
            "\"dns://SERVER/HOST:PORT\"");
        return problems.ToStatus();
      }
      out.dns_server = std::string(body.substr(0, slash));
      body.remove_prefix(slash + 1);
    }
    ParseHostPort(body, problems, out);
  } else if (absl::StartsWith(rest, "//")) {
    problems.Add(absl::StrCat("unsupported scheme \"", scheme,
                              "\" (supported: ipv4, ipv6, unix, "
                              "unix-abstract, dns)"));
  } else {
    ParseHostPort(target, problems, out);
  }
  if (!problems.empty()) return problems.ToStatus();
  if (out.kind == Target::Kind::kStatic && out.addresses.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid target \"", target, "\": no addresses"));
  }
  return out;
}

}  // namespace internal
}  // namespace warm
