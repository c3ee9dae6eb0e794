#include "src/tls/rotation.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace warm {
namespace internal {

TlsRotation::TlsRotation(TlsMaterial initial, WallTime loaded_at)
    : material_(std::move(initial)),
      seen_(material_.stamps),
      last_reload_at_(loaded_at) {}

TlsRotation::Decision TlsRotation::OnRead(const std::vector<FileStamp>& stamps,
                                          absl::StatusOr<TlsMaterial> loaded,
                                          WallTime now) {
  Decision decision;
  if (!loaded.ok()) {
    if (stamps != failing_) {
      failing_ = stamps;
      failure_reported_ = false;
      return decision;  // look again next interval
    }
    if (loaded.status().code() == absl::StatusCode::kInvalidArgument) {
      seen_ = stamps;
    }
    if (failure_reported_) return decision;
    failure_reported_ = true;
    ++reloads_failed_;
    last_error_ = std::string(loaded.status().message());
    last_error_at_ = now;
    decision.kind = Decision::Kind::kReportFailure;
    decision.detail =
        absl::StrCat(last_error_, "; still using the files read ",
                     FormatDuration(now - last_reload_at_), " ago");
    return decision;
  }
  seen_ = loaded->stamps;
  failing_.clear();
  failure_reported_ = false;
  last_error_.clear();
  material_ = *std::move(loaded);
  ++generation_;
  ++reloads_ok_;
  last_reload_at_ = now;
  decision.kind = Decision::Kind::kReloaded;
  decision.detail = absl::StrCat(
      "new TLS files in use",
      material_.subject.empty()
          ? std::string()
          : absl::StrCat(" (certificate ", material_.subject, ")"));
  return decision;
}

}  // namespace internal
}  // namespace warm
