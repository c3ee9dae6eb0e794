#include "src/dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/mutex.h"
#include "src/dns/addrinfo.h"

// c-ares facts this file relies on (c-ares 1.18.1, Debian 12):
//   - A channel is not thread-safe; every call on one channel, and here every
//     c-ares call at all, happens on the DNS loop thread.
//   - ares_getaddrinfo() may call its callback before returning (IP literals,
//     hosts-file answers, errors). The callback gets the result to free with
//     ares_freeaddrinfo(), or NULL on failure. It reports ARES_ENOTFOUND for
//     NXDOMAIN and ARES_ENODATA when the name has neither A nor AAAA records.
//   - ARES_AI_NOSORT: without it c-ares sorts the addresses by RFC 6724,
//     creating and connect()ing a UDP socket per address to learn the source
//     address. The pool uses every address anyway, so the sort would only
//     cost syscalls; the order is made stable below instead.
//   - Answers with SERVFAIL, REFUSED or NOTIMP are not final: c-ares tries
//     the next server (or the same one again, `tries` times in all). Once
//     every try failed, 1.18.1 reports ARES_ECONNREFUSED ("Could not contact
//     DNS servers") for them, as for a server that could not be reached
//     (later versions report ARES_ESERVFAIL / ARES_EREFUSED).
//     ARES_FLAG_NOCHECKRESP would pass the rcode through, but at the price of
//     those retries and, in 1.18, of the check that an answer matches the
//     question; not worth it, both are Unavailable.
//   - ares_destroy() calls the callback of every pending query with
//     ARES_EDESTRUCTION (ares_getaddrinfo's once, when both its A and AAAA
//     queries have ended).
//   - ares_timeout() with maxtv NULL returns NULL when no query is pending;
//     ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD) processes
//     timeouts only. Sockets close when a channel's last query ends (no
//     ARES_FLAG_STAYOPEN), so an idle channel has nothing to poll.
//   - ares_library_init() only counts calls on Linux; it must precede other
//     c-ares calls. gRPC calls it too; the calls only increment a counter.

namespace warm {
namespace internal {
namespace {

constexpr int kDefaultDnsPort = 53;

// A parsed `server` argument of CreateCaresResolver().
struct ServerSpec {
  bool system = true;  // "": the system's configuration
  int family = AF_INET;
  in_addr addr4{};
  in6_addr addr6{};
  int port = kDefaultDnsPort;
  std::string display;  // "127.0.0.1:53", "[::1]:53"
};

// Parses "", "IP", "IP:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6 address.
// Appends every problem to `problems`.
ServerSpec ParseServer(const std::string& server,
                       std::vector<std::string>* problems) {
  ServerSpec spec;
  if (server.empty()) {
    spec.display = "the system's (/etc/resolv.conf)";
    return spec;
  }
  spec.system = false;
  const std::string quoted = absl::StrCat("DNS server \"", server, "\"");
  std::string host;
  absl::string_view port_text;
  bool bracketed = false;
  absl::string_view text = server;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      problems->push_back(absl::StrCat(quoted, " has no closing ']'"));
      return spec;
    }
    bracketed = true;
    host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        problems->push_back(
            absl::StrCat(quoted, " is not [IPv6] or [IPv6]:PORT"));
        return spec;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        problems->push_back(absl::StrCat(quoted, " has an empty port"));
      }
    }
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    host = server;  // a bare IPv6 address: no port possible
  } else {
    const size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) {
        problems->push_back(absl::StrCat(quoted, " has an empty port"));
      }
    }
  }
  if (!port_text.empty() && !ParsePort(port_text, &spec.port)) {
    problems->push_back(absl::StrCat(quoted, ": port \"", port_text,
                                     "\" is not a port from 1 to 65535"));
  }
  if (!bracketed && inet_pton(AF_INET, host.c_str(), &spec.addr4) == 1) {
    spec.family = AF_INET;
    spec.display = absl::StrCat(host, ":", spec.port);
  } else if (inet_pton(AF_INET6, host.c_str(), &spec.addr6) == 1) {
    spec.family = AF_INET6;
    spec.display = absl::StrCat("[", host, "]:", spec.port);
  } else if (bracketed) {
    problems->push_back(
        absl::StrCat(quoted, ": \"", host, "\" is not an IPv6 address"));
  } else {
    problems->push_back(absl::StrCat(
        quoted,
        " is not an IP address (a DNS server given by host name is not "
        "supported; give IP, IP:PORT or [IPv6]:PORT)"));
  }
  return spec;
}

// "ARES_ETIMEOUT" for ARES_ETIMEOUT.
const char* AresErrorName(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return "ARES_SUCCESS";
    case ARES_ENODATA:
      return "ARES_ENODATA";
    case ARES_EFORMERR:
      return "ARES_EFORMERR";
    case ARES_ESERVFAIL:
      return "ARES_ESERVFAIL";
    case ARES_ENOTFOUND:
      return "ARES_ENOTFOUND";
    case ARES_ENOTIMP:
      return "ARES_ENOTIMP";
    case ARES_EREFUSED:
      return "ARES_EREFUSED";
    case ARES_EBADQUERY:
      return "ARES_EBADQUERY";
    case ARES_EBADNAME:
      return "ARES_EBADNAME";
    case ARES_EBADFAMILY:
      return "ARES_EBADFAMILY";
    case ARES_EBADRESP:
      return "ARES_EBADRESP";
    case ARES_ECONNREFUSED:
      return "ARES_ECONNREFUSED";
    case ARES_ETIMEOUT:
      return "ARES_ETIMEOUT";
    case ARES_EOF:
      return "ARES_EOF";
    case ARES_EFILE:
      return "ARES_EFILE";
    case ARES_ENOMEM:
      return "ARES_ENOMEM";
    case ARES_EDESTRUCTION:
      return "ARES_EDESTRUCTION";
    case ARES_EBADSTR:
      return "ARES_EBADSTR";
    case ARES_EBADFLAGS:
      return "ARES_EBADFLAGS";
    case ARES_ENONAME:
      return "ARES_ENONAME";
    case ARES_EBADHINTS:
      return "ARES_EBADHINTS";
    case ARES_ENOTINITIALIZED:
      return "ARES_ENOTINITIALIZED";
    case ARES_ECANCELLED:
      return "ARES_ECANCELLED";
    case ARES_ESERVICE:
      return "ARES_ESERVICE";
    default:
      return "ARES_E?";
  }
}

// "ARES_ETIMEOUT (Timeout while contacting DNS servers)".
std::string AresError(int status) {
  return absl::StrCat(AresErrorName(status), " (", ares_strerror(status), ")");
}

// The loop-thread state of one CaresResolver. Created by
// CreateCaresResolver(), then touched only on the loop thread, which deletes
// it when the resolver is destroyed.
struct Channel {
  ServerSpec spec;
  int timeout_ms = 0;
  int tries = 0;
  std::string server;              // for messages: spec.display or the system's
  ares_channel channel = nullptr;  // null when setting it up failed
  absl::Status init_error;         // why `channel` is null
  int pending = 0;                 // ares_getaddrinfo() calls not completed
};

// One Resolve() between ares_getaddrinfo() and its callback.
struct Query {
  Channel* channel;
  std::string host;
  int port;
  std::function<void(DnsAnswer)> done;
};

DnsAnswer MakeAnswer(const Query& query, int status, int timeouts,
                     const ares_addrinfo* result) {
  const Channel& channel = *query.channel;
  DnsAnswer answer;
  if (status == ARES_SUCCESS && result != nullptr) {
    answer.addresses = AddressesFromAddrinfo(*result, query.port);
    if (!answer.addresses.empty()) return answer;
    answer.status = absl::NotFoundError(
        absl::StrCat("\"", query.host, "\" has no A or AAAA records (DNS ",
                     "server ", channel.server, ")"));
    return answer;
  }
  switch (status) {
    case ARES_SUCCESS:  // without a result: not expected
    case ARES_ENODATA:
      answer.status = absl::NotFoundError(absl::StrCat(
          "\"", query.host, "\" has no A or AAAA records (",
          AresError(ARES_ENODATA), " from DNS server ", channel.server, ")"));
      break;
    case ARES_ENOTFOUND:
      answer.status = absl::NotFoundError(absl::StrCat(
          "\"", query.host, "\" does not exist (NXDOMAIN: ", AresError(status),
          " from DNS server ", channel.server, ")"));
      break;
    case ARES_EDESTRUCTION:
      answer.status = absl::UnavailableError(absl::StrCat(
          "resolving \"", query.host, "\" with DNS server ", channel.server,
          ": resolver destroyed (", AresError(status), ")"));
      break;
    default: {
      std::string note;
      if (!channel.spec.system && query.host == "localhost") {
        note = "; c-ares never sends \"localhost\" to a DNS server (RFC 6761)";
      } else if (status == ARES_ECONNREFUSED) {
        note =
            "; the server could not be reached, or refused or failed the "
            "query (REFUSED, SERVFAIL)";
      }
      answer.status = absl::UnavailableError(absl::StrCat(
          "resolving \"", query.host, "\" with DNS server ", channel.server,
          " failed: ", AresError(status), " after ", timeouts, " timeout",
          timeouts == 1 ? "" : "s", note));
      break;
    }
  }
  return answer;
}

// "10.0.0.53:53, [fd00::53]:53 (the system's, /etc/resolv.conf)".
std::string DescribeSystemServers(ares_channel channel) {
  ares_addr_port_node* servers = nullptr;
  std::vector<std::string> names;
  if (ares_get_servers_ports(channel, &servers) == ARES_SUCCESS) {
    for (ares_addr_port_node* node = servers; node != nullptr;
         node = node->next) {
      char text[INET6_ADDRSTRLEN] = {};
      const int port = node->udp_port != 0 ? node->udp_port : kDefaultDnsPort;
      if (node->family == AF_INET &&
          inet_ntop(AF_INET, &node->addr.addr4, text, sizeof(text))) {
        names.push_back(absl::StrCat(text, ":", port));
      } else if (node->family == AF_INET6 &&
                 inet_ntop(AF_INET6, &node->addr.addr6, text, sizeof(text))) {
        names.push_back(absl::StrCat("[", text, "]:", port));
      }
    }
    ares_free_data(servers);
  }
  if (names.empty()) return "the system's (/etc/resolv.conf: none)";
  return absl::StrCat(absl::StrJoin(names, ", "),
                      " (the system's, /etc/resolv.conf)");
}

// The process-wide DNS loop; see the header's file comment.
class DnsLoop {
 public:
  // The loop, started on first call. Deliberately never destroyed, like
  // Worker: resolvers may be destroyed during exit.
  static DnsLoop& Get() {
    static DnsLoop* const loop = new DnsLoop();
    return *loop;
  }

  // Why the loop cannot run (ares_library_init or eventfd failed), or OK.
  const absl::Status& init_status() const { return init_status_; }

  // Runs `task` on the loop thread, after every task posted before it.
  void Post(std::function<void()> task) {
    bool wake;
    {
      MutexLock lock(&mu_);
      wake = tasks_.empty();
      tasks_.push_back(std::move(task));
    }
    // A non-empty queue was either signalled already, or the loop has not
    // yet taken it and will (it takes tasks before it polls).
    if (wake) {
      const uint64_t one = 1;
      ssize_t n;
      do {
        n = write(wake_fd_, &one, sizeof(one));
      } while (n < 0 && errno == EINTR);
    }
  }

  DnsLoopStats stats() const {
    DnsLoopStats stats;
    stats.polls = polls_.load(std::memory_order_acquire);
    stats.channels = channel_count_.load(std::memory_order_acquire);
    stats.pending = pending_count_.load(std::memory_order_acquire);
    return stats;
  }

  // --- Loop thread only. ---

  // Sets up `channel`'s ares_channel; on failure every Resolve() of it
  // completes with channel->init_error.
  void Open(Channel* channel) {
    channels_.push_back(channel);
    channel_count_.fetch_add(1, std::memory_order_acq_rel);
    channel->server = channel->spec.display;

    ares_options options;
    std::memset(&options, 0, sizeof(options));
    int optmask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    options.timeout = channel->timeout_ms;
    options.tries = channel->tries;
    char dns_only[] = "b";
    if (!channel->spec.system) {
      // Only the named server answers, for the name as written.
      optmask |= ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
      options.lookups = dns_only;
      options.domains = nullptr;
      options.ndomains = 0;
    }
    int status = ares_init_options(&channel->channel, &options, optmask);
    if (status != ARES_SUCCESS) {
      channel->channel = nullptr;
      channel->init_error = absl::UnavailableError(
          absl::StrCat("cannot set up c-ares for DNS server ", channel->server,
                       ": ares_init_options: ", AresError(status)));
      return;
    }
    if (channel->spec.system) {
      channel->server = DescribeSystemServers(channel->channel);
      return;
    }
    ares_addr_port_node server;
    std::memset(&server, 0, sizeof(server));
    server.family = channel->spec.family;
    if (server.family == AF_INET) {
      server.addr.addr4 = channel->spec.addr4;
    } else {
      static_assert(sizeof(server.addr.addr6) == sizeof(in6_addr), "");
      std::memcpy(&server.addr.addr6, &channel->spec.addr6, sizeof(in6_addr));
    }
    server.udp_port = channel->spec.port;
    server.tcp_port = channel->spec.port;
    status = ares_set_servers_ports(channel->channel, &server);
    if (status != ARES_SUCCESS) {
      ares_destroy(channel->channel);
      channel->channel = nullptr;
      channel->init_error = absl::UnavailableError(
          absl::StrCat("cannot set up c-ares for DNS server ", channel->server,
                       ": ares_set_servers_ports: ", AresError(status)));
    }
  }

  // `host` belongs to the posted task, which outlives this call: the
  // callback, which deletes `query`, may run before ares_getaddrinfo()
  // returns.
  void Start(Channel* channel, const std::string& host, int port,
             std::function<void(DnsAnswer)> done) {
    absl::Status error;
    if (host.empty()) {
      error = absl::InvalidArgumentError("cannot resolve an empty host name");
    } else if (port < 1 || port > 65535) {
      error = absl::InvalidArgumentError(
          absl::StrCat("resolving \"", host, "\": port ", port,
                       " is not a port from 1 to 65535"));
    } else if (channel->channel == nullptr) {
      error = channel->init_error;
    }
    if (!error.ok()) {
      completions_.push_back(
          [done = std::move(done), error = std::move(error)]() mutable {
            done(DnsAnswer{std::move(error), {}});
          });
      return;
    }
    auto* query = new Query{channel, host, port, std::move(done)};
    ++channel->pending;
    pending_count_.fetch_add(1, std::memory_order_acq_rel);
    ares_addrinfo_hints hints;
    std::memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(channel->channel, host.c_str(), /*service=*/nullptr,
                     &hints, &DnsLoop::OnAddrInfo, query);
  }

  // Destroys `channel`: its pending queries complete with EDESTRUCTION.
  void Close(Channel* channel) {
    channels_.erase(std::find(channels_.begin(), channels_.end(), channel));
    if (channel->channel != nullptr) ares_destroy(channel->channel);
    delete channel;
    channel_count_.fetch_sub(1, std::memory_order_acq_rel);
  }

 private:
  DnsLoop() {
    const int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
      init_status_ = absl::InternalError(
          absl::StrCat("ares_library_init: ", AresError(status)));
      return;
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      init_status_ = absl::InternalError(
          absl::StrCat("eventfd for the DNS loop: ", std::strerror(errno)));
      return;
    }
    std::thread thread([this] { Run(); });
    thread.detach();
  }

  void Run() {
    pthread_setname_np(pthread_self(), "warm-dns");
    while (true) {
      RunTasks();
      RunCompletions();
      PollAndProcess();
      RunCompletions();
    }
  }

  void RunTasks() {
    std::deque<std::function<void()>> tasks;
    {
      MutexLock lock(&mu_);
      tasks.swap(tasks_);
    }
    for (std::function<void()>& task : tasks) task();
  }

  // Runs `done` callbacks collected from c-ares callbacks, outside c-ares.
  void RunCompletions() {
    while (!completions_.empty()) {
      std::vector<std::function<void()>> completions;
      completions.swap(completions_);
      for (std::function<void()>& completion : completions) completion();
    }
  }

  // Waits for the wake-up eventfd, the sockets of every channel with a
  // pending query, and the nearest c-ares timeout; then lets c-ares process
  // what happened.
  void PollAndProcess() {
    fds_.clear();
    fd_channels_.clear();
    fds_.push_back(pollfd{wake_fd_, POLLIN, 0});
    fd_channels_.push_back(nullptr);
    int timeout_ms = -1;  // nothing pending: sleep until woken
    for (Channel* channel : channels_) {
      if (channel->pending == 0) continue;
      ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
      const int bits =
          ares_getsock(channel->channel, sockets, ARES_GETSOCK_MAXNUM);
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events == 0) break;
        fds_.push_back(pollfd{sockets[i], events, 0});
        fd_channels_.push_back(channel);
      }
      timeval tv;
      if (ares_timeout(channel->channel, nullptr, &tv) != nullptr) {
        // Rounded up: waking early would spin until the deadline.
        const int64_t ms =
            static_cast<int64_t>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
        const int clamped = static_cast<int>(std::min<int64_t>(ms, INT_MAX));
        timeout_ms = timeout_ms < 0 ? clamped : std::min(timeout_ms, clamped);
      }
    }

    polls_.fetch_add(1, std::memory_order_acq_rel);
    const int ready = poll(fds_.data(), fds_.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      std::fprintf(stderr, "warm DNS loop: poll: %s\n", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (ready > 0 && fds_[0].revents != 0) {
      uint64_t count;
      while (read(wake_fd_, &count, sizeof(count)) > 0) {
      }
    }
    if (ready > 0) {
      for (size_t i = 1; i < fds_.size(); ++i) {
        const short revents = fds_[i].revents;
        if (revents == 0) continue;
        // Errors and hang-ups go to c-ares as readiness: its read or write
        // then fails and it moves the query on.
        const bool error = (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
        const ares_socket_t read_fd =
            (revents & POLLIN) || error ? fds_[i].fd : ARES_SOCKET_BAD;
        const ares_socket_t write_fd =
            (revents & POLLOUT) || error ? fds_[i].fd : ARES_SOCKET_BAD;
        ares_process_fd(fd_channels_[i]->channel, read_fd, write_fd);
      }
    }
    // Timeouts (ares_process_fd handles them on every call; this covers the
    // channels none of whose sockets were ready).
    for (Channel* channel : channels_) {
      if (channel->pending > 0) {
        ares_process_fd(channel->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      }
    }
  }

  static void OnAddrInfo(void* arg, int status, int timeouts,
                         ares_addrinfo* result) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    DnsAnswer answer = MakeAnswer(*query, status, timeouts, result);
    if (result != nullptr) ares_freeaddrinfo(result);
    --query->channel->pending;
    DnsLoop& loop = Get();
    loop.pending_count_.fetch_sub(1, std::memory_order_acq_rel);
    loop.completions_.push_back(
        [done = std::move(query->done), answer = std::move(answer)]() mutable {
          done(std::move(answer));
        });
  }

  absl::Status init_status_;
  int wake_fd_ = -1;

  Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);

  // Loop thread only.
  std::vector<Channel*> channels_;  // every open channel
  std::vector<std::function<void()>> completions_;
  std::vector<pollfd> fds_;            // this round's poll set
  std::vector<Channel*> fd_channels_;  // the channel of each of fds_

  std::atomic<int64_t> polls_{0};
  std::atomic<int> channel_count_{0};
  std::atomic<int> pending_count_{0};
};

class CaresResolver final : public DnsResolver {
 public:
  // `channel` is handed to the loop by the task that opens it.
  explicit CaresResolver(Channel* channel) : channel_(channel) {}

  ~CaresResolver() override {
    Channel* channel = channel_;
    DnsLoop::Get().Post([channel] { DnsLoop::Get().Close(channel); });
  }

  CaresResolver(const CaresResolver&) = delete;
  CaresResolver& operator=(const CaresResolver&) = delete;

  void Resolve(const std::string& host, int port,
               std::function<void(DnsAnswer)> done) override {
    Channel* channel = channel_;
    DnsLoop::Get().Post(
        [channel, host, port, done = std::move(done)]() mutable {
          DnsLoop::Get().Start(channel, host, port, std::move(done));
        });
  }

 private:
  // Owned by the loop; only ever dereferenced on the loop thread.
  Channel* const channel_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<DnsResolver>> CreateCaresResolver(
    const std::string& server, std::chrono::milliseconds query_timeout,
    int tries) {
  std::vector<std::string> problems;
  ServerSpec spec = ParseServer(server, &problems);
  if (query_timeout.count() <= 0) {
    problems.push_back(absl::StrCat("query_timeout ", query_timeout.count(),
                                    " ms is not positive"));
  }
  if (tries < 1) {
    problems.push_back(absl::StrCat("tries ", tries, " is less than 1"));
  }
  // c-ares doubles the timeout on every try and keeps it in an int of ms.
  if (query_timeout.count() > 0 && tries >= 1 &&
      (tries > 30 || query_timeout.count() * ((int64_t{1} << tries) - 1) >
                         int64_t{INT_MAX})) {
    problems.push_back(absl::StrCat(
        "query_timeout ", query_timeout.count(), " ms with tries ", tries,
        " waits too long (query_timeout * (2^tries - 1) must stay below ",
        INT_MAX, " ms)"));
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create a DNS resolver: ", absl::StrJoin(problems, "; ")));
  }
  DnsLoop& loop = DnsLoop::Get();
  if (!loop.init_status().ok()) return loop.init_status();

  auto* channel = new Channel();
  channel->spec = std::move(spec);
  channel->timeout_ms = static_cast<int>(query_timeout.count());
  channel->tries = tries;
  loop.Post([channel] { DnsLoop::Get().Open(channel); });
  return std::shared_ptr<DnsResolver>(std::make_shared<CaresResolver>(channel));
}

DnsLoopStats GetDnsLoopStatsForTesting() { return DnsLoop::Get().stats(); }

}  // namespace internal
}  // namespace warm
