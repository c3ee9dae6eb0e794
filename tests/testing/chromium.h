// Chromium: Debian's headless Chromium (package chromium) for tests of the
// HTML pages a test's server serves: the DOM a browser builds from a page,
// and a screenshot of it.
//
// Each call runs /usr/bin/chromium --headless once, with a new empty profile
// (--user-data-dir) and HOME in a temporary directory removed afterwards, and
// with every background service that would reach the network turned off
// (this machine has none but 127.0.0.1). It is bounded by a timeout, and an
// error carries Chromium's output. Chromium dies with the test (see
// Subprocess, tests/testing/subprocess.h).
//
// Thread safety: stateless; calls may run concurrently.

#ifndef WARM_TESTS_TESTING_CHROMIUM_H_
#define WARM_TESTS_TESTING_CHROMIUM_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warm {
namespace testing {

class Chromium {
 public:
  static constexpr char kBinary[] = "/usr/bin/chromium";
  static constexpr char kPackage[] = "chromium";
  static constexpr std::chrono::seconds kTimeout{60};

  // The DOM Chromium built from `url` once it loaded (and ran the page's
  // scripts), serialized as HTML (--dump-dom). `extra_args` are added to
  // Chromium's command line (e.g. "--virtual-time-budget=5000" to let timers
  // run). An error when Chromium is missing (naming the package), fails,
  // prints nothing, or runs longer than `timeout`.
  static absl::StatusOr<std::string> DumpDom(
      const std::string& url, std::chrono::milliseconds timeout = kTimeout,
      const std::vector<std::string>& extra_args = {});

  // Writes a `width` x `height` PNG screenshot of `url` to `png_path`
  // (creating its directory; replacing an older file). An error when Chromium
  // is missing, fails, writes no PNG, or runs longer than `timeout`.
  static absl::Status Screenshot(
      const std::string& url, const std::string& png_path, int width,
      int height, std::chrono::milliseconds timeout = kTimeout,
      const std::vector<std::string>& extra_args = {});

 private:
  struct Run {
    int exit_code = 0;
    std::string output;        // stdout
    std::string error_output;  // stderr
    std::string description;   // the command line, for messages
  };
  // Runs Chromium on `url` with `args` (after the fixed flags).
  static absl::StatusOr<Run> RunChromium(const std::string& url,
                                         const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout);
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_CHROMIUM_H_
