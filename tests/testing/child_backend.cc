#include "tests/testing/child_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#ifndef WARM_TEST_BACKEND_PATH
#error "WARM_TEST_BACKEND_PATH must name the warm_test_backend binary"
#endif

namespace warm {
namespace testing {
namespace {

// The fd the child reports an exec() failure on (close-on-exec, so a
// successful exec closes it and the parent reads end of file).
constexpr int kExecErrorFd = 3;

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

std::string ErrnoText(int error) { return std::strerror(error); }

const char* HealthFlag(ChildBackend::Health health) {
  switch (health) {
    case ChildBackend::Health::kServing:
      return "serving";
    case ChildBackend::Health::kNotServing:
      return "not_serving";
    case ChildBackend::Health::kNone:
      return "none";
  }
  return "serving";
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Reports a ChildBackend that cannot start and aborts the test binary (a test
// cannot go on without its backend). stdout is flushed first: gtest prints the
// failure there, and abort() does not flush.
[[noreturn]] void StartFailure(const std::string& message) {
  ADD_FAILURE() << message;
  std::cerr << "ChildBackend: " << message << std::endl;
  std::fflush(stdout);
  std::abort();
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void ExecChild(int stdin_read, int stdout_write, int error_write,
                            char* const argv[]) {
  // Defaults back: the parent ignores SIGPIPE and may block signals.
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Move the three fds above 2 first, so that the dup2()s below cannot
  // clobber one another whatever numbers pipe2() returned.
  stdin_read = fcntl(stdin_read, F_DUPFD_CLOEXEC, kExecErrorFd);
  stdout_write = fcntl(stdout_write, F_DUPFD_CLOEXEC, kExecErrorFd);
  error_write = fcntl(error_write, F_DUPFD_CLOEXEC, kExecErrorFd);
  if (stdin_read < 0 || stdout_write < 0 || error_write < 0 ||
      dup2(stdin_read, STDIN_FILENO) < 0 ||
      dup2(stdout_write, STDOUT_FILENO) < 0 ||
      dup2(error_write, kExecErrorFd) < 0 ||
      fcntl(kExecErrorFd, F_SETFD, FD_CLOEXEC) < 0) {
    _exit(127);
  }
  // Close everything else, e.g. sockets another thread of the test opened
  // without close-on-exec yet: a listening socket kept open in the child
  // would keep accepting connections after the test closed it.
  if (syscall(SYS_close_range, kExecErrorFd + 1, ~0U, 0) != 0) {
    for (int fd = kExecErrorFd + 1; fd < 65536; ++fd) close(fd);
  }
  execv(argv[0], argv);
  const int error = errno;
  ssize_t ignored = write(kExecErrorFd, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

}  // namespace

ChildBackend::ChildBackend(const std::string& host, Health health)
    : ChildBackend(host, health, 0) {}

ChildBackend::ChildBackend(const std::string& host, Health health, int port) {
  IgnoreSigpipeOnce();

  std::vector<std::string> args = {WARM_TEST_BACKEND_PATH,
                                   "--host",
                                   host,
                                   "--port",
                                   std::to_string(port),
                                   "--health",
                                   HealthFlag(health)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int stdin_pipe[2], stdout_pipe[2], error_pipe[2];
  if (pipe2(stdin_pipe, O_CLOEXEC) != 0 || pipe2(stdout_pipe, O_CLOEXEC) != 0 ||
      pipe2(error_pipe, O_CLOEXEC) != 0) {
    StartFailure("pipe2: " + ErrnoText(errno));
  }
  pid_ = fork();
  if (pid_ < 0) StartFailure("fork: " + ErrnoText(errno));
  if (pid_ == 0) {
    ExecChild(stdin_pipe[0], stdout_pipe[1], error_pipe[1], argv.data());
  }
  close(stdin_pipe[0]);
  close(stdout_pipe[1]);
  close(error_pipe[1]);
  stdin_fd_ = stdin_pipe[1];
  stdout_fd_ = stdout_pipe[0];
  // A stopped child must not make a command write block.
  fcntl(stdin_fd_, F_SETFL, fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);

  std::lock_guard<std::mutex> lock(mu_);
  auto fail = [&](const std::string& message) {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      WaitForChild(0);
    }
    const std::string description = Describe();
    CloseFd(&stdin_fd_);
    CloseFd(&stdout_fd_);
    StartFailure("warm_test_backend (" + description +
                 ") did not start: " + message);
  };

  // End of file once exec() succeeded; errno when it failed.
  int exec_error = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n > 0) {
    fail(std::string("cannot execute ") + WARM_TEST_BACKEND_PATH + ": " +
         ErrnoText(exec_error));
  }

  std::string line, error;
  if (!ReadLine(kStartTimeout, &line, &error)) fail(error);
  if (line.rfind("PORT ", 0) != 0) fail("unexpected output '" + line + "'");
  port_ = std::atoi(line.c_str() + 5);
  if (port_ <= 0) fail("bad port in '" + line + "'");
  address_ = host + ":" + std::to_string(port_);
}

ChildBackend::~ChildBackend() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!reaped_) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    WaitForChild(0);
  }
  CloseFd(&stdin_fd_);
  CloseFd(&stdout_fd_);
}

void ChildBackend::SetServing(bool serving, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string command = serving ? "serving" : "not_serving";
  if (reaped_) {
    ADD_FAILURE() << "ChildBackend::SetServing(" << command
                  << "): the child is dead: " << Describe();
    return;
  }
  const std::string text = command + "\n";
  ssize_t n;
  do {
    n = write(stdin_fd_, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(text.size())) {
    // EPIPE: the child closed its stdin, i.e. died. EAGAIN: a stopped child
    // left many commands unread.
    ADD_FAILURE() << "ChildBackend::SetServing(" << command
                  << "): cannot send the command to " << Describe() << ": "
                  << (n < 0 ? ErrnoText(errno) : "short write");
    return;
  }
  ++unanswered_;

  // Replies come in command order; earlier unanswered commands answer first.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (unanswered_ > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::string line, error;
    if (!ReadLine(std::max(left, std::chrono::milliseconds(0)), &line,
                  &error)) {
      ADD_FAILURE() << "ChildBackend::SetServing(" << command
                    << "): " << Describe() << " did not answer within "
                    << timeout.count() << " ms"
                    << (stopped_ ? " (it is stopped)" : "") << ": " << error;
      return;
    }
    --unanswered_;
    if (line != "OK") {
      ADD_FAILURE() << "ChildBackend::SetServing(" << command
                    << "): unexpected reply '" << line << "' from "
                    << Describe();
      return;
    }
  }
}

void ChildBackend::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reaped_) {
    ADD_FAILURE() << "ChildBackend::Stop(): the child is dead: " << Describe();
    return;
  }
  if (stopped_) return;
  kill(pid_, SIGSTOP);
  WaitForChild(WUNTRACED);
  if (reaped_) {
    ADD_FAILURE() << "ChildBackend::Stop(): the child died: " << Describe();
  }
}

void ChildBackend::Continue() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reaped_) {
    ADD_FAILURE() << "ChildBackend::Continue(): the child is dead: "
                  << Describe();
    return;
  }
  if (!stopped_) return;
  kill(pid_, SIGCONT);
  WaitForChild(WCONTINUED);
  if (reaped_) {
    ADD_FAILURE() << "ChildBackend::Continue(): the child died: " << Describe();
  }
}

void ChildBackend::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reaped_) return;
  kill(pid_, SIGKILL);
  WaitForChild(0);
}

void ChildBackend::WaitForChild(int options) {
  while (true) {
    int status = 0;
    const pid_t got = waitpid(pid_, &status, options);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN).
      reaped_ = true;
      wait_status_ = -1;  // neither exited nor signaled: "reaped elsewhere"
      stopped_ = false;
      return;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      reaped_ = true;
      wait_status_ = status;
      stopped_ = false;
      return;
    }
    if (WIFSTOPPED(status)) {
      stopped_ = true;
      if (options & WUNTRACED) return;
    } else if (WIFCONTINUED(status)) {
      stopped_ = false;
      if (options & WCONTINUED) return;
    }
  }
}

bool ChildBackend::ReadLine(std::chrono::milliseconds timeout,
                            std::string* line, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      *line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd fd = {stdout_fd_, POLLIN, 0};
    const int ready =
        poll(&fd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      *error = "poll: " + ErrnoText(errno);
      return false;
    }
    if (ready == 0) {
      *error = "nothing to read before the deadline";
      return false;
    }
    char chunk[256];
    const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "read: " + ErrnoText(errno);
      return false;
    }
    if (n == 0) {
      // The child closed its stdout: it is exiting. Reap it if it has.
      if (!reaped_) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_ &&
            (WIFEXITED(status) || WIFSIGNALED(status))) {
          reaped_ = true;
          wait_status_ = status;
        }
      }
      *error = "its output ended (" + Describe() + ")";
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::string ChildBackend::Describe() const {
  std::string text = "pid " + std::to_string(pid_);
  if (!address_.empty()) text += " at " + address_;
  if (reaped_) {
    if (WIFEXITED(wait_status_)) {
      text +=
          ", exited with status " + std::to_string(WEXITSTATUS(wait_status_));
    } else if (WIFSIGNALED(wait_status_)) {
      text += ", killed by signal " + std::to_string(WTERMSIG(wait_status_)) +
              " (" + strsignal(WTERMSIG(wait_status_)) + ")";
    } else {
      text += ", reaped elsewhere";
    }
  } else if (stopped_) {
    text += ", stopped";
  }
  return text;
}

}  // namespace testing
}  // namespace warm
