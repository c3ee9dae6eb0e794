#include "tests/testing/net_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace warm {
namespace testing {
namespace {

// 10.213.N.0/24, N = 0..255: one /24 per NetHost.
constexpr char kSubnetPrefix[] = "10.213.";
constexpr int kSubnets = 256;
// Held while subnets are chosen and stale hosts swept, by every process.
constexpr char kLockFile[] = "/run/warm-net-host.lock";
constexpr std::chrono::seconds kLockTimeout{60};
// The veth ends: "wm<pid>-<n>" in the root namespace (at most 15
// characters, as interface names must be), "eth0" inside (its names are
// private to the namespace).
constexpr char kNamespacePrefix[] = "warm-";  // "warm-<pid>-<n>"
constexpr char kHostVethPrefix[] = "wm";
constexpr char kNamespaceVeth[] = "eth0";
constexpr char kFaultTable[] = "warm_fault";
constexpr char kNoIp[] = "no ip command: install Debian's package iproute2";
constexpr char kNoNft[] = "no nft command: install Debian's package nftables";

std::string ErrnoText(int error) { return std::strerror(error); }

// The absolute path of `tool` in the usual system directories; "" if none.
std::string FindTool(const std::string& tool) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const std::string path = std::string(dir) + "/" + tool;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

const std::string& IpPath() {
  static const std::string* path = new std::string(FindTool("ip"));
  return *path;
}

const std::string& NftPath() {
  static const std::string* path = new std::string(FindTool("nft"));
  return *path;
}

// Runs `args` (args[0] found by FindTool() or absolute) and returns its
// stdout; an error naming the command and what it printed unless it exits 0.
absl::StatusOr<std::string> Command(std::vector<std::string> args,
                                    const std::string& stdin_path = "") {
  const std::string text = absl::StrJoin(args, " ");
  if (args[0] == "ip") args[0] = IpPath();
  if (args[0].empty()) {
    return absl::FailedPreconditionError(std::string(kNoIp) + ": " + text);
  }
  SubprocessOptions options;
  options.stdin_path = stdin_path;
  options.separate_stderr = true;
  absl::StatusOr<CommandResult> result =
      RunCommand(args, NetHost::kCommandTimeout, options);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        "`" + text + "`: " + result.status().ToString());
  }
  if (result->exit_code != 0) {
    return absl::InternalError("`" + text + "` exited with status " +
                               std::to_string(result->exit_code) + ": " +
                               Tail(result->error_output + result->output));
  }
  return result->output;
}

// An exclusive flock() on kLockFile, shared by every process; released on
// destruction.
class HostLock {
 public:
  static absl::StatusOr<std::unique_ptr<HostLock>> Acquire() {
    const int fd = open(kLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::FailedPreconditionError(std::string("open ") + kLockFile +
                                           ": " + ErrnoText(errno));
    }
    // Bounded: every holder runs bounded commands only.
    if (!WaitFor([fd] { return flock(fd, LOCK_EX | LOCK_NB) == 0; },
                 kLockTimeout)) {
      close(fd);
      return absl::DeadlineExceededError(
          std::string("flock ") + kLockFile + " not acquired within " +
          std::to_string(kLockTimeout.count()) + " s");
    }
    return std::unique_ptr<HostLock>(new HostLock(fd));
  }
  ~HostLock() { close(fd_); }  // releases the flock

  HostLock(const HostLock&) = delete;
  HostLock& operator=(const HostLock&) = delete;

 private:
  explicit HostLock(int fd) : fd_(fd) {}
  const int fd_;
};

// The pid in a name "<prefix><pid>-<n>"; 0 when `name` is not of that form.
pid_t PidIn(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return 0;
  const std::vector<absl::string_view> parts = absl::StrSplit(name, '-');
  int pid = 0, n = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pid) ||
      !absl::SimpleAtoi(parts[1], &n) || pid <= 0) {
    return 0;
  }
  return pid;
}

bool PidGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// The interface names `ip -o link show` lists ("5: wm12-0@if2: <..." ->
// "wm12-0").
absl::StatusOr<std::vector<std::string>> LinkNames() {
  absl::StatusOr<std::string> out = Command({"ip", "-o", "link", "show"});
  if (!out.ok()) return out.status();
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::MaxSplits(": ", 2));
    if (fields.size() < 2) continue;
    names.emplace_back(fields[1].substr(0, fields[1].find('@')));
  }
  return names;
}

// Best effort, under the HostLock: deletes namespaces and root-side veths
// left by NetHosts of processes that are gone (a test killed at its
// timeout). A veth goes with its namespace, but not at once: it is deleted
// by name too, so that its subnet is free right away.
void SweepStale() {
  if (DIR* dir = opendir("/run/netns")) {
    std::vector<std::string> stale;
    while (dirent* entry = readdir(dir)) {
      const pid_t pid = PidIn(entry->d_name, kNamespacePrefix);
      if (pid != 0 && pid != getpid() && PidGone(pid)) {
        stale.push_back(entry->d_name);
      }
    }
    closedir(dir);
    for (const std::string& name : stale) {
      (void)Command({"ip", "netns", "delete", name});
    }
  }
  absl::StatusOr<std::vector<std::string>> links = LinkNames();
  if (!links.ok()) return;
  for (const std::string& link : *links) {
    const pid_t pid = PidIn(link, kHostVethPrefix);
    if (pid != 0 && pid != getpid() && PidGone(pid)) {
      (void)Command({"ip", "link", "delete", link});
    }
  }
}

// The N of every 10.213.N.x address on an interface of the root namespace.
absl::StatusOr<std::set<int>> SubnetsInUse() {
  absl::StatusOr<std::string> out = Command({"ip", "-4", "-o", "addr", "show"});
  if (!out.ok()) return out.status();
  std::set<int> used;
  const std::string marker = std::string("inet ") + kSubnetPrefix;
  for (size_t at = out->find(marker); at != std::string::npos;
       at = out->find(marker, at + 1)) {
    const size_t start = at + marker.size();
    const size_t dot = out->find('.', start);
    int n = 0;
    if (dot != std::string::npos &&
        absl::SimpleAtoi(absl::string_view(*out).substr(start, dot - start),
                         &n)) {
      used.insert(n);
    }
  }
  return used;
}

}  // namespace

std::string NetHost::SkipReason() {
  static const std::string* reason = [] {
    if (geteuid() != 0) {
      return new std::string(
          "not root: network namespaces (ip netns) need root");
    }
    if (IpPath().empty()) return new std::string(kNoIp);
    if (NftPath().empty()) return new std::string(kNoNft);
    absl::StatusOr<std::unique_ptr<NetHost>> probe = Create();
    absl::Status status = probe.status();
    if (status.ok()) status = (*probe)->Partition();
    if (status.ok()) status = (*probe)->Clear();
    return new std::string(
        status.ok() ? "" : "cannot make a NetHost: " + status.ToString());
  }();
  return *reason;
}

NetHost::NetHost(std::string name, std::string host_veth, int subnet, int ns_fd)
    : name_(std::move(name)),
      host_veth_(std::move(host_veth)),
      address_(kSubnetPrefix + std::to_string(subnet) + ".2"),
      host_address_(kSubnetPrefix + std::to_string(subnet) + ".1"),
      ns_fd_(ns_fd) {}

absl::StatusOr<std::unique_ptr<NetHost>> NetHost::Create() {
  if (IpPath().empty()) return absl::FailedPreconditionError(kNoIp);
  static std::atomic<int> next{0};
  const std::string suffix =
      std::to_string(getpid()) + "-" + std::to_string(next++);
  const std::string name = kNamespacePrefix + suffix;
  const std::string host_veth = kHostVethPrefix + suffix;  // <= 15 chars
  if (host_veth.size() > 15) {
    return absl::ResourceExhaustedError("veth name " + host_veth +
                                        " is longer than 15 characters");
  }

  absl::StatusOr<std::unique_ptr<HostLock>> lock = HostLock::Acquire();
  if (!lock.ok()) return lock.status();
  SweepStale();
  absl::StatusOr<std::set<int>> used = SubnetsInUse();
  if (!used.ok()) return used.status();
  int subnet = 0;
  while (subnet < kSubnets && used->count(subnet)) ++subnet;
  if (subnet == kSubnets) {
    return absl::ResourceExhaustedError(std::string("every subnet ") +
                                        kSubnetPrefix + "N.0/24 is in use");
  }
  const std::string prefix = kSubnetPrefix + std::to_string(subnet) + ".";

  if (absl::StatusOr<std::string> added = Command({"ip", "netns", "add", name});
      !added.ok()) {
    return added.status();
  }
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "add", host_veth, "type", "veth", "peer", "name",
       kNamespaceVeth, "netns", name},
      {"ip", "addr", "add", prefix + "1/24", "dev", host_veth},
      {"ip", "link", "set", host_veth, "up"},
      {"ip", "-n", name, "addr", "add", prefix + "2/24", "dev", kNamespaceVeth},
      {"ip", "-n", name, "link", "set", kNamespaceVeth, "up"},
      {"ip", "-n", name, "link", "set", "lo", "up"},
  };
  absl::Status status;
  for (const auto& step : steps) {
    if (absl::StatusOr<std::string> done = Command(step); !done.ok()) {
      status = done.status();
      break;
    }
  }
  int ns_fd = -1;
  if (status.ok()) {
    const std::string path = "/run/netns/" + name;
    ns_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) {
      status = absl::InternalError("open " + path + ": " + ErrnoText(errno));
    }
  }
  if (!status.ok()) {
    (void)Command({"ip", "link", "delete", host_veth});
    (void)Command({"ip", "netns", "delete", name});
    return status;
  }
  return std::unique_ptr<NetHost>(new NetHost(name, host_veth, subnet, ns_fd));
}

NetHost::~NetHost() {
  std::vector<absl::Status> errors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    errors.push_back(ApplyLocked("", ""));
  }
  close(ns_fd_);
  // Deleting one end deletes both, at once; the namespace alone would take
  // its veth along only once the kernel gets round to it.
  errors.push_back(Command({"ip", "link", "delete", host_veth_}).status());
  errors.push_back(Command({"ip", "netns", "delete", name_}).status());
  for (const absl::Status& error : errors) {
    if (!error.ok()) std::cerr << "~NetHost " << name_ << ": " << error << "\n";
  }
}

NetHost::Server::Server(std::unique_ptr<Subprocess> process, int stdin_fd,
                        int port, std::string address)
    : process_(std::move(process)),
      stdin_fd_(stdin_fd),
      port_(port),
      address_(std::move(address)) {}

NetHost::Server::~Server() {
  close(stdin_fd_);  // end of input: the server shuts down and exits
  (void)process_->Wait(std::chrono::steady_clock::now() + kServerExitTimeout);
}

absl::StatusOr<std::unique_ptr<NetHost::Server>> NetHost::StartServer(
    const std::vector<std::string>& argv,
    std::chrono::milliseconds timeout) const {
  if (argv.empty()) return absl::InvalidArgumentError("StartServer: no argv");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError("StartServer: pipe2: " + ErrnoText(errno));
  }
  // Subprocess opens its stdin by path; the pipe's read end has one.
  SubprocessOptions options;
  options.stdin_path = "/proc/self/fd/" + std::to_string(pipe_fds[0]);
  options.separate_stderr = true;  // stdout: the PORT line only
  std::vector<std::string> args = {IpPath(), "netns", "exec", name_};
  args.insert(args.end(), argv.begin(), argv.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(args, options);
  close(pipe_fds[0]);
  if (!process.ok()) {
    close(pipe_fds[1]);
    return process.status();
  }
  const std::string what = "`" + absl::StrJoin(args, " ") + "`";
  int port = 0;
  auto printed_port = [&] {
    const std::string out = (*process)->output();
    const size_t at = out.find("PORT ");
    const size_t end = out.find('\n', at);
    return at != std::string::npos && end != std::string::npos &&
           absl::SimpleAtoi(out.substr(at + 5, end - at - 5), &port);
  };
  std::string problem;
  if (!WaitFor([&] { return printed_port() || (*process)->Exited(); },
               timeout)) {
    problem =
        "printed no port within " + std::to_string(timeout.count()) + " ms";
  } else if (port == 0 || (*process)->Exited()) {
    problem = "exited: " + (*process)->Describe();
  }
  if (!problem.empty()) {
    close(pipe_fds[1]);
    (*process)->Kill();
    return absl::UnavailableError(what + " " + problem + "; stdout:\n" +
                                  Tail((*process)->output()) + "\nstderr:\n" +
                                  Tail((*process)->error_output()));
  }
  return std::unique_ptr<Server>(
      new Server(*std::move(process), pipe_fds[1], port,
                 address_ + ":" + std::to_string(port)));
}

absl::Status NetHost::Run(const std::function<void()>& fn) const {
  absl::Status status;
  std::thread thread([&] {
    if (setns(ns_fd_, CLONE_NEWNET) != 0) {
      status = absl::InternalError("setns into network namespace " + name_ +
                                   ": " + ErrnoText(errno));
      return;
    }
    fn();
  });
  thread.join();
  return status;
}

absl::Status NetHost::ApplyLocked(const std::string& input_rules,
                                  const std::string& output_rules) {
  if (NftPath().empty()) return absl::FailedPreconditionError(kNoNft);
  // One transaction: declaring the table first makes the delete succeed
  // when there is no fault yet.
  std::string ruleset = std::string("table inet ") + kFaultTable +
                        "\ndelete table inet " + kFaultTable + "\n";
  if (!input_rules.empty() || !output_rules.empty()) {
    ruleset += std::string("table inet ") + kFaultTable +
               " {\n"
               "  chain input {\n"
               "    type filter hook input priority filter; policy accept;\n"
               "    iif \"lo\" accept\n" +
               input_rules +
               "  }\n"
               "  chain output {\n"
               "    type filter hook output priority filter; policy accept;\n"
               "    oif \"lo\" accept\n" +
               output_rules +
               "  }\n"
               "}\n";
  }
  absl::StatusOr<TempDir> dir = TempDir::Create("net-host");
  if (!dir.ok()) return dir.status();
  const std::string file = dir->File("fault.nft");
  if (absl::Status written = WriteFile(file, ruleset); !written.ok()) {
    return written;
  }
  return Command({"ip", "netns", "exec", name_, NftPath(), "-f", "-"}, file)
      .status();
}

absl::Status NetHost::Partition() {
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyLocked("    drop\n", "    drop\n");
}

absl::Status NetHost::Loss(int percent) {
  if (percent < 0 || percent > 100) {
    return absl::InvalidArgumentError("Loss(" + std::to_string(percent) +
                                      "): not a percentage from 0 to 100");
  }
  // numgen's "mod 100" values are 0..99: "< 100" is out of its range.
  const std::string rule = percent == 100
                               ? "    drop\n"
                               : "    numgen random mod 100 < " +
                                     std::to_string(percent) + " drop\n";
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyLocked(rule, rule);
}

absl::Status NetHost::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyLocked("    meta l4proto tcp reject with tcp reset\n", "");
}

absl::Status NetHost::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  return ApplyLocked("", "");
}

}  // namespace testing
}  // namespace warm
