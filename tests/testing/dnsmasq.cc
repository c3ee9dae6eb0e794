#include "tests/testing/dnsmasq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "tests/testing/wait.h"

namespace warm {
namespace testing {
namespace {

constexpr int kStartAttempts = 5;  // ports tried when the chosen one is taken
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;

std::string ErrnoText(int error) { return std::strerror(error); }

// Reports a Dnsmasq that cannot start and aborts the test binary (a test
// cannot go on without its DNS server), flushing gtest's output first.
[[noreturn]] void StartFailure(const std::string& message) {
  ADD_FAILURE() << message;
  std::cerr << "Dnsmasq: " << message << std::endl;
  std::fflush(stdout);
  std::abort();
}

// A port free for both UDP and TCP on 127.0.0.1 at the time of the call, or
// 0. dnsmasq binds both.
int PickFreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (udp >= 0 && tcp >= 0 &&
        bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      port = ntohs(addr.sin_port);
    }
    if (udp >= 0) close(udp);
    if (tcp >= 0) close(tcp);
    if (port != 0) return port;
  }
  return 0;
}

// The canonical text of an IP address ("fd00::1" for "fd00:0::1") and its
// family, or false when `ip` is not one.
bool CanonicalIp(const std::string& ip, std::string* text, int* family) {
  char buffer[INET6_ADDRSTRLEN] = {};
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    *family = AF_INET;
    *text = inet_ntop(AF_INET, &v4, buffer, sizeof(buffer));
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    *family = AF_INET6;
    *text = inet_ntop(AF_INET6, &v6, buffer, sizeof(buffer));
    return true;
  }
  return false;
}

// --- A minimal blocking DNS client, independent of the code under test. ----

struct DnsReply {
  int rcode = 0;
  std::vector<std::string> addresses;  // A or AAAA records, canonical text
};

// Skips a (possibly compressed) name at `*at`. False when malformed.
bool SkipName(const std::vector<uint8_t>& message, size_t* at) {
  while (*at < message.size()) {
    const uint8_t length = message[*at];
    if ((length & 0xC0) == 0xC0) {
      *at += 2;
      return *at <= message.size();
    }
    *at += 1;
    if (length == 0) return true;
    *at += length;
  }
  return false;
}

uint16_t Read16(const std::vector<uint8_t>& message, size_t at) {
  return static_cast<uint16_t>(message[at] << 8 | message[at + 1]);
}

bool ParseReply(const std::vector<uint8_t>& message, uint16_t id,
                uint16_t qtype, DnsReply* reply) {
  if (message.size() < 12 || Read16(message, 0) != id ||
      (message[2] & 0x80) == 0) {
    return false;
  }
  reply->rcode = message[3] & 0x0F;
  reply->addresses.clear();
  const int questions = Read16(message, 4);
  const int answers = Read16(message, 6);
  size_t at = 12;
  for (int i = 0; i < questions; ++i) {
    if (!SkipName(message, &at)) return false;
    at += 4;
  }
  for (int i = 0; i < answers; ++i) {
    if (!SkipName(message, &at) || at + 10 > message.size()) return false;
    const uint16_t type = Read16(message, at);
    const uint16_t length = Read16(message, at + 8);
    at += 10;
    if (at + length > message.size()) return false;
    char text[INET6_ADDRSTRLEN] = {};
    if (type == qtype && type == kTypeA && length == 4) {
      inet_ntop(AF_INET, &message[at], text, sizeof(text));
      reply->addresses.push_back(text);
    } else if (type == qtype && type == kTypeAaaa && length == 16) {
      inet_ntop(AF_INET6, &message[at], text, sizeof(text));
      reply->addresses.push_back(text);
    }
    at += length;
  }
  return true;
}

// Asks 127.0.0.1:`port` once for `name`'s records of `qtype`. False, with
// `error` set, when no answer comes within `timeout`.
bool Query(int port, const std::string& name, uint16_t qtype,
           std::chrono::milliseconds timeout, DnsReply* reply,
           std::string* error) {
  static std::atomic<uint16_t> next_id{static_cast<uint16_t>(getpid())};
  const uint16_t id = next_id.fetch_add(1);
  std::vector<uint8_t> query = {static_cast<uint8_t>(id >> 8),
                                static_cast<uint8_t>(id & 0xFF),
                                0x01,  // RD
                                0x00,
                                0x00,
                                0x01,
                                0x00,
                                0x00,
                                0x00,
                                0x00,
                                0x00,
                                0x00};
  std::stringstream labels(name);
  std::string label;
  while (std::getline(labels, label, '.')) {
    if (label.empty()) continue;
    query.push_back(static_cast<uint8_t>(label.size()));
    query.insert(query.end(), label.begin(), label.end());
  }
  query.insert(query.end(), {0x00, static_cast<uint8_t>(qtype >> 8),
                             static_cast<uint8_t>(qtype & 0xFF), 0x00, 0x01});

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "socket: " + ErrnoText(errno);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool answered = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      send(fd, query.data(), query.size(), 0) < 0) {
    *error = "send: " + ErrnoText(errno);
    close(fd);
    return false;
  }
  *error = "no answer within " + std::to_string(timeout.count()) + " ms";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!answered) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd = {fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    std::vector<uint8_t> message(4096);
    const ssize_t n = recv(fd, message.data(), message.size(), 0);
    if (n < 0) {
      // ECONNREFUSED: nothing listens (yet, or any more).
      *error = "recv: " + ErrnoText(errno);
      break;
    }
    message.resize(static_cast<size_t>(n));
    answered = ParseReply(message, id, qtype, reply);
  }
  close(fd);
  return answered;
}

// What `host`'s records should look like: its addresses per family, sorted.
struct Expected {
  std::vector<std::string> v4, v6;
};

// Checks one host against dnsmasq's answers; describes a difference.
bool Matches(int port, const std::string& host, const Expected& expected,
             std::string* difference) {
  for (const uint16_t qtype : {kTypeA, kTypeAaaa}) {
    const std::vector<std::string>& want =
        qtype == kTypeA ? expected.v4 : expected.v6;
    const char* type_name = qtype == kTypeA ? "A" : "AAAA";
    DnsReply reply;
    std::string error;
    if (!Query(port, host, qtype, std::chrono::milliseconds(500), &reply,
               &error)) {
      *difference = host + " " + type_name + ": " + error;
      return false;
    }
    std::vector<std::string> got = reply.addresses;
    std::sort(got.begin(), got.end());
    if (got != want) {
      std::string have, expect;
      for (const std::string& a : got) have += " " + a;
      for (const std::string& a : want) expect += " " + a;
      *difference = host + " " + type_name + ": answered rcode " +
                    std::to_string(reply.rcode) + " with [" + have +
                    " ], want [" + expect + " ]";
      return false;
    }
  }
  return true;
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void ExecChild(pid_t parent, int log_fd, int error_fd,
                            char* const argv[]) {
  // SIGKILL when the creating thread exits; if the parent died before
  // prctl(), nobody would ever kill us.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
    _exit(127);
  }
  signal(SIGPIPE, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Above 3 first, so that the dup2()s below cannot clobber one another
  // whatever numbers the fds had (a test run with stdin closed gets fd 0).
  null_fd = null_fd < 0 ? -1 : fcntl(null_fd, F_DUPFD_CLOEXEC, 4);
  log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 4);
  error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, 4);
  if (null_fd < 0 || log_fd < 0 || error_fd < 0 ||
      dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
      dup2(log_fd, STDERR_FILENO) < 0 || dup2(error_fd, 3) < 0 ||
      fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
    _exit(127);
  }
  // Close everything else, e.g. sockets of the test, which dnsmasq would
  // otherwise keep open.
  if (syscall(SYS_close_range, 4, ~0U, 0) != 0) {
    for (int fd = 4; fd < 65536; ++fd) close(fd);
  }
  execv(argv[0], argv);
  const int error = errno;
  ssize_t ignored = write(3, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

}  // namespace

Dnsmasq::Dnsmasq(int local_ttl_seconds,
                 const std::vector<std::string>& extra_args) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
      "/warm-dnsmasq-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    StartFailure("mkdtemp " + pattern + ": " + ErrnoText(errno));
  }
  dir_ = pattern;
  chmod(dir_.c_str(), 0755);
  hosts_path_ = dir_ + "/hosts";
  log_path_ = dir_ + "/dnsmasq.log";
  std::ofstream(hosts_path_).flush();
  local_ttl_seconds_ = local_ttl_seconds;
  extra_args_ = extra_args;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    if (Start(local_ttl_seconds, extra_args)) return;
  }
  StartFailure("dnsmasq found every port it tried taken (" +
               std::to_string(kStartAttempts) + " tries); last log:\n" +
               LogTail());
}

bool Dnsmasq::Start(int local_ttl_seconds,
                    const std::vector<std::string>& extra_args, int port) {
  port_ = port != 0 ? port : PickFreePort();
  if (port_ == 0) StartFailure("no free port on 127.0.0.1");
  server_ = "127.0.0.1:" + std::to_string(port_);
  reaped_ = false;
  wait_status_ = 0;

  std::vector<std::string> args = {
      kBinary,
      "--keep-in-foreground",
      "--conf-file=/dev/null",  // not /etc/dnsmasq.conf
      "--no-resolv",            // no upstream servers
      "--no-hosts",             // not /etc/hosts
      "--addn-hosts=" + hosts_path_,
      "--local-ttl=" + std::to_string(local_ttl_seconds),
      std::string("--local=/") + kDomain + "/",
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--port=" + std::to_string(port_),
      "--pid-file=",  // none
      "--log-facility=-",
      "--log-queries",
  };
  // Stay the current user and group (see the header).
  if (const passwd* user = getpwuid(geteuid())) {
    args.push_back(std::string("--user=") + user->pw_name);
  }
  if (const group* group = getgrgid(getegid())) {
    args.push_back(std::string("--group=") + group->gr_name);
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const int log_fd =
      open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) StartFailure("open " + log_path_ + ": " + ErrnoText(errno));
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    StartFailure("pipe2: " + ErrnoText(errno));
  }
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) StartFailure("fork: " + ErrnoText(errno));
  if (pid_ == 0) ExecChild(parent, log_fd, error_pipe[1], argv.data());
  close(log_fd);
  close(error_pipe[1]);

  // End of file once exec() succeeded; errno when it failed.
  int exec_error = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n > 0) {
    KillAndReap();
    StartFailure(std::string("cannot execute ") + kBinary + ": " +
                 ErrnoText(exec_error) +
                 " (install Debian's dnsmasq-base: scripts/deps.sh)");
  }

  // Ready once it answers anything.
  std::string last_error;
  const bool answered = WaitFor(
      [&] {
        if (Exited()) return true;
        DnsReply reply;
        return Query(port_, std::string("ready.") + kDomain, kTypeA,
                     std::chrono::milliseconds(200), &reply, &last_error);
      },
      kStartTimeout);
  if (answered && !Exited()) return true;
  if (reaped_) {
    const std::string log = LogTail();
    if (log.find("Address already in use") != std::string::npos) {
      return false;  // the port was taken meanwhile: try another
    }
    StartFailure("dnsmasq (" + Describe() + ") did not start; its log:\n" +
                 log);
  }
  KillAndReap();
  StartFailure("dnsmasq (" + Describe() + ") did not answer within " +
               std::to_string(kStartTimeout.count()) + " s (" + last_error +
               "); its log:\n" + LogTail());
}

Dnsmasq::~Dnsmasq() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    KillAndReap();
  }
  unlink(hosts_path_.c_str());
  unlink((hosts_path_ + ".new").c_str());
  unlink(log_path_.c_str());
  rmdir(dir_.c_str());
}

void Dnsmasq::SetRecords(
    const std::map<std::string, std::vector<std::string>>& host_to_ips) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Exited()) {
    ADD_FAILURE() << "Dnsmasq::SetRecords: dnsmasq is dead: " << Describe();
    return;
  }
  std::map<std::string, Expected> expected;
  std::string content;
  for (const auto& [host, ips] : host_to_ips) {
    Expected& want = expected[host];
    for (const std::string& ip : ips) {
      std::string text;
      int family = 0;
      if (!CanonicalIp(ip, &text, &family)) {
        ADD_FAILURE() << "Dnsmasq::SetRecords: \"" << ip << "\" (for " << host
                      << ") is not an IP address";
        continue;
      }
      (family == AF_INET ? want.v4 : want.v6).push_back(text);
      content += text + " " + host + "\n";
    }
    std::sort(want.v4.begin(), want.v4.end());
    want.v4.erase(std::unique(want.v4.begin(), want.v4.end()), want.v4.end());
    std::sort(want.v6.begin(), want.v6.end());
    want.v6.erase(std::unique(want.v6.begin(), want.v6.end()), want.v6.end());
  }
  // Hosts of the previous call that are gone must stop resolving.
  for (const auto& [host, ips] : records_) expected.emplace(host, Expected{});
  records_ = host_to_ips;

  // Atomically: dnsmasq must never read a half-written file.
  const std::string temp = hosts_path_ + ".new";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      ADD_FAILURE() << "Dnsmasq::SetRecords: cannot write " << temp;
      return;
    }
  }
  chmod(temp.c_str(), 0644);
  if (rename(temp.c_str(), hosts_path_.c_str()) != 0) {
    ADD_FAILURE() << "Dnsmasq::SetRecords: rename " << temp << ": "
                  << ErrnoText(errno);
    return;
  }
  kill(pid_, SIGHUP);  // dnsmasq re-reads --addn-hosts files

  std::string difference;
  const bool updated = WaitFor(
      [&] {
        for (const auto& [host, want] : expected) {
          if (!Matches(port_, host, want, &difference)) return false;
        }
        return true;
      },
      kUpdateTimeout);
  if (!updated) {
    ADD_FAILURE() << "Dnsmasq::SetRecords: " << Describe()
                  << " did not answer the new records within "
                  << kUpdateTimeout.count() << " s: " << difference
                  << "\nits log:\n"
                  << LogTail();
  }
}

void Dnsmasq::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  KillAndReap();
}

bool Dnsmasq::Restart() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!Exited()) return true;
  return Start(local_ttl_seconds_, extra_args_, port_);
}

void Dnsmasq::KillAndReap() {
  if (reaped_ || pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (true) {
    int status = 0;
    const pid_t got = waitpid(pid_, &status, 0);
    if (got < 0 && errno == EINTR) continue;
    reaped_ = true;
    wait_status_ = got == pid_ ? status : -1;
    return;
  }
}

bool Dnsmasq::Exited() {
  if (reaped_) return true;
  int status = 0;
  const pid_t got = waitpid(pid_, &status, WNOHANG);
  if (got == pid_ && (WIFEXITED(status) || WIFSIGNALED(status))) {
    reaped_ = true;
    wait_status_ = status;
  } else if (got < 0 && errno == ECHILD) {
    reaped_ = true;  // reaped elsewhere
    wait_status_ = -1;
  }
  return reaped_;
}

std::string Dnsmasq::Describe() const {
  std::string text = "dnsmasq pid " + std::to_string(pid_) + " on " + server_;
  if (reaped_) {
    if (wait_status_ != -1 && WIFEXITED(wait_status_)) {
      text +=
          ", exited with status " + std::to_string(WEXITSTATUS(wait_status_));
    } else if (wait_status_ != -1 && WIFSIGNALED(wait_status_)) {
      text += ", killed by signal " + std::to_string(WTERMSIG(wait_status_)) +
              " (" + strsignal(WTERMSIG(wait_status_)) + ")";
    } else {
      text += ", reaped elsewhere";
    }
  }
  return text;
}

std::string Dnsmasq::LogTail() const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string log = buffer.str();
  constexpr size_t kMax = 4000;
  if (log.size() > kMax) log = "..." + log.substr(log.size() - kMax);
  return log.empty() ? "(empty)" : log;
}

}  // namespace testing
}  // namespace warm
