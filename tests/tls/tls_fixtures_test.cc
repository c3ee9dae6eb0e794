// Self-tests of the TLS fixtures (tests/testing/certs.h, tls_backend.h): the
// certificates are what they claim (checked with OpenSSL directly, not with
// the fixtures' own helpers), the bad material is bad, and TlsBackend speaks
// TLS and mutual TLS to plain gRPC channels and records client certificates.
//
// The status messages a plain gRPC 1.51 client gets for handshake failures
// are printed ("client sees: ...") for reference; only the codes are checked.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/certs.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/tls_backend.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace testing {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

// Generous: a loaded 2-core box, a TLS handshake, and TSan.
constexpr auto kCallDeadline = std::chrono::seconds(20);

// --- OpenSSL, directly ---

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// The first certificate in `pem`, or null.
X509Ptr ReadCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ERR_clear_error();
  return cert;
}

// The private key in `pem`, or null.
KeyPtr ReadKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  KeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ERR_clear_error();
  return key;
}

// X509_verify_cert() of `leaf` against the root `ca` alone (no intermediates):
// X509_V_OK or the error.
int VerifyWithOpenSsl(const std::string& leaf, const std::string& ca) {
  X509Ptr leaf_cert = ReadCert(leaf);
  X509Ptr ca_cert = ReadCert(ca);
  if (leaf_cert == nullptr || ca_cert == nullptr) return -1;
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca_cert.get());
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  X509_STORE_CTX_init(context, store, leaf_cert.get(), nullptr);
  const int result = X509_verify_cert(context) == 1
                         ? X509_V_OK
                         : X509_STORE_CTX_get_error(context);
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  ERR_clear_error();
  return result;
}

// --- gRPC clients ---

// A channel to `target` trusting `root_pem`; with `client`, presenting that
// certificate; with `target_name`, expecting it in the server's certificate
// instead of the target's host.
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& target,
                                          const std::string& root_pem,
                                          const Pem* client = nullptr,
                                          const std::string& target_name = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = root_pem;
  if (client != nullptr) {
    ssl.pem_private_key = client->key;
    ssl.pem_cert_chain = client->cert;
  }
  grpc::ChannelArguments args;
  // A connection of its own, never shared with another test channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!target_name.empty()) {
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, target_name);
  }
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

grpc::Status Echo(const std::shared_ptr<grpc::Channel>& channel,
                  EchoResponse* response = nullptr) {
  EchoResponse ignored;
  EchoRequest request;
  request.set_message("hello");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  return EchoTest::NewStub(channel)->Echo(
      &context, request, response != nullptr ? response : &ignored);
}

// Echo() that must fail with UNAVAILABLE (not by its deadline); prints what
// the client sees.
void ExpectUnavailable(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = Echo(channel);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << what << ": client sees: code " << status.error_code() << " \""
            << status.error_message() << "\" (after " << took.count()
            << " ms)\n";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << what << ": " << status.error_message();
}

class TlsFixturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Pem> ca = MakeCa("warm test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    absl::StatusOr<Pem> server = MakeServerCert(ca_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    absl::StatusOr<Pem> client = MakeClientCert(ca_, "client-a");
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *client;
  }

  // A TlsBackend on 127.0.0.2; mutual TLS when `client_ca` is given.
  std::unique_ptr<TlsBackend> StartBackend(
      const Pem& server, const std::string& client_ca = "",
      grpc_ssl_client_certificate_request_type request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY) {
    TlsBackend::Options options;
    options.server = server;
    options.client_ca = client_ca;
    options.client_cert_request = request;
    absl::StatusOr<std::unique_ptr<TlsBackend>> backend =
        TlsBackend::Start("127.0.0.2", 0, options);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  Pem ca_;
  Pem server_;
  Pem client_;
};

// --- Certificates ---

TEST_F(TlsFixturesTest, CertificatesCarryTheirNamesAndUsages) {
  X509Ptr ca = ReadCert(ca_.cert);
  X509Ptr server = ReadCert(server_.cert);
  X509Ptr client = ReadCert(client_.cert);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(client, nullptr);

  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_EQ(X509_check_ca(client.get()), 0);
  EXPECT_NE(X509_get_extension_flags(ca.get()) & EXFLAG_SS, 0u);

  for (const char* host : {"localhost", "backend.test"}) {
    EXPECT_EQ(X509_check_host(server.get(), host, 0, 0, nullptr), 1) << host;
  }
  EXPECT_EQ(X509_check_host(server.get(), "other.test", 0, 0, nullptr), 0);
  for (const char* ip :
       {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    EXPECT_EQ(X509_check_ip_asc(server.get(), ip, 0), 1) << ip;
  }
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.6", 0), 0);

  EXPECT_EQ(X509_check_purpose(server.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_NE(X509_check_purpose(server.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_purpose(client.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_check_purpose(client.get(), X509_PURPOSE_SSL_SERVER, 0), 1);

  EXPECT_EQ(VerifyWithOpenSsl(server_.cert, ca_.cert), X509_V_OK);
  EXPECT_EQ(VerifyWithOpenSsl(client_.cert, ca_.cert), X509_V_OK);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get_serialNumber(server.get()),
                             X509_get_serialNumber(client.get())),
            0);

  // The fixtures' own inspection helpers agree.
  EXPECT_EQ(CertCommonName(client_.cert).value_or("?"), "client-a");
  EXPECT_EQ(CertCommonName(server_.cert).value_or("?"), "backend.test");
  EXPECT_TRUE(KeyMatchesCert(server_.cert, server_.key).value_or(false));
  EXPECT_TRUE(VerifyCert(server_.cert, ca_.cert).ok());
  // PEM as expected by every reader: unencrypted PKCS#8 keys.
  EXPECT_EQ(server_.key.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(server_.cert.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
}

TEST_F(TlsFixturesTest, RsaKeysAndIntermediateChainsVerify) {
  absl::StatusOr<Pem> rsa_ca =
      MakeCa("rsa CA", kDefaultNotBefore, kDefaultNotAfter, KeyType::kRsa2048);
  ASSERT_TRUE(rsa_ca.ok()) << rsa_ca.status();
  absl::StatusOr<Pem> rsa_leaf =
      MakeLeaf(*rsa_ca, "rsa leaf", {"localhost"}, {}, kDefaultNotBefore,
               kDefaultNotAfter, Usage::kServer, KeyType::kRsa2048);
  ASSERT_TRUE(rsa_leaf.ok()) << rsa_leaf.status();
  EXPECT_EQ(VerifyWithOpenSsl(rsa_leaf->cert, rsa_ca->cert), X509_V_OK);
  KeyPtr rsa_key = ReadKey(rsa_leaf->key);
  ASSERT_NE(rsa_key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(rsa_key.get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(rsa_key.get()), 2048);

  absl::StatusOr<Pem> intermediate = MakeIntermediateCa(ca_, "intermediate");
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  absl::StatusOr<Pem> leaf =
      MakeLeaf(*intermediate, "behind intermediate", {"localhost"}, {},
               kDefaultNotBefore, kDefaultNotAfter, Usage::kServerAndClient,
               KeyType::kEcP256, /*append_issuer_chain=*/true);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  // The leaf alone does not reach the root; with the chain it does.
  EXPECT_EQ(VerifyWithOpenSsl(leaf->cert, ca_.cert),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_TRUE(VerifyCert(leaf->cert, ca_.cert).ok())
      << VerifyCert(leaf->cert, ca_.cert);
  EXPECT_EQ(CertCommonName(leaf->cert).value_or("?"), "behind intermediate");
}

TEST_F(TlsFixturesTest, BadMaterialIsBad) {
  // A key that matches no certificate.
  absl::StatusOr<std::string> unrelated = MakeUnrelatedKey();
  ASSERT_TRUE(unrelated.ok()) << unrelated.status();
  X509Ptr server = ReadCert(server_.cert);
  KeyPtr server_key = ReadKey(server_.key);
  KeyPtr unrelated_key = ReadKey(*unrelated);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server_key, nullptr);
  ASSERT_NE(unrelated_key, nullptr);
  EXPECT_EQ(X509_check_private_key(server.get(), server_key.get()), 1);
  EXPECT_EQ(X509_check_private_key(server.get(), unrelated_key.get()), 0);
  ERR_clear_error();
  EXPECT_FALSE(KeyMatchesCert(server_.cert, *unrelated).value_or(true));

  // Garbage: neither a certificate nor a key.
  const std::string garbage = GarbageFile();
  EXPECT_NE(garbage.find('\0'), std::string::npos);
  EXPECT_EQ(ReadCert(garbage), nullptr);
  EXPECT_EQ(ReadKey(garbage), nullptr);
  EXPECT_FALSE(CertCommonName(garbage).ok());

  // Truncated bodies: the PEM framing is intact, the DER inside is not.
  const std::string cut_cert = TruncatePemBody(server_.cert);
  const std::string cut_key = TruncatePemBody(server_.key);
  EXPECT_LT(cut_cert.size(), server_.cert.size());
  EXPECT_EQ(cut_cert.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  EXPECT_NE(cut_cert.find("-----END CERTIFICATE-----\n"), std::string::npos);
  EXPECT_EQ(ReadCert(cut_cert), nullptr);
  EXPECT_NE(cut_key.find("-----END PRIVATE KEY-----\n"), std::string::npos);
  EXPECT_EQ(ReadKey(cut_key), nullptr);
  absl::StatusOr<std::string> cut_cn = CertCommonName(cut_cert);
  EXPECT_FALSE(cut_cn.ok());
  std::cout << "truncated certificate: " << cut_cn.status() << "\n";
  // A file cut anywhere (half-written) does not parse either.
  EXPECT_EQ(ReadCert(server_.cert.substr(0, server_.cert.size() / 2)), nullptr);
}

TEST_F(TlsFixturesTest, LeafOfAnotherCaAndOutOfDateLeavesFailVerification) {
  absl::StatusOr<Pem> foreign = MakeLeafOfUnknownCa("backend.test");
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  EXPECT_EQ(VerifyWithOpenSsl(foreign->cert, ca_.cert),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  absl::Status verified = VerifyCert(foreign->cert, ca_.cert);
  EXPECT_FALSE(verified.ok());
  std::cout << "foreign leaf: " << verified << "\n";

  absl::StatusOr<Pem> expired =
      MakeServerCert(ca_, "expired", -hours(48), -hours(24));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(VerifyWithOpenSsl(expired->cert, ca_.cert),
            X509_V_ERR_CERT_HAS_EXPIRED);
  std::cout << "expired leaf: " << VerifyCert(expired->cert, ca_.cert) << "\n";

  absl::StatusOr<Pem> early =
      MakeServerCert(ca_, "early", hours(24), hours(48));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(VerifyWithOpenSsl(early->cert, ca_.cert),
            X509_V_ERR_CERT_NOT_YET_VALID);

  absl::StatusOr<Pem> expired_ca = MakeCa("expired CA", -hours(48), -hours(1));
  ASSERT_TRUE(expired_ca.ok()) << expired_ca.status();
  absl::StatusOr<Pem> under_expired = MakeClientCert(*expired_ca, "c");
  ASSERT_TRUE(under_expired.ok()) << under_expired.status();
  EXPECT_EQ(VerifyWithOpenSsl(under_expired->cert, expired_ca->cert),
            X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(TlsFixturesTest, BadArgumentsAreErrors) {
  EXPECT_FALSE(MakeLeaf(ca_, "x", {"a,b"}, {}).ok());
  EXPECT_FALSE(MakeLeaf(ca_, "x", {}, {"not-an-ip"}).ok());
  Pem mismatched_issuer = ca_;
  mismatched_issuer.key = server_.key;
  EXPECT_FALSE(MakeClientCert(mismatched_issuer, "x").ok());
  Pem garbage_issuer{GarbageFile(), GarbageFile()};
  absl::StatusOr<Pem> leaf = MakeClientCert(garbage_issuer, "x");
  EXPECT_FALSE(leaf.ok());
  std::cout << "garbage issuer: " << leaf.status() << "\n";
}

// --- CertDir ---

ino_t Inode(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

TEST(CertDirTest, ReplacesAtomicallyOrInPlace) {
  absl::StatusOr<CertDir> dir = CertDir::Create("tls-fixtures");
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<std::string> path = dir->Write("ca.pem", "one\n");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir->File("ca.pem"));
  EXPECT_EQ(ReadFile(*path).value_or("?"), "one\n");
  const ino_t first = Inode(*path);
  ASSERT_NE(first, 0u);

  // Atomic: a new file renamed over the old one.
  ASSERT_TRUE(dir->Write("ca.pem", "two\n").ok());
  EXPECT_EQ(ReadFile(*path).value_or("?"), "two\n");
  const ino_t second = Inode(*path);
  EXPECT_NE(second, first);

  // In place: the same file rewritten.
  ASSERT_TRUE(dir->WriteInPlace("ca.pem", "three\n").ok());
  EXPECT_EQ(ReadFile(*path).value_or("?"), "three\n");
  EXPECT_EQ(Inode(*path), second);
  ASSERT_TRUE(dir->WritePartial("ca.pem", "0123456789", 4).ok());
  EXPECT_EQ(ReadFile(*path).value_or("?"), "0123");
  EXPECT_EQ(Inode(*path), second);

  absl::StatusOr<PemFiles> files = dir->WritePem("server", Pem{"C", "K"});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->cert, dir->File("server.crt"));
  EXPECT_EQ(files->key, dir->File("server.key"));
  EXPECT_EQ(ReadFile(files->key).value_or("?"), "K");

  // No temporary files left behind.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir->path())) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"ca.pem", "server.crt", "server.key"}));

  EXPECT_TRUE(dir->Remove("ca.pem").ok());
  EXPECT_TRUE(absl::IsNotFound(dir->Remove("ca.pem")));
  EXPECT_FALSE(dir->Write("../escape", "x").ok());
}

// --- TlsBackend ---

TEST_F(TlsFixturesTest, TlsCallSucceedsWithTheRightCa) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_);
  ASSERT_NE(backend, nullptr);

  // By IP: the certificate's IP SANs match.
  EchoResponse response;
  grpc::Status status =
      Echo(TlsChannel(backend->address(), ca_.cert), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.message(), "hello");
  EXPECT_EQ(response.backend(), backend->address());

  // By a DNS name of the certificate.
  status =
      Echo(TlsChannel(backend->address(), ca_.cert, nullptr, "backend.test"));
  ASSERT_TRUE(status.ok()) << status.error_message();

  // Plain TLS: no client certificate, CN "".
  EXPECT_EQ(backend->calls_by_client_cn(),
            (std::map<std::string, int>{{"", 2}}));
  ASSERT_EQ(backend->calls().size(), 2u);
  EXPECT_EQ(backend->calls()[0].client_cert, "");
  EXPECT_EQ(backend->calls()[0].peer, response.peer());
}

TEST_F(TlsFixturesTest, ServerBehindAnIntermediateCaIsTrustedByTheRoot) {
  absl::StatusOr<Pem> intermediate = MakeIntermediateCa(ca_, "intermediate");
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  absl::StatusOr<Pem> server = MakeLeaf(
      *intermediate, "chained", DefaultServerDnsSans(), DefaultServerIpSans(),
      kDefaultNotBefore, kDefaultNotAfter, Usage::kServer, KeyType::kEcP256,
      /*append_issuer_chain=*/true);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<TlsBackend> backend = StartBackend(*server);
  ASSERT_NE(backend, nullptr);
  grpc::Status status = Echo(TlsChannel(backend->address(), ca_.cert));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsFixturesTest, WrongCaFailsUnavailable) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_);
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<Pem> other_ca = MakeCa("other CA");
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  ExpectUnavailable(TlsChannel(backend->address(), other_ca->cert), "wrong CA");
  // A server name the certificate does not hold.
  ExpectUnavailable(
      TlsChannel(backend->address(), ca_.cert, nullptr, "other.test"),
      "wrong server name");
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(TlsFixturesTest, ExpiredOrNotYetValidServerCertIsRejected) {
  absl::StatusOr<Pem> expired =
      MakeServerCert(ca_, "backend.test", -hours(48), -hours(24));
  ASSERT_TRUE(expired.ok()) << expired.status();
  std::unique_ptr<TlsBackend> backend = StartBackend(*expired);
  ASSERT_NE(backend, nullptr);
  ExpectUnavailable(TlsChannel(backend->address(), ca_.cert),
                    "expired server certificate");
  EXPECT_TRUE(backend->calls().empty());

  absl::StatusOr<Pem> early =
      MakeServerCert(ca_, "backend.test", hours(24), hours(48));
  ASSERT_TRUE(early.ok()) << early.status();
  std::unique_ptr<TlsBackend> early_backend = StartBackend(*early);
  ASSERT_NE(early_backend, nullptr);
  ExpectUnavailable(TlsChannel(early_backend->address(), ca_.cert),
                    "not yet valid server certificate");
}

TEST_F(TlsFixturesTest, MutualTlsRecordsTheClientCertificate) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_, ca_.cert);
  ASSERT_NE(backend, nullptr);

  std::shared_ptr<grpc::Channel> channel_a =
      TlsChannel(backend->address(), ca_.cert, &client_);
  EchoResponse first;
  EchoResponse second;
  grpc::Status status = Echo(channel_a, &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = Echo(channel_a, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(first.peer(), second.peer());  // one connection

  absl::StatusOr<Pem> client_b = MakeClientCert(ca_, "client-b");
  ASSERT_TRUE(client_b.ok()) << client_b.status();
  EchoResponse third;
  status = Echo(TlsChannel(backend->address(), ca_.cert, &*client_b), &third);
  ASSERT_TRUE(status.ok()) << status.error_message();

  EXPECT_EQ(backend->calls_by_client_cn(),
            (std::map<std::string, int>{{"client-a", 2}, {"client-b", 1}}));
  EXPECT_EQ(backend->connections_by_client_cn(),
            (std::map<std::string, std::set<std::string>>{
                {"client-a", {first.peer()}}, {"client-b", {third.peer()}}}));
  std::vector<TlsBackend::Call> calls = backend->calls();
  ASSERT_EQ(calls.size(), 3u);
  // gRPC hands over the leaf exactly as PEM_write_bio_X509 wrote it.
  EXPECT_EQ(calls[0].client_cert, client_.cert);
  EXPECT_EQ(calls[2].client_cert, client_b->cert);

  // A rotated certificate with the same CN tells apart by its PEM.
  absl::StatusOr<Pem> rotated = MakeClientCert(ca_, "client-a");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  backend->ResetCounts();
  EXPECT_TRUE(backend->calls().empty());
  status = Echo(TlsChannel(backend->address(), ca_.cert, &*rotated));
  ASSERT_TRUE(status.ok()) << status.error_message();
  calls = backend->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].client_cn, "client-a");
  EXPECT_EQ(calls[0].client_cert, rotated->cert);
  EXPECT_NE(calls[0].client_cert, client_.cert);
}

TEST_F(TlsFixturesTest, MutualTlsRejectsClientsWithoutAGoodCertificate) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_, ca_.cert);
  ASSERT_NE(backend, nullptr);
  ExpectUnavailable(TlsChannel(backend->address(), ca_.cert),
                    "mTLS, no client certificate");

  absl::StatusOr<Pem> foreign = MakeLeafOfUnknownCa("intruder");
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  ExpectUnavailable(TlsChannel(backend->address(), ca_.cert, &*foreign),
                    "mTLS, client certificate of another CA");

  absl::StatusOr<Pem> expired =
      MakeClientCert(ca_, "expired-client", -hours(48), -hours(24));
  ASSERT_TRUE(expired.ok()) << expired.status();
  ExpectUnavailable(TlsChannel(backend->address(), ca_.cert, &*expired),
                    "mTLS, expired client certificate");
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(TlsFixturesTest, OptionalClientCertificateLetsClientsWithoutOneIn) {
  std::unique_ptr<TlsBackend> backend = StartBackend(
      server_, ca_.cert, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  ASSERT_NE(backend, nullptr);
  grpc::Status status = Echo(TlsChannel(backend->address(), ca_.cert));
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = Echo(TlsChannel(backend->address(), ca_.cert, &client_));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backend->calls_by_client_cn(),
            (std::map<std::string, int>{{"", 1}, {"client-a", 1}}));
}

TEST_F(TlsFixturesTest, HealthChecksAreServedButNotRecorded) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_, ca_.cert);
  ASSERT_NE(backend, nullptr);
  auto stub = grpc::health::v1::Health::NewStub(
      TlsChannel(backend->address(), ca_.cert, &client_));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  grpc::Status status = stub->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(TlsFixturesTest, StartFailsOnAKeyThatDoesNotMatch) {
  absl::StatusOr<std::string> unrelated = MakeUnrelatedKey();
  ASSERT_TRUE(unrelated.ok()) << unrelated.status();
  TlsBackend::Options options;
  options.server = Pem{server_.cert, *unrelated};
  absl::StatusOr<std::unique_ptr<TlsBackend>> backend =
      TlsBackend::Start("127.0.0.2", 0, options);
  EXPECT_FALSE(backend.ok());
  std::cout << "mismatched server key: " << backend.status() << "\n";
}

// What a plain gRPC client does with bad material of its own: no error at
// channel creation; calls fail (printed for reference).
TEST_F(TlsFixturesTest, PlainGrpcClientWithBadMaterialFailsItsCalls) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_, ca_.cert);
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<std::string> unrelated = MakeUnrelatedKey();
  ASSERT_TRUE(unrelated.ok()) << unrelated.status();
  const Pem mismatched{client_.cert, *unrelated};
  const Pem truncated{TruncatePemBody(client_.cert), client_.key};
  struct Case {
    const char* what;
    std::string root;
    const Pem* client;
  };
  for (const Case& c :
       {Case{"client key does not match", ca_.cert, &mismatched},
        Case{"client cert truncated", ca_.cert, &truncated},
        Case{"garbage root certs", GarbageFile(), &client_}}) {
    grpc::Status status =
        Echo(TlsChannel(backend->address(), c.root, c.client));
    std::cout << c.what << ": client sees: code " << status.error_code()
              << " \"" << status.error_message() << "\"\n";
    EXPECT_FALSE(status.ok()) << c.what;
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << c.what;
  }
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(TlsFixturesTest, ShutdownIsIdempotent) {
  std::unique_ptr<TlsBackend> backend = StartBackend(server_);
  ASSERT_NE(backend, nullptr);
  backend->Shutdown();
  backend->Shutdown();
  ExpectUnavailable(TlsChannel(backend->address(), ca_.cert),
                    "after Shutdown()");
}

}  // namespace
}  // namespace testing
}  // namespace warm
