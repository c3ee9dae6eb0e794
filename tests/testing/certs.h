// Certificates for TLS tests, made in-process with OpenSSL 3 (no `openssl`
// command): a CA, intermediate CAs, server and client leaves, expired and
// not-yet-valid ones, and bad material (a key that matches no certificate, a
// file that is no PEM at all, a PEM cut short); plus CertDir, a directory of
// certificate files that tests replace atomically or leave half-written.
//
// Keys are EC P-256 unless asked otherwise (RSA 2048 takes far longer to
// make); certificates are X.509 v3, SHA-256, with random 128-bit serials:
//   CA:     basicConstraints critical CA:TRUE, keyUsage critical
//           keyCertSign+cRLSign, subject key identifier.
//   leaves: basicConstraints critical CA:FALSE, keyUsage critical
//           digitalSignature (+keyEncipherment for RSA), extendedKeyUsage
//           serverAuth and/or clientAuth, subjectAltName, subject and
//           authority key identifiers.
// Subjects are just "CN=<common_name>". PEM text is what OpenSSL writes:
// "-----BEGIN CERTIFICATE-----" and unencrypted PKCS#8
// "-----BEGIN PRIVATE KEY-----".
//
// Thread safety: the functions may be called from any thread; a CertDir is a
// value like TempDir (one writer at a time per file name).

#ifndef WARM_TESTS_TESTING_CERTS_H_
#define WARM_TESTS_TESTING_CERTS_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/temp_dir.h"

namespace warm {
namespace testing {

// A certificate and its private key, PEM. For an intermediate CA's leaves,
// `cert` may be the chain (leaf first): see MakeLeaf().
struct Pem {
  std::string cert;
  std::string key;
};

enum class KeyType { kEcP256, kRsa2048 };

// extendedKeyUsage of a leaf.
enum class Usage { kServer, kClient, kServerAndClient };

// Default validity: from an hour ago (tolerates clock skew) for a day.
inline constexpr std::chrono::seconds kDefaultNotBefore{-3600};
inline constexpr std::chrono::seconds kDefaultNotAfter{24 * 3600};

// The names every server certificate from MakeServerCert() holds, so that a
// client may dial any test backend host by IP or use "localhost" or
// "backend.test" as the TLS target name (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG).
inline const std::vector<std::string>& DefaultServerDnsSans() {
  static const auto* const kSans =
      new std::vector<std::string>{"localhost", "backend.test"};
  return *kSans;
}
inline const std::vector<std::string>& DefaultServerIpSans() {
  static const auto* const kSans = new std::vector<std::string>{
      "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"};
  return *kSans;
}

// A self-signed root CA. Offsets are from now; negative ones lie in the past.
absl::StatusOr<Pem> MakeCa(
    const std::string& common_name,
    std::chrono::seconds not_before_offset = kDefaultNotBefore,
    std::chrono::seconds not_after_offset = kDefaultNotAfter,
    KeyType key_type = KeyType::kEcP256);

// An intermediate CA signed by `issuer` (whose `cert` must be the issuing
// certificate alone, or a chain that starts with it). The returned `cert` is
// the intermediate alone; append issuer.cert for a chain.
absl::StatusOr<Pem> MakeIntermediateCa(
    const Pem& issuer, const std::string& common_name,
    std::chrono::seconds not_before_offset = kDefaultNotBefore,
    std::chrono::seconds not_after_offset = kDefaultNotAfter);

// A leaf signed by `issuer` (the first certificate of issuer.cert signs).
// `dns_sans` and `ip_sans` ("127.0.0.2", "::1") go into subjectAltName (none:
// no SAN extension). Offsets are from now: not_after_offset < 0 makes an
// expired certificate, not_before_offset > 0 one not valid yet. With
// `append_issuer_chain`, `cert` is the leaf followed by issuer.cert (what a
// server or client behind an intermediate CA presents); otherwise the leaf
// alone.
absl::StatusOr<Pem> MakeLeaf(
    const Pem& issuer, const std::string& common_name,
    const std::vector<std::string>& dns_sans,
    const std::vector<std::string>& ip_sans,
    std::chrono::seconds not_before_offset = kDefaultNotBefore,
    std::chrono::seconds not_after_offset = kDefaultNotAfter,
    Usage usage = Usage::kServerAndClient, KeyType key_type = KeyType::kEcP256,
    bool append_issuer_chain = false);

// A server leaf (serverAuth) with DefaultServerDnsSans() and
// DefaultServerIpSans().
absl::StatusOr<Pem> MakeServerCert(
    const Pem& issuer, const std::string& common_name = "backend.test",
    std::chrono::seconds not_before_offset = kDefaultNotBefore,
    std::chrono::seconds not_after_offset = kDefaultNotAfter);

// A client leaf (clientAuth) with no SAN; the server sees `common_name`.
absl::StatusOr<Pem> MakeClientCert(
    const Pem& issuer, const std::string& common_name,
    std::chrono::seconds not_before_offset = kDefaultNotBefore,
    std::chrono::seconds not_after_offset = kDefaultNotAfter);

// --- Bad material ---

// A fresh private key (PEM) that matches no certificate made before: pair it
// with a Pem's cert for "key does not match certificate".
absl::StatusOr<std::string> MakeUnrelatedKey(
    KeyType key_type = KeyType::kEcP256);

// A leaf for `common_name` (serverAuth and clientAuth, the default server
// SANs) signed by a throwaway CA of its own: "not signed by our CA".
absl::StatusOr<Pem> MakeLeafOfUnknownCa(const std::string& common_name);

// Text that is no PEM and no DER of anything (and holds a NUL byte).
std::string GarbageFile();

// `pem` (one PEM block: a certificate or a key) with its base64 body cut to
// half, the BEGIN and END lines kept: it base64-decodes but the DER inside is
// truncated, so it does not parse. The input unchanged if it has no body.
std::string TruncatePemBody(const std::string& pem);

// --- Inspection (for tests that check what a file holds) ---

// The subject CN of the first certificate in `cert_pem`.
absl::StatusOr<std::string> CertCommonName(const std::string& cert_pem);
// Whether `key_pem` is the private key of the first certificate in
// `cert_pem` (X509_check_private_key); an error when either does not parse.
absl::StatusOr<bool> KeyMatchesCert(const std::string& cert_pem,
                                    const std::string& key_pem);
// Verifies the first certificate of `cert_pem` against the trust anchors in
// `ca_pem`, with the further certificates of `cert_pem` as untrusted
// intermediates, at the current time (X509_verify_cert, default purpose).
// OK, or an error naming OpenSSL's reason ("certificate has expired").
absl::Status VerifyCert(const std::string& cert_pem, const std::string& ca_pem);

// --- Files ---

// Paths of a certificate file and its key file.
struct PemFiles {
  std::string cert;
  std::string key;
};

// A TempDir of certificate files. Write() replaces a file atomically (a
// temporary file in the same directory, then rename(2): readers see the old
// or the new contents, never a mix; the path gets a new inode). WriteInPlace()
// and WritePartial() truncate and rewrite the file itself (same inode), as an
// editor or `cp` would, for tests of readers that catch a file half-written.
class CertDir {
 public:
  // A new directory "$TMPDIR/warm-<prefix>-XXXXXX".
  static absl::StatusOr<CertDir> Create(const std::string& prefix = "certs");

  const std::string& path() const { return dir_.path(); }
  // path() + "/" + name.
  std::string File(const std::string& name) const { return dir_.File(name); }

  // Writes `contents` to File(name) atomically; returns the path.
  absl::StatusOr<std::string> Write(const std::string& name,
                                    const std::string& contents);
  // Writes pem.cert to "<stem>.crt" and pem.key to "<stem>.key", each
  // atomically (the certificate first; a reader between the two renames sees
  // a new certificate with the old key).
  absl::StatusOr<PemFiles> WritePem(const std::string& stem, const Pem& pem);
  // Truncates File(name) in place and writes `contents`; returns the path.
  absl::StatusOr<std::string> WriteInPlace(const std::string& name,
                                           const std::string& contents);
  // Truncates File(name) in place and writes only the first `bytes` bytes of
  // `contents` (all of it if shorter): the file as a reader sees it in the
  // middle of a non-atomic write. Returns the path.
  absl::StatusOr<std::string> WritePartial(const std::string& name,
                                           const std::string& contents,
                                           size_t bytes);
  // Removes File(name).
  absl::Status Remove(const std::string& name);

 private:
  explicit CertDir(TempDir dir) : dir_(std::move(dir)) {}

  TempDir dir_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_CERTS_H_
