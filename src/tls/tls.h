// TLS material for member connections: PEM files read and checked with
// OpenSSL, turned into gRPC credentials, and watched for changes.
//
// warm reads the files itself rather than using gRPC's file-watching
// certificate provider: the provider swaps material in on its own schedule,
// without validation warm can report and without telling the pool, which
// must recycle its members onto the new certificate. Here a new set of files
// is used only once it parses, the key matches the certificate, the
// certificate is within its validity period and chains to the CA; otherwise
// the old material stays and the error is reported.
//
// Nothing here keeps or prints key material: errors name files and reasons,
// facts are the certificate's subject, issuer and validity.
//
// Thread safety: free functions, no shared state.

#ifndef WARM_SRC_TLS_TLS_H_
#define WARM_SRC_TLS_TLS_H_

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "warm/options.h"

namespace warm {
namespace internal {

// What identifies one version of a file on disk (a rename, a rewrite in
// place, a touch or a chmod all change it). stat() follows symlinks, so a
// Kubernetes secret's "..data" swap shows too.
struct FileStamp {
  bool exists = false;
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileStamp& other) const;
  bool operator!=(const FileStamp& other) const { return !(*this == other); }
};

// The stamps of the files TlsOptions names (ca, cert, key; "" files skipped).
std::vector<FileStamp> StampTlsFiles(const TlsOptions& options);

struct TlsMaterial {
  std::string root_pem;  // "" = gRPC's default roots
  std::string cert_pem;  // leaf first, then intermediates; "" = no identity
  std::string key_pem;
  // The client certificate, for diagnostics ("" / epoch without one).
  std::string subject;
  std::string issuer;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;  // clamped to 2255
  // The certificate chain verifies against ca_file.
  bool chains_to_ca = false;
  std::vector<FileStamp> stamps;  // of the files as read
};

// Reads and checks the files of `options` at time `now`. Every problem is
// reported at once, each naming its file: InvalidArgument when a file cannot
// be read or parsed or the key does not match the certificate,
// FailedPrecondition when the files are well-formed but unusable now (a
// certificate expired or not yet valid, or not chaining to the CA). With
// `must_chain_to_ca` (the files in use did) the chain must verify against
// ca_file even when it names another issuer.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(
    const TlsOptions& options, std::chrono::system_clock::time_point now,
    bool must_chain_to_ca = false);

std::shared_ptr<grpc::ChannelCredentials> MakeTlsCredentials(
    const TlsMaterial& material);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_TLS_TLS_H_
