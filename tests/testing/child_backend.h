// ChildBackend: a real gRPC backend in a child process, for tests that need to
// hang a backend (SIGSTOP), kill it (SIGKILL) or switch its grpc.health.v1
// serving status.
//
// The child runs the warm_test_backend binary (tests/testing/backend_main.cc):
// a TestBackend serving warm.testing.EchoTest and, unless Health::kNone, the
// standard grpc.health.v1 service. ChildBackend talks to it over pipes on its
// stdin and stdout. Every wait is bounded: a child that does not start, or does
// not answer a command because it is stopped or dead, fails the test with a
// message rather than hanging it.
//
// The child dies with the test: it exits at end of stdin (the parent's end of
// the pipe closes when the parent dies) and asks the kernel for SIGKILL when
// the parent thread that created it exits (PR_SET_PDEATHSIG). So create a
// ChildBackend on a thread that outlives it, such as the test's own thread.
//
// SIGPIPE: the first ChildBackend sets SIGPIPE to SIG_IGN in the whole test
// process, once, so that a command written to a dead child fails the test
// (write() returns EPIPE) instead of killing the test binary. The child gets
// the default disposition back before exec.
//
// Thread safety: all methods may be called from any thread; they serialize on
// an internal mutex, so a call may wait for another's deadline (SetServing()
// waits up to 10 s for an answer). address(), port() and pid() never block.

#ifndef WARM_TESTS_TESTING_CHILD_BACKEND_H_
#define WARM_TESTS_TESTING_CHILD_BACKEND_H_

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>

namespace warm {
namespace testing {

class ChildBackend {
 public:
  // The initial grpc.health.v1 status; kNone: no health service at all (its
  // calls answer UNIMPLEMENTED).
  enum class Health { kServing, kNotServing, kNone };

  // How long the child may take to start listening, and to answer a command.
  static constexpr std::chrono::seconds kStartTimeout{30};
  static constexpr std::chrono::seconds kCommandTimeout{10};

  // Starts the child, listening on `host` ("127.0.0.2") and a free port, and
  // waits until it serves. Fails the test and aborts the test binary when it
  // does not start within kStartTimeout.
  explicit ChildBackend(const std::string& host,
                        Health health = Health::kServing);
  // The same on `port` (0: a free one), e.g. to restart a killed backend
  // where its clients expect it (gRPC servers bind with SO_REUSEADDR, so the
  // port is free again once the old child is reaped).
  ChildBackend(const std::string& host, Health health, int port);
  // Kills the child (even when stopped) and reaps it.
  ~ChildBackend();

  ChildBackend(const ChildBackend&) = delete;
  ChildBackend& operator=(const ChildBackend&) = delete;

  // "127.0.0.2:41234".
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sets the overall ("") and every named service's health status, and waits
  // until the child confirms. Fails the test (non-fatally) when the child does
  // not confirm within `timeout`: stopped, dead, or serving without health.
  // A command the child did not confirm in time is still carried out if the
  // child is continued, before any later command.
  void SetServing(bool serving,
                  std::chrono::milliseconds timeout = kCommandTimeout);

  // SIGSTOP: the child hangs, as does every call to it, until Continue().
  // Returns once the kernel reports the child stopped.
  void Stop();
  // SIGCONT; returns once the kernel reports the child running again.
  void Continue();
  // SIGKILL, and waits for the child to die: its connections close and its
  // port refuses connections. Later commands fail the test.
  void Kill();

 private:
  // Waits for the child's state change `options` (WUNTRACED, WCONTINUED or 0
  // for death); records a death. Requires mu_.
  void WaitForChild(int options);
  // Reads one line from the child's stdout within `timeout`. False, with
  // `error` set, on timeout, end of output or a read error. Requires mu_.
  bool ReadLine(std::chrono::milliseconds timeout, std::string* line,
                std::string* error);
  // "pid 1234 (127.0.0.2:41234)" and, when reaped, how it ended.
  std::string Describe() const;

  std::string address_;
  int port_ = 0;
  pid_t pid_ = -1;

  mutable std::mutex mu_;
  int stdin_fd_ = -1;   // the child's stdin (we write commands)
  int stdout_fd_ = -1;  // the child's stdout (we read replies)
  std::string buffer_;  // read from stdout_fd_, not yet a whole line
  bool stopped_ = false;
  bool reaped_ = false;
  int wait_status_ = 0;  // from waitpid() once reaped_
  // Commands sent whose "OK" has not been read yet.
  int unanswered_ = 0;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_CHILD_BACKEND_H_
