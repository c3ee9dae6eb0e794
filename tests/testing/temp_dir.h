// TempDir: a fresh directory for one fixture's files, removed with everything
// in it when the TempDir is destroyed; and small whole-file helpers.
//
// The directory is "$TMPDIR/warm-<prefix>-XXXXXX" (/tmp without TMPDIR), mode
// 0755 so that a child process running as another user could read it.
//
// Thread safety: a TempDir is a value; its methods never block.

#ifndef WARM_TESTS_TESTING_TEMP_DIR_H_
#define WARM_TESTS_TESTING_TEMP_DIR_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warm {
namespace testing {

class TempDir {
 public:
  // Creates a new directory; `prefix` names its owner ("prometheus").
  static absl::StatusOr<TempDir> Create(const std::string& prefix);

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Removes the directory and everything in it (errors ignored).
  ~TempDir();

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}

  std::string path_;  // empty once moved from
};

// Replaces the file at `path` with `contents`.
absl::Status WriteFile(const std::string& path, const std::string& contents);
// The whole file at `path`.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// At most the last `max_chars` characters of `text`, "..." marking a cut, and
// "(empty)" for nothing: for logs in failure messages.
std::string Tail(const std::string& text, size_t max_chars = 4000);

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_TEMP_DIR_H_
