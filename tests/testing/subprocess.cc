#include "tests/testing/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "tests/testing/wait.h"

extern char** environ;

namespace warm {
namespace testing {
namespace {

// The fd the child reports an exec() failure on (close-on-exec, so a
// successful exec closes it and the parent reads end of file).
constexpr int kExecErrorFd = 3;

constexpr char kStdoutFile[] = "stdout";
constexpr char kStderrFile[] = "stderr";

std::string ErrnoText(int error) { return std::strerror(error); }

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// The fds the child gets as 0, 1, 2 and kExecErrorFd; -1 when not open.
struct ChildFds {
  int in = -1;
  int out = -1;
  int err = -1;
  int exec_error = -1;

  ~ChildFds() {
    CloseFd(&in);
    CloseFd(&out);
    if (err != out) CloseFd(&err);
    CloseFd(&exec_error);
  }
};

// The test's environment with `overrides` ("NAME=VALUE") replacing or
// extending it.
std::vector<std::string> Environment(
    const std::vector<std::string>& overrides) {
  std::vector<std::string> result;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string name = text.substr(0, text.find('='));
    bool replaced = false;
    for (const std::string& replacement : overrides) {
      if (replacement.compare(0, name.size() + 1, name + "=") == 0) {
        replaced = true;
      }
    }
    if (!replaced) result.push_back(text);
  }
  result.insert(result.end(), overrides.begin(), overrides.end());
  return result;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void ExecChild(pid_t parent, const ChildFds& fds,
                            char* const argv[], char* const envp[]) {
  // SIGKILL when the starting thread exits; if the parent died before
  // prctl(), nobody would ever kill us. A group of our own, for Kill().
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent ||
      setpgid(0, 0) != 0) {
    _exit(127);
  }
  // Defaults back: the test may ignore some (SIGPIPE) or block signals, and
  // ignored signals stay ignored across exec().
  for (const int signal_number :
       {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
    signal(signal_number, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Above kExecErrorFd first, so that the dup2()s below cannot clobber one
  // another whatever numbers the fds had (a test run with stdin closed gets
  // fd 0).
  const int in = fcntl(fds.in, F_DUPFD_CLOEXEC, kExecErrorFd + 1);
  const int out = fcntl(fds.out, F_DUPFD_CLOEXEC, kExecErrorFd + 1);
  const int err = fcntl(fds.err, F_DUPFD_CLOEXEC, kExecErrorFd + 1);
  const int exec_error =
      fcntl(fds.exec_error, F_DUPFD_CLOEXEC, kExecErrorFd + 1);
  if (in < 0 || out < 0 || err < 0 || exec_error < 0 ||
      dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
      dup2(err, STDERR_FILENO) < 0 || dup2(exec_error, kExecErrorFd) < 0 ||
      fcntl(kExecErrorFd, F_SETFD, FD_CLOEXEC) < 0) {
    _exit(127);
  }
  // Close everything else, e.g. sockets another thread of the test opened
  // without close-on-exec: a listening socket kept open in the child would
  // keep accepting connections after the test closed it.
  if (syscall(SYS_close_range, kExecErrorFd + 1, ~0U, 0) != 0) {
    for (int fd = kExecErrorFd + 1; fd < 65536; ++fd) close(fd);
  }
  execve(argv[0], argv, envp);
  const int error = errno;
  ssize_t ignored = write(kExecErrorFd, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, const SubprocessOptions& options) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return absl::InvalidArgumentError(
        "Subprocess::Start: argv[0] must be an absolute path, not '" +
        (argv.empty() ? std::string() : argv[0]) + "'");
  }
  absl::StatusOr<TempDir> dir = TempDir::Create("subprocess");
  if (!dir.ok()) return dir.status();
  std::unique_ptr<Subprocess> process(
      new Subprocess(*std::move(dir), argv[0], options.separate_stderr));

  // Everything the child needs, prepared before fork().
  std::vector<std::string> args = argv;
  std::vector<std::string> environment = Environment(options.environment);
  const std::vector<char*> arg_pointers = Pointers(args);
  const std::vector<char*> env_pointers = Pointers(environment);
  ChildFds fds;
  const std::string in_path =
      options.stdin_path.empty() ? "/dev/null" : options.stdin_path;
  fds.in = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fds.in < 0) {
    return absl::NotFoundError("Subprocess::Start: open " + in_path + ": " +
                               ErrnoText(errno));
  }
  const std::string out_path = process->dir_.File(kStdoutFile);
  fds.out =
      open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  fds.err = fds.out;
  if (fds.out >= 0 && options.separate_stderr) {
    const std::string err_path = process->dir_.File(kStderrFile);
    fds.err =
        open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fds.out < 0 || fds.err < 0) {
    return absl::InternalError("Subprocess::Start: cannot create files in " +
                               process->dir_.path() + ": " + ErrnoText(errno));
  }
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError("Subprocess::Start: pipe2: " + ErrnoText(errno));
  }
  fds.exec_error = error_pipe[1];

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(error_pipe[0]);
    return absl::InternalError("Subprocess::Start: fork: " + ErrnoText(errno));
  }
  if (pid == 0)
    ExecChild(parent, fds, arg_pointers.data(), env_pointers.data());
  process->pid_ = pid;
  CloseFd(&fds.exec_error);

  // End of file once exec() succeeded; errno when it failed.
  int exec_error = 0;
  ssize_t n;
  do {
    n = read(error_pipe[0], &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n > 0) {
    process->Kill();
    const std::string message = "Subprocess::Start: cannot execute " + argv[0] +
                                ": " + ErrnoText(exec_error);
    return exec_error == ENOENT ? absl::NotFoundError(message)
                                : absl::FailedPreconditionError(message);
  }
  return process;
}

Subprocess::~Subprocess() { Kill(); }

bool Subprocess::Exited() {
  std::lock_guard<std::mutex> lock(mu_);
  ReapLocked(/*block=*/false);
  return reaped_;
}

absl::StatusOr<int> Subprocess::Wait(
    std::chrono::steady_clock::time_point deadline) {
  const auto start = std::chrono::steady_clock::now();
  const auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start);
  if (WaitFor([this] { return Exited(); },
              std::max(timeout, std::chrono::milliseconds(0)))) {
    std::lock_guard<std::mutex> lock(mu_);
    return ExitCodeLocked();
  }
  Kill();
  std::string message = Describe() + " did not exit within " +
                        std::to_string(timeout.count()) +
                        " ms and was killed; its output:\n" + Tail(output());
  if (separate_stderr_) message += "\nits stderr:\n" + Tail(error_output());
  return absl::DeadlineExceededError(message);
}

void Subprocess::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reaped_ || pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);  // should the group be gone already
  ReapLocked(/*block=*/true);
}

void Subprocess::ReapLocked(bool block) {
  if (reaped_ || pid_ <= 0) return;
  // WNOWAIT: the exited child stays a zombie, so its pid, and so its process
  // group's id, cannot be reused before its group is killed.
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  int result;
  do {
    result = waitid(P_PID, static_cast<id_t>(pid_), &info,
                    WEXITED | WNOWAIT | (block ? 0 : WNOHANG));
  } while (result < 0 && errno == EINTR);
  if (result < 0) {
    // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN).
    reaped_ = true;
    wait_status_ = -1;
    return;
  }
  if (info.si_pid != pid_) return;  // WNOHANG: still running
  kill(-pid_, SIGKILL);             // helpers it left behind
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  reaped_ = true;
  wait_status_ = got == pid_ ? status : -1;
}

int Subprocess::ExitCodeLocked() const {
  if (wait_status_ != -1 && WIFEXITED(wait_status_)) {
    return WEXITSTATUS(wait_status_);
  }
  if (wait_status_ != -1 && WIFSIGNALED(wait_status_)) {
    return 128 + WTERMSIG(wait_status_);
  }
  return -1;
}

std::string Subprocess::output() const {
  absl::StatusOr<std::string> text = ReadFile(dir_.File(kStdoutFile));
  return text.ok() ? *text : text.status().ToString();
}

std::string Subprocess::error_output() const {
  if (!separate_stderr_) return "";
  absl::StatusOr<std::string> text = ReadFile(dir_.File(kStderrFile));
  return text.ok() ? *text : text.status().ToString();
}

std::string Subprocess::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string text = program_ + " pid " + std::to_string(pid_);
  if (!reaped_) return text;
  if (wait_status_ != -1 && WIFEXITED(wait_status_)) {
    return text + ", exited with status " +
           std::to_string(WEXITSTATUS(wait_status_));
  }
  if (wait_status_ != -1 && WIFSIGNALED(wait_status_)) {
    return text + ", killed by signal " +
           std::to_string(WTERMSIG(wait_status_)) + " (" +
           strsignal(WTERMSIG(wait_status_)) + ")";
  }
  return text + ", reaped elsewhere";
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         std::chrono::milliseconds timeout,
                                         const SubprocessOptions& options) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(argv, options);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> exit_code = (*process)->Wait(deadline);
  if (!exit_code.ok()) return exit_code.status();
  CommandResult result;
  result.exit_code = *exit_code;
  result.output = (*process)->output();
  result.error_output = (*process)->error_output();
  return result;
}

absl::Status CheckExecutable(const std::string& path,
                             const std::string& debian_package) {
  struct stat info;
  std::string problem;
  if (stat(path.c_str(), &info) != 0) {
    problem = ErrnoText(errno);
  } else if (!S_ISREG(info.st_mode)) {
    problem = "not a regular file";
  } else if (access(path.c_str(), X_OK) != 0) {
    problem = ErrnoText(errno);
  } else {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      path + " cannot be run (" + problem + "): install Debian's package " +
      debian_package + " (apt-get install " + debian_package + ")");
}

}  // namespace testing
}  // namespace warm
