#include "tests/testing/certs.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <utility>

namespace warm {
namespace testing {
namespace {

template <typename T, void (*kFree)(T*)>
struct Free {
  void operator()(T* p) const { kFree(p); }
};
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using ExtPtr =
    std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX, X509_STORE_CTX_free>>;
struct FreeStack {
  // Frees the stack only: its certificates are owned elsewhere.
  void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using StackPtr = std::unique_ptr<STACK_OF(X509), FreeStack>;

// OpenSSL's error queue (of this thread), emptied: "error:...; error:...".
std::string TakeOpenSslErrors() {
  std::string out;
  char buffer[256];
  while (unsigned long error = ERR_get_error()) {
    ERR_error_string_n(error, buffer, sizeof(buffer));
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

absl::Status OpenSslError(const std::string& what) {
  return absl::InternalError(what + ": " + TakeOpenSslErrors());
}

// Never prompts for a passphrase (OpenSSL's default callback reads the tty).
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return 0;
}

BioPtr MemBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
}

// Every certificate in `pem`, in order; an error when there is none or one
// of them does not parse.
absl::StatusOr<std::vector<X509Ptr>> ParseCerts(const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return OpenSslError("BIO_new_mem_buf");
  std::vector<X509Ptr> certs;
  while (X509* cert =
             PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  // The loop ends at the end of the text (no start line) or at an error.
  const unsigned long last = ERR_peek_last_error();
  const bool at_end = ERR_GET_LIB(last) == ERR_LIB_PEM &&
                      ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (!certs.empty() && at_end) {
    ERR_clear_error();
    return certs;
  }
  return absl::InvalidArgumentError(
      (certs.empty() && at_end
           ? std::string("no certificate in PEM: ")
           : "certificate " + std::to_string(certs.size() + 1) +
                 " in PEM does not parse: ") +
      TakeOpenSslErrors());
}

absl::StatusOr<X509Ptr> ParseFirstCert(const std::string& pem) {
  absl::StatusOr<std::vector<X509Ptr>> certs = ParseCerts(pem);
  if (!certs.ok()) return certs.status();
  return std::move(certs->front());
}

absl::StatusOr<KeyPtr> ParseKey(const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return OpenSslError("BIO_new_mem_buf");
  KeyPtr key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError("private key does not parse: " +
                                      TakeOpenSslErrors());
  }
  return key;
}

absl::StatusOr<KeyPtr> NewKey(KeyType key_type) {
  ERR_clear_error();
  EVP_PKEY* key =
      key_type == KeyType::kEcP256
          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
          : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  if (key == nullptr) return OpenSslError("EVP_PKEY_Q_keygen");
  return KeyPtr(key);
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  return BioText(bio.get());
}

absl::Status AddExtension(X509* cert, X509V3_CTX* context, int nid,
                          const std::string& value) {
  ExtPtr extension(X509V3_EXT_nconf_nid(nullptr, context, nid, value.c_str()));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslError(std::string("extension ") + OBJ_nid2sn(nid) + "=" +
                        value);
  }
  return absl::OkStatus();
}

// What one certificate is to be.
struct Spec {
  std::string common_name;
  bool ca = false;
  Usage usage = Usage::kServerAndClient;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
  std::chrono::seconds not_before_offset = kDefaultNotBefore;
  std::chrono::seconds not_after_offset = kDefaultNotAfter;
  KeyType key_type = KeyType::kEcP256;
};

Spec NewSpec(const std::string& common_name, bool ca,
             std::chrono::seconds not_before_offset,
             std::chrono::seconds not_after_offset) {
  Spec spec;
  spec.common_name = common_name;
  spec.ca = ca;
  spec.not_before_offset = not_before_offset;
  spec.not_after_offset = not_after_offset;
  return spec;
}

absl::StatusOr<std::string> SubjectAltName(const Spec& spec) {
  std::string value;
  auto add = [&value](const char* kind, const std::string& name) {
    if (name.empty() || name.find_first_of(",\n") != std::string::npos) {
      return false;
    }
    value += (value.empty() ? "" : ",") + std::string(kind) + ":" + name;
    return true;
  };
  for (const std::string& name : spec.dns_sans) {
    if (!add("DNS", name)) {
      return absl::InvalidArgumentError("bad DNS SAN '" + name + "'");
    }
  }
  for (const std::string& ip : spec.ip_sans) {
    if (!add("IP", ip)) {
      return absl::InvalidArgumentError("bad IP SAN '" + ip + "'");
    }
  }
  return value;
}

// Makes the certificate of `spec`, signed by `issuer_cert` with `issuer_key`
// (both null: self-signed).
absl::StatusOr<Pem> Issue(const Spec& spec, X509* issuer_cert,
                          EVP_PKEY* issuer_key) {
  absl::StatusOr<KeyPtr> key = NewKey(spec.key_type);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> san = SubjectAltName(spec);
  if (!san.ok()) return san.status();

  ERR_clear_error();
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509* x = cert.get();
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return OpenSslError("serial");
  serial[0] = (serial[0] & 0x7f) | 0x40;  // positive, 16 bytes long
  BnPtr serial_bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  X509_NAME* subject = X509_get_subject_name(x);
  if (X509_set_version(x, X509_VERSION_3) != 1 || serial_bn == nullptr ||
      BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(x)) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(x),
                      static_cast<long>(spec.not_before_offset.count())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x),
                      static_cast<long>(spec.not_after_offset.count())) ==
          nullptr ||
      X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
          -1, 0) != 1 ||
      X509_set_issuer_name(x, issuer_cert != nullptr
                                  ? X509_get_subject_name(issuer_cert)
                                  : subject) != 1 ||
      X509_set_pubkey(x, key->get()) != 1) {
    return OpenSslError("certificate '" + spec.common_name + "'");
  }

  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer_cert != nullptr ? issuer_cert : x, x, nullptr,
                 nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions;
  if (spec.ca) {
    extensions = {{NID_basic_constraints, "critical,CA:TRUE"},
                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                  {NID_subject_key_identifier, "hash"}};
  } else {
    const char* usage = "serverAuth,clientAuth";
    if (spec.usage == Usage::kServer) usage = "serverAuth";
    if (spec.usage == Usage::kClient) usage = "clientAuth";
    extensions = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, spec.key_type == KeyType::kRsa2048
                            ? "critical,digitalSignature,keyEncipherment"
                            : "critical,digitalSignature"},
        {NID_ext_key_usage, usage},
        {NID_subject_key_identifier, "hash"}};
    if (!san->empty()) extensions.emplace_back(NID_subject_alt_name, *san);
  }
  // The issuer's key identifier; a self-signed root goes without.
  if (issuer_cert != nullptr) {
    extensions.emplace_back(NID_authority_key_identifier, "keyid");
  }
  for (const auto& [nid, value] : extensions) {
    absl::Status added = AddExtension(x, &context, nid, value);
    if (!added.ok()) return added;
  }

  if (X509_sign(x, issuer_key != nullptr ? issuer_key : key->get(),
                EVP_sha256()) == 0) {
    return OpenSslError("X509_sign '" + spec.common_name + "'");
  }
  Pem pem;
  absl::StatusOr<std::string> cert_pem = CertPem(x);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = KeyPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  pem.cert = std::move(*cert_pem);
  pem.key = std::move(*key_pem);
  return pem;
}

// Issue() by `issuer`, whose key must be that of its (first) certificate.
absl::StatusOr<Pem> IssueBy(const Pem& issuer, const Spec& spec) {
  absl::StatusOr<X509Ptr> issuer_cert = ParseFirstCert(issuer.cert);
  if (!issuer_cert.ok()) return issuer_cert.status();
  absl::StatusOr<KeyPtr> issuer_key = ParseKey(issuer.key);
  if (!issuer_key.ok()) return issuer_key.status();
  if (X509_check_private_key(issuer_cert->get(), issuer_key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "issuer key does not match issuer "
        "certificate");
  }
  return Issue(spec, issuer_cert->get(), issuer_key->get());
}

}  // namespace

absl::StatusOr<Pem> MakeCa(const std::string& common_name,
                           std::chrono::seconds not_before_offset,
                           std::chrono::seconds not_after_offset,
                           KeyType key_type) {
  Spec spec =
      NewSpec(common_name, /*ca=*/true, not_before_offset, not_after_offset);
  spec.key_type = key_type;
  return Issue(spec, nullptr, nullptr);
}

absl::StatusOr<Pem> MakeIntermediateCa(const Pem& issuer,
                                       const std::string& common_name,
                                       std::chrono::seconds not_before_offset,
                                       std::chrono::seconds not_after_offset) {
  return IssueBy(issuer, NewSpec(common_name, /*ca=*/true, not_before_offset,
                                 not_after_offset));
}

absl::StatusOr<Pem> MakeLeaf(const Pem& issuer, const std::string& common_name,
                             const std::vector<std::string>& dns_sans,
                             const std::vector<std::string>& ip_sans,
                             std::chrono::seconds not_before_offset,
                             std::chrono::seconds not_after_offset, Usage usage,
                             KeyType key_type, bool append_issuer_chain) {
  Spec spec =
      NewSpec(common_name, /*ca=*/false, not_before_offset, not_after_offset);
  spec.usage = usage;
  spec.dns_sans = dns_sans;
  spec.ip_sans = ip_sans;
  spec.key_type = key_type;
  absl::StatusOr<Pem> leaf = IssueBy(issuer, spec);
  if (leaf.ok() && append_issuer_chain) leaf->cert += issuer.cert;
  return leaf;
}

absl::StatusOr<Pem> MakeServerCert(const Pem& issuer,
                                   const std::string& common_name,
                                   std::chrono::seconds not_before_offset,
                                   std::chrono::seconds not_after_offset) {
  return MakeLeaf(issuer, common_name, DefaultServerDnsSans(),
                  DefaultServerIpSans(), not_before_offset, not_after_offset,
                  Usage::kServer);
}

absl::StatusOr<Pem> MakeClientCert(const Pem& issuer,
                                   const std::string& common_name,
                                   std::chrono::seconds not_before_offset,
                                   std::chrono::seconds not_after_offset) {
  return MakeLeaf(issuer, common_name, {}, {}, not_before_offset,
                  not_after_offset, Usage::kClient);
}

absl::StatusOr<std::string> MakeUnrelatedKey(KeyType key_type) {
  absl::StatusOr<KeyPtr> key = NewKey(key_type);
  if (!key.ok()) return key.status();
  return KeyPem(key->get());
}

absl::StatusOr<Pem> MakeLeafOfUnknownCa(const std::string& common_name) {
  absl::StatusOr<Pem> ca = MakeCa("unknown CA for " + common_name);
  if (!ca.ok()) return ca.status();
  return MakeLeaf(*ca, common_name, DefaultServerDnsSans(),
                  DefaultServerIpSans());
}

std::string GarbageFile() {
  static constexpr char kGarbage[] =
      "this is not a certificate\n"
      "-----BEGIN NOTHING----- \x01\x02\x7f\xfe\xff\0 garbage\n";
  return std::string(kGarbage, sizeof(kGarbage) - 1);
}

std::string TruncatePemBody(const std::string& pem) {
  std::istringstream in(pem);
  std::string line;
  std::string head, body, tail;
  int part = 0;  // 0: before BEGIN, 1: body, 2: END and after
  while (std::getline(in, line)) {
    if (part == 0) {
      head += line + "\n";
      if (line.rfind("-----BEGIN ", 0) == 0) part = 1;
    } else if (part == 1 && line.rfind("-----END ", 0) != 0) {
      body += line;
    } else {
      part = 2;
      tail += line + "\n";
    }
  }
  if (body.size() < 8) return pem;
  body.resize(body.size() / 2 / 4 * 4);  // whole base64 quanta
  std::string wrapped;
  for (size_t i = 0; i < body.size(); i += 64) {
    wrapped += body.substr(i, 64) + "\n";
  }
  return head + wrapped + tail;
}

absl::StatusOr<std::string> CertCommonName(const std::string& cert_pem) {
  absl::StatusOr<X509Ptr> cert = ParseFirstCert(cert_pem);
  if (!cert.ok()) return cert.status();
  X509_NAME* subject = X509_get_subject_name(cert->get());
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return absl::NotFoundError("certificate has no CN");
  ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return OpenSslError("CN to UTF-8");
  std::string name(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return name;
}

absl::StatusOr<bool> KeyMatchesCert(const std::string& cert_pem,
                                    const std::string& key_pem) {
  absl::StatusOr<X509Ptr> cert = ParseFirstCert(cert_pem);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<KeyPtr> key = ParseKey(key_pem);
  if (!key.ok()) return key.status();
  const bool matches = X509_check_private_key(cert->get(), key->get()) == 1;
  ERR_clear_error();
  return matches;
}

absl::Status VerifyCert(const std::string& cert_pem,
                        const std::string& ca_pem) {
  absl::StatusOr<std::vector<X509Ptr>> chain = ParseCerts(cert_pem);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::vector<X509Ptr>> anchors = ParseCerts(ca_pem);
  if (!anchors.ok()) return anchors.status();
  StorePtr store(X509_STORE_new());
  StackPtr untrusted(sk_X509_new_null());
  StoreCtxPtr context(X509_STORE_CTX_new());
  if (store == nullptr || untrusted == nullptr || context == nullptr) {
    return OpenSslError("X509_STORE");
  }
  for (const X509Ptr& anchor : *anchors) {
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
      return OpenSslError("X509_STORE_add_cert");
    }
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (sk_X509_push(untrusted.get(), (*chain)[i].get()) == 0) {
      return OpenSslError("sk_X509_push");
    }
  }
  if (X509_STORE_CTX_init(context.get(), store.get(), chain->front().get(),
                          untrusted.get()) != 1) {
    return OpenSslError("X509_STORE_CTX_init");
  }
  if (X509_verify_cert(context.get()) == 1) return absl::OkStatus();
  const int error = X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  return absl::InvalidArgumentError(std::string("certificate verify failed: ") +
                                    X509_verify_cert_error_string(error) +
                                    " (X509_V_ERR " + std::to_string(error) +
                                    ")");
}

// --- CertDir ---

namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(what + ": " + std::strerror(errno));
}

absl::Status WriteAll(int fd, const std::string& data,
                      const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write " + path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status CheckName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("bad file name '" + name + "'");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CertDir> CertDir::Create(const std::string& prefix) {
  absl::StatusOr<TempDir> dir = TempDir::Create(prefix);
  if (!dir.ok()) return dir.status();
  return CertDir(std::move(*dir));
}

absl::StatusOr<std::string> CertDir::Write(const std::string& name,
                                           const std::string& contents) {
  if (absl::Status ok = CheckName(name); !ok.ok()) return ok;
  const std::string path = File(name);
  std::string temp = File("." + name + ".tmp-XXXXXX");
  const int fd = mkstemp(temp.data());
  if (fd < 0) return Errno("mkstemp " + temp);
  absl::Status written = WriteAll(fd, contents, temp);
  if (written.ok() && fchmod(fd, 0644) != 0) written = Errno("fchmod " + temp);
  if (::close(fd) != 0 && written.ok()) written = Errno("close " + temp);
  if (written.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    written = Errno("rename " + temp + " to " + path);
  }
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  return path;
}

absl::StatusOr<PemFiles> CertDir::WritePem(const std::string& stem,
                                           const Pem& pem) {
  absl::StatusOr<std::string> cert = Write(stem + ".crt", pem.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = Write(stem + ".key", pem.key);
  if (!key.ok()) return key.status();
  return PemFiles{*cert, *key};
}

absl::StatusOr<std::string> CertDir::WriteInPlace(const std::string& name,
                                                  const std::string& contents) {
  return WritePartial(name, contents, contents.size());
}

absl::StatusOr<std::string> CertDir::WritePartial(const std::string& name,
                                                  const std::string& contents,
                                                  size_t bytes) {
  if (absl::Status ok = CheckName(name); !ok.ok()) return ok;
  const std::string path = File(name);
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + path);
  absl::Status written =
      WriteAll(fd, contents.substr(0, std::min(bytes, contents.size())), path);
  if (::close(fd) != 0 && written.ok()) written = Errno("close " + path);
  if (!written.ok()) return written;
  return path;
}

absl::Status CertDir::Remove(const std::string& name) {
  if (absl::Status ok = CheckName(name); !ok.ok()) return ok;
  const std::string path = File(name);
  if (::unlink(path.c_str()) != 0) {
    return errno == ENOENT ? absl::NotFoundError("no file " + path)
                           : Errno("unlink " + path);
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace warm
