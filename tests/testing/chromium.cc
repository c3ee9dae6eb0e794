#include "tests/testing/chromium.h"

#include <filesystem>
#include <memory>
#include <system_error>

#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace warm {
namespace testing {
namespace {

// What headless Chromium prints on stderr when the page did not load
// (e.g. "Page load failed: net::ERR_CONNECTION_REFUSED"); it still exits 0.
constexpr char kLoadFailed[] = "Page load failed";

constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";

// Chromium's stderr for messages: without its complaints about the missing
// D-Bus (dozens of lines on every run here), and with a line telling the
// page did not load first.
std::string Stderr(const std::string& text) {
  std::string failure, kept;
  int dropped = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    const std::string line = text.substr(start, end - start);
    start = end;
    if (line.find("dbus/") != std::string::npos) {
      ++dropped;
    } else {
      kept += line;
      if (failure.empty() && line.find(kLoadFailed) != std::string::npos) {
        failure = line;
      }
    }
  }
  if (dropped > 0) {
    kept += "(and " + std::to_string(dropped) + " lines about D-Bus)\n";
  }
  return failure + Tail(kept);
}

}  // namespace

absl::StatusOr<Chromium::Run> Chromium::RunChromium(
    const std::string& url, const std::vector<std::string>& args,
    std::chrono::milliseconds timeout) {
  if (absl::Status status = CheckExecutable(kBinary, kPackage); !status.ok()) {
    return status;
  }
  absl::StatusOr<TempDir> home = TempDir::Create("chromium");
  if (!home.ok()) return home.status();
  std::vector<std::string> argv = {
      kBinary,
      "--headless",
      // As root, and in containers without user namespaces.
      "--no-sandbox",
      "--disable-gpu",
      // Nothing but the page: no background services reaching the network.
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--user-data-dir=" + home->File("profile"),
  };
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  std::string description;
  for (const std::string& arg : argv) {
    description += (description.empty() ? "" : " ") + arg;
  }

  SubprocessOptions options;
  options.separate_stderr = true;
  // Chromium writes below HOME and the XDG directories even with a profile
  // of its own; keep that in the temporary directory too.
  options.environment = {"HOME=" + home->path(),
                         "XDG_CONFIG_HOME=" + home->File(".config"),
                         "XDG_CACHE_HOME=" + home->File(".cache")};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(argv, options);
  if (!process.ok()) {
    return absl::Status(
        process.status().code(),
        description + ": " + std::string(process.status().message()));
  }
  const absl::StatusOr<int> exit_code = (*process)->Wait(deadline);
  Run run{exit_code.ok() ? *exit_code : -1, (*process)->output(),
          (*process)->error_output(), description};
  if (!exit_code.ok()) {
    return absl::DeadlineExceededError(
        description + ": " + (*process)->Describe() +
        " did not finish within " + std::to_string(timeout.count()) +
        " ms; its stderr:\n" + Stderr(run.error_output) + "\nits stdout:\n" +
        Tail(run.output));
  }
  if (run.exit_code != 0 ||
      run.error_output.find(kLoadFailed) != std::string::npos) {
    return absl::UnavailableError(
        description + " failed (exit code " + std::to_string(run.exit_code) +
        "); its stderr:\n" + Stderr(run.error_output) + "\nits stdout:\n" +
        Tail(run.output));
  }
  return run;
}

absl::StatusOr<std::string> Chromium::DumpDom(
    const std::string& url, std::chrono::milliseconds timeout,
    const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"--dump-dom"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<Run> run = RunChromium(url, args, timeout);
  if (!run.ok()) return run.status();
  if (run->output.empty()) {
    return absl::UnavailableError(run->description +
                                  " printed no DOM; its stderr:\n" +
                                  Stderr(run->error_output));
  }
  return run->output;
}

absl::Status Chromium::Screenshot(const std::string& url,
                                  const std::string& png_path, int width,
                                  int height, std::chrono::milliseconds timeout,
                                  const std::vector<std::string>& extra_args) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError("Chromium::Screenshot: bad size " +
                                      std::to_string(width) + "x" +
                                      std::to_string(height));
  }
  std::error_code error;
  const std::filesystem::path path(png_path);
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), error);
  }
  std::filesystem::remove(path, error);  // no stale screenshot
  std::vector<std::string> args = {
      "--screenshot=" + png_path,
      "--window-size=" + std::to_string(width) + "," + std::to_string(height),
      "--hide-scrollbars",
  };
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<Run> run = RunChromium(url, args, timeout);
  if (!run.ok()) return run.status();
  absl::StatusOr<std::string> png = ReadFile(png_path);
  if (!png.ok() || png->compare(0, sizeof(kPngMagic) - 1, kPngMagic) != 0) {
    return absl::UnavailableError(
        run->description + " wrote no PNG to " + png_path + " (" +
        (png.ok() ? "not a PNG" : png.status().ToString()) +
        "); its output:\n" + Tail(run->output) + "\nits stderr:\n" +
        Stderr(run->error_output));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace warm
