#include "src/tls/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warm {
namespace internal {
namespace {

using SystemTime = std::chrono::system_clock::time_point;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

constexpr size_t kMaxFileBytes = 1 << 20;

// OpenSSL's reason for the last error, and clears its queue.
std::string OpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string reason = code == 0 ? "unknown error" : "";
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : absl::StrCat("error ", code);
  }
  ERR_clear_error();
  return reason;
}

// Reads a whole regular file of at most 1 MiB; a problem ("cannot read:
// No such file or directory") otherwise. A FIFO or a device (a mistake, or
// /dev/zero) is refused rather than waited on or read forever.
bool ReadFile(const std::string& path, std::string& out, std::string& error) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    error = absl::StrCat("cannot read: ", std::strerror(errno));
    return false;
  }
  if (!S_ISREG(info.st_mode)) {
    error = "is not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = absl::StrCat("cannot read: ", std::strerror(errno));
    return false;
  }
  // Read in blocks rather than into a buffer of the limit's size: a PEM file
  // is a few KiB, and zero-filling 1 MiB for each of three files on every
  // reload_interval of every channel is wasted.
  out.clear();
  char block[16 * 1024];
  errno = 0;
  while (in.read(block, sizeof(block)) || in.gcount() > 0) {
    out.append(block, static_cast<size_t>(in.gcount()));
    if (out.size() > kMaxFileBytes) {
      error = "larger than 1 MiB: not a PEM file";
      return false;
    }
  }
  // The loop also ends on a read error (EIO), not only at the end: that is
  // an error, not a file that happens to end there. A partial certificate
  // would be reported as "does not parse", a partial chain not at all.
  if (in.bad()) {
    const int read_errno = errno;
    error =
        absl::StrCat("cannot read: ",
                     read_errno != 0 ? std::strerror(read_errno) : "read error",
                     " (after ", out.size(), " bytes)");
    out.clear();
    return false;
  }
  return true;
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of a PEM file, or a problem.
std::vector<X509Ptr> ParseCertificates(const std::string& pem,
                                       std::string& error) {
  std::vector<X509Ptr> certs;
  size_t expected = 0;
  for (size_t at = pem.find("-----BEGIN CERTIFICATE-----");
       at != std::string::npos;
       at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++expected;
  }
  if (expected == 0) {
    error = "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
    return certs;
  }
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  for (size_t i = 0; i < expected; ++i) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) {
      error = absl::StrCat("certificate ", i + 1, " of ", expected,
                           " does not parse: ", OpenSslError());
      certs.clear();
      return certs;
    }
    certs.push_back(std::move(cert));
  }
  return certs;
}

int NoPassword(char*, int, int, void*) { return 0; }

PkeyPtr ParseKey(const std::string& pem, std::string& error) {
  ERR_clear_error();
  BioPtr bio = MemoryBio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key != nullptr) return key;
  if (absl::StrContains(pem, "ENCRYPTED")) {
    error = "is an encrypted key; warm needs it unencrypted";
    ERR_clear_error();
  } else if (!absl::StrContains(pem, "PRIVATE KEY-----")) {
    error = "holds no PEM private key (-----BEGIN PRIVATE KEY-----)";
    ERR_clear_error();
  } else {
    error = absl::StrCat("private key does not parse: ", OpenSslError());
  }
  return nullptr;
}

// Seconds since the epoch; certificates may say 9999-12-31 ("no expiry",
// RFC 5280), beyond what system_clock's nanoseconds hold (2262), so times
// are compared as seconds and clamped only for display.
int64_t ToUnixSeconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

SystemTime ClampedTime(int64_t unix_seconds) {
  constexpr int64_t kMax = 9'000'000'000;  // year 2255: fits in nanoseconds
  return SystemTime(std::chrono::seconds(std::min(unix_seconds, kMax)));
}

std::string FormatTime(int64_t unix_seconds) {
  const auto seconds = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// Problems of files, as "ca_file \"/x\": reason"; `usable_now` problems
// (time, chain) make FailedPrecondition when they are all there is.
struct Problems {
  std::vector<std::string> malformed;
  std::vector<std::string> unusable;
  void Malformed(absl::string_view field, const std::string& path,
                 const std::string& why) {
    malformed.push_back(absl::StrCat(field, " \"", path, "\" ", why));
  }
  void Unusable(absl::string_view field, const std::string& path,
                const std::string& why) {
    unusable.push_back(absl::StrCat(field, " \"", path, "\" ", why));
  }
};

}  // namespace

bool FileStamp::operator==(const FileStamp& other) const {
  return exists == other.exists && device == other.device &&
         inode == other.inode && size == other.size &&
         mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns;
}

std::vector<FileStamp> StampTlsFiles(const TlsOptions& options) {
  std::vector<FileStamp> stamps;
  for (const std::string* path :
       {&options.ca_file, &options.cert_file, &options.key_file}) {
    FileStamp stamp;
    struct stat info;
    if (!path->empty() && stat(path->c_str(), &info) == 0) {
      stamp.exists = true;
      stamp.device = info.st_dev;
      stamp.inode = info.st_ino;
      stamp.size = info.st_size;
      stamp.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                       info.st_mtim.tv_nsec;
      // A rewrite in place keeping size and mtime (cp -p) changes ctime.
      stamp.ctime_ns = static_cast<int64_t>(info.st_ctim.tv_sec) * 1000000000 +
                       info.st_ctim.tv_nsec;
    }
    stamps.push_back(stamp);
  }
  return stamps;
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsOptions& options,
                                            SystemTime now,
                                            bool must_chain_to_ca) {
  TlsMaterial material;
  // Stamped before reading: a file replaced while it is read differs from
  // its stamp, and is read again at the next check.
  material.stamps = StampTlsFiles(options);
  Problems problems;
  std::string error;

  std::vector<X509Ptr> roots;
  if (!options.ca_file.empty()) {
    if (!ReadFile(options.ca_file, material.root_pem, error)) {
      problems.Malformed("ca_file", options.ca_file, error);
    } else {
      roots = ParseCertificates(material.root_pem, error);
      if (roots.empty()) problems.Malformed("ca_file", options.ca_file, error);
    }
  }

  std::vector<X509Ptr> chain;
  PkeyPtr key;
  if (!options.cert_file.empty()) {
    if (!ReadFile(options.cert_file, material.cert_pem, error)) {
      problems.Malformed("cert_file", options.cert_file, error);
    } else {
      chain = ParseCertificates(material.cert_pem, error);
      if (chain.empty()) {
        problems.Malformed("cert_file", options.cert_file, error);
      }
    }
    if (!ReadFile(options.key_file, material.key_pem, error)) {
      problems.Malformed("key_file", options.key_file, error);
    } else {
      key = ParseKey(material.key_pem, error);
      if (key == nullptr)
        problems.Malformed("key_file", options.key_file, error);
    }
  }

  if (!chain.empty()) {
    X509* leaf = chain.front().get();
    material.subject = NameText(X509_get_subject_name(leaf));
    material.issuer = NameText(X509_get_issuer_name(leaf));
    const int64_t not_before = ToUnixSeconds(X509_get0_notBefore(leaf));
    const int64_t not_after = ToUnixSeconds(X509_get0_notAfter(leaf));
    const int64_t now_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
            .count();
    material.not_before = ClampedTime(not_before);
    material.not_after = ClampedTime(not_after);
    if (key != nullptr && X509_check_private_key(leaf, key.get()) != 1) {
      ERR_clear_error();
      problems.Malformed(
          "key_file", options.key_file,
          absl::StrCat("does not match the certificate in cert_file \"",
                       options.cert_file, "\""));
    }
    if (now_seconds < not_before) {
      problems.Unusable(
          "cert_file", options.cert_file,
          absl::StrCat("is not valid yet (from ", FormatTime(not_before), ")"));
    }
    if (now_seconds > not_after) {
      problems.Unusable("cert_file", options.cert_file,
                        absl::StrCat("expired at ", FormatTime(not_after)));
    }
    // The chain is verified against ca_file (time is checked above). It
    // must verify when ca_file holds the CA named as its issuer (both are
    // "ours"), or when the files in use did (`must_chain_to_ca`: a chain
    // file caught half-written, leaf without its intermediate, is not
    // taken). A client certificate from another CA than the one that
    // verifies servers is otherwise not judged here: the server judges it.
    if (!roots.empty()) {
      const X509_NAME* top_issuer = X509_get_issuer_name(chain.back().get());
      const bool our_ca =
          std::any_of(roots.begin(), roots.end(), [&](const X509Ptr& root) {
            return X509_NAME_cmp(X509_get_subject_name(root.get()),
                                 top_issuer) == 0;
          });
      X509_STORE* store = X509_STORE_new();
      for (const X509Ptr& root : roots) X509_STORE_add_cert(store, root.get());
      STACK_OF(X509)* untrusted = sk_X509_new_null();
      for (size_t i = 1; i < chain.size(); ++i) {
        sk_X509_push(untrusted, chain[i].get());
      }
      X509_STORE_CTX* context = X509_STORE_CTX_new();
      X509_STORE_CTX_init(context, store, leaf, untrusted);
      X509_STORE_CTX_set_flags(context, X509_V_FLAG_NO_CHECK_TIME);
      X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_CLIENT);
      material.chains_to_ca = X509_verify_cert(context) == 1;
      if (!material.chains_to_ca && (our_ca || must_chain_to_ca)) {
        problems.Unusable(
            "cert_file", options.cert_file,
            absl::StrCat("does not chain to ca_file \"", options.ca_file,
                         "\" for client authentication",
                         our_ca ? "" : " (the files in use did)", ": ",
                         X509_verify_cert_error_string(
                             X509_STORE_CTX_get_error(context))));
      }
      X509_STORE_CTX_free(context);
      sk_X509_free(untrusted);
      X509_STORE_free(store);
      ERR_clear_error();
    }
  }

  if (problems.malformed.empty() && problems.unusable.empty()) {
    return material;
  }
  std::vector<std::string> all = problems.malformed;
  all.insert(all.end(), problems.unusable.begin(), problems.unusable.end());
  const std::string message =
      absl::StrCat("TLS files: ", absl::StrJoin(all, "; "));
  if (!problems.malformed.empty()) return absl::InvalidArgumentError(message);
  return absl::FailedPreconditionError(message);
}

std::shared_ptr<grpc::ChannelCredentials> MakeTlsCredentials(
    const TlsMaterial& material) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = material.root_pem;
  options.pem_cert_chain = material.cert_pem;
  options.pem_private_key = material.key_pem;
  return grpc::SslCredentials(options);
}

}  // namespace internal
}  // namespace warm
