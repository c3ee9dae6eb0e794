// Subprocess: an external program (a tool such as promtool, Prometheus or
// Chromium) in a child process of the test, and RunCommand() for short tools.
//
// The child's stdin is a file or /dev/null; its stdout and stderr go to files
// in a directory of its own (output(), error_output()), so a chatty child
// never blocks on a full pipe and its output can be read at any time, e.g.
// for a failure message. Every wait is bounded: Wait() kills a child that has
// not exited by its deadline.
//
// The child dies with the test: it asks the kernel for SIGKILL when the
// thread that started it exits (PR_SET_PDEATHSIG), so start a Subprocess on a
// thread that outlives it, such as the test's own. It leads a process group
// of its own, and Kill() and the destructor kill the whole group, as does the
// reaping of a child that exited by itself: helper processes it left behind
// (Chromium's renderers and zygotes) do not outlive it.
//
// Between fork() and exec() the child makes only async-signal-safe calls
// (everything it needs is prepared before fork()), so starting one from a
// multi-threaded test, and under ThreadSanitizer, is safe.
//
// Thread safety: all methods may be called from any thread. pid() and
// Describe() never block; Kill() and the destructor wait only for a SIGKILLed
// child to die.

#ifndef WARM_TESTS_TESTING_SUBPROCESS_H_
#define WARM_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/temp_dir.h"

namespace warm {
namespace testing {

struct SubprocessOptions {
  // The child's stdin: this file, or /dev/null when empty.
  std::string stdin_path;
  // Whether stderr goes to a file of its own (error_output()) instead of
  // joining stdout in output(): for tools that print a result on stdout and
  // noise on stderr.
  bool separate_stderr = false;
  // "NAME=VALUE" entries that replace or extend the test's environment.
  std::vector<std::string> environment;
};

class Subprocess {
 public:
  // Starts `argv` (argv[0]: an absolute path; no PATH search) and returns
  // once it runs the new program. An error when it cannot: e.g. NotFound for
  // a missing binary (see CheckExecutable() for a better message).
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv,
      const SubprocessOptions& options = {});

  // Kill(), then removes the output files.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Whether the child has exited; reaps it (and kills its process group) if
  // so. Never blocks.
  bool Exited();

  // Waits until the child exits or `deadline` passes. Returns its exit code
  // (128 + the signal number when a signal killed it, as a shell does); on
  // timeout kills it and returns DeadlineExceeded with its output.
  absl::StatusOr<int> Wait(std::chrono::steady_clock::time_point deadline);

  // SIGKILL to the child's process group, and reaps the child.
  void Kill();

  // Everything the child wrote so far to stdout (and stderr, unless
  // SubprocessOptions::separate_stderr).
  std::string output() const;
  // What it wrote to stderr with SubprocessOptions::separate_stderr; empty
  // otherwise.
  std::string error_output() const;

  // "/usr/bin/promtool pid 1234" and, when reaped, how it ended.
  std::string Describe() const;
  // The temporary directory of its output files, removed by the destructor:
  // for a process that must _exit() without running it.
  const std::string& dir() const { return dir_.path(); }

 private:
  Subprocess(TempDir dir, std::string program, bool separate_stderr)
      : dir_(std::move(dir)),
        program_(std::move(program)),
        separate_stderr_(separate_stderr) {}

  // Reaps the exited child after killing what is left of its group. Requires
  // mu_.
  void ReapLocked(bool block);
  // The exit code of a reaped child. Requires mu_.
  int ExitCodeLocked() const;

  TempDir dir_;  // output files
  const std::string program_;
  const bool separate_stderr_;
  pid_t pid_ = -1;

  mutable std::mutex mu_;
  bool reaped_ = false;
  int wait_status_ = 0;  // from waitpid() once reaped_; -1: reaped elsewhere
};

// What RunCommand() saw.
struct CommandResult {
  int exit_code = 0;  // as Subprocess::Wait() returns it
  std::string output;
  std::string error_output;  // with SubprocessOptions::separate_stderr
};

// Runs `argv` to its end and returns its exit code and output, whatever the
// exit code. An error when it cannot start or runs longer than `timeout`
// (then it is killed; the message has its output).
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         std::chrono::milliseconds timeout,
                                         const SubprocessOptions& options = {});

// OK when `path` is an executable file; otherwise FailedPrecondition naming
// the Debian package that installs it ("install Debian's package
// prometheus"): tests fail, rather than skip, without their tools.
absl::Status CheckExecutable(const std::string& path,
                             const std::string& debian_package);

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_SUBPROCESS_H_
