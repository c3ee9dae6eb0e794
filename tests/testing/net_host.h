// NetHost: a simulated host with a network of its own, for tests and
// benchmarks that need real network faults (a partition, packet loss, TCP
// resets) between a client and one backend, where loopback can only kill or
// hang a process.
//
// One NetHost is one network namespace, "warm-<pid>-<n>", joined to the
// test's own (root) namespace by a veth pair on a /24 of its own,
// 10.213.N.0/24: the root side is 10.213.N.1 (host_address()), the namespace
// side 10.213.N.2 (address()). A server started inside the namespace
// (StartServer()) listens on address() and is reached from the root
// namespace over the veth pair, as another machine would be. N is chosen under
// an flock() on /run/warm-net-host.lock among the /24s that no interface in the
// root namespace uses, so test processes running at the same time (ctest -j)
// get distinct subnets; Create() also deletes what a killed test process left
// behind (namespaces and veths of pids that are no longer alive).
//
// Faults are nftables rules in a table of the namespace's own ("inet
// warm_fault", input and output hooks; the root namespace's rules are never
// touched). Each fault replaces the previous one atomically (one nft
// transaction); Clear() removes it. Loopback traffic inside the namespace is
// never filtered.
//
// Needs root, `ip` (iproute2) and `nft` (nftables); SkipReason() says why a
// NetHost cannot be made here, for GTEST_SKIP(). Every command's failure comes
// back as a Status naming the command and what it printed.
//
// gRPC servers go in a process of their own inside the namespace
// (StartServer(): `ip netns exec NAME server...`), not on a thread of the
// test that joined it (Run()). gRPC's threads are shared by every server and
// client of a process, and a thread inherits the namespace of the thread that
// creates it: a server built on a joined thread starts threads (sync server
// pollers, the callback completion queue's threads, and with the first gRPC
// use of the process gRPC's own executor and timers) that live in the
// namespace, and those threads also run the process's client work, including
// connect(). Measured with gRPC 1.51 (TestBackend and BenchBackend built in
// Run(), round_robin and warm channels calling them from the root
// namespace): from the first calls on, client connections were made inside
// the namespace, to the server over its loopback (so faults missed them),
// and connections to another NetHost failed with "Network is unreachable".
// Run() remains for code that makes its sockets on the calling thread and
// starts no threads.
//
// Thread safety: all methods may be called from any thread except from inside
// a Run() function (the `ip` commands must run in the root namespace); the
// fault methods serialize on an internal mutex. name(), address(),
// host_address() and host_veth() never block. Destroy a NetHost's servers
// before the NetHost.

#ifndef WARM_TESTS_TESTING_NET_HOST_H_
#define WARM_TESTS_TESTING_NET_HOST_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"

namespace warm {
namespace testing {

class NetHost {
 public:
  // How long one `ip` or `nft` command may take.
  static constexpr std::chrono::seconds kCommandTimeout{20};

  // "" when NetHosts can be made here; otherwise why not ("not root: ...",
  // "no nft command: install Debian's package nftables", "cannot make a
  // NetHost: ... `ip netns add warm-1234-0` exited with status 1: ...").
  // Found out once per process, by making and removing a namespace with a
  // veth pair and a fault.
  static std::string SkipReason();

  // A new namespace with its veth pair up and addressed, and `lo` up inside.
  static absl::StatusOr<std::unique_ptr<NetHost>> Create();

  // Removes the fault and the namespace with its veth pair; errors are
  // written to stderr (a destructor cannot return them).
  ~NetHost();

  NetHost(const NetHost&) = delete;
  NetHost& operator=(const NetHost&) = delete;

  // The namespace's name, "warm-1234-0" (`ip netns exec NAME ...`).
  const std::string& name() const { return name_; }
  // The namespace side of the veth pair, "10.213.7.2": where a server in the
  // namespace listens and clients in the root namespace connect to.
  const std::string& address() const { return address_; }
  // The root side, "10.213.7.1": where connections from the root namespace
  // come from.
  const std::string& host_address() const { return host_address_; }
  // The veth end in the root namespace, "wm1234-0" (the other end, inside,
  // is "eth0").
  const std::string& host_veth() const { return host_veth_; }

  // A server in a process of its own in the namespace, started by
  // StartServer(). Destroying it closes its stdin, waits up to
  // kServerExitTimeout for it to exit, then kills it.
  class Server {
   public:
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // The port it printed, and "10.213.7.2:PORT" (the NetHost's address()).
    int port() const { return port_; }
    const std::string& address() const { return address_; }
    // The process, e.g. for its stderr in a failure message.
    Subprocess& process() { return *process_; }

   private:
    friend class NetHost;
    Server(std::unique_ptr<Subprocess> process, int stdin_fd, int port,
           std::string address);

    std::unique_ptr<Subprocess> process_;
    int stdin_fd_;  // the write end of the child's stdin
    int port_;
    std::string address_;
  };
  static constexpr std::chrono::seconds kServerStartTimeout{30};
  static constexpr std::chrono::seconds kServerExitTimeout{10};

  // Runs `argv` (argv[0]: an absolute path) in the namespace, `ip netns exec
  // NAME argv...`, with a pipe as its stdin that stays open until the Server
  // is destroyed, and waits up to `timeout` for it to print a line "PORT <n>"
  // on stdout: the protocol of warm_test_backend
  // (tests/testing/backend_main.cc), which exits at the end of its stdin.
  // The server should listen on address(). As any Subprocess, it is killed
  // when the thread that started it exits: start it on a thread that
  // outlives it. An error with its output when it exits or prints no port
  // in time.
  absl::StatusOr<std::unique_ptr<Server>> StartServer(
      const std::vector<std::string>& argv,
      std::chrono::milliseconds timeout = kServerStartTimeout) const;

  // Runs `fn` on a new thread that has joined the namespace
  // (setns(CLONE_NEWNET)), and waits for it to return. An error, and `fn`
  // not run, when the thread cannot join. Not for gRPC servers (see above).
  absl::Status Run(const std::function<void()>& fn) const;

  // Faults. Each replaces the one before.
  // Every packet in and out is dropped: connections hang, new ones time out.
  absl::Status Partition();
  // Each packet is dropped with probability `percent` / 100, independently,
  // in each direction (so a round trip is lost more often: with 10 %, 19 %).
  // 0..100.
  absl::Status Loss(int percent);
  // Every TCP packet arriving is answered with a RST (nft `reject with tcp
  // reset`): an established connection is reset as soon as the client sends
  // on it (or acknowledges what the server sent), new connections are
  // refused. The server's own sockets are not told.
  absl::Status Reset();
  // No fault.
  absl::Status Clear();

 private:
  NetHost(std::string name, std::string host_veth, int subnet, int ns_fd);

  // Makes the fault table's input and output chains these rules (nft
  // syntax, a rule a line), replacing any fault before; both empty: no
  // fault table at all. Requires mu_.
  absl::Status ApplyLocked(const std::string& input_rules,
                           const std::string& output_rules);

  const std::string name_;       // the namespace
  const std::string host_veth_;  // the veth end in the root namespace
  const std::string address_;
  const std::string host_address_;
  const int ns_fd_;  // /run/netns/<name_>, for setns()

  std::mutex mu_;  // serializes faults
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_NET_HOST_H_
