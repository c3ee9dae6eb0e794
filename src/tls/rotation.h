// TlsRotation: when a channel takes new TLS files into use, and what it says
// when it cannot.
//
// Pure logic, like DnsRefresh: the pool reads the files (StampTlsFiles,
// LoadTlsMaterial in src/tls/tls.h) every reload_interval and passes what it
// read, with the time; this decides. Rules:
//   - Files whose stamps equal the last ones read are not read again.
//   - A good new set replaces the material in use (a new generation: the
//     pool opens new members with it and recycles the rest).
//   - A bad set is reported only once it has stayed as it is for a whole
//     interval: files caught mid-rotation (a certificate renamed in before
//     its key, a chain written block by block) look bad for a moment. It is
//     reported once; the old material stays in use meanwhile.
//   - Malformed files (InvalidArgument) wait for a change; files unusable for
//     now (a certificate not valid yet: FailedPrecondition) are read again
//     every interval.
//
// Thread safety: none; the pool calls it under its mutex.

#ifndef WARM_SRC_TLS_ROTATION_H_
#define WARM_SRC_TLS_ROTATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/time.h"
#include "src/tls/tls.h"

namespace warm {
namespace internal {

class TlsRotation {
 public:
  struct Decision {
    enum class Kind {
      kNone,           // nothing to do (same files, or failure not settled)
      kReloaded,       // material() is new: use it, recycle old members
      kReportFailure,  // the files stayed bad: report `detail`, once
    };
    Kind kind = Kind::kNone;
    std::string detail;  // for the event
  };

  // `initial`: the material read and checked at creation, at `loaded_at`.
  TlsRotation(TlsMaterial initial, WallTime loaded_at);

  // Whether files with these stamps must be read (they changed since the
  // last read that counts).
  bool NeedsRead(const std::vector<FileStamp>& stamps) const {
    return stamps != seen_;
  }
  // Passed to LoadTlsMaterial(): files that chained to the CA must go on
  // doing so.
  bool must_chain_to_ca() const { return material_.chains_to_ca; }

  // What the pool read at `now`: the stamps it read them by, and the result.
  Decision OnRead(const std::vector<FileStamp>& stamps,
                  absl::StatusOr<TlsMaterial> loaded, WallTime now);

  const TlsMaterial& material() const { return material_; }
  // Counts good reloads: members record the generation they opened with.
  uint64_t generation() const { return generation_; }
  uint64_t reloads_ok() const { return reloads_ok_; }
  uint64_t reloads_failed() const { return reloads_failed_; }
  // Since the last good reload ("" / epoch when none).
  const std::string& last_error() const { return last_error_; }
  WallTime last_error_at() const { return last_error_at_; }
  WallTime last_reload_at() const { return last_reload_at_; }

 private:
  TlsMaterial material_;
  std::vector<FileStamp> seen_;     // no need to read these again
  std::vector<FileStamp> failing_;  // bad when last read
  bool failure_reported_ = false;   // ... and reported
  uint64_t generation_ = 0;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
  std::string last_error_;
  WallTime last_error_at_{};
  WallTime last_reload_at_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_TLS_ROTATION_H_
